"""Run MicroPython scripts written for the unix port on the emulated Pyboard: one QEMU
start for many scripts (a start and its drive cost seconds), files copied into /flash.

The qemu port has no sys.argv, and its stdin is the UART the raw REPL talks over, so a
script's `sys.argv` and `sys.stdin` become names defined before its first line: the
arguments given here and a file on /flash. Scripts are compiled for armv7emsp first (their
source would not compile beside a 100 KB heap's contents) and run in the raw REPL after a
soft reset (a fresh heap, no module left imported); what they print comes back.

    with QemuScripts() as board:
        board.put(Path("frames.bin"), "/flash/frames.bin")
        out = board.run(Path("decode_runner.py"), ["/flash/lib", "mule_decoder"], stdin="/flash/in.txt")
"""

from __future__ import annotations

import binascii
import tempfile
from pathlib import Path

from host_tools.codegen.build import compile_mpy

ARCH = "armv7emsp"
_RUN_DIR = "/flash/_run"
_CHUNK = 6144  # bytes per raw-REPL line (8 KB of base64 source, compiled beside whatever a run left in a 100 KB heap)


class ScriptError(Exception):
    """The script raised on the board: its traceback, as MicroPython printed it."""


class QemuScripts:
    def __init__(self, firmware: Path | None = None, heap: str = "100K"):
        self.firmware = firmware
        self.heap = heap
        self.board = None
        self._transport = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._runs = 0
        self._dirty = False  # a script ran since the last soft reset: its modules are still in the heap

    def __enter__(self) -> "QemuScripts":
        from mpremote.transport_serial import SerialTransport

        from host_tools.vboard import QemuBoard

        self._tmp = tempfile.TemporaryDirectory(prefix="mule-qemu-scripts-")
        drive = Path(self._tmp.name) / "board"
        drive.mkdir()
        self.board = QemuBoard(drive, heap=self.heap, firmware=self.firmware)
        try:
            self.board.__enter__()
            self._transport = SerialTransport(self.board.port, baudrate=115200)
            self._transport.enter_raw_repl(soft_reset=False, timeout_overall=30)
            self.exec(f"import os\ntry:\n os.mkdir({_RUN_DIR!r})\nexcept OSError:\n pass")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._transport is not None:
            try:
                self._transport.close()
            except Exception:
                pass
            self._transport = None
        if self.board is not None:
            self.board.__exit__(None, None, None)
            self.board = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def exec(self, source: str, timeout: float = 60, consumer=None) -> bytes:
        """Run `source` (short: the board compiles it) in the raw REPL; its output."""
        out, err = self._transport.exec_raw(source, timeout=timeout, data_consumer=consumer)
        if err:
            raise ScriptError(err.decode(errors="replace").strip())
        return out

    def mkdir(self, remote: str) -> None:
        self.exec(f"import os\ntry:\n os.mkdir({remote!r})\nexcept OSError:\n pass")

    def put(self, local: Path | bytes, remote: str) -> None:
        """Copy a file (or bytes) to `remote` on the board's /flash."""
        data = local if isinstance(local, (bytes, bytearray)) else Path(local).read_bytes()
        if self._dirty:  # a run's modules still fill (and split) the heap: an upload line needs 8 KB whole
            self._soft_reset()
        self.exec(f"import gc\ngc.collect()\nfrom binascii import a2b_base64 as _a\n_f = open({remote!r}, 'wb')")
        for at in range(0, len(data), _CHUNK):
            text = binascii.b2a_base64(data[at:at + _CHUNK], newline=False).decode()
            self.exec(f"_f.write(_a({text!r}))")
        self.exec("_f.close()\ndel _f, _a")

    def run(self, script: Path, argv: list[str] = (), stdin: str | None = None, timeout: float = 300,
            consumer=None) -> str:
        """Run a unix-port script with `argv` as sys.argv[1:] and the board file `stdin` as
        sys.stdin; returns what it printed (or hands it to consumer(bytes) as it comes)."""
        self._runs += 1
        name = f"_mule_run{self._runs}"
        prelude = f"_MULE_ARGV = {[str(script.name), *map(str, argv)]!r}\n"
        text = Path(script).read_text().replace("sys.argv", "_MULE_ARGV")
        if stdin is not None:
            prelude += f"_MULE_STDIN = open({stdin!r})\n"
            text = text.replace("sys.stdin", "_MULE_STDIN")
        source = Path(self._tmp.name) / f"{name}.py"
        source.write_text(prelude + text)
        mpy = compile_mpy(source, ARCH)
        self.put(mpy, f"{_RUN_DIR}/{name}.mpy")
        self._soft_reset()
        try:
            out = self.exec(f"import sys\nsys.path.insert(0, {_RUN_DIR!r})\nimport {name}", timeout=timeout,
                            consumer=consumer)
        except ScriptError:
            self._soft_reset()  # what a failed script left (a half-imported module) would fill the heap
            raise
        self._dirty = True
        return out.decode(errors="replace")

    def _soft_reset(self) -> None:
        """A fresh heap and no module left imported (raw REPL: main.py does not run)."""
        self._dirty = False
        t = self._transport
        t.serial.write(b"\x04")
        data = t.read_until(1, b"raw REPL; CTRL-B to exit\r\n", timeout_overall=30)  # its ">" read by the next exec
        if not data.endswith(b"raw REPL; CTRL-B to exit\r\n"):
            raise ScriptError(f"the emulated board did not come back from a soft reset: {data[-200:]!r}")
