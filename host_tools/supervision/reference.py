"""The host's reference: the board's own firmware/supervise.py run in CPython over a log's
frames, decoded by cantools, so any log can be checked on a laptop and the board's alerts
verified alert for alert (docs/supervision.md)."""

from __future__ import annotations

import dataclasses
import struct
from array import array
from dataclasses import dataclass

from host_tools.board_codes import STATUS_RESULT, replay_us
from host_tools.codegen import layout
from host_tools.dbc import Dbc, frame_key, payload_lengths
from host_tools.e2e import _e2e, protection
from host_tools.engines import UNKNOWN_ID
from host_tools.engines.cantools_engine import raw_outcome
from host_tools.link.messages import Alert, TowRange
from host_tools.supervision.firmware import CLEARED, KINDS, MASK, fw
from host_tools.supervision.rules import lanes_of, rules_module


@dataclass(frozen=True)
class AlertEvent(Alert):
    """One ALERT as the board sends it (the link's message), read with the rule table."""

    @property
    def kind(self) -> str:
        code = self.code & 0xFF
        # 1..31 supervision's; 32.. the board's own (can_bus_state: docs/protocol.md), named by the text
        return KINDS[code - 1] if 1 <= code <= len(KINDS) else (self.text.split() or [f"code {code}"])[0]

    @property
    def cleared(self) -> bool:
        return bool(self.code & CLEARED)

    def key(self) -> tuple:
        return (self.frame_no, self.code, self.severity, self.mi, self.si, self.value)


def with_values(dbc: Dbc, frame, values: dict):
    """`frame` with some of its signals set to physical `values` and, for a protected
    message, its CRC recomputed: faults the simulator does not make, for tests."""
    message = dbc.lookup(frame.can_id, frame.ext)
    decoded = message.decode(bytes(frame.data), decode_choices=False, scaling=True)
    decoded.update(values)
    data = bytearray(message.encode(decoded, scaling=True, strict=False))
    prot = protection(message)
    if prot is not None:
        decoded = message.decode(bytes(data), decode_choices=False, scaling=True)
        decoded[prot.crc] = _e2e.payload_crc(data)
        data = bytearray(message.encode(decoded, scaling=True, strict=False))
    return dataclasses.replace(frame, data=bytes(data))


