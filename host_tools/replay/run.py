"""The replay loop: read the log, send each frame when it is due (credit permitting),
take the board's answers in between, and when the board resets, stops answering or goes
away, count the gap, get it back and go on with the next frame. What happened is read
from boot ids and frame numbers, never guessed: a restart is a new boot id, a board that
says nothing is "not answering", bytes without an intact frame are a damaged link."""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from host_tools.board_alerts import describe
from host_tools.board_codes import replay_us
from host_tools.collector import collector_paused
from host_tools.dbc import Dbc
from host_tools.link import messages as m
from host_tools.link.session import BoardLink, LinkError
from host_tools.link.wire import MAX_BODY, MAX_WIRE
from host_tools.replay import alerts as alerting
from host_tools.replay.changed import ChangedCheck
from host_tools.replay.check import Checker
from host_tools.replay.inflight import FrameBook, Gap, session_base
from host_tools.replay.pacing import EARLY_S, Pacer, speed_label
from host_tools.replay.session import BoardSession, Disconnected, ReplayError
from host_tools.replay.source import AUTO, FrameSource, LogSource
from host_tools.replay.summary import ReplayResult
from host_tools.telemetry_changed import deadbands

LOOKAHEAD = 512  # frames read ahead of sending
STATS_WAIT_S = 1.3  # the board sends STATS every second
DRAIN_QUIET_S = 0.05  # after the last frame: every frame answered and nothing more for this long
STRAGGLER_S = 0.5  # the last frame answered, some earlier ones not: how long they may still come


