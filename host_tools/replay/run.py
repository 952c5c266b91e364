"""The replay loop: read the log, send each frame when it is due (credit permitting),
take the board's answers in between, and when the board resets, stalls or goes away,
count the gap, get it back and go on with the next frame."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from host_tools.collector import collector_paused
from host_tools.dbc import Dbc
from host_tools.link import messages as m
from host_tools.link.session import BoardLink, LinkError
from host_tools.link.wire import MAX_BODY, MAX_WIRE
from host_tools.replay import alerts as alerting
from host_tools.replay.check import Checker
from host_tools.replay.inflight import FrameBook, Gap, session_base
from host_tools.replay.pacing import EARLY_S, Pacer, speed_label
from host_tools.replay.session import BoardSession, Disconnected, ReplayError
from host_tools.replay.source import AUTO, LogSource
from host_tools.replay.summary import ReplayResult

LOOKAHEAD = 512  # frames read ahead of sending
STATS_WAIT_S = 1.3  # the board sends STATS every second
DRAIN_QUIET_S = 0.05  # after the last frame: every frame answered and nothing more for this long


class Replay:
    """One replay of one log; `run()` returns a ReplayResult. Tests drive it directly."""

    def __init__(self, log: str | Path, dbc: Dbc, connect: Callable[[], BoardLink], *, port: str = "",
                 speed: float | None = None, channel: str = AUTO, skip_bad: bool = False,
                 settle_s: float = 3.0, stall_s: float = 3.0, reconnect_s: float = 30.0,
                 stop: Callable[[], bool] = lambda: False, progress: Callable[[dict], None] | None = None,
                 on_decoded=None, tamper: Callable[[int, bytes], bytes] | None = None,
                 after_batch: Callable[[int, int], None] | None = None, base: int | None = None,
                 board_stats: bool = True, sync_timeout: float = 5.0):
        self.log = Path(log)
        self.dbc = dbc
        self.port = port
        self.source = LogSource(self.log, dbc, channel=channel, skip_bad=skip_bad)
        try:
            self.truth = alerting.load_sidecar(self.log)
        except ValueError as exc:
            raise ReplayError(str(exc)) from None
        self.session = BoardSession(connect, dbc, sync_timeout)
        self.pacer = Pacer(speed)
        self.book = FrameBook(Checker(dbc), session_base() if base is None else base, on_decoded)
        self.settle_s, self.stall_s, self.reconnect_s = settle_s, stall_s, reconnect_s
        self.stop = stop
        self.progress = progress
        self.tamper = tamper
        self.after_batch = after_batch
        self.board_stats = board_stats  # wait for STATS before and after: the board's own link counters
        self.gaps: list[Gap] = []
        self.alerts: list = []
        self.logs: list = []
        self.tow_range: dict | None = None  # the board's last TOW_RANGE, with its log time
        self.pending: deque = deque()  # (frame, log time envelope) read, not yet sent
        self.batches = 0
        self.t0: float | None = None
        self.last_t: float | None = None
        self.interrupted = False
        self.aborted: str | None = None
        self._reset: str | None = None  # why the stream needs a re-SYNC (set while reading messages)
        self._started = 0.0
        self._first_send: float | None = None
        self._last_send = 0.0
        self._last_progress = 0.0
        self._frames = iter(self.source)
        self._exhausted = False
        self._credit_wait: float | None = None

    # ---- the loop ------------------------------------------------------------------------
    def run(self) -> ReplayResult:
        session = self.session
        session.open()
        self._started = time.perf_counter()
        try:
            with collector_paused():
                try:
                    if self.board_stats:
                        self._wait_stats(STATS_WAIT_S)  # the board's counters before we start
                    self._stream()
                except KeyboardInterrupt:
                    self.interrupted = True
                try:
                    self._drain()
                    if self.board_stats and not self.aborted and not self.interrupted:
                        self._wait_stats(STATS_WAIT_S)  # its counters after the last frame
                except KeyboardInterrupt:
                    self.interrupted = True
        finally:
            self.book.settle_all()
            session.close()
        return self._result()

    def _stream(self) -> None:
        pacer = self.pacer
        while True:
            if self._stopping():
                return
            self._refill()
            if not self.pending:
                return
            try:
                now = time.perf_counter()
                budget = self._deadline() if pacer.paced else now + 0.005
                self._take_messages(budget)
                if self._reset:
                    self._recover("stall" if "credit" in self._reset else "reset", self._reset)
                    continue
                if self._send_due():
                    continue
                now = time.perf_counter()
                if now - self.session.last_rx > self.stall_s:
                    self._recover("stall", f"no word from the board for {self.stall_s:g} s")
                    continue
                wait = self._deadline() - now if pacer.paced else 0.005
                self.session.poll(min(max(wait, 0.0002), 0.05))
            except Disconnected as exc:
                self._recover("disconnect", str(exc) or "the port failed")

    def _stopping(self) -> bool:
        if self.aborted:
            return True
        if self.stop():
            self.interrupted = True
            return True
        return False

    def _refill(self) -> None:
        starting = self.t0 is None
        while not self._exhausted and len(self.pending) < LOOKAHEAD:
            frame = next(self._frames, None)
            if frame is None:
                self._exhausted = True
                break
            self.pending.append((frame, 0.0 if starting else self.pacer.due(frame.t)))
        if starting and self.pending:
            # The clock starts once the first lookahead is read: reading it takes tens of ms
            # on a busy machine, which would otherwise make the first frames late.
            self.t0 = self.pending[0][0].t
            self.pacer.start(time.perf_counter(), self.t0)
            self.pending = deque((frame, self.pacer.due(frame.t)) for frame, _ in self.pending)

    def _deadline(self) -> float:
        return self.pending[0][1] if self.pending else math.inf

    def _send_due(self) -> bool:
        """Send one batch of what is due and fits the board's credit; False when nothing went."""
        now = time.perf_counter()
        limit = now + EARLY_S
        room = self.session.room()
        if not self.pacer.paced and room < min(MAX_WIRE, self.session.hello.rx_window):
            return self._no_credit(now)  # as fast as credit allows: full batches, not dribbles
        pending = self.pending
        t0 = self.t0
        records: list = []
        frames: list = []
        body = m.CAN_BATCH_HEADER
        for frame, due in pending:
            if due > limit or len(records) == m.MAX_COUNT:
                break
            record = m.CanRecord(int((frame.t - t0) * 1e6) & 0xFFFFFFFF, frame.can_id, frame.ext, bytes(frame.data))
            size = body + record.size
            if size > MAX_BODY or _wire_size(size) > room:
                break
            records.append(record)
            frames.append((frame, due))
            body = size
        if not records:
            return self._no_credit(now) if pending and pending[0][1] <= limit else False
        self._credit_wait = None
        for _ in frames:
            pending.popleft()
        # in flight from here: should the write fail, they are the gap's to account for
        first = self.book.sent([f for f, _ in frames], now)
        batch = m.CanBatch(self.book.wire_no(first), tuple(records))
        tamper = None
        if self.tamper is not None:
            k = self.batches
            tamper = lambda wire: self.tamper(k, wire)  # noqa: E731
        self.batches += 1
        self.last_t = frames[-1][0].t
        if self._first_send is None:
            self._first_send = time.perf_counter()
        self.session.send(batch, tamper)
        at = self._last_send = time.perf_counter()  # handed to the port: the send time that counts
        for _, due in frames:
            self.pacer.sent(due, at)
        if self.after_batch is not None:
            self.after_batch(self.batches - 1, self.book.next_n)
        self._report_progress()
        return True

    def _no_credit(self, now: float) -> bool:
        """Frames are due but the board grants no room: a board that never does is stalled."""
        if self._credit_wait is None:
            self._credit_wait = now
        elif now - self._credit_wait > self.stall_s:
            self._credit_wait = None
            self._reset = f"no credit from the board for {self.stall_s:g} s"
        return False

    # ---- the board's messages --------------------------------------------------------------
    def _take_messages(self, budget: float) -> None:
        session = self.session
        session.poll(0)
        book = self.book
        for message in session.messages():
            if isinstance(message, m.Telemetry):
                now = time.perf_counter()
                for record in message.records:
                    book.record(record, now)
            elif isinstance(message, m.Alert):
                self._alert(message)
            elif isinstance(message, m.Stats):
                if session.note_stats(message):
                    self._reset = "STATS uptime went backwards: the board restarted"
                    break  # mark the gap before anything the new boot says settles a frame
            elif isinstance(message, m.Hello):
                if session.new_boot(message):
                    self._reset = f"HELLO with a new boot id {message.boot_id:#010x}"
                    break  # mark the gap before anything the new boot says settles a frame
            elif isinstance(message, m.Log):
                self.logs.append((message.level, message.text))
            elif isinstance(message, m.TowRange):
                self._tow(message)
            if time.perf_counter() > budget:
                break  # the rest waits in the inbox: a frame is due

    def _tow(self, tow: m.TowRange) -> None:
        n = self.book.number(tow.frame_no)
        t = self.book.times[n] - self.t0 if n is not None and self.t0 is not None else None
        count = self.tow_range["count"] + 1 if self.tow_range else 1
        self.tow_range = {"count": count, "log_t": None if t is None else round(t, 6), "range_km": tow.range_km,
                          "wh_per_km": None if tow.wh_per_km < 0 else tow.wh_per_km, "window_m": tow.window_m}

    def _alert(self, alert: m.Alert) -> None:
        n = self.book.number(alert.frame_no)
        t = self.book.times[n] - self.t0 if n is not None and self.t0 is not None else None
        self.alerts.append(alerting.describe(alert, self.dbc, n, t))

    def _wait_stats(self, timeout: float) -> None:
        """Take messages until a new STATS arrives (or timeout)."""
        seen = self.session.stats_seen
        end = time.perf_counter() + timeout
        try:
            while self.session.stats_seen == seen and time.perf_counter() < end:
                self.session.poll(0.05)
                self._take_messages(math.inf)
        except Disconnected:
            pass

    # ---- gaps ------------------------------------------------------------------------------
    def _recover(self, kind: str, reason: str) -> None:
        """The board reset, went silent or went away: count what was in flight against the
        gap, get a HELLO again, and go on with the next frame at the log's pace."""
        session = self.session
        now = time.perf_counter()
        gap = Gap(kind, now - self._started, None if self.last_t is None else self.last_t - self.t0,
                  session.boot, reason=reason)
        self.gaps.append(gap)
        self.book.mark_gap(gap)
        hello = None
        if kind != "disconnect":
            try:
                self._take_messages(math.inf)  # what the new boot already said
                hello = session.resync()
            except Disconnected as exc:
                gap.kind, gap.reason = "disconnect", f"{reason}; then {exc}"
        self._reset = None
        self._credit_wait = None
        if hello is None:
            hello = session.reconnect(time.perf_counter() + self.reconnect_s, self._stop_requested)
        if hello is None:
            if not self.interrupted:
                self.aborted = (f"the board did not come back within {self.reconnect_s:g} s after a {gap.kind} "
                                f"({reason})")
            gap.seconds = time.perf_counter() - now
            return
        gap.boot_after = hello.boot_id
        gap.first_frame_after = self.book.next_n
        if gap.kind == "stall" and hello.boot_id != gap.boot_before:
            gap.kind = "reset"
        resumed = time.perf_counter()
        gap.seconds = resumed - now
        if self.pending and self.pacer.paced:
            shift = self.pacer.resume(resumed, self.pending[0][1])
            if shift:
                self.pending = deque((f, due + shift) for f, due in self.pending)

    def _stop_requested(self) -> bool:
        if self.stop():
            self.interrupted = True
        return self.interrupted

    def _drain(self) -> None:
        """Wait for the answers to the frames still in flight."""
        book = self.book
        last_news = time.perf_counter()
        settle = 1.0 if self.interrupted else self.settle_s
        while book.inflight and not self.aborted:
            now = time.perf_counter()
            if book.answered() and now - book.last_arrival > DRAIN_QUIET_S:
                break
            if now - max(last_news, book.last_arrival) > settle:
                break
            try:
                before = (len(book.inflight), book.last_arrival)
                self.session.poll(0.02)
                self._take_messages(math.inf)
                if (len(book.inflight), book.last_arrival) != before:
                    last_news = time.perf_counter()
                if self._reset:
                    self._recover("reset", self._reset)
                    last_news = time.perf_counter()
            except Disconnected as exc:
                self._recover("disconnect", str(exc) or "the port failed")
                break
        self._report_progress(force=True)

    def _report_progress(self, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.perf_counter()
        if not force and now - self._last_progress < 0.1:
            return
        self._last_progress = now
        t = self.book.tally
        self.progress({"sent": t.sent, "verified": t.verified, "lost": t.lost, "mismatched": t.mismatched,
                       "records": self.source.stats.records, "gaps": len(self.gaps),
                       "log_t": None if self.last_t is None else self.last_t - self.t0})

    # ---- the result ------------------------------------------------------------------------
    def _result(self) -> ReplayResult:
        session = self.session
        book = self.book
        not_sent = len(self.pending)
        if not self._exhausted and (self.interrupted or self.aborted):
            for _ in self._frames:  # count what the log still held, for the report
                not_sent += 1
        hello = session.hello
        end = book.last_arrival or self._last_send
        seconds = end - self._first_send if self._first_send is not None else 0.0
        sent_t = book.times
        log_span = (max(sent_t) - sent_t[0]) if len(sent_t) else 0.0
        timing = self.pacer.timing.summary(log_span, self.pacer.speed, self.pacer.shift_s)
        reference, trouble = None, None
        if self.alerts or alerting.supervision_advertised(hello):
            try:
                reference = alerting.reference_intervals(self.dbc, self._sent_frames())
            except Exception as exc:  # the reference is optional; its failure must not sink the replay
                trouble = f"the host reference failed: {type(exc).__name__}: {exc}"
        times = [t - self.t0 for t in sent_t] if self.alerts and self.t0 is not None else None
        check = alerting.check_alerts(self.alerts, hello, self.truth, self.t0, reference, self.dbc, times,
                                      restarted=bool(self.gaps))
        if trouble:
            check.reason = f"{check.reason}; {trouble}"
        return ReplayResult(
            log=str(self.log), port=self.port, speed=speed_label(self.pacer.speed), dbc=str(self.dbc.path),
            dbc_sha256=self.dbc.sha256,
            board={"name": hello.board if hello else None, "fw_version": hello.fw_version if hello else None,
                   "boots": [f"{b:#010x}" for b in session.boots]},
            tally=book.tally, source=self.source.stats, host_link=session.host_counters(),
            board_link=session.board_counters(), gaps=self.gaps, latency=book.latency, timing=timing,
            seconds=seconds, send_seconds=(self._last_send - self._first_send) if self._first_send else 0.0,
            log_span_s=log_span, frames_not_sent=not_sent, interrupted=self.interrupted, aborted=self.aborted,
            alert_check=check, alerts=self.alerts, mismatches=book.mismatches, lost_runs=book.lost_runs,
            board_stats=_stats_dict(session.stats), board_logs=self.logs, t0=self.t0, tow_range=self.tow_range)

    def _sent_frames(self) -> list:
        """The frames sent, read again from the log (for the host's supervision reference)."""
        again = LogSource(self.log, self.dbc, channel=self.source.stats.channel or AUTO,
                          skip_bad=True)
        out = []
        for frame in again:
            if len(out) >= self.book.tally.sent:
                break
            out.append(frame)
        return out


def _wire_size(body: int) -> int:
    """Worst-case wire bytes of a CAN batch with this body (as messages.batch_wire_size)."""
    payload = 3 + body + 4
    return payload + -(-payload // 254) + 2


def _stats_dict(stats: m.Stats | None) -> dict | None:
    if stats is None:
        return None
    return {name: getattr(stats, name) for name in m.STATS_FIELDS} | {"can_state": stats.can_state}


def replay(log: str | Path, dbc: Dbc, port: str, **options) -> ReplayResult:
    """Replay `log` to the board on `port` (a device or any pyserial URL). Options: see Replay."""
    return Replay(log, dbc, lambda: BoardLink(port, dbc), port=port, **options).run()


__all__ = ["LinkError", "Replay", "ReplayError", "replay"]
