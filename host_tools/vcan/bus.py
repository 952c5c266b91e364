"""The virtual CAN bus: one wire between the virtual board's controller (mp/mule_vcan.py, over
a Unix socket) and an slcan (LAWICEL) adapter on a pseudo-terminal, which python-can
(`interface="slcan"`), can.player/can.logger, cantools' monitor and SavvyCAN open as they
would a USB CAN adapter.

The bus carries one frame at a time: a frame takes its bits (`frame_bits`: classic CAN
without stuff bits, 3-bit interframe space included) at the bitrate, so no more frames per
second pass than the bitrate carries (500 kbit/s: at most 4,504 8-byte standard frames/s).
Frames wait in order for the bus (the adapter's and the board's alike); a node whose
bitrate differs from the bus's sees receive errors instead of frames, and a frame sent
while no other node listens goes unacknowledged (the board's TEC rises to error passive).
"""

from __future__ import annotations

import collections
import os
import pty
import select
import socket
import struct
import tempfile
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from host_tools.ptys import write_pending

MP_DIR = Path(__file__).resolve().parent / "mp"  # mule_vcan.py and machine_can.py for the board

SLCAN_BITRATES = {0: 10000, 1: 20000, 2: 50000, 3: 100000, 4: 125000, 5: 250000, 6: 500000, 7: 800000,
                  8: 1000000}
_REC = struct.Struct("<BBBBI8sI")  # mp/mule_vcan.py says what the fields are
_TO_BOARD_FRAME, _TO_BOARD_RX_ERROR, _TO_BOARD_ACKED, _TO_BOARD_NO_ACK = 1, 2, 3, 4
_FROM_BOARD_BITRATE, _FROM_BOARD_FRAME = 0x80, 0x81
_EXT = 0x80000000
_QUEUE = 64  # frames waiting for the bus before the senders are no longer read
_OK, _BELL = b"\r", b"\x07"
# heap the virtual board adds for its controller (machine_can, mule_vcan, board_os as .mpy: 11.7 KB
# on the 64-bit unix port), so the firmware keeps a Pyboard's 100 KB
CONTROLLER_HEAP = 12 * 1024


def frame_bits(ext: bool, dlc: int, rtr: bool = False) -> int:
    """Bits a classic CAN frame holds the bus for, without stuff bits: SOF, arbitration,
    control, data, CRC, ACK, EOF and the 3-bit interframe space (47 + 8n standard,
    67 + 8n extended)."""
    return (67 if ext else 47) + (0 if rtr else 8 * dlc)


@dataclass
class _Frame:
    can_id: int
    ext: bool
    rtr: bool
    data: bytes
    source: str  # "adapter" or "board"
    at_us: int = 0  # when it went on the bus: time.monotonic() in us, mod 2**30


@dataclass
class BusStats:
    frames: int = 0  # frames carried
    from_adapter: int = 0
    from_board: int = 0
    adapter_dropped: int = 0  # frames for the adapter lost while nobody read its port
    rx_errors_board: int = 0  # frames the board could not receive (bitrate mismatch)
    unacked: int = 0  # frames nobody acknowledged
    busy_s: float = 0.0  # time the bus carried bits
    started: float = field(default_factory=time.monotonic)


