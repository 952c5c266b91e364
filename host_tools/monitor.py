"""`mule monitor` as a library: a live view of a board's telemetry (hitch and battery
panels, alerts, link and board counters, each message's measured cycle time against the
DBC's), and a recording of the session that `mule replay` and `mule decode` read back.

    dash = Dashboard(dbc)
    run_monitor(lambda: BoardLink(port, dbc), dbc, dash, recorder=Recorder(Path("s.log"), dbc))
    Console().print(dash.render())

The recording is a CAN log rebuilt from what the board reports. TELEMETRY carries each
decoded signal's raw value, not the payload, so every frame the board decoded is
re-encoded with cantools: the bits of every signal are the bus's, bits no signal covers
are 0, the timestamp is the moment the host received the record. Frames the board could
not decode (ids the DBC lacks, wrong lengths, undefined multiplexer values) come without
a payload and cannot be recorded: they are counted. See docs/replay.md.

A board flashed with telemetry "changed" (HELLO caps bit5, docs/protocol.md) sends only
what moved: the dashboard holds each signal's last value sent, and the recording keeps
only the frames it rebuilds bit for bit: every signal sent in the frame's record, or not
sent with a deadband of 0 (so equal to the last value sent, none lost since the HELLO).
A frame in a run (the board names no message) or with an E2E counter, CRC or deadband
value not sent is counted, not guessed (`Recorder.not_recorded`).
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import can
import serial
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from host_tools.board_codes import RESULT_STATUS
from host_tools.dbc import Dbc
from host_tools.link import messages as m
from host_tools.link.session import BoardLink, LinkError
from host_tools.logfile import supported_suffixes
from host_tools.board_alerts import describe
from host_tools.telemetry import TelemetryDecoder
from host_tools.telemetry_changed import deadbands, held_exactly
from host_tools.text import printable

CAN_STATES = {0: "error-active", 1: "warning", 2: "passive", 3: "bus-off", 255: "n/a"}
ALERTS_SHOWN = 8
CYCLE_WINDOW = 64  # arrivals per message (per multiplexer value) the cycle time is measured over


def _v(name):
    return lambda values: values.get(name)


def _power_kw(values):
    if "pack_voltage_v" in values and "pack_current_a" in values:
        return values["pack_voltage_v"] * values["pack_current_a"] / 1000
    return None


def _spread_mv(values):
    if "cell_v_max_mv" in values and "cell_v_min_mv" in values:
        return values["cell_v_max_mv"] - values["cell_v_min_mv"]
    return None


# (label, message, value from the message's phys dict, format); a format of None shows the
# DBC's value table name for the signal
HITCH_PANEL = (
    ("tongue load", "HitchLoad", "tongue_load_kg", "{:.0f} kg"),
    ("drawbar force", "HitchLoad", "drawbar_force_n", "{:,.0f} N"),
    ("hitch angle", "HitchLoad", "hitch_angle_deg", "{:+.1f} °"),
    ("trailer", "HitchLoad", "trailer_connected", None),
    ("trailer brake", "HitchLoad", "trailer_brake_output_pct", "{:.0f} %"),
    ("sensor", "HitchLoad", "hitch_sensor_status", None),
    ("speed", "VcuVehicleStatus", "vehicle_speed_kph", "{:.1f} km/h"),
    ("gear", "VcuVehicleStatus", "gear", None),
)
BATTERY_PANEL = (
    ("SOC", "BmsPackStatus", "soc_pct", "{:.1f} %"),
    ("pack", "BmsPackStatus", "pack_voltage_v", "{:.1f} V"),
    ("current", "BmsPackStatus", "pack_current_a", "{:+.1f} A"),
    ("power", "BmsPackStatus", _power_kw, "{:+.1f} kW"),
    ("cell min / max", "BmsCellStats", lambda v: (v.get("cell_v_min_mv"), v.get("cell_v_max_mv")), "{} / {} mV"),
    ("cell spread", "BmsCellStats", _spread_mv, "{:.0f} mV"),
    ("cell temp max", "BmsTempStats", "cell_t_max_c", "{:.0f} °C"),
    ("state", "BmsPackStatus", "bms_state", None),
    ("range left", "TOW_RANGE", "range_km", "{:.1f} km"),  # the board's estimate (TOW_RANGE)
    ("consumption", "TOW_RANGE", "wh_per_km", "{:.0f} Wh/km"),
)


class BoardFrame(NamedTuple):
    """One CAN frame as the board reported it, its record's parts merged."""

    frame_no: int
    result: int  # message index, a decoder error code, or SUPPRESSED (telemetry changed: nothing sent)
    sent: dict  # the raw values its record carried
    known: dict  # the raw values of its message known then: `sent`, and with telemetry "changed"
    # the last value the board sent of every other signal since its HELLO (none lost since)
    changed: bool = False  # the board sends only what changed (HELLO caps bit5)


