"""The emulated Pyboard with exact instruction counts: QEMU's `-icount shift=0` makes guest
time advance 1 ns per executed instruction, so on this board `time.ticks_us()` differences
x 1000 are instructions (to 1,000; average over many frames). Everything else is QemuBoard.

    with IcountQemuBoard(folder, heap="100K") as board: ...   # then mpremote as usual

Debian ships no TCG plugin headers (no qemu-plugin package), so no per-call counting plugin:
the interrupts the board takes meanwhile (the 1 ms SysTick, a few dozen instructions) are
counted too, <0.1 % of a measurement."""

from __future__ import annotations

import subprocess

from host_tools import vboard
from host_tools.vboard import QemuBoard

INSTRUCTIONS_PER_US = 1000  # -icount shift=0: 2**0 ns per instruction


class IcountQemuBoard(QemuBoard):
    def _spawn(self, run_main: bool = True) -> None:
        real = subprocess.Popen

        def popen(cmd, *args, **kwargs):
            if cmd and "qemu-system-arm" in str(cmd[0]):
                cmd = [cmd[0], "-icount", "shift=0", *cmd[1:]]
            return real(cmd, *args, **kwargs)

        vboard.subprocess.Popen = popen
        try:
            super()._spawn(run_main)
        finally:
            vboard.subprocess.Popen = real