class Replay:
    """One replay of one log; `run()` returns a ReplayResult. Tests drive it directly."""

    def __init__(self, log: str | Path | Sequence, dbc: Dbc, connect: Callable[[], BoardLink], *, port: str = "",
                 speed: float | None = None, channel: str = AUTO, skip_bad: bool = False,
                 settle_s: float = 3.0, stall_s: float = 3.0, reconnect_s: float = 30.0,
                 stop: Callable[[], bool] = lambda: False, progress: Callable[[dict], None] | None = None,
                 on_decoded=None, tamper: Callable[[int, bytes], bytes] | None = None,
                 after_batch: Callable[[int, int], None] | None = None, base: int | None = None,
                 board_stats: bool = True, sync_timeout: float = 5.0, reference: bool = True,
                 on_message: Callable[[object], None] | None = None,
                 on_frame: Callable[[object], None] | None = None):
        self.dbc = dbc
        self.port = port
        if isinstance(log, (str, Path)):
            self.source = LogSource(log, dbc, channel=channel, skip_bad=skip_bad)
            try:
                self.truth = alerting.load_sidecar(self.source.path)
            except ValueError as exc:
                raise ReplayError(str(exc)) from None
        else:  # frames in memory (objects with t, can_id, ext, data, where)
            self.source = FrameSource(log)
            self.truth = None
        self.log = self.source.path
        self.session = BoardSession(connect, dbc, sync_timeout)
        self.pacer = Pacer(speed)
        self.book = FrameBook(Checker(dbc), session_base() if base is None else base, on_decoded)
        self.settle_s, self.stall_s, self.reconnect_s = settle_s, stall_s, reconnect_s
        self.stop = stop
        self.progress = progress
        self.tamper = tamper
        self.after_batch = after_batch
        self.board_stats = board_stats  # wait for STATS before and after: the board's own link counters
        self.reference = reference  # run the host's supervision reference over the frames sent
        self.on_message = on_message  # every message from the board, as it is read (mule replay --dashboard)
        self.gaps: list[Gap] = []
        self.alerts: list = []
        self.logs: list = []
        self.tow_ranges: list = []  # every TOW_RANGE, its frame_no the replay's frame number
        self.wire_bytes = 0  # host→board bytes of CAN batches
        self.tow_range: dict | None = None  # the board's last TOW_RANGE, with its log time
        self.pending: deque = deque()  # (frame, log time envelope) read, not yet sent
        self.batches = 0
        self.t0: float | None = None
        # the log time that is 0 s in every time the replay reports (alerts.time_origin): the
        # sidecar's epoch beside a simulated log, else the first frame sent
        self.origin: float | None = None
        self.last_t: float | None = None
        self.interrupted = False
        self.aborted: str | None = None
        # why the stream needs a re-SYNC, set while reading messages: (kind, reason, boot before,
        # len(session.boots) before)
        self._reset: tuple | None = None
        self._in_gap = False  # reading what the board said while it was away: no new triggers
        self._started = 0.0
        self._first_send: float | None = None
        self._last_send = 0.0
        self._last_progress = 0.0
        # on_frame: every frame read from the log, before it is sent (mule replay counts the frames
        # of messages --messages/--nodes left out)
        self._frames = iter(self.source) if on_frame is None else (on_frame(f) or f for f in self.source)
        self._exhausted = False
        self._credit_wait: float | None = None

    # ---- the loop ------------------------------------------------------------------------
    def run(self) -> ReplayResult:
        session = self.session
        session.open()
        if session.hello.caps & m.CAP_TELEMETRY_CHANGED:  # only what moved: checked against the deadbands
            self.book.changed = ChangedCheck(self.book.checker, deadbands(self.dbc))
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
                    self._recover(*self._reset)
                    continue
                if self._send_due():
                    continue
                now = time.perf_counter()
                if now - self.session.last_rx > self.stall_s:
                    self._recover(*self._silence())
                    continue
                wait = self._deadline() - now if pacer.paced else 0.005
                self.session.poll(min(max(wait, 0.0002), 0.05))
            except Disconnected as exc:
                self._recover("disconnect", str(exc) or "the port failed")

    def _since_frame(self) -> str:
        n = self.book.answered_max
        if n < 0:
            return "the first frame"
        return f"frame {n:,} (log t {self.book.times[n] - self.origin:.3f} s)"

    def _silence(self) -> tuple:
        """Nothing intact from the board for stall_s: silent, or talking over a damaged link."""
        got = self.session.since_quiet()
        since = self._since_frame()
        if got["crc_errors"] + got["bad_frames"]:
            return ("link_damaged", f"{got['bytes']:,} bytes from the board in {self.stall_s:g} s but not one "
                    f"intact frame ({got['crc_errors']:,} CRC errors, {got['bad_frames']:,} bad frames): the "
                    f"link is damaged (check the cable, its connectors and the baud rate); the last frame "
                    f"answered was {since}")
        part = f" but {got['bytes']:,} bytes of an unfinished frame" if got["bytes"] else ""
        return ("not_answering", f"not answering since {since}: nothing from the board for {self.stall_s:g} s{part}")

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
            self.origin = alerting.time_origin(self.truth, self.t0)
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
            record = m.CanRecord(replay_us(frame.t, t0), frame.can_id, frame.ext, bytes(frame.data))
            size = body + record.size
            if size > MAX_BODY or m.wire_size(size) > room:
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
        self.wire_bytes += self.session.send(batch, tamper) or 0
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
            self._trigger("no_credit", f"no credit from the board for {self.stall_s:g} s while frames waited "
                                       f"(it talks, but takes no frames; last frame answered: {self._since_frame()})")
        return False

    def _trigger(self, kind: str, reason: str, boot_before: int | None = None, mark: int | None = None) -> None:
        """Ask for a re-SYNC (the first reason wins)."""
        if self._reset is None and not self._in_gap:
            session = self.session
            self._reset = (kind, reason, session.boot if boot_before is None else boot_before,
                           len(session.boots) if mark is None else mark)

    # ---- the board's messages --------------------------------------------------------------
    def _take_messages(self, budget: float) -> None:
        self.session.poll(0)
        for message in self.session.messages():
            if self._handle(message):
                break  # mark the gap before anything the new boot says
            if time.perf_counter() > budget:
                break  # the rest waits in the inbox: a frame is due

    def _handle(self, message) -> bool:
        """One message from the board, in stream order; True when it means a re-SYNC."""
        if self.on_message is not None:
            self.on_message(message)
        if isinstance(message, m.Telemetry):
            now = time.perf_counter()
            record = self.book.record
            for rec in message.records:
                record(rec, now)
        elif isinstance(message, m.Alert):
            self._alert(message)
        elif isinstance(message, m.Stats):
            if self.session.note_stats(message) and not self._in_gap:
                self._trigger("resync", "STATS uptime went backwards within boot "
                                        f"{self.session.boot:#010x} (a reset whose HELLO was lost?)")
                return True
        elif isinstance(message, m.Hello):
            session = self.session
            before, mark = session.boot, len(session.boots)
            if session.boot_seen(message) and not self._in_gap:
                self._trigger("reset", f"HELLO with a new boot id {message.boot_id:#010x}", before, mark)
                return True
        elif isinstance(message, m.Log):
            self.logs.append((message.level, message.text))
        elif isinstance(message, m.TowRange):
            self._tow(message)
        return False

    def _tow(self, tow: m.TowRange) -> None:
        n = self.book.number(tow.frame_no)
        t = self.book.times[n] - self.origin if n is not None and self.t0 is not None else None
        self.tow_ranges.append(dataclasses.replace(tow, frame_no=-1 if n is None else n))
        count = self.tow_range["count"] + 1 if self.tow_range else 1
        self.tow_range = {"count": count, "log_t": None if t is None else round(t, 6), "range_km": tow.range_km,
                          "wh_per_km": None if tow.wh_per_km < 0 else tow.wh_per_km, "window_m": tow.window_m}

    def _alert(self, alert: m.Alert) -> None:
        n = self.book.number(alert.frame_no)
        t = self.book.times[n] - self.origin if n is not None and self.t0 is not None else None
        self.alerts.append(describe(alert, self.dbc, n, t))

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
    def _recover(self, kind: str, reason: str, boot_before: int | None = None, mark: int | None = None) -> None:
        """The board reset, went silent, talks garbage or went away: count what was in flight
        against the gap, get a HELLO again, read what the board said meanwhile (every boot id
        in it is a reset), and go on with the next frame at the log's pace."""
        session = self.session
        now = time.perf_counter()
        if boot_before is None:
            boot_before = session.boot
        if mark is None:
            mark = len(session.boots)
        gap = Gap(kind, now - self._started, None if self.last_t is None else self.last_t - self.origin,
                  boot_before, reason=reason)
        self.gaps.append(gap)
        self.book.mark_gap(gap)
        self._reset = None
        self._credit_wait = None
        self._in_gap = True
        hello = None
        try:
            if kind != "disconnect":
                try:
                    self._take_messages(math.inf)  # what the board already said
                    hello = session.resync()
                except Disconnected as exc:
                    gap.reason = f"{reason}; then the port failed: {exc}"
                    if kind == "not_answering":
                        gap.kind = "disconnect"
            if hello is None:
                hello = session.reconnect(time.perf_counter() + self.reconnect_s, self._stop_requested)
            if hello is not None:
                for message in session.preamble():  # in stream order: old answers, HELLOs of every boot
                    self._handle(message)
                session.started(hello)
        finally:
            self._in_gap = False
        gap.boots = session.boots[mark:]  # each a restart; the kind stays what was noticed first
        if gap.boots and gap.kind == "resync":
            gap.kind = "reset"  # the STATS that went backwards were a new boot's
        if hello is None:
            if not self.interrupted:
                self.aborted = self._gone(gap)
            gap.seconds = time.perf_counter() - now
            return
        gap.boot_after = hello.boot_id
        gap.first_frame_after = self.book.next_n
        resumed = time.perf_counter()
        gap.seconds = resumed - now
        if self.pending and self.pacer.paced:
            shift = self.pacer.resume(resumed, self.pending[0][1])
            if shift:
                self.pending = deque((f, due + shift) for f, due in self.pending)

    def _gone(self, gap: Gap) -> str:
        """Why the replay ends: the board never came back, in the words of what it did."""
        wait = f"{self.reconnect_s:g} s"
        last = self.session.last_error
        if gap.kind == "reset":
            return f"the board restarted ({gap.reason}) and did not answer SYNC again within {wait}: {last}"
        if gap.kind == "not_answering":
            if "not one byte back" in last or not last:
                return (f"the board has not answered since {self._since_frame()} and said nothing to SYNC for "
                        f"{wait}, with no new boot id: it hangs (not a restart); reset or power-cycle it")
            return f"the board has not answered since {self._since_frame()}; for {wait} after: {last}"
        if gap.kind == "link_damaged":
            return f"the link stayed damaged for {wait} ({gap.reason}); last SYNC: {last}"
        if gap.kind == "no_credit":
            return f"the board took no frames ({gap.reason}) and did not answer SYNC within {wait}: {last}"
        return f"the board did not come back within {wait} after a {gap.kind} ({gap.reason}): {last}"

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
            quiet = now - book.last_arrival
            if book.answered() and quiet > DRAIN_QUIET_S:
                break
            if book.last_answered() and quiet > min(settle, STRAGGLER_S):
                break  # the last frame came back; those still missing are not merely late
            if now - max(last_news, book.last_arrival) > settle:
                break
            try:
                before = (book.inflight, book.last_arrival)
                self.session.poll(0.02)
                self._take_messages(math.inf)
                if (book.inflight, book.last_arrival) != before:
                    last_news = time.perf_counter()
                if self._reset:
                    self._recover(*self._reset)
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
        self.progress({"sent": t.sent, "verified": t.verified, "lost": t.lost + self.book.missing(),
                       "mismatched": t.mismatched,
                       "records": self.source.stats.records, "gaps": len(self.gaps),
                       "log_t": None if self.last_t is None else self.last_t - self.origin})

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
        if self.reference and (self.alerts or alerting.supervision_advertised(hello)):
            try:
                reference = alerting.reference_intervals(self.dbc, book.sent_frames(), self.origin)
            except Exception as exc:  # reported, and the alert check fails: the board's alerts went unchecked
                trouble = f"the host reference failed: {type(exc).__name__}: {exc}"
        times = [t - self.origin for t in sent_t] if self.alerts and self.t0 is not None else None
        check = alerting.check_alerts(self.alerts, hello, self.truth, self.origin, reference, self.dbc, times,
                                      restarted=session.resets > 0, unseen=self._unseen(not_sent),
                                      resynced=any(g.boot_after is not None for g in self.gaps))
        if trouble:
            check.status, check.counts_for_exit = "failed", True
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
            board_stats=_stats_dict(session.stats), board_logs=self.logs, t0=self.t0, origin=self.origin,
            time_base=alerting.time_base(self.truth), tow_range=self.tow_range,
            resets=session.resets, discarded=session.discarded, discarded_damaged=session.discarded_damaged,
            unattributed_stats=session.unattributed_stats,
            tow_ranges=self.tow_ranges, wire_bytes=self.wire_bytes)

    def _unseen(self, not_sent: int) -> list[tuple[float, float]]:
        """Where the board got no frames, [from, to) on the replay's clock: each run of lost
        frames, and the part of the log never sent."""
        if self.t0 is None:
            return []
        times, t0, sent = self.book.times, self.origin, self.book.next_n
        out = []
        for first, last in self.book.unreached():
            end = math.inf if last is None or last + 1 >= sent else times[last + 1] - t0
            out.append((times[first] - t0, end))
        if not_sent and sent and not (out and out[-1][1] == math.inf):
            out.append((math.nextafter(times[sent - 1] - t0, math.inf), math.inf))
        return out


def _stats_dict(stats: m.Stats | None) -> dict | None:
    if stats is None:
        return None
    return {name: getattr(stats, name) for name in m.STATS_FIELDS} | {"can_state": stats.can_state}


def replay(log: str | Path, dbc: Dbc, port: str, **options) -> ReplayResult:
    """Replay `log` to the board on `port` (a device or any pyserial URL). Options: see Replay."""
    return Replay(log, dbc, lambda: BoardLink(port, dbc), port=port, **options).run()


__all__ = ["LinkError", "Replay", "ReplayError", "replay"]