@dataclass
class _Cycle:
    arrivals: dict = field(default_factory=dict)  # multiplexer value (or None) -> deque of times
    frames: int = 0
    last: float | None = None


class Dashboard:
    """The monitor's state; feed it messages with on_message(), show it with render()."""

    def __init__(self, dbc: Dbc, port: str = "", clock: Callable[[], float] = time.monotonic):
        self.dbc = dbc
        self.port = port
        self.clock = clock
        self.decoder = TelemetryDecoder(dbc)
        self.started = clock()
        self.hello: m.Hello | None = None
        self.boots: list[int] = []
        self.stats: m.Stats | None = None
        self.latest: dict[str, dict] = {}  # message -> each signal's last value sent (phys)
        self.raw: dict[str, dict] = {}
        self.cycles = [_Cycle() for _ in dbc.messages]
        self._mux = [next((s.name for s in msg.signals if s.is_multiplexer), None) for msg in dbc.messages]
        self.records = 0  # frames with a record (a run record: one per frame)
        self.undecoded = {"unknown_id": 0, "wrong_length": 0, "bad_multiplexer": 0}
        self.unchanged = 0  # telemetry "changed": frames decoded with nothing to send (run records)
        self.telemetry_gaps = 0  # frames the board received whose records never arrived
        self._last_no: int | None = None
        self.changed = False  # the board's telemetry mode, from its last HELLO
        # telemetry "changed": per message, each signal's last raw value the board sent since
        # its HELLO; forgotten when a record is lost (it may have carried a newer one)
        self.held: list[dict] = [{} for _ in dbc.messages]
        self._open: BoardFrame | None = None  # the last frame, whose record may have more parts
        self.alerts: deque = deque(maxlen=ALERTS_SHOWN)
        self.alert_count = 0
        self.tow: m.TowRange | None = None
        self.logs: deque = deque(maxlen=3)
        self.notes: deque = deque(maxlen=4)  # resets, disconnects
        self.host_link: dict = {}

    # ---- input -------------------------------------------------------------------------
    def on_message(self, message, now: float | None = None) -> list[BoardFrame]:
        """Take one message; returns the frames it completed (a frame is complete when the
        next record or HELLO arrives, as a long record comes in parts; see finish())."""
        now = self.clock() if now is None else now
        done = []
        if isinstance(message, m.Telemetry):
            for record in message.records:
                done += self._record(record, now)
        elif isinstance(message, m.Hello):
            done += self.finish()
            changed = bool(message.caps & m.CAP_TELEMETRY_CHANGED)
            if self.boots and message.boot_id != self.boots[-1]:
                switched = f", telemetry {'changed' if changed else 'all'}" if changed != self.changed else ""
                self.notes.append(f"{self._ago(now)}: board reset (boot {message.boot_id:#010x}{switched})")
                self._last_no = None
            if message.boot_id not in self.boots:
                self.boots.append(message.boot_id)
            self.hello = message
            self.changed = changed
            self._forget()  # a board in "changed" mode starts over at every HELLO: all sent anew
        elif isinstance(message, m.Stats):
            self.stats = message
        elif isinstance(message, m.Alert):
            self.alert_count += 1
            self.alerts.append((now, describe(message, self.dbc, None, None)))
        elif isinstance(message, m.Log):
            self.logs.append(message.text)
        elif isinstance(message, m.TowRange):
            self.tow = message
        return done

    def note(self, text: str, now: float | None = None) -> None:
        self.notes.append(f"{self._ago(self.clock() if now is None else now)}: {text}")

    def _ago(self, now: float) -> str:
        return f"{now - self.started:7.1f} s"

    def finish(self) -> list[BoardFrame]:
        """The last frame, once no further part of its record can come (at the end)."""
        frame, self._open = self._open, None
        if frame is None:
            return []
        known = dict(self.held[frame.result]) if frame.changed and frame.result >= 0 else frame.sent
        return [frame._replace(known=known)]

    def _forget(self) -> None:
        for values in self.held:
            values.clear()

    def _record(self, record: m.TelemetryRecord, now: float) -> list[BoardFrame]:
        last = self._open
        if last is not None and record.frame_no == last.frame_no and record.result == last.result >= 0:
            self._values(last, record.signals)  # the next part of a record too long for one link frame
            return []
        done = self.finish()
        self.records += 1
        if self._last_no is not None and record.frame_no != self._last_no:
            step = (record.frame_no - self._last_no) & m.FRAME_NO_MASK  # numbers count mod 2**30
            if 1 < step < 0x20000000:  # the board numbers the frames it receives 1, 2, 3 …
                self.telemetry_gaps += step - 1
                self._forget()  # a lost record may have carried newer values
        self._last_no = record.frame_no
        if record.result < 0 or record.result >= len(self.dbc.messages):
            if record.result == m.SUPPRESSED:
                self.unchanged += 1
            key = RESULT_STATUS.get(record.result)
            if key:
                self.undecoded[key] += 1
            return done + [BoardFrame(record.frame_no, record.result, {}, {}, self.changed)]
        frame = self._open = BoardFrame(record.frame_no, record.result, {}, {}, self.changed)
        raw = self._values(frame, record.signals)
        cycle = self.cycles[record.result]
        cycle.frames += 1
        cycle.last = now
        mux = self._mux[record.result]
        held = self.held[record.result] if self.changed else raw
        times = cycle.arrivals.setdefault(held.get(mux) if mux else None, deque(maxlen=CYCLE_WINDOW))
        times.append(now)
        return done

    def _values(self, frame: BoardFrame, signals) -> dict:
        """Take the values a record (part) carried: the one decoding of TELEMETRY lanes
        (host_tools/telemetry.py); each shown value is the last one sent."""
        name, raw, phys = self.decoder.values(frame.result, list(signals))
        self.latest.setdefault(name, {}).update(phys)
        self.raw.setdefault(name, {}).update(raw)
        frame.sent.update(raw)
        if frame.changed:
            self.held[frame.result].update(raw)
        return raw

    # ---- figures ------------------------------------------------------------------------
    def cycle_ms(self, mi: int) -> float | None:
        """Mean period of the message (per multiplexer value, the median over values), from
        the host's arrival times: exact on average, its jitter includes the link's batching."""
        periods = [(t[-1] - t[0]) / (len(t) - 1) for t in self.cycles[mi].arrivals.values() if len(t) >= 2]
        return 1000 * statistics.median(periods) if periods else None

    def value(self, message: str, how) -> object:
        if message == "TOW_RANGE":
            v = None if self.tow is None else getattr(self.tow, how)
            return None if v is None or v < 0 else v
        values = self.latest.get(message)
        if values is None:
            return None
        if callable(how):
            return how(values)
        if how not in values:
            return None
        signal = self.dbc.database.get_message_by_name(message).get_signal_by_name(how)
        raw = self.raw[message][how]
        if signal.choices and raw in signal.choices:
            return str(signal.choices[raw])
        return values[how]

    # ---- output -------------------------------------------------------------------------
    def render(self, now: float | None = None):
        now = self.clock() if now is None else now
        top = Table.grid(padding=(0, 2))
        top.add_row(self._panel("Hitch", HITCH_PANEL), self._panel("Battery", BATTERY_PANEL), self._link_panel())
        bottom = Table.grid(padding=(0, 2))
        bottom.add_row(self._cycle_table(now), self._alerts_panel())
        return Group(Text(printable(self._title(now))), top, bottom)  # HELLO's board name: not markup

    def text(self, width: int = 140) -> str:
        """The dashboard as plain text (tests, logs, a terminal that is not one)."""
        console = Console(width=width, record=True, file=_Null(), color_system=None)
        console.print(self.render())
        return console.export_text()

    def _title(self, now: float) -> str:
        h = self.hello
        if h is None:
            return f"mule monitor {self.port}: waiting for the board…"
        mode = "live (CAN bus)" if h.mode == m.MODE_LIVE else "replay (frames come from `mule replay`, not a bus)"
        telemetry = " · telemetry changed (values held)" if self.changed else ""
        return (f"mule monitor {self.port}: {h.board} · {h.fw_version} · boot {h.boot_id:#010x} · mode {mode}"
                f"{telemetry} · {now - self.started:.0f} s")

    def _panel(self, title: str, rows) -> Panel:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold")
        table.add_column(justify="right", min_width=14)
        for label, message, how, fmt in rows:
            value = self.value(message, how)
            table.add_row(label, _fmt(value, fmt))
        return Panel(table, title=title, width=34)

    def _link_panel(self) -> Panel:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold")
        table.add_column(justify="right", min_width=10)
        s = self.stats
        rows = [("records", f"{self.records:,}"), ("unknown ids", f"{self.undecoded['unknown_id']:,}"),
                ("wrong length", f"{self.undecoded['wrong_length']:,}"),
                ("bad mux", f"{self.undecoded['bad_multiplexer']:,}"),
                ("records missed", f"{self.telemetry_gaps:,}"), ("resets", str(max(0, len(self.boots) - 1)))]
        if self.changed or self.unchanged:
            rows.insert(1, ("unchanged (not sent)", f"{self.unchanged:,}"))
        h = self.host_link
        if h:
            rows.append(("host link errors", f"{h.get('crc_errors', 0) + h.get('bad_frames', 0)}"))
        if s is not None:
            rows += [("uptime", f"{s.uptime_ms / 1000:.0f} s"), ("board frames", f"{s.frames_received:,}"),
                     ("dropped", f"{s.frames_dropped:,}"), ("FIFO overflows", f"{s.can_fifo_overflows:,}"),
                     ("CAN errors", f"{s.can_errors:,}"), ("CAN state", CAN_STATES.get(s.can_state, str(s.can_state))),
                     ("board link errors", f"{s.link_crc_errors + s.link_bad_frames}"),
                     ("heap free / min", f"{s.heap_free // 1024} / {s.heap_min_free // 1024} KB"),
                     ("loop max / avg", f"{s.loop_us_max} / {s.loop_us_avg} µs")]
        for label, value in rows:
            table.add_row(label, value)
        return Panel(table, title="Link and board", width=40)

    def _cycle_table(self, now: float) -> Table:
        if self.changed:  # a frame without a value sent is in a run, which names no message
            return self._records_table()
        table = Table(title="Cycle times: measured vs DBC", title_justify="left")
        for heading in ("message", "DBC ms", "measured ms", "frames", ""):
            table.add_column(heading, justify="left" if heading == "message" else "right")
        for mi, message in enumerate(self.dbc.messages):
            dbc_ms = message.cycle_time
            got = self.cycle_ms(mi)
            cycle = self.cycles[mi]
            status = ""
            if cycle.last is None:
                status = "not seen"
            elif dbc_ms and now - cycle.last > 3 * dbc_ms / 1000 / max(1, len(cycle.arrivals)) + 0.5:
                status = "silent"
            elif got is not None and dbc_ms and abs(got - dbc_ms) > 0.1 * dbc_ms:
                status = "off"
            elif got is not None:
                status = "ok"
            table.add_row(Text(printable(message.name)), f"{dbc_ms}" if dbc_ms else "–", f"{got:.1f}" if got is not None else "–",
                          f"{cycle.frames:,}", status)
        return table

    def _records_table(self) -> Table:
        table = Table(title="Values sent (no cycle times)", title_justify="left")
        for heading in ("message", "DBC ms", "frames", "last"):
            table.add_column(heading, justify="left" if heading == "message" else "right")
        for mi, message in enumerate(self.dbc.messages):
            cycle = self.cycles[mi]
            last = "not seen" if cycle.last is None else f"{cycle.last - self.started:.1f} s"
            table.add_row(Text(printable(message.name)), f"{message.cycle_time}" if message.cycle_time else "–",
                          f"{cycle.frames:,}", last)
        return table

    def _alerts_panel(self) -> Panel:
        lines = []
        for at, alert in self.alerts:
            where = ".".join(x for x in (alert.message, alert.signal) if x)
            lines.append(f"{at - self.started:7.1f} s {'cleared' if alert.cleared else 'RAISED '} {alert.kind} "
                         f"{where} (severity {alert.severity})")
        if not lines:
            lines.append("none" if self.alert_count == 0 else "")
        lines += [f"note {n}" for n in self.notes]
        lines += [f"board: {text}" for text in self.logs]
        # DBC names and the board's LOG text: plain text, never rich markup
        return Panel(Text(printable("\n".join(lines), keep_newlines=True)), title=f"Alerts ({self.alert_count})",
                     width=72)


