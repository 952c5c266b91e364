"""The host's end of a board link over any port pyserial opens (a device, a pty, or a
URL such as socket:// or loop://): sync, credit-limited sending, and the messages back."""

from __future__ import annotations

import select
import time
from collections import deque

import serial

from host_tools.link import messages as m
from host_tools.link import wire


class LinkError(Exception):
    """The board did not answer, or answered what the host cannot use."""


class BoardLink:
    """Use as a context manager: `with BoardLink(port, dbc) as link: hello = link.sync()`."""

    def __init__(self, port: str, dbc=None, baudrate: int = 921600):
        self.port = port
        self.wide = m.wide_signals(dbc) if dbc is not None else None
        try:
            # exclusive: a second program on the same port would take half the board's bytes
            self.serial = serial.serial_for_url(port, baudrate=baudrate, timeout=0, write_timeout=5, exclusive=True)
        except (serial.SerialException, ValueError) as exc:
            if "exclusively lock" in str(exc):
                raise LinkError(f"{port} is in use by another program (a mule replay or monitor, mpremote, a "
                                "terminal): stop it first; two programs on one port would each get part of "
                                "the board's bytes") from None
            raise LinkError(f"cannot open {port}: {exc}") from None
        self.encoder = wire.FrameEncoder()
        self.receiver = m.host_receiver()
        self.credit = wire.CreditWindow()
        self.hello: m.Hello | None = None
        self.boot_ids: list[int] = []  # every boot seen: more than one means the board reset
        self.inbox: deque = deque()
        self.preamble: list = []  # what came before the last sync()'s HELLO, in order (HELLOs too)
        self.rx_bytes = 0  # every byte read, intact or not: a damaged link is not a silent board
        self.telemetry_errors = 0  # TELEMETRY bodies that did not match the DBC
        # the receiver's counters as the last HELLO arrived: what was damaged before the
        # session's HELLO (a frame cut in half in the port by an earlier session) is stale
        self.counts_at_hello = self.counts()

    def counts(self) -> dict:
        """Frames received and refused on this link so far."""
        return dict(self.receiver.counters(), telemetry_errors=self.telemetry_errors)

    def __enter__(self) -> "BoardLink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.serial.close()

    # ---- sending ---------------------------------------------------------------------
    def _write(self, type_: int, body: bytes = b"") -> int:
        return self._write_frame(self.encoder.encode(type_, body))

    def _ping_if_due(self) -> None:
        """Held up by frames the board has not acknowledged: ask for a CREDIT (docs/protocol.md)."""
        now = time.monotonic()
        if self.credit.ping_due(now) == 0.0:
            seq = self.encoder.seq
            self.credit.pinged(seq, now)
            self._write(wire.PING)

    def _write_frame(self, frame: bytes) -> int:
        try:
            self.serial.write(frame)
        except serial.SerialException as exc:
            raise LinkError(f"{self.port}: write failed: {exc}") from None
        return len(frame)

    def send(self, message, timeout: float = 10.0, tamper=None) -> int:
        """Send one host→board message; CAN batches wait for the board's credit. Returns
        the wire bytes written. `tamper(wire_bytes) -> wire_bytes` lets tests corrupt
        what goes on the wire."""
        type_, body = m.encode(message)
        if type_ == wire.CAN:
            # wait first: a PING may go out meanwhile and take the next seq. The length with
            # the final seq (or tampered) may differ by a few bytes: PING_RESERVE absorbs them.
            size = len(wire.encode_frame(type_, self.encoder.seq, body))
            deadline = time.monotonic() + timeout
            while not self.credit.may_send(size):
                if time.monotonic() > deadline:
                    raise LinkError(f"{self.port}: no credit from the board for {timeout:.0f} s "
                                    f"(may send up to {self.credit.limit}, sent {self.credit.sent_total})")
                self.wait_readable(0.002)
                self.poll(0)
        seq = self.encoder.seq
        frame = self.encoder.encode(type_, body)  # nothing else is sent before it is written
        if tamper is not None:
            frame = tamper(frame)
        if type_ == wire.CAN:
            self.credit.sent(seq, len(frame), time.monotonic())
        elif type_ == wire.STOP:
            self.credit.close()
        self._write_frame(frame)
        return len(frame)

    # ---- receiving -------------------------------------------------------------------
    def poll(self, wait: float = 0.0) -> int:
        """Read what the board sent (waiting up to `wait` s for the first byte); decoded
        messages go to `inbox`. Returns how many arrived. Sends a PING when one is due."""
        self._ping_if_due()
        if wait and not self.serial.in_waiting:
            self.serial.timeout = wait
            first = self.serial.read(1)
            self.serial.timeout = 0
        else:
            first = b""
        data = first + self.serial.read(self.serial.in_waiting or 0)
        if not data:
            return 0
        self.rx_bytes += len(data)
        count = 0
        for frame in self.receiver.feed(data):
            if frame.type == wire.TELEMETRY and self.wide is None:
                self.inbox.append(frame)  # undecodable without the DBC: left to the caller
                count += 1
                continue
            try:
                message = m.decode_frame(frame, self.wide)
            except m.BodyError:
                self.telemetry_errors += 1
                continue
            if isinstance(message, m.Hello):
                self.hello = message
                self.counts_at_hello = self.counts()
                self.credit.on_hello(message.rx_window)
                if not self.boot_ids or self.boot_ids[-1] != message.boot_id:
                    self.boot_ids.append(message.boot_id)
            elif isinstance(message, m.Credit):
                self.credit.on_credit(message.window, message.ack, time.monotonic())
                continue
            self.inbox.append(message)
            count += 1
        return count

    def wait_readable(self, timeout: float) -> None:
        """Sleep until the port has bytes or `timeout` passes (select on its fd when it
        has one, as a device or pty does; a short sleep for URL ports without)."""
        if self.serial.in_waiting:
            return
        timeout = min(timeout, self.credit.ping_due(time.monotonic()))  # a PING may fall due first
        try:
            fd = self.serial.fileno()
        except (AttributeError, serial.SerialException, OSError, ValueError):
            fd = None
        if isinstance(fd, int):
            select.select([fd], [], [], timeout)
        else:
            time.sleep(min(timeout, 0.001))

    def wait_for(self, kind: type, timeout: float):
        """The next message of type `kind` to arrive within `timeout` s, or None; the
        messages before it stay in the inbox."""
        deadline = time.monotonic() + timeout
        while True:
            for k, message in enumerate(self.inbox):
                if isinstance(message, kind):
                    del self.inbox[k]
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.poll(min(left, 0.05))

    def messages(self):
        """Take everything received so far."""
        while self.inbox:
            yield self.inbox.popleft()

    def sync(self, timeout: float = 5.0, settle: float = 0.3, flush: bool = True) -> m.Hello:
        """Start a session: drop stale bytes (`flush`), SYNC until the board says HELLO.

        A board that is still booting says HELLO once at boot and once more when it reads
        the SYNC, and a slow answer can cross a repeated SYNC: each HELLO restarts the
        board's credit count, so the session may begin only after the last of them (a
        HELLO that came after the first CAN batches would make the host forget bytes the
        board counted, and overrun its buffer). Wait until none came for `settle` s.

        The session starts at that HELLO: the messages before it (bytes still queued in the
        port from an earlier boot or session survive the flush) go to `preamble`, in order
        with their HELLOs, for the caller to discard or to read; `inbox` keeps what came after."""
        if flush:
            self.serial.reset_input_buffer()
        self.credit.close()  # the old session's frames: no PING for them while the board answers SYNC
        before = dict(self.counts(), rx_bytes=self.rx_bytes)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.hello = None
            self._write(wire.SYNC)
            retry = time.monotonic() + 1.0
            while time.monotonic() < min(retry, deadline):
                self.poll(0.05)
                if self.hello is not None:
                    quiet_until = time.monotonic() + settle
                    seen = self.hello
                    while time.monotonic() < quiet_until:
                        self.poll(0.02)
                        if self.hello is not seen:  # another HELLO: it counts from there
                            seen = self.hello
                            quiet_until = time.monotonic() + settle
                    items = list(self.inbox)
                    last = max(k for k, x in enumerate(items) if x is seen)
                    self.preamble = items[:last]
                    self.inbox = deque(items[last + 1:])
                    if seen.proto != wire.PROTO_VERSION:
                        raise LinkError(f"{self.port}: the board speaks link protocol {seen.proto}, this host "
                                        f"{wire.PROTO_VERSION}: `mule flash --port {self.port}` updates its firmware")
                    return seen
        raise LinkError(self._no_hello(timeout, before))

    def _no_hello(self, timeout: float, before: dict) -> str:
        """Why no HELLO came: silence, something that is not the mule protocol, or a damaged link."""
        now = dict(self.counts(), rx_bytes=self.rx_bytes)
        got = {k: now[k] - before[k] for k in now}
        damaged = got["crc_errors"] + got["bad_frames"] + got["telemetry_errors"]
        head = f"{self.port}: no HELLO from the board in {timeout:g} s"
        if got["rx_bytes"] == 0:
            return (f"{head}, and not one byte back (is it powered, is this its port, is the mule firmware "
                    "running? `mule flash` installs it)")
        counts = (f"{got['rx_bytes']:,} bytes arrived: {got['frames']:,} intact frames (no HELLO among them), "
                  f"{got['crc_errors']:,} with a bad CRC, {got['bad_frames'] + got['telemetry_errors']:,} malformed")
        if got["frames"] or got["crc_errors"]:
            baud = getattr(self.serial, "baudrate", None)
            return (f"{head}; {counts}. The link is damaged, not the firmware: check the cable and its "
                    f"connectors, that both ends use the same baud rate{f' ({baud:,} here)' if baud else ''} "
                    "and that no other program has the port open")
        if damaged:
            return (f"{head}; {counts}: something that does not speak the mule protocol answers (a REPL, "
                    "another program, the wrong baud rate?); `mule flash` installs the mule firmware")
        return f"{head}; {got['rx_bytes']:,} bytes arrived, not one complete frame (the wrong port or baud rate?)"

    def stop(self, timeout: float = 3.0) -> bool:
        """Ask the board to leave streaming and return to its REPL; True when it confirmed."""
        self._write(wire.STOP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll(0.05)
            for message in self.messages():
                if isinstance(message, m.Log) and message.text == "stopped":
                    return True
        return False
