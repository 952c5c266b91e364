"""Firmware decode engine: the generated decoder running inside the MicroPython unix port.

The host generates and compiles the decoder for the DBC, starts `micropython` on
host_tools/mp/decode_runner.py and streams frames through its stdin/stdout. A writer
thread feeds frames while this thread reads results, so neither pipe can fill up. One
engine serves any number of decode() batches until it is closed.
"""

from __future__ import annotations

import json
import queue
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from host_tools.codegen.build import HOST_MARCH, compile_mpy, write_decoder
from host_tools.dbc import Dbc
from host_tools.board_codes import RESULT_STATUS
from host_tools.engines import DECODED, UNKNOWN_ID, Outcome
from host_tools.tools import tool

RUNNER = Path(__file__).resolve().parent.parent / "mp" / "decode_runner.py"
MODULE = "mule_decoder"
_ERRORS = {str(code): status for code, status in RESULT_STATUS.items() if status != UNKNOWN_ID}  # "E" lines
_END = object()


class EngineError(Exception):
    """MicroPython stopped or said something the host cannot parse."""


def build_module(dbc: Dbc, directory: Path, mode: str = "viper", tables: str = "auto") -> Path:
    """Generate and compile the decoder as `directory`/mule_decoder.mpy."""
    source = write_decoder(dbc, directory / f"{MODULE}.py", mode, tables)
    mpy = compile_mpy(source, HOST_MARCH)
    source.unlink()  # make sure MicroPython imports the compiled module
    return mpy


def micropython_command(script: Path, args: list[str], heap: str | None = None) -> list[str]:
    cmd = [tool("micropython")]
    if heap:
        cmd += ["-X", f"heapsize={heap}"]
    return cmd + [str(script), *args]


def parse_number(text: str):
    """A number as decode_runner.py writes it: "g" float32 bits, "f" float64 bits, else an int."""
    if text.startswith("g"):
        return struct.unpack(">f", bytes.fromhex(text[1:]))[0]
    if text.startswith("f"):
        return struct.unpack(">d", bytes.fromhex(text[1:]))[0]
    return int(text)


class FirmwareEngine:
    name = "firmware"

    def __init__(self, dbc: Dbc, heap: str | None = None, mode: str = "viper", tables: str = "auto"):
        self.dbc = dbc
        self.heap = heap
        self.mode = mode
        self.tables = tables
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._proc: subprocess.Popen | None = None
        self.names: list = []

    def __enter__(self) -> "FirmwareEngine":
        self._tmp = tempfile.TemporaryDirectory(prefix="mule-fw-")
        build_module(self.dbc, Path(self._tmp.name), self.mode, self.tables)
        cmd = micropython_command(RUNNER, [self._tmp.name, MODULE], self.heap)
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                      errors="replace", bufsize=1 << 16)
        first = self._proc.stdout.readline()
        try:
            self.names = json.loads(first)
        except ValueError:
            # MicroPython prints an uncaught exception (a MemoryError at import) on stdout: quote it whole
            self._proc.stdin.close()
            said = (first + self._proc.stdout.read()).strip()
            heap = f" with a {self.heap} heap" if self.heap else ""
            raise EngineError(self._failure(f"MicroPython did not start the decoder{heap}:\n{said}")) from None
        return self

    def __exit__(self, *exc) -> None:
        proc = self._proc
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stderr.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _failure(self, what: str) -> str:
        proc = self._proc
        err = ""
        if proc is not None:
            try:
                proc.wait(timeout=5)
                err = proc.stderr.read().strip()
            except subprocess.TimeoutExpired:
                pass
        return f"{what}\n{err}" if err else what

    def decode(self, frames: Iterable) -> Iterator[tuple[object, Outcome]]:
        proc = self._proc
        assert proc is not None, "use FirmwareEngine as a context manager"
        pending: queue.SimpleQueue = queue.SimpleQueue()
        failure: list[BaseException] = []

        def feed() -> None:
            try:
                write = proc.stdin.write
                for frame in frames:
                    pending.put(frame)
                    write(f"{frame.can_id} {int(frame.ext)} {bytes(frame.data).hex()}\n")
            except BrokenPipeError:
                pass
            except BaseException as exc:  # e.g. a LogError: re-raised in the reading thread
                failure.append(exc)
            finally:
                try:
                    proc.stdin.flush()  # the engine stays up for the next batch
                except OSError:
                    pass
                pending.put(_END)

        writer = threading.Thread(target=feed, name="mule-fw-feed", daemon=True)
        writer.start()
        try:
            while True:
                frame = pending.get()
                if frame is _END:
                    break
                line = proc.stdout.readline()
                if not line:
                    raise EngineError(self._failure("MicroPython stopped while decoding"))
                yield frame, self._outcome(line)
        finally:
            writer.join(timeout=10)
        if failure:
            raise failure[0]

    def _outcome(self, line: str) -> Outcome:
        fields = line.split()
        if not fields:
            raise EngineError("empty line from MicroPython")
        tag = fields[0]
        if tag == "U":
            return Outcome(UNKNOWN_ID)
        if tag == "E" and len(fields) == 3 and fields[1] in _ERRORS:
            return Outcome(_ERRORS[fields[1]], self.names[int(fields[2])][0])
        if tag != "D":
            raise EngineError(f"unexpected line from MicroPython: {line.strip()!r}")
        name, signal_names = self.names[int(fields[1])]
        values = []
        for item in fields[2:]:
            si, raw, phys = item.split(":")
            raw_value = parse_number(raw)
            if phys == "h":  # float64 on a float32 board: rebuilt here from its exact bits, as cantools computes it
                signal = self._message(name).signals[int(si)]
                phys_value = raw_value * signal.scale + signal.offset
            else:
                phys_value = parse_number(phys)
            values.append((int(si), raw_value, phys_value))
        values.sort()
        raw_values = {signal_names[si]: raw for si, raw, _ in values}
        phys_values = {signal_names[si]: phys for si, _, phys in values}
        return Outcome(DECODED, name, raw_values, phys_values)

    def _message(self, name: str):
        for message in self.dbc.messages:
            if message.name == name:
                return message
        raise EngineError(f"the decoder named a message {name!r} the DBC lacks")