def lane_words(signal, raw) -> tuple[int, ...]:
    """The int32 lanes the board's decoder fills with a raw value, as TELEMETRY carries them
    (docs/decoder.md): a float's IEEE bits; an integer's two's complement, low 32 bits first
    (an unsigned 32-bit value of 2**31 or more, or a wider one, does not fit one int32)."""
    if signal.is_float:
        fmt = "<f" if signal.length == 32 else "<d"
        words = struct.unpack("<" + "i" * (struct.calcsize(fmt) // 4), struct.pack(fmt, raw))
    else:
        v = int(raw)
        words = tuple(((v >> shift) & 0xFFFFFFFF) - ((v >> shift) & 0x80000000) * 2 for shift in (0, 32))
    return words[:-(-signal.length // layout.LANE_BITS)]  # as many as layout.lanes() makes, without building them


def replay_times(frames) -> list[int]:
    """Each frame's time as the board sees it in replay mode: µs since frame 0, mod 2**30."""
    if not frames:
        return []
    t0 = frames[0].t
    return [replay_us(f.t, t0) & MASK for f in frames]


def _frame_plans(dbc: Dbc, index: dict) -> tuple[dict, list]:
    """What check_frames needs, worked out once: the message index of each frame key and,
    per message, (message, its payload lengths, its signals as (name, index, first lane,
    signal, number of lanes))."""
    plans = []
    for m in dbc.messages:
        lane_at = lanes_of(m)
        plans.append((m, frozenset(payload_lengths(m)),
                      [(s.name, si, lane_at[s.name], s, len(layout.lanes(s.start, s.length, s.byte_order)))
                       for si, s in enumerate(m.signals)]))
    return {key: index[m.name] for key, m in dbc.by_key.items()}, plans


def check_frames(dbc: Dbc, frames, overrides: dict | None = None, rules=None,
                 tow_out: list | None = None) -> list[AlertEvent]:
    """Run the board's supervision in CPython over `frames` (objects with t, can_id, ext,
    data), numbered 0, 1, 2 ... as a replay numbers them. The alerts, in order; the
    towing range estimates (TowRange messages) go to `tow_out` when given.

    Each frame is decoded by the reference engine's rules (dbc's frame keys, then
    cantools_engine.raw_outcome) and its values put in the decoder's lanes as lane_words
    does, with what each message needs worked out once: the reference runs over whole
    scenarios (hundreds of thousands of frames)."""
    rules = rules or rules_module(dbc, overrides)
    messages = list(dbc.messages)
    index = {m.name: mi for mi, m in enumerate(messages)}
    by_key, plans = _frame_plans(dbc, index)
    n_lanes = max([1] + [sum(n for *_, n in fields) for _, _, fields in plans])
    n_sel = max([1] + [len(m.signals) for m in messages])
    lanes = array("i", bytes(4 * n_lanes))
    selected = array("H", bytes(2 * (n_sel + 1)))
    out: list[AlertEvent] = []
    unknown = STATUS_RESULT[UNKNOWN_ID]

    def emit(frame_no, code, severity, mi, si, value, text):
        out.append(AlertEvent(int(frame_no), code, severity, mi, si, int(value), bytes(text).decode()))

    def lookup(can_id, ext):
        message = dbc.lookup(can_id, ext)
        return -1 if message is None else index[message.name]

    def tow(frame_no, range_dkm, wh_per_km, window_m):
        tow_out.append(TowRange(int(frame_no), range_dkm, wh_per_km, window_m))

    sup = fw.Supervisor(rules, lookup, emit, tow if tow_out is not None else None)
    check = sup.frame
    seen: dict = {}  # (frame key, payload) -> (message index, its lanes, its selection): most frames repeat one
    for frame_no, (frame, t) in enumerate(zip(frames, replay_times(frames))):
        data = bytearray(bytes(frame.data))
        can_id, ext = frame.can_id, frame.ext
        key = frame_key(can_id, ext)
        known = seen.get((key, bytes(data)))
        if known is not None:
            mi, words, picked = known
            lanes[:len(words)] = words
            selected[:len(picked)] = picked
            check(frame_no, t, mi, can_id, ext, data, len(data), lanes, selected)
            continue
        mi = by_key.get(key)
        if mi is None:
            check(frame_no, t, unknown, can_id, ext, data, len(data), lanes, selected)
            continue
        message, lengths, fields = plans[mi]
        status, raw = raw_outcome(message, bytes(data), lengths)
        if raw is None:
            check(frame_no, t, STATUS_RESULT[status], can_id, ext, data, len(data), lanes, selected)
            continue
        k = 0
        for name, si, at, signal, n in fields:
            if name not in raw:  # a multiplexed signal its multiplexer did not select
                continue
            value = raw[name]
            if n == 1 and type(value) is int and -0x80000000 <= value <= 0x7FFFFFFF:
                lanes[at] = value  # an int32 is its own lane word
            else:
                for j, word in enumerate(lane_words(signal, value)):
                    lanes[at + j] = word
            k += 1
            selected[k] = si
        selected[0] = k
        if k == len(fields):  # every lane of the message written: the same payload writes the same
            seen[(key, bytes(data))] = (mi, lanes[:sum(n for *_, n in fields)], selected[:k + 1])
        check(frame_no, t, mi, can_id, ext, data, len(data), lanes, selected)
    return out


def board_events(alerts) -> list[AlertEvent]:
    """The ALERT messages a board sent as AlertEvents."""
    return [AlertEvent(a.frame_no, a.code, a.severity, a.mi, a.si, a.value, a.text) for a in alerts]
