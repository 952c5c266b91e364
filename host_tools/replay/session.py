"""The link as a replay needs it: one session that survives the board. It opens and
SYNCs, checks the HELLO, and attributes every message to a boot: a message belongs to the
boot of the last HELLO before it in the stream, and what came before the replay's first
HELLO (stale bytes still queued in the port) is discarded and counted. A restart is a new
boot id, each one counted; STATS whose uptime goes backwards within a boot betray a reset
whose HELLO was lost. It re-SYNCs or reopens the port when the board comes back, and keeps
the counters of every boot and every port opened."""

from __future__ import annotations

import time
from collections.abc import Callable

import serial

from host_tools.dbc import Dbc
from host_tools.link import messages as m
from host_tools.link.session import BoardLink, LinkError


class ReplayError(Exception):
    """The replay cannot start or go on: the message says why and what to do."""


class Disconnected(Exception):
    """The port failed under us (unplugged board, closed pty)."""


BOARD_COUNTERS = ("link_crc_errors", "link_bad_frames", "link_seq_gaps", "frames_dropped")
HOST_COUNTERS = ("crc_errors", "bad_frames", "seq_gaps", "telemetry_errors")


class BoardSession:
    def __init__(self, connect: Callable[[], BoardLink], dbc: Dbc, sync_timeout: float = 5.0):
        self.connect = connect
        self.dbc = dbc
        self.sync_timeout = sync_timeout
        self.link: BoardLink | None = None
        self.hello: m.Hello | None = None
        self.boots: list[int] = []  # every boot seen, in order
        self.boot: int | None = None  # the boot the stream is at now
        self.stats: m.Stats | None = None  # the latest STATS
        self.stats_seen = 0
        self.discarded = 0  # messages from before the replay's first HELLO (stale in the port)
        self.unattributed_stats = 0  # STATS that fit no boot we know (went backwards): set aside
        self._baseline: dict[int, m.Stats | None] = {}  # boot -> STATS before the replay (first boot only)
        self._latest: dict[int, m.Stats] = {}
        self._closed_counters = dict.fromkeys(HOST_COUNTERS, 0)
        # the first link's counts before the replay's first HELLO: stale bytes (a frame an
        # earlier session left cut in half in the port), not this replay's link errors
        self._stale = dict.fromkeys(HOST_COUNTERS, 0)
        self.discarded_damaged = 0
        self.last_rx = time.perf_counter()  # when the board last sent anything intact
        self.quiet_from: dict = {}  # link_counts() then
        self.last_error = ""  # why the last SYNC or open failed

    # ---- opening -----------------------------------------------------------------------
    def open(self) -> m.Hello:
        """Open the port and SYNC. The first time, what came before the HELLO is stale (an
        earlier boot or session): discarded and counted. On a reopen it is this replay's (the
        board's answers and HELLOs from before the port failed): the caller reads
        `preamble()`, then `started(hello)`."""
        first = not self.boots
        try:
            self.link = self.connect()
            hello = self.link.sync(timeout=self.sync_timeout)
            if first:  # a HELLO of this very boot (said at boot, before our SYNC) is no news
                self.discarded += sum(1 for x in self.link.preamble
                                      if not (isinstance(x, m.Hello) and x.boot_id == hello.boot_id))
                self.link.preamble = []
                self._stale = {k: self.link.counts_at_hello[k] for k in HOST_COUNTERS}
                self.discarded_damaged = sum(self._stale[k] for k in ("crc_errors", "bad_frames", "telemetry_errors"))
        except (serial.SerialException, OSError) as exc:
            self._drop_link()
            self.last_error = f"cannot use the port: {exc}"
            raise LinkError(self.last_error) from None
        except LinkError as exc:
            self._drop_link()
            self.last_error = str(exc)
            raise
        try:
            self._accept(hello)
        except ReplayError:
            self._drop_link()
            raise
        if first:
            self.started(hello)
        return hello

    def _accept(self, hello: m.Hello) -> None:
        check_hello(hello, self.dbc, self.link.port if self.link else "")
        self.hello = hello
        self.last_rx = time.perf_counter()
        self.mark_quiet()

    def started(self, hello: m.Hello) -> None:
        """The session's HELLO, after its preamble was read: the stream is at its boot."""
        self.boot_seen(hello)
        self.last_rx = time.perf_counter()
        self.mark_quiet()

    def boot_seen(self, hello: m.Hello) -> bool:
        """A HELLO in the stream: what follows belongs to its boot. True when the boot is new
        (a restart, unless it is the replay's first)."""
        new = hello.boot_id not in self.boots
        if new:
            self.boots.append(hello.boot_id)
            # the first boot's counters count from the first STATS (baseline); later boots from 0
            self._baseline.setdefault(hello.boot_id, None if len(self.boots) == 1 else m.Stats())
        self.boot = hello.boot_id
        return new

    @property
    def resets(self) -> int:
        """Restarts seen during the replay: every boot id after the first."""
        return max(0, len(self.boots) - 1)

    def preamble(self) -> list:
        """What the last SYNC's HELLO was preceded by (after a re-SYNC or a reopen), in order."""
        if self.link is None:
            return []
        out, self.link.preamble = self.link.preamble, []
        return out

    def link_counts(self) -> dict:
        """Bytes read and frames refused on the open link so far: bytes that arrive without
        one intact frame are a damaged link, not a silent board."""
        if self.link is None:
            return {"bytes": 0, "crc_errors": 0, "bad_frames": 0}
        c = self.link.receiver.counters()
        return {"bytes": self.link.rx_bytes, "crc_errors": c["crc_errors"],
                "bad_frames": c["bad_frames"] + self.link.telemetry_errors}

    def mark_quiet(self) -> None:
        self.quiet_from = self.link_counts()

    def since_quiet(self) -> dict:
        """What arrived since the last intact message: bytes, CRC errors, bad frames."""
        now = self.link_counts()
        return {k: now[k] - self.quiet_from.get(k, 0) for k in now}

    def resync(self) -> m.Hello | None:
        """SYNC again (after a reset or a stall): credit restarts at the HELLO. Nothing is
        flushed: what the board said meanwhile is this replay's (the caller reads
        `preamble()`, then `started(hello)`). None when no HELLO came; Disconnected when
        the port failed."""
        try:
            hello = self.link.sync(timeout=self.sync_timeout, flush=False)
        except (serial.SerialException, OSError) as exc:
            raise Disconnected(str(exc)) from None
        except LinkError as exc:
            if "write failed" in str(exc):
                raise Disconnected(str(exc)) from None
            self.last_error = str(exc)
            return None
        self._accept(hello)
        return hello

    def reconnect(self, deadline: float, stop: Callable[[], bool]) -> m.Hello | None:
        """Reopen the port until it answers HELLO, or the deadline; None when it never did."""
        self._drop_link()
        while time.perf_counter() < deadline and not stop():
            try:
                return self.open()
            except LinkError:
                time.sleep(0.25)
        return None

    def _drop_link(self) -> None:
        if self.link is None:
            return
        for name, value in self.host_counters_of(self.link).items():
            self._closed_counters[name] += value - self._stale[name]
        self._stale = dict.fromkeys(HOST_COUNTERS, 0)
        try:
            self.link.close()
        except (serial.SerialException, OSError):
            pass
        self.link = None

    def close(self) -> None:
        self._drop_link()

    # ---- traffic -----------------------------------------------------------------------
    def send(self, batch, tamper=None) -> int:
        """Returns the wire bytes written."""
        try:
            return self.link.send(batch, timeout=0.0, tamper=tamper)
        except (serial.SerialException, OSError) as exc:
            raise Disconnected(str(exc)) from None
        except LinkError as exc:
            if "no credit" in str(exc):  # the caller checks room first; this is a bug
                raise
            raise Disconnected(str(exc)) from None

    def room(self) -> int:
        return self.link.credit.room()

    def poll(self, wait: float = 0.0) -> int:
        """Read what arrived, waiting up to `wait` s for something."""
        link = self.link
        try:
            if wait > 0 and not link.inbox:
                link.wait_readable(wait)
            frames = link.receiver.frames
            count = link.poll(0)
        except (serial.SerialException, OSError) as exc:
            raise Disconnected(str(exc)) from None
        if count or link.receiver.frames != frames:  # a CREDIT is a word from the board too
            self.last_rx = time.perf_counter()
            self.mark_quiet()
        return count

    def messages(self):
        return self.link.messages()

    def note_stats(self, stats: m.Stats) -> bool:
        """Keep a STATS of the boot the stream is at; True when its uptime or frame count went
        backwards (a reset whose HELLO never reached us: set aside, the caller re-SYNCs)."""
        boot = self.boot
        previous = self._latest.get(boot)
        # both only grow within a boot
        reset = previous is not None and (stats.uptime_ms < previous.uptime_ms
                                          or stats.frames_received < previous.frames_received)
        self.stats_seen += 1
        if reset:
            self.unattributed_stats += 1
            return True
        self.stats = stats
        if self._baseline.get(boot, 0) is None:
            self._baseline[boot] = stats
        self._latest[boot] = stats
        return False

    # ---- counters ----------------------------------------------------------------------
    @staticmethod
    def host_counters_of(link: BoardLink) -> dict:
        c = link.receiver.counters()
        return {"crc_errors": c["crc_errors"], "bad_frames": c["bad_frames"], "seq_gaps": c["seq_gaps"],
                "telemetry_errors": link.telemetry_errors}

    def host_counters(self) -> dict:
        out = dict(self._closed_counters)
        if self.link is not None:
            for name, value in self.host_counters_of(self.link).items():
                out[name] += value - self._stale[name]
        return out

    def board_counters(self) -> dict:
        """The board's link counters over the replay: for each boot, last STATS − baseline."""
        out = dict.fromkeys(BOARD_COUNTERS, 0)
        for boot, last in self._latest.items():
            base = self._baseline.get(boot) or m.Stats()
            for name in BOARD_COUNTERS:
                out[name] += max(0, getattr(last, name) - getattr(base, name))
        return out


def check_hello(hello: m.Hello, dbc: Dbc, port: str) -> None:
    if hello.dbc_sha256.hex() != dbc.sha256:
        raise ReplayError(f"{port}: the board decodes with DBC sha256 {hello.dbc_sha256.hex()[:12]}…, not "
                          f"{dbc.path.name} ({dbc.sha256[:12]}…): `mule flash --port {port} --dbc {dbc.path}` "
                          "installs the matching decoder")
    if hello.mode != m.MODE_REPLAY or not hello.caps & m.CAP_REPLAY:
        raise ReplayError(f"{port}: the board is in live mode (it decodes its own CAN bus): "
                          f"`mule flash --port {port} --mode replay` puts it in replay mode; "
                          "`mule monitor` shows a live board")
