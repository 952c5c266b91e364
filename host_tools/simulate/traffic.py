"""Frames on the bus: every DBC message at its cycle time with jitter and clock drift,
encoded, counted and CRC-protected as docs/dbc.md says; frame faults applied the way the
sender would make them; bus faults (background traffic, bus-off, out-of-order) applied to
the merged stream.

A frame is a record tuple (t_us, prio, key, data, faults, raws, flags): time in µs from
the epoch, arbitration priority (ties go to the lower id, as on the bus), message index
(or KEY_BACKGROUND / KEY_ERROR), payload, indices of the faults that touched it, the raw
values it carries (packer order, counter included) and FLAG_* bits. A MISSING record is a
frame that was not on the bus (dropout, bus-off): kept for the ground truth, never written.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from host_tools.codegen.layout import payload_bits
from host_tools.dbc import frame_key
from host_tools.dbc_conventions import frame_period_us
from host_tools.e2e import payload_crc, protection
from host_tools.simulate.crc import payload_crc_function
from host_tools.simulate.ecus import GROUPS, MUX_MESSAGE, SIGNALS, Ecus, cell_group_signals
from host_tools.simulate.encoding import Packer
from host_tools.simulate.errors import SimulateError
from host_tools.simulate.faults import Fault
from host_tools.simulate.noise import gauss_stream
from host_tools.simulate.physics import BMS_STATE, DRIVE_MODE, DT_US, GEAR, HITCH_STATUS

BITRATE = 500_000
FLAG_DLC, FLAG_CRC, FLAG_RANGE, FLAG_MISSING = 1, 2, 4, 8
KEY_BACKGROUND, KEY_ERROR = -1, -2
FRAME_FAULTS = ("dropout", "stuck_counter", "counter_jump", "bad_crc", "out_of_range", "value", "dlc")
CLOCK_PPM = 60.0  # each sender's crystal is off by up to this much
# the physics' enum codes, checked against the DBC's VAL_ tables before anything is sent
ENUMS = {"gear": GEAR, "drive_mode": DRIVE_MODE, "bms_state": BMS_STATE, "hitch_sensor_status": HITCH_STATUS}


def frame_bits(length: int, ext: bool) -> int:
    """Bits a classic data frame holds the bus for, interframe space included, no stuffing."""
    return (67 if ext else 47) + 8 * length


def check_messages(messages) -> None:
    """Every message must be periodic and one the ECU models send (docs/dbc.md's)."""
    known = list(SIGNALS) + [MUX_MESSAGE]
    for message in messages:
        if message.name not in known:
            raise SimulateError(f"the DBC's message {message.name!r} has no model in the simulator; "
                                f"it simulates the test mule's: {', '.join(known)}")
        if not message.cycle_time or message.cycle_time <= 0:
            raise SimulateError(f"{message.name} has no GenMsgCycleTime; the simulator sends periodic messages only")
        for signal in message.signals:
            names = ENUMS.get(signal.name)
            dbc = {str(name): value for value, name in (signal.choices or {}).items()}
            if names and any(dbc.get(name) != value for name, value in names.items()):
                raise SimulateError(f"{message.name}.{signal.name}: the DBC's value table {dbc} differs from "
                                    f"the simulator's {names}")


def truck_bus_load_pct(messages) -> float:
    bits = sum(frame_bits(m.length, m.is_extended_frame) * 1e6 / frame_period_us(m) for m in messages)
    return 100 * bits / BITRATE


@dataclass
class _Window:
    index: int  # position in the fault list
    fault: Fault
    start_us: int
    end_us: int | None  # None: one frame
    done: bool = False


def _us(seconds: float) -> int:
    return round(seconds * 1e6)


class Sender:
    """One DBC message's frames, in time order."""

    def __init__(self, key: int, message, ecus: Ecus, seed: int, duration_us: int, faults):
        self.key = key
        self.message = message
        self.name = message.name
        self.can_id = message.frame_id
        self.ext = message.is_extended_frame
        self.prio = frame_key(message.frame_id, message.is_extended_frame)
        self.period_us = frame_period_us(message)
        self.duration_us = duration_us
        self.sampler = ecus.sampler(self.name)
        guard = protection(message)
        self.protected = guard is not None
        tail = (guard.counter, guard.crc) if guard else ()
        if self.name == MUX_MESSAGE:
            self.packers = [Packer(message, cell_group_signals(g) + tail) for g in range(GROUPS)]
        else:
            self.packers = [Packer(message, SIGNALS[self.name] + tail)]
        if guard:
            crc = message.get_signal_by_name(guard.crc)
            if {byte for byte, _ in payload_bits(crc.start, crc.length, crc.byte_order)} != {message.length - 1} \
                    or crc.length != 8:
                raise SimulateError(f"{self.name}: the CRC must fill the last payload byte (docs/dbc.md)")
        rng = random.Random(f"{seed}:schedule:{self.name}")
        sigma = min(0.015 * self.period_us, 600.0)
        self.jitter = (sigma, 3 * sigma)
        self.phase_us = round(rng.uniform(3 * sigma + 100, self.period_us))
        sender = message.senders[0] if message.senders else "?"
        ppm = random.Random(f"{seed}:clock:{sender}").uniform(-CLOCK_PPM, CLOCK_PPM)
        self.scale = 1 + ppm * 1e-6
        self.rng = rng
        self.windows = [_Window(i, f, _us(f.start), None if f.end is None else _us(f.end))
                        for i, f in faults]
        self.first_fault_us = min((w.start_us for w in self.windows), default=None)

    def frames(self) -> Iterator[tuple]:
        normal = gauss_stream(self.rng).__next__  # the rng's gauss() sequence, drawn in bulk
        sigma, clip = self.jitter
        period, phase, scale = self.period_us, self.phase_us, self.scale
        end = self.duration_us
        sampler, packers, groups = self.sampler, self.packers, len(self.packers)
        key, prio, protected = self.key, self.prio, self.protected
        encode = [p.encoder(protected) for p in packers]
        length = self.message.length
        crc_shift = 8 * (length - 1)  # the CRC fills the last byte (checked in __init__)
        payload_crc_fast = payload_crc_function(length)
        first_fault = self.first_fault_us if self.first_fault_us is not None else end
        counter = 0
        last = None  # counter of the previous frame sent
        n = 0
        while True:
            jitter = 0.0 + normal() * sigma  # gauss(0.0, sigma)
            jitter = clip if jitter > clip else -clip if jitter < -clip else jitter
            t = round((phase + n * period) * scale + jitter)
            if t >= end:
                return
            if t < first_fault:  # the usual case: no fault near
                if protected:
                    raws, payload = encode[n % groups](sampler(t // DT_US, n), counter)
                    crc = payload_crc_fast(payload.to_bytes(length, "little"))
                    data = (payload | crc << crc_shift).to_bytes(length, "little")
                    last = counter
                    counter = (counter + 1) & 15
                else:
                    raws, payload = encode[n % groups](sampler(t // DT_US, n))
                    data = payload.to_bytes(length, "little")
                yield (t, prio, key, data, (), raws, 0)
                n += 1
                continue
            record, counter, last = self._faulty(t, n, packers[n % groups], counter, last)
            yield record
            n += 1

    def _faulty(self, t: int, n: int, packer: Packer, counter: int, last):
        """One frame while faults are pending: (record, counter, last)."""
        hits: dict[str, list[_Window]] = {}
        for w in self.windows:
            if (w.start_us <= t < w.end_us) if w.end_us is not None else (not w.done and t >= w.start_us):
                hits.setdefault(w.fault.kind, []).append(w)
        if "dropout" in hits:  # the sender is silent; its counter waits
            for w in hits["dropout"]:
                w.done = True
            return (t, self.prio, self.key, b"", tuple(w.index for w in hits["dropout"]), None, FLAG_MISSING), \
                counter, last
        applied = []
        flags = 0
        raws = packer.raws(self.sampler(t // DT_US, n))
        for w in hits.get("value", ()):  # in range: nothing flags it, the receiver uses it
            if w.fault.signal in packer.index:  # a cell voltage: only the frames of its group
                raws[packer.index[w.fault.signal]] = w.fault.raw
                applied.append(w)
        for w in hits.get("out_of_range", ()):
            if w.fault.signal in packer.index:  # a cell voltage: only the frames of its group
                raws[packer.index[w.fault.signal]] = w.fault.raw
                flags |= FLAG_RANGE
                applied.append(w)
        if self.protected:
            if "stuck_counter" in hits and last is not None:
                value = last  # the next good frame carries last + 1 again
                applied += hits["stuck_counter"]
            elif "counter_jump" in hits and last is not None:
                value = (last + int(hits["counter_jump"][0].fault.value)) & 15
                counter = (value + 1) & 15
                applied += hits["counter_jump"]
            else:
                value = counter
                counter = (counter + 1) & 15
            raws.append(value)
            raws.append(0)
            last = value
            data = packer.pack(raws)
            data[-1] = payload_crc(data)
            if "bad_crc" in hits:
                data[-1] ^= 0xFF
                flags |= FLAG_CRC
                applied += hits["bad_crc"]
        else:
            data = packer.pack(raws)
        if "dlc" in hits:
            data = data[: int(hits["dlc"][0].fault.value)]
            flags |= FLAG_DLC
            applied += hits["dlc"]
        for w in applied:
            w.done = True
        return (t, self.prio, self.key, bytes(data), tuple(sorted(w.index for w in applied)), raws, flags), \
            counter, last


# -- other ECUs -----------------------------------------------------------------------------

@dataclass(frozen=True)
class BackgroundId:
    can_id: int
    ext: bool
    period_us: int
    length: int


def background_plan(index: int, fault: Fault, seed: int, taken: set[int], truck_load_pct: float) -> list[BackgroundId]:
    """Ids, periods and lengths of other ECUs' messages that lift the bus load to the target."""
    target = fault.value
    if target <= truck_load_pct:
        where = fault.spec if fault.spec.startswith("--") else f"fault {fault.spec!r}"
        raise SimulateError(f"{where}: bus load {target:g} % is below what the truck's own "
                            f"messages use ({truck_load_pct:.1f} %); ask for more")
    rng = random.Random(f"{seed}:background:{index}")
    need = (target - truck_load_pct) / 100 * BITRATE  # bits per second
    plan = []
    periods = (10_000, 20_000, 50_000, 100_000)
    while need > 1.0:
        ext = rng.random() < 0.25
        length = rng.choice((8, 8, 8, 6, 4))
        while True:
            can_id = (0x18000000 | rng.randrange(0xFF00, 0xFFFF) << 8 | rng.randrange(0x80, 0xF0)) if ext \
                else rng.randrange(0x300, 0x7F0)
            if frame_key(can_id, ext) not in taken:
                taken.add(frame_key(can_id, ext))
                break
        bits = frame_bits(length, ext)
        period = periods[len(plan) % len(periods)]
        if bits * 1e6 / period > need:  # the last one: whatever period tops it up
            period = max(200, round(bits * 1e6 / need))
        plan.append(BackgroundId(can_id, ext, period, length))
        need -= bits * 1e6 / period
    return plan


def background_frames(index: int, item: BackgroundId, seed: int, start_us: int, end_us: int) -> Iterator[tuple]:
    rng = random.Random(f"{seed}:background:{index}:{item.can_id:x}")
    prio = frame_key(item.can_id, item.ext)
    period = item.period_us
    sigma = min(0.015 * period, 600.0)
    t0 = start_us + round(rng.uniform(0, period))
    bits = 8 * item.length
    getrandbits, gauss = rng.getrandbits, rng.gauss
    n = 0
    while True:
        t = t0 + n * period + round(max(-3 * sigma, min(3 * sigma, gauss(0.0, sigma))))
        if t >= end_us:
            return
        data = getrandbits(bits).to_bytes(item.length, "little") if bits else b""
        yield (t, prio, KEY_BACKGROUND, data, (index,), (item.can_id, item.ext), 0)
        n += 1


# -- bus faults on the merged stream ---------------------------------------------------------

def merged(streams, chunk_us: int = 1_000_000) -> Iterator[tuple]:
    """All frames in time order; equal times go to the lower id, as arbitration would.
    Each stream is in time order: take a second of each at a time and sort it (much
    cheaper than heapq.merge, and memory stays at one second of frames)."""
    streams = [iter(s) for s in streams]
    heads = [next(s, None) for s in streams]
    end = chunk_us
    while True:
        batch = []
        more = False
        for k, stream in enumerate(streams):
            record = heads[k]
            while record is not None and record[0] < end:
                batch.append(record)
                record = next(stream, None)
            heads[k] = record
            more = more or record is not None
        batch.sort()  # (t, prio) never tie between two frames
        yield from batch
        if not more:
            return
        end += chunk_us


def apply_bus_off(stream, windows: list[tuple[int, int, int]]) -> Iterator[tuple]:
    """(index, start_us, end_us): an error frame at the start, every frame in the window lost."""
    pending = sorted(windows, key=lambda w: w[1])
    active: list[tuple[int, int, int]] = []
    for record in stream:
        t = record[0]
        while pending and pending[0][1] <= t:
            window = pending.pop(0)
            yield (window[1], -1, KEY_ERROR, b"", (window[0],), None, 0)
            active.append(window)
        if active:
            active = [w for w in active if t < w[2]]
            if active and not record[6] & FLAG_MISSING:
                record = (t, record[1], record[2], record[3], record[4] + (active[0][0],), record[5],
                          record[6] | FLAG_MISSING)
        yield record
    for index, start, _ in pending:  # after the last frame
        yield (start, -1, KEY_ERROR, b"", (index,), None, 0)


def apply_out_of_order(stream, faults: list[tuple[int, int]]) -> Iterator[tuple]:
    """(index, start_us): swap the first frame at or after start (not the log's first frame,
    not an error frame) with the next frame of another id that is later in time."""
    pending = sorted(faults, key=lambda f: f[1])
    held = None
    written = 0
    for record in stream:
        if record[6] & FLAG_MISSING:
            yield record
            continue
        if held is not None:
            index = pending[0][0]
            if record[2] != KEY_ERROR and record[1] != held[1] and record[0] > held[0]:
                yield record[:4] + (record[4] + (index,),) + record[5:]
                yield held[:4] + (held[4] + (index,),) + held[5:]
                written += 2
                held = None
                pending.pop(0)
                continue
            yield held
            written += 1
            held = None
        if pending and written >= 1 and record[0] >= pending[0][1] and record[2] >= 0:
            held = record
            continue
        yield record
        written += 1
    if held is not None:
        yield held