def _fmt(value, fmt) -> str:
    if value is None or isinstance(value, tuple) and None in value:
        return "–"
    if fmt is None:
        return str(value)
    if isinstance(value, tuple):
        return fmt.format(*value)
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


class _Null:
    def write(self, text):
        return len(text)

    def flush(self):
        pass


NOT_RECORDED = {  # why a frame is not in the recording, for the user
    "unknown_id": "the board sends no payload for frames it cannot decode",
    "wrong_length": "the board sends no payload for frames it cannot decode",
    "bad_multiplexer": "the board sends no payload for frames it cannot decode",
    "encode_failed": "cantools could not place a value",
    "unchanged": "telemetry changed: decoded, nothing sent, no message named",
    "not_sent": "telemetry changed: an E2E counter or CRC, a value within a deadband, or one whose "
                "last record was lost, not sent",
}


class Recorder:
    """Writes the frames the board decoded, re-encoded with cantools, as a CAN log in the
    format its extension names (candump .log recommended: `mule replay`/`mule decode` read it).
    With telemetry "changed" only the frames it rebuilds bit for bit (see the module's doc)."""

    def __init__(self, path: Path, dbc: Dbc, channel: str = "can0"):
        self.path = Path(path)
        if self.path.suffix.lower() not in supported_suffixes():
            raise ValueError(f"{self.path}: record to one of {', '.join(supported_suffixes())} "
                             "(mule decode and mule replay read those)")
        self.dbc = dbc
        self.channel = channel
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = can.Logger(str(self.path))
        self.frames = 0
        self.not_recorded = dict.fromkeys(NOT_RECORDED, 0)
        self._bands: list[dict] | None = None  # telemetry "changed": deadband by signal name

    def take(self, frame: BoardFrame, t: float) -> None:
        """Record one frame the board reported (Dashboard.on_message's), or count why not."""
        if frame.result == m.SUPPRESSED:
            self.not_recorded["unchanged"] += 1
            return
        if frame.result < 0 or frame.result >= len(self.dbc.messages):
            key = RESULT_STATUS.get(frame.result)
            if key:
                self.not_recorded[key] += 1
            return
        message = self.dbc.messages[frame.result]
        try:
            data = message.encode(frame.known, scaling=False, padding=False, strict=False)
            names = message.decode(data, decode_choices=False, scaling=False) if frame.changed else frame.sent
        except KeyError:  # a signal of the frame neither sent nor known
            self.not_recorded["not_sent" if frame.changed else "encode_failed"] += 1
            return
        except Exception:  # cantools raises several types for values it cannot place
            self.not_recorded["encode_failed"] += 1
            return
        if frame.changed and not self._exact(frame, names):
            self.not_recorded["not_sent"] += 1
            return
        self.writer.on_message_received(can.Message(timestamp=t, arbitration_id=message.frame_id,
                                                    is_extended_id=message.is_extended_frame, data=data,
                                                    channel=self.channel))
        self.frames += 1

    def _exact(self, frame: BoardFrame, names) -> bool:
        """Is every signal of the frame known bit for bit: sent, or held exactly?"""
        if self._bands is None:
            self._bands = [{s.name: band for s, band in zip(msg.signals, row)}
                           for msg, row in zip(self.dbc.messages, deadbands(self.dbc))]
        bands = self._bands[frame.result]
        return all(name in frame.sent or held_exactly(bands[name]) for name in names)

    def summary(self) -> str:
        """What was recorded and what not, and why, in one line."""
        skipped = [f"{key} {n:,} ({NOT_RECORDED[key]})" for key, n in self.not_recorded.items() if n]
        return (f"recorded {self.frames:,} frame{'' if self.frames == 1 else 's'} to {self.path}"
                + (f"; not recorded: {', '.join(skipped)}" if skipped else ""))

    def close(self) -> None:
        self.writer.stop()