class SlcanAdapter:
    """LAWICEL commands on the pty's master side: S0..S8, s (BTR, kept at the bitrate),
    O, L (listen only), C, t/T/r/R, F, V, v, N, Z0/Z1, M/m, X, and an empty line. Answers
    CR, or BEL for a command it refuses (a frame while closed, S while open, CAN FD)."""

    def __init__(self):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.port = os.ttyname(self.slave)
        self.bitrate = 500000
        self.open = False
        self.listen_only = False
        self.timestamps = False
        self.overrun = False
        self._line = bytearray()
        self._out = bytearray()

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def feed(self, data: bytes) -> list[_Frame]:
        frames = []
        for byte in data:
            if byte in (0x0D, 0x0A):
                if byte == 0x0A and not self._line:
                    continue
                frame = self._command(bytes(self._line))
                self._line.clear()
                if frame is not None:
                    frames.append(frame)
            elif len(self._line) < 64:
                self._line.append(byte)
        return frames

    def _reply(self, data: bytes) -> None:
        self._out += data
        self.flush()

    def flush(self) -> None:
        write_pending(self.master, self._out)

    def deliver(self, frame: _Frame) -> bool:
        """A frame from the bus to the laptop: False when the adapter is closed."""
        if not self.open:
            return False
        if frame.ext:
            text = f"{'R' if frame.rtr else 'T'}{frame.can_id:08X}{len(frame.data)}"
        else:
            text = f"{'r' if frame.rtr else 't'}{frame.can_id:03X}{len(frame.data)}"
        if not frame.rtr:
            text += frame.data.hex().upper()
        if self.timestamps:
            text += f"{int(time.monotonic() * 1000) % 60000:04X}"
        if len(self._out) > 1 << 16:  # nobody reads the port: the adapter's buffer overruns
            self.overrun = True
            return False
        self._reply(text.encode() + _OK)
        return True

    def _command(self, line: bytes) -> _Frame | None:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            self._reply(_BELL)
            return None
        cmd, arg = text[:1], text[1:]
        if cmd in "tTrR" and cmd:
            frame = self._parse_frame(cmd, arg)
            if frame is None or not self.open or self.listen_only:
                self._reply(_BELL)
                return None
            self._reply(b"z\r" if cmd in "tr" else b"Z\r")
            return frame
        if cmd == "":
            self._reply(_OK)
        elif cmd == "S" and arg.isdigit() and int(arg) in SLCAN_BITRATES and not self.open:
            self.bitrate = SLCAN_BITRATES[int(arg)]
            self._reply(_OK)
        elif cmd == "s" and len(arg) == 4 and not self.open:
            self._reply(_OK)
        elif cmd in "OL" and not arg and not self.open:
            self.open, self.listen_only = True, cmd == "L"
            self._reply(_OK)
        elif cmd == "C" and not arg:
            self.open = False
            self._reply(_OK)
        elif cmd == "F":
            flags = 0x08 if self.overrun else 0
            self.overrun = False
            self._reply(f"F{flags:02X}".encode() + _OK)
        elif cmd == "V":
            self._reply(b"V1013" + _OK)
        elif cmd == "v":
            self._reply(b"vMULE" + _OK)
        elif cmd == "N":
            self._reply(b"NVCAN" + _OK)
        elif cmd == "Z" and arg in ("0", "1"):
            self.timestamps = arg == "1"
            self._reply(_OK)
        elif cmd in "MmXQ" and arg:
            self._reply(_OK)
        else:
            self._reply(_BELL)
        return None

    @staticmethod
    def _parse_frame(cmd: str, arg: str) -> _Frame | None:
        ext = cmd in "TR"
        width = 8 if ext else 3
        try:
            can_id = int(arg[:width], 16)
            dlc = int(arg[width:width + 1])
            payload = b"" if cmd in "rR" else bytes.fromhex(arg[width + 1:width + 1 + 2 * dlc])
        except ValueError:
            return None
        if len(arg) < width + 1 or can_id > (0x1FFFFFFF if ext else 0x7FF) or dlc > 8:
            return None
        if cmd in "tT" and len(payload) != dlc:
            return None
        return _Frame(can_id, ext, cmd in "rR", payload if cmd in "tT" else bytes(dlc), "adapter")


