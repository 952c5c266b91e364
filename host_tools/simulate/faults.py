"""Fault specs: `KIND[:TARGET[=VALUE]][@START[+DURATION]]`, parsed and checked against the DBC.

    dropout:HitchLoad@30+2          the sender stays silent (no frames, counter paused)
    stuck_counter:BmsPackStatus@40+1 frames repeat the last counter value
    counter_jump:HitchLoad=5@12     one frame's counter advances by 5 instead of 1
    bad_crc:BmsPackStatus@15        CRC byte inverted (one frame; +D for a window)
    out_of_range:tongue_load_kg=2040@20+0.5  a raw value beyond [min|max], valid CRC
    value:BmsPackStatus.soc_pct=100@40+2     a plausible-looking value inside [min|max], valid CRC
    dlc:HitchLoad=6@25              frames cut to 6 bytes
    background:30@10+20             other ECUs' frames with unknown ids, bus load 30 %
    bus_off@50+0.3                  the logger's controller is bus-off: an error frame, then nothing
    out_of_order@60                 two frames written in swapped order

Times are seconds from the start of the log. Without +DURATION a frame fault hits one frame:
the first of the message at or after START.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from host_tools.e2e import protection
from host_tools.simulate.encoding import not_available_raw, raw_limits, raw_range
from host_tools.supervision.config import DEFAULT_CONFIG
from host_tools.simulate.errors import SimulateError

MAX_COUNTER_DELTA = DEFAULT_CONFIG["max_counter_delta"]  # receivers accept a counter step of 1..2 (one lost frame); more is a jump


@dataclass(frozen=True)
class Kind:
    target: str | None  # "message", "protected", "signal", "field" (MESSAGE.SIGNAL), "percent" or None
    value: str | None  # the =VALUE placeholder and what it means; None: not allowed
    duration: str  # "optional", "required", "none"; background: "optional" (whole log)
    help: str
    value_required: bool = False


KINDS: dict[str, Kind] = {
    "dropout": Kind("message", None, "optional", "the sender stays silent; its counter pauses"),
    "stuck_counter": Kind("protected", None, "optional", "frames carry the previous frame's counter (valid CRC)"),
    "counter_jump": Kind("protected", f"STEP: {MAX_COUNTER_DELTA + 1}..15, default 5", "none",
                         "one frame's counter advances by STEP instead of 1; later frames count on from it"),
    "bad_crc": Kind("protected", None, "optional", "the CRC byte is inverted"),
    "out_of_range": Kind("signal", "VALUE: physical, outside [min|max] but within the raw field; "
                         "default halfway between the range and the field's limit", "optional",
                         "the signal carries an out-of-range value; counter and CRC stay valid"),
    "value": Kind("field", "VALUE: physical, inside [min|max], not the n/a code", "optional",
                  "the signal carries VALUE instead of the real reading; counter and CRC stay valid", True),
    "dlc": Kind("message", "BYTES: 0..8, not the DBC length; default the DBC length - 1", "optional",
                "frames are cut to BYTES bytes (DLC BYTES)"),
    "background": Kind("percent", None, "optional",
                       "other ECUs' frames with ids the DBC lacks, topping the bus load up to PCT % "
                       "(without @: the whole log)"),
    "bus_off": Kind(None, None, "required", "the logger's CAN controller is bus-off: one error frame at START, "
                    "then no frames until START+DURATION; senders carry on, so counters jump"),
    "out_of_order": Kind(None, None, "none", "the first two frames of different ids at or after START are "
                         "written in swapped order, so the log's timestamps step back once"),
}

_SPEC = re.compile(r"^(?P<kind>[a-z_]+)(?::(?P<target>[^=@]+)(?:=(?P<value>[^@]+))?)?"
                   r"(?:@(?P<start>[^+]+)(?:\+(?P<duration>.+))?)?$")


@dataclass(frozen=True)
class Fault:
    kind: str
    spec: str
    message: str | None = None
    signal: str | None = None
    value: float | None = None  # counter step, byte count, physical value or bus load %
    raw: int | None = None  # out_of_range, value: the raw value sent
    start: float = 0.0
    duration: float | None = None  # None: one frame (or instant)

    @property
    def end(self) -> float | None:
        return None if self.duration is None else self.start + self.duration

    def describe(self) -> str:
        return KINDS[self.kind].help


def syntax_help() -> str:
    lines = ["KIND[:TARGET[=VALUE]][@START[+DURATION]], times in seconds:"]
    for name, kind in KINDS.items():
        target = {"message": ":MESSAGE", "protected": ":MESSAGE", "signal": ":SIGNAL", "field": ":MESSAGE.SIGNAL",
                  "percent": ":PCT", None: ""}[kind.target]
        value = f"={kind.value.split(':')[0]}" if kind.value else ""
        value = value if kind.value_required or not value else f"[{value}]"
        when = {"optional": "@START[+DURATION]", "required": "@START+DURATION", "none": "@START"}[kind.duration]
        if name == "background":
            when = "[@START+DURATION]"
        lines.append(f"  {name}{target}{value}{when}: {kind.help}"
                     + (f" ({kind.value})" if kind.value else ""))
    return "\n".join(lines)


def parse_fault(spec: str, dbc, duration_s: float) -> Fault:
    """A checked Fault, or SimulateError naming the bad part and what is valid."""
    text = spec.strip()
    found = _SPEC.match(text)
    where = f"fault {spec!r}"
    if not found:
        kind = text.split(":")[0].split("@")[0]
        if kind not in KINDS:
            raise SimulateError(f"{where}: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        raise SimulateError(f"{where}: expected KIND[:TARGET[=VALUE]][@START[+DURATION]], "
                            f"e.g. dropout:HitchLoad@30+2")
    kind_name = found["kind"]
    if kind_name not in KINDS:
        raise SimulateError(f"{where}: unknown kind {kind_name!r}; kinds: {', '.join(KINDS)}")
    kind = KINDS[kind_name]
    target, value_text = found["target"], found["value"]
    start_text, duration_text = found["start"], found["duration"]

    if kind.target is None and target is not None:
        raise SimulateError(f"{where}: {kind_name} takes no target, write {kind_name}@START"
                            f"{'+DURATION' if kind.duration == 'required' else ''}")
    if kind.target is not None and target is None:
        raise SimulateError(f"{where}: {kind_name} needs a target: {_target_help(kind, dbc)}")
    if value_text is not None and kind.value is None:
        raise SimulateError(f"{where}: {kind_name} takes no =VALUE")
    if value_text is None and kind.value_required and target is not None:
        raise SimulateError(f"{where}: {kind_name} needs =VALUE ({kind.value}), e.g. "
                            f"value:BmsPackStatus.soc_pct=100@40+2")

    if start_text is None:
        if kind_name != "background":
            raise SimulateError(f"{where}: missing @START (seconds from the start of the log)")
        start, duration = 0.0, float(duration_s)
    else:
        start = _seconds(where, "start", start_text)
        duration = _seconds(where, "duration", duration_text) if duration_text is not None else None
        if duration is not None and duration <= 0:
            raise SimulateError(f"{where}: duration must be above 0 s")
    if kind.duration == "required" and duration is None:
        raise SimulateError(f"{where}: {kind_name} needs a duration: {kind_name}@START+DURATION")
    if kind.duration == "none" and duration is not None:
        raise SimulateError(f"{where}: {kind_name} happens once; write {kind_name}"
                            f"{':' + target if target else ''}{'=' + value_text if value_text else ''}@START")
    if not 0 <= start < duration_s:
        raise SimulateError(f"{where}: start {start:g} s is outside the log (0 to {duration_s:g} s)")
    if kind_name == "out_of_order" and start <= 0:
        raise SimulateError(f"{where}: out_of_order needs START above 0 (the first frame cannot move)")

    message = signal = None
    value = raw = None
    if kind.target in ("message", "protected"):
        message = _message(where, dbc, target.strip(), kind.target == "protected")
    elif kind.target == "signal":
        message, signal = _signal(where, dbc, target.strip())
    elif kind.target == "field":
        message, signal = _message_signal(where, dbc, target.strip())
    elif kind.target == "percent":
        value = _number(where, "bus load", target)
        if not 0 < value <= 95:
            raise SimulateError(f"{where}: bus load {value:g} % is outside 0..95 (above 0, at most 95)")

    if kind_name == "counter_jump":
        value = 5 if value_text is None else _integer(where, "counter step", value_text)
        if not MAX_COUNTER_DELTA < value <= 15:
            raise SimulateError(f"{where}: counter step {value} must be {MAX_COUNTER_DELTA + 1}..15 "
                                f"(1..{MAX_COUNTER_DELTA} is a tolerated step, 16 looks normal)")
    elif kind_name == "dlc":
        length = dbc.database.get_message_by_name(message).length
        value = length - 1 if value_text is None else _integer(where, "byte count", value_text)
        if not 0 <= value <= 8 or value == length:
            raise SimulateError(f"{where}: byte count {value} must be 0..8 and differ from {message}'s {length}")
    elif kind_name == "out_of_range":
        value, raw = _out_of_range(where, dbc, message, signal, value_text)
    elif kind_name == "value":
        value, raw = _in_range(where, dbc, message, signal, value_text)

    return Fault(kind_name, text, message, signal, value, raw, start, duration)


def _seconds(where: str, what: str, text: str) -> float:
    value = _number(where, what, text)
    if value < 0:
        raise SimulateError(f"{where}: {what} {text!r} is negative")
    return value


def _number(where: str, what: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SimulateError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SimulateError(f"{where}: {what} {text!r} is not a finite number")
    return value


def _integer(where: str, what: str, text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise SimulateError(f"{where}: {what} {text!r} is not an integer") from None


def _target_help(kind: Kind, dbc) -> str:
    if kind.target == "percent":
        return "the bus load in %, e.g. background:30"
    if kind.target == "signal":
        return "a signal name, e.g. tongue_load_kg"
    return "a message: " + ", ".join(_messages(dbc, kind.target == "protected"))


def _messages(dbc, protected_only: bool) -> list[str]:
    return [m.name for m in dbc.messages if not protected_only or protection(m)]


def _message(where: str, dbc, name: str, protected_only: bool) -> str:
    names = _messages(dbc, False)
    if name not in names:
        raise SimulateError(f"{where}: unknown message {name!r}; messages: {', '.join(names)}")
    if protected_only and name not in _messages(dbc, True):
        raise SimulateError(f"{where}: {name} has no counter or CRC (not E2E protected); "
                            f"protected: {', '.join(_messages(dbc, True))}")
    return name


def _signal(where: str, dbc, name: str) -> tuple[str, str]:
    for message in dbc.messages:
        guard = protection(message)
        for signal in message.signals:
            if signal.name != name:
                continue
            if signal.is_multiplexer or guard and name in (guard.counter, guard.crc):
                raise SimulateError(f"{where}: {name} is a multiplexer, counter or CRC; use stuck_counter, "
                                    f"counter_jump or bad_crc for those, out_of_range for data signals")
            return message.name, name
    close = sorted(s.name for m in dbc.messages for s in m.signals if name.lower()[:4] in s.name.lower())
    hint = f"; similar: {', '.join(close[:8])}" if close else "; e.g. tongue_load_kg, pack_current_a, soc_pct"
    raise SimulateError(f"{where}: unknown signal {name!r}{hint}")


def _message_signal(where: str, dbc, text: str) -> tuple[str, str]:
    """MESSAGE.SIGNAL, a data signal of that message (for a multiplexed message, a multiplexed
    signal: its frames are the ones of its group)."""
    name, dot, signal_name = text.partition(".")
    if not dot:
        owner = next((m.name for m in dbc.messages for s in m.signals if s.name == text), None)
        example = f"{owner}.{text}" if owner else "BmsPackStatus.soc_pct"
        raise SimulateError(f"{where}: write the target as MESSAGE.SIGNAL, e.g. {example}")
    message = dbc.database.get_message_by_name(_message(where, dbc, name.strip(), False))
    signal_name = signal_name.strip()
    try:
        signal = message.get_signal_by_name(signal_name)
    except KeyError:
        names = [s.name for s in message.signals]
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise SimulateError(f"{where}: {message.name} has no signal {signal_name!r}; its signals: {shown}") from None
    guard = protection(message)
    if signal.is_multiplexer:
        raise SimulateError(f"{where}: {signal_name} is {message.name}'s multiplexer (it picks the cell group of "
                            f"each frame); target a cell instead, e.g. {message.name}.cell_037_mv: only the "
                            f"frames of its group change")
    if guard and signal_name in (guard.counter, guard.crc):
        raise SimulateError(f"{where}: {signal_name} is {message.name}'s E2E counter or CRC; use stuck_counter, "
                            f"counter_jump or bad_crc for those")
    return message.name, signal_name


def _in_range(where: str, dbc, message_name: str, name: str, text: str) -> tuple[float, int]:
    """(physical value sent, raw) for a `value` fault: inside [min|max], not the n/a code."""
    signal = dbc.database.get_message_by_name(message_name).get_signal_by_name(name)
    phys = _number(where, "value", text)
    raw = round((phys - signal.offset) / signal.scale)
    lo, hi = raw_range(signal)
    if not lo <= raw <= hi:
        low, high = lo * signal.scale + signal.offset, hi * signal.scale + signal.offset
        raise SimulateError(f"{where}: {phys:g} is outside {message_name}.{name}'s range "
                            f"[{min(low, high):g}|{max(low, high):g}]; use out_of_range for values beyond it")
    if raw == not_available_raw(signal):
        raise SimulateError(f"{where}: {phys:g} is {name}'s 'not available' code (raw {raw}); pick a real value")
    return round(raw * signal.scale + signal.offset, 6), raw


def _out_of_range(where: str, dbc, message_name: str, name: str, text: str | None) -> tuple[float, int]:
    signal = dbc.database.get_message_by_name(message_name).get_signal_by_name(name)
    lo, hi = raw_range(signal)
    field_lo, field_hi = raw_limits(signal)
    if text is None:
        if field_hi > hi:
            raw = hi + (field_hi - hi + 1) // 2
        elif field_lo < lo:
            raw = lo - (lo - field_lo + 1) // 2
        else:
            raise SimulateError(f"{where}: every raw value of {name}'s {signal.length} bits is inside "
                                f"[{signal.minimum}|{signal.maximum}]; nothing to put out of range")
    else:
        phys = _number(where, "value", text)
        raw = round((phys - signal.offset) / signal.scale)
        phys_lo = field_lo * signal.scale + signal.offset
        phys_hi = field_hi * signal.scale + signal.offset
        if not field_lo <= raw <= field_hi:
            raise SimulateError(f"{where}: {phys:g} does not fit {name}'s raw field "
                                f"({min(phys_lo, phys_hi):g}..{max(phys_lo, phys_hi):g})")
        if lo <= raw <= hi:
            raise SimulateError(f"{where}: {phys:g} is inside {name}'s range "
                                f"[{signal.minimum}|{signal.maximum}]; pick a value outside it")
        if raw == not_available_raw(signal):
            raise SimulateError(f"{where}: {phys:g} is {name}'s 'not available' code (raw {raw}), "
                                f"not an out-of-range value; pick another")
    return round(raw * signal.scale + signal.offset, 6), raw