class Disconnected(Exception):
    pass


def _open(connect: Callable[[], BoardLink], dbc: Dbc) -> tuple[BoardLink, m.Hello]:
    link = connect()
    try:
        hello = link.sync(timeout=3.0)
    except BaseException:
        link.close()
        raise
    if hello.dbc_sha256.hex() != dbc.sha256:
        link.close()
        raise LinkError(f"{link.port}: the board decodes with DBC sha256 {hello.dbc_sha256.hex()[:12]}…, not "
                        f"{dbc.path.name} ({dbc.sha256[:12]}…): give --dbc the board's DBC, or `mule flash` it")
    return link, hello


def run_monitor(connect: Callable[[], BoardLink], dbc: Dbc, dashboard: Dashboard, *, recorder: Recorder | None = None,
                duration: float | None = None, stop: Callable[[], bool] = lambda: False,
                refresh: Callable[[], None] | None = None, refresh_s: float = 0.25, reconnect_s: float = 30.0,
                wall: Callable[[], float] = time.time) -> Dashboard:
    """Watch the board until `stop()`, `duration` seconds, or a board that does not come
    back within `reconnect_s`. Sends nothing but SYNC: the board keeps running afterwards."""
    clock = dashboard.clock
    link, hello = _open(connect, dbc)
    end = None if duration is None else clock() + duration
    next_refresh = clock()
    closed_counters = {"crc_errors": 0, "bad_frames": 0, "seq_gaps": 0}

    def link_counters():
        c = link.receiver.counters() if link is not None else {}
        return {k: closed_counters[k] + c.get(k, 0) for k in closed_counters}

    def take(message) -> None:
        frames = dashboard.finish() if message is None else dashboard.on_message(message, clock())
        if recorder is not None:
            for frame in frames:
                recorder.take(frame, wall())

    take(hello)
    try:
        while not stop() and (end is None or clock() < end):
            try:
                if not link.inbox:
                    link.wait_readable(0.05)
                link.poll(0)
            except (serial.SerialException, OSError) as exc:
                dashboard.note(f"port lost ({exc}); waiting for it to come back")
                for k, v in link.receiver.counters().items():
                    if k in closed_counters:
                        closed_counters[k] += v
                link.close()
                link = None
                link = _reconnect(connect, dbc, dashboard, clock() + reconnect_s, stop, take)
                if link is None:
                    dashboard.note(f"the board did not come back within {reconnect_s:g} s")
                    break
                continue
            now = clock()
            for message in link.messages():
                take(message)
            dashboard.host_link = link_counters()
            if refresh is not None and now >= next_refresh:
                next_refresh = now + refresh_s
                refresh()
        take(None)
    finally:
        if link is not None:
            dashboard.host_link = link_counters()
            link.close()
    return dashboard


def _reconnect(connect, dbc, dashboard, deadline, stop, take):
    while dashboard.clock() < deadline and not stop():
        try:
            link, hello = _open(connect, dbc)
        except (LinkError, serial.SerialException, OSError):
            time.sleep(0.25)
            continue
        dashboard.note("port back")
        take(hello)
        return link
    return None