class VirtualCanBus:
    """`with VirtualCanBus() as bus:` bus.port (the slcan pty), bus.socket_path (the
    board's end, given to MicroPython as MULE_VCAN).

    board_inbox: the emulated Pyboard's way in (host_tools/qemu_board/.../vcan_link.c): records
    for the board are appended to this file, which it reads through semihosting, instead of
    going down the socket (QEMU's UART, the socket's other end there, moves a few KB/s into
    the board); the board's records still come up the socket."""

    def __init__(self, board_inbox: Path | None = None):
        self._tmp = tempfile.TemporaryDirectory(prefix="mule-vcan-")
        self.socket_path = str(Path(self._tmp.name) / "bus.sock")
        self.adapter = SlcanAdapter()
        self.stats = BusStats()
        self.board_bitrate: int | None = None
        self._listen = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listen.bind(self.socket_path)
        self._listen.listen(2)
        self._listen.setblocking(False)
        self._board: socket.socket | None = None
        self._inbox = os.open(board_inbox, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) \
            if board_inbox is not None else -1
        self._board_in = bytearray()
        self._queue: collections.deque[_Frame] = collections.deque()
        self._free_at = time.monotonic()
        self._idle = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mule-vcan", daemon=True)

    @property
    def port(self) -> str:
        return self.adapter.port

    @property
    def bitrate(self) -> int:
        """The bus's bitrate: the adapter's while it is open, else the board's."""
        if self.adapter.open or self.board_bitrate is None:
            return self.adapter.bitrate
        return self.board_bitrate

    def __enter__(self) -> "VirtualCanBus":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for s in (self._board, self._listen):
            if s is not None:
                s.close()
        if self._inbox >= 0:
            os.close(self._inbox)
            self._inbox = -1
        self.adapter.close()
        self._tmp.cleanup()

    # ---- the bus thread ----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._step()

    def _step(self) -> None:
        now = time.monotonic()
        wait = 0.05
        if self._queue:
            wait = max(0.0, min(wait, self._free_at - now))
        readers = [self._listen]
        if len(self._queue) < _QUEUE:
            readers.append(self.adapter.master)
            if self._board is not None:
                readers.append(self._board)
        writers = [self.adapter.master] if self.adapter._out else []
        ready, writable, _ = select.select(readers, writers, [], wait)
        if writable:
            self.adapter.flush()
        if self._listen in ready:
            self._accept()
        if self.adapter.master in ready:
            try:
                data = os.read(self.adapter.master, 4096)
            except (BlockingIOError, OSError):
                data = b""
            self._queue.extend(self.adapter.feed(data))
        if self._board is not None and self._board in ready:
            self._read_board()
        self._carry()

    def _accept(self) -> None:
        try:
            conn, _ = self._listen.accept()
        except BlockingIOError:
            return
        if self._board is not None:  # a new boot of the board: the old process is gone
            self._board.close()
        conn.setblocking(True)
        self._board, self._board_in = conn, bytearray()
        self.board_bitrate = None

    def _read_board(self) -> None:
        try:
            data = self._board.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._board.close()
            self._board, self.board_bitrate = None, None
            return
        self._board_in += data
        while len(self._board_in) >= _REC.size:
            kind, dlc, rtr, _, can_id, payload, _ = _REC.unpack_from(self._board_in)
            del self._board_in[:_REC.size]
            if kind == _FROM_BOARD_BITRATE:
                self.board_bitrate = can_id or None  # 0: the controller stopped
            elif kind == _FROM_BOARD_FRAME:
                self._queue.append(_Frame(can_id & 0x1FFFFFFF, bool(can_id & _EXT), bool(rtr),
                                          payload[:min(dlc, 8)], "board"))

    def _to_board(self, kind: int, frame: _Frame | None = None) -> None:
        if self._board is None:
            return
        if frame is None:
            record = _REC.pack(kind, 0, 0, 0, 0, b"", 0)
        else:
            can_id = frame.can_id | (_EXT if frame.ext else 0)
            record = _REC.pack(kind, len(frame.data), int(frame.rtr), 0, can_id, frame.data, frame.at_us)
        if self._inbox >= 0:
            os.write(self._inbox, record)  # whole records (O_APPEND): the board never reads half of one
            return
        try:
            self._board.sendall(record)
        except OSError:
            self._board.close()
            self._board, self.board_bitrate = None, None

    def _carry(self) -> None:
        now = time.monotonic()
        if self._idle and self._free_at < now:
            self._free_at = now  # the bus was idle: the next frame starts now
        # while busy, a late wake-up (select's overshoot) carries the frames whose slots
        # passed, each stamped with its slot's time: the bitrate's pace on average and in
        # the board's timestamps
        while self._queue and self._free_at <= now + 0.0005:
            frame = self._queue.popleft()
            seconds = frame_bits(frame.ext, len(frame.data), frame.rtr) / self.bitrate
            frame.at_us = int(self._free_at * 1e6) & 0x3FFFFFFF
            self._free_at += seconds
            self.stats.busy_s += seconds
            self.stats.frames += 1
            board_hears = self._board is not None and self.board_bitrate == self.bitrate
            adapter_hears = self.adapter.open and self.adapter.bitrate == self.bitrate
            if frame.source == "adapter":
                self.stats.from_adapter += 1
                if board_hears:
                    self._to_board(_TO_BOARD_FRAME, frame)
                elif self._board is not None and self.board_bitrate is not None:
                    self.stats.rx_errors_board += 1
                    self._to_board(_TO_BOARD_RX_ERROR)
                else:
                    self.stats.unacked += 1
            else:
                self.stats.from_board += 1
                if adapter_hears:
                    if not self.adapter.deliver(frame):
                        self.stats.adapter_dropped += 1
                    self._to_board(_TO_BOARD_ACKED)
                else:
                    self.stats.unacked += 1
                    self._to_board(_TO_BOARD_NO_ACK)
        self._idle = not self._queue


def board_modules(folder: Path) -> Path:
    """mule_vcan, machine_can, can_model and board_os compiled for the unix port into `folder` (a real board's
    machine.CAN is built in; compiled, the virtual one costs less heap than from source)."""
    from host_tools.codegen.build import compile_mpy

    for name in ("can_model", "machine_can", "mule_vcan", "board_os"):
        compile_mpy(MP_DIR / f"{name}.py", "x64", folder / f"{name}.mpy")
    return folder


def board_preamble(socket_path: str, modules: Path) -> str:
    """MicroPython lines that put the virtual board's controller on this bus (run before
    main.py and before the REPL). The board's own folder stays first on sys.path. board_os:
    `os.ilistdir` with file sizes, as a board's (mpremote ls showed 0 bytes)."""
    return (f"import sys\nsys.path.append({str(modules)!r})\nimport board_os\nimport mule_vcan\n"
            f"mule_vcan.PATH = {socket_path!r}\ndel mule_vcan\n")
