"""`mule decode --engine firmware --board qemu`: the generated decoder compiled for
armv7emsp and run on the emulated Pyboard (Cortex-M4F, float32, 100 KB heap by default).

Raw values come back exact; physical values are the board's own float32 results (they agree
with cantools to float32). An IEEE float64 signal is carried as its raw bits: the host
rebuilds the double and its physical value (raw * scale + offset in double, as cantools
does), because a float32 board cannot hold either. Frames go to the board in batches, as a
file on its /flash (its stdin is the UART the raw REPL talks over)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from host_tools.codegen.build import write_decoder
from host_tools.dbc import Dbc
from host_tools.engines import Outcome
from host_tools.engines.firmware_engine import MODULE, RUNNER, EngineError, FirmwareEngine
from host_tools.qemu_board.scripts import ARCH, QemuScripts, ScriptError

BATCH = 4000  # frames per board run: the file and the results of one batch held at once
_LIB = "/flash/lib"


class QemuFirmwareEngine(FirmwareEngine):
    name = "firmware"

    def __init__(self, dbc: Dbc, heap: str | None = None, mode: str = "viper", tables: str = "auto",
                 scripts: QemuScripts | None = None):
        super().__init__(dbc, heap or "100K", mode, tables)
        self._scripts = scripts  # a running emulated board to use (tests share one); else one of our own
        self._own = scripts is None

    def __enter__(self) -> "QemuFirmwareEngine":
        from host_tools.codegen.build import compile_mpy
        from host_tools.qemu_board.build import build

        if self._own:
            self._scripts = QemuScripts(build(self.heap, log=lambda text: None).elf, heap=self.heap).__enter__()
        try:
            work = Path(self._scripts._tmp.name)
            source = write_decoder(self.dbc, work / f"{MODULE}.py", self.mode, self.tables)
            self._scripts.mkdir(_LIB)
            self._scripts.put(compile_mpy(source, ARCH), f"{_LIB}/{MODULE}.mpy")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._own and self._scripts is not None:
            self._scripts.__exit__(None, None, None)
            self._scripts = None

    def decode(self, frames: Iterable) -> Iterator[tuple[object, Outcome]]:
        batch: list = []
        for frame in frames:
            batch.append(frame)
            if len(batch) == BATCH:
                yield from self._decode_batch(batch)
                batch = []
        if batch:
            yield from self._decode_batch(batch)

    def _decode_batch(self, batch: list) -> Iterator[tuple[object, Outcome]]:
        text = "".join(f"{f.can_id} {int(f.ext)} {bytes(f.data).hex()}\n" for f in batch)
        self._scripts.put(text.encode(), "/flash/frames.txt")
        try:
            out = self._scripts.run(RUNNER, [_LIB, MODULE, "float32"], stdin="/flash/frames.txt")
        except ScriptError as exc:
            raise EngineError(f"the emulated Pyboard ({self.heap} heap) stopped decoding:\n{exc}") from None
        lines = out.splitlines()
        self.names = json.loads(lines[0])
        if len(lines) - 1 != len(batch):
            raise EngineError(f"the emulated Pyboard answered {len(lines) - 1} of {len(batch)} frames")
        for frame, line in zip(batch, lines[1:]):
            yield frame, self._outcome(line)

