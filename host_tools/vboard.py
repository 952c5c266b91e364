"""Virtual boards behind a pseudo-terminal, behaving like a dev board on a USB serial port,
so mpremote, `mule flash` and the link work unchanged: `VirtualBoard` runs the MicroPython
unix port (fast, 64-bit), `QemuBoard` an emulated Pyboard (qemu-system-arm, Cortex-M4F,
float32, armv7emsp; docs/hardware.md says what differs from a real one). `open_board`
picks one by name; `parse_heap` is the one place heap sizes are checked.

Two pty pairs and a relay thread: the user's side (`port`, what mpremote opens) and the
board's side (micropython's stdin/stdout). The relay adds what the unix port lacks:
- soft reset: Ctrl-D at an empty REPL prompt restarts MicroPython in the board's folder
  and prints "MPY: soft reboot"; from the friendly REPL it then runs main.py, from the
  raw REPL it returns to the raw REPL (as a real board does); a MicroPython that exits
  (sys.exit, machine.soft_reset) reboots the same way;
- Ctrl-C: the unix port only interrupts on SIGINT; the relay turns byte 0x03 into SIGINT
  while the program has its handler installed (micropython.kbd_intr(3)), and passes it
  through as data after kbd_intr(-1), as a real board's USB VCP does;
- a full receive buffer drops host→board bytes (counted), as USB VCP does.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import tty
from pathlib import Path

from host_tools.ptys import write_pending
from host_tools.qemu_board.build import MAX_HEAP, parse_heap
from host_tools.tools import tool

BOARDS = ("unix", "qemu")

RAW_PROMPTS = (b"raw REPL; CTRL-B to exit\r\n>", b"\x04>")
FRIENDLY_PROMPT = b">>> "
SOFT_REBOOT = b"MPY: soft reboot\r\n"
_BOOT = """\
import sys
sys.path[0] = ''
for _name in ('boot.py', 'main.py'):
    try:
        open(_name).close()
    except OSError:
        continue
    exec(open(_name).read(), {'__name__': '__main__'})
"""
_CONTROL = re.compile(rb"[\x03\x04]")
_MAX_PENDING = 1 << 20  # board→host bytes held while nobody reads the port


class VirtualBoard:
    """Run with `with VirtualBoard(dir) as board: ... board.port ...`."""

    kind = "unix"

    def __init__(self, directory: str | Path, heap: str | int | None = None, can: bool = False):
        self.directory = Path(directory).resolve()
        self.can = can  # a machine.CAN on a virtual CAN bus with an slcan port (host_tools/vcan)
        self.can_bus = None
        self._preamble = ""
        self.heap = parse_heap(heap)  # bytes; None: a Pyboard's 100K. ValueError says what is wrong
        self.boots = 0  # how many times MicroPython was started (1 + soft resets)
        self.dropped_to_board = 0  # host→board bytes lost to a full receive buffer
        self._proc: subprocess.Popen | None = None
        self._board_fd = -1
        self._user_master = self._user_slave = -1
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._reset_requested = threading.Event()
        self._tail = b""
        self._sent_since_output = 0
        self._to_user = bytearray()
        self._tmp = tempfile.TemporaryDirectory(prefix="mule-vboard-")
        self._boot_script = Path(self._tmp.name) / "boot_board.py"
        self._boot_script.write_text(_BOOT)
        self._sigint_cache = (0.0, False)

    # ---- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> "VirtualBoard":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> str:
        return os.ttyname(self._user_slave)

    def start(self) -> None:
        if not self.directory.is_dir():
            raise FileNotFoundError(f"{self.directory}: no such folder for the virtual board")
        self._user_master, self._user_slave = pty.openpty()
        tty.setraw(self._user_slave)  # bytes pass unchanged, as over USB
        os.set_blocking(self._user_master, False)
        if self.can:
            self._start_can()
        self._spawn(run_main=True)
        self._thread = threading.Thread(target=self._relay, name="mule-vboard", daemon=True)
        self._thread.start()

    def _start_can(self) -> None:
        from host_tools.vcan.bus import CONTROLLER_HEAP, VirtualCanBus, board_modules, board_preamble

        self.can_bus = VirtualCanBus()
        self.can_bus.start()
        modules = board_modules(Path(self._tmp.name))
        self._preamble = board_preamble(self.can_bus.socket_path, modules)
        self._boot_script.write_text(self._preamble + _BOOT)
        self._controller_heap = CONTROLLER_HEAP

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._kill()
        if self.can_bus is not None:
            self.can_bus.stop()
            self.can_bus = None
        for fd in (self._user_master, self._user_slave):
            if fd >= 0:
                os.close(fd)
        self._user_master = self._user_slave = -1
        self._tmp.cleanup()

    def soft_reset(self, timeout: float = 5.0) -> None:
        """Reset the board as a button would: reboot and run main.py. Done by the relay
        thread (it owns the board's side); returns once MicroPython has restarted."""
        boots = self.boots
        self._reset_requested.set()
        deadline = time.monotonic() + timeout
        while self.boots == boots and time.monotonic() < deadline:
            time.sleep(0.01)

    # ---- the board process -----------------------------------------------------------
    def _spawn(self, run_main: bool) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)
        # the virtual CAN controller is Python on the heap (a board's is built in): its share added
        cmd = [tool("micropython"), "-X", f"heapsize={self.heap + getattr(self, '_controller_heap', 0)}"]
        cmd += ["-i", str(self._boot_script)] if run_main else (["-i", "-c", self._preamble] if self._preamble else [])
        self._proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, cwd=self.directory,
                                      close_fds=True, start_new_session=True)
        os.close(slave)
        os.set_blocking(master, False)
        self._board_fd = master
        self._tail = b""
        self._sent_since_output = 0
        self.boots += 1

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc is not None:
            proc.wait()
        if self._board_fd >= 0:
            os.close(self._board_fd)
            self._board_fd = -1
        self._proc = None

    def _reboot(self, run_main: bool) -> None:
        self._kill()
        self._emit(SOFT_REBOOT)
        self._spawn(run_main)
        if not run_main:  # back to the raw REPL, quietly, as a real board does
            self._write_board(b"\x01")
            self._swallow_until(RAW_PROMPTS[0])
            self._emit(b"raw REPL; CTRL-B to exit\r\n>")
            self._tail = RAW_PROMPTS[0]

    def _swallow_until(self, marker: bytes, timeout: float = 10.0) -> None:
        seen = b""
        end = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < end:
            ready, _, _ = select.select([self._board_fd], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(self._board_fd, 4096)
                except OSError:
                    break

    def _sigint_handled(self) -> bool:
        """Whether MicroPython has its SIGINT handler (kbd_intr(3)); cached briefly."""
        checked, handled = self._sigint_cache
        now = time.monotonic()
        if now - checked < 0.05 or self._proc is None:
            return handled
        handled = False
        try:
            for line in Path(f"/proc/{self._proc.pid}/status").read_text().splitlines():
                if line.startswith("SigCgt:"):
                    handled = bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
        except OSError:
            pass
        self._sigint_cache = (now, handled)
        return handled

    # ---- the relay -------------------------------------------------------------------
    def _emit(self, data: bytes) -> None:
        """Queue board output for the user's side (kept while nobody reads: stale bytes)."""
        self._to_user += data
        self._flush_user()

    def _flush_user(self) -> None:
        write_pending(self._user_master, self._to_user)

    def _write_board(self, data: bytes) -> None:
        try:
            n = os.write(self._board_fd, data)
        except BlockingIOError:
            n = 0
        except OSError:
            n = len(data)  # the board is gone; its reboot is on the way
        if n < len(data):
            self.dropped_to_board += len(data) - n

    def _prompt(self) -> str | None:
        """"raw" or "friendly" when the board's output ends at a REPL prompt."""
        if any(self._tail.endswith(p) for p in RAW_PROMPTS):
            return "raw"
        if self._tail.endswith(FRIENDLY_PROMPT):
            return "friendly"
        return None

    def _from_user(self, data: bytes) -> None:
        start = 0
        for match in _CONTROL.finditer(data):
            i = match.start()
            if data[i] == 0x04:
                mode = self._prompt()
                if mode and i == start and not self._sent_since_output:
                    # Ctrl-D at an empty prompt: a real board soft-resets
                    self._emit(b"OK\r\n" if mode == "raw" else b"\r\n")
                    self._reboot(run_main=(mode == "friendly"))
                    start = i + 1
            elif self._prompt() is None and self._sigint_handled():
                # Ctrl-C while a program runs with kbd_intr(3): interrupt it
                self._send(data[start:i])
                os.killpg(self._proc.pid, signal.SIGINT)
                start = i + 1
        self._send(data[start:])

    def _send(self, data: bytes) -> None:
        if data:
            self._write_board(data)
            self._sent_since_output += len(data)

    def _relay(self) -> None:
        while not self._stop.is_set():
            self._relay_step()
        self._flush_user()

    def _relay_step(self) -> None:
        if self._reset_requested.is_set():
            self._reset_requested.clear()
            self._reboot(run_main=True)
        board_fd = self._board_fd
        want = [self._user_master] + ([board_fd] if len(self._to_user) < _MAX_PENDING else [])
        writers = [self._user_master] if self._to_user else []
        try:
            readable, writable, _ = select.select(want, writers, [], 0.05)
        except (OSError, ValueError):
            readable, writable = [], []
        if writable:
            self._flush_user()
        if board_fd in readable:
            try:
                data = os.read(board_fd, 65536)
            except OSError:  # EIO: the board's side closed; poll() below sees it exit
                data = b""
            if data:
                self._tail = (self._tail + data)[-64:]
                self._sent_since_output = 0
                self._emit(data)
        if self._user_master in readable:
            try:
                data = os.read(self._user_master, 65536)
            except OSError:
                data = b""
            if data:
                self._from_user(data)
        if self._proc is not None and self._proc.poll() is not None:
            self._drain_board()
            self._reboot(run_main=True)  # MicroPython exited: a real board reboots

    def _drain_board(self) -> None:
        while True:
            try:
                data = os.read(self._board_fd, 65536)
            except OSError:
                return
            if not data:
                return
            self._emit(data)


FLASH_IMAGE = "mule_flash.img"  # the emulated board's /flash drive, in its folder
FLASH_SIZE = 1024 * 1024
INPUT_FILE = "mule_uart_in"  # host→board bytes (the name is built into the board's firmware)
CAN_INPUT_FILE = "mule_can_in"  # the virtual CAN bus's records for the board (vcan_link.c)
_QUICK_EXIT_S = 2.0  # QEMU gone this soon after starting: do not restart it in a loop


class QemuBoard(VirtualBoard):
    """The emulated Pyboard: MicroPython's qemu port (host_tools/qemu_board) in
    qemu-system-arm, its UART behind the same relay. The firmware does what the unix board's
    relay fakes (soft reset rerunning main.py, Ctrl-C while kbd_intr is on), so bytes pass
    through unchanged. Its /flash is `mule_flash.img` in the board's folder (FAT, written
    through semihosting): files survive soft resets, `soft_reset()` (a hard reset: QEMU
    restarts) and new runs on the same folder. QEMU exiting (machine.reset()) restarts it.
    Host→board bytes go into a file the board reads every millisecond (semihosting): they
    wait there while the board's 2 KB buffer is full, never dropped.

    can=True: a virtual CAN bus (host_tools/vcan) with an slcan port, as on the unix board;
    the firmware's frozen machine.CAN (_boot.py imports it when the bus's file is there)
    reads the bus's records from a file (CAN_INPUT_FILE) and sends on QEMU's second UART, a
    socket to the bus."""

    kind = "qemu"

    def __init__(self, directory: str | Path, heap: str | int | None = None, firmware: Path | None = None,
                 can: bool = False):
        super().__init__(directory, heap, can=can)
        self.heap = parse_heap(self.heap, MAX_HEAP)
        self.firmware = firmware  # None: build (or reuse) the one for this heap at start()
        self.qemu_log = Path(self._tmp.name) / "qemu.log"
        self._started_at = 0.0
        self._failed = False
        self._input = None  # the host→board file of the running QEMU

    def start(self) -> None:
        if self.firmware is None:
            from host_tools.qemu_board.build import build

            self.firmware = build(self.heap, log=lambda text: None).elf
        if self.directory.is_dir():
            image = self.directory / FLASH_IMAGE
            if not image.exists():  # a blank drive: the board formats it on its first boot
                with open(image, "wb") as f:
                    f.truncate(FLASH_SIZE)
        super().start()

    def _start_can(self) -> None:
        from host_tools.vcan.bus import VirtualCanBus

        # the firmware's controller is frozen (its code in flash): no heap added
        self.can_bus = VirtualCanBus(board_inbox=Path(self._tmp.name) / CAN_INPUT_FILE)
        self.can_bus.start()

    def _spawn(self, run_main: bool = True) -> None:
        # QEMU runs in a folder of its own: the drive (a link to the board folder's image) and
        # the host→board bytes, a file the board reads every millisecond through semihosting
        # (QEMU's UART passes one byte per round trip of its main loop: a few KB/s)
        run = Path(self._tmp.name)
        if not (run / FLASH_IMAGE).is_symlink():
            (run / FLASH_IMAGE).symlink_to(self.directory / FLASH_IMAGE)
        if self._input is not None:
            self._input.close()
        self._input = open(run / INPUT_FILE, "wb", buffering=0)  # a new board reads from the start
        master, slave = pty.openpty()
        tty.setraw(slave)
        # QEMU opens the pty by name as a serial line (raw; its stdio backend would add \r)
        cmd = [shutil.which("qemu-system-arm") or "qemu-system-arm", "-machine", "mps2-an386", "-nographic",
               "-monitor", "null", "-semihosting-config", "enable=on,target=native", "-kernel", str(self.firmware),
               "-chardev", f"serial,id=uart,path={os.ttyname(slave)}", "-serial", "chardev:uart"]
        if self.can_bus is not None:  # UART1: the board's frames to the bus (its records come in a file)
            cmd += ["-chardev", f"socket,id=can,path={self.can_bus.socket_path}", "-serial", "chardev:can"]
            os.truncate(run / CAN_INPUT_FILE, 0)  # the new board reads from the end of what is there
        with open(self.qemu_log, "ab") as log:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=run,
                                          close_fds=True, start_new_session=True)
        self._board_slave = slave  # held open: the master never sees a hang-up between QEMU runs
        os.set_blocking(master, False)
        self._board_fd = master
        self._tail = b""
        self._sent_since_output = 0
        self._started_at = time.monotonic()
        self.boots += 1

    def _kill(self) -> None:
        super()._kill()
        if getattr(self, "_board_slave", -1) >= 0:
            os.close(self._board_slave)
            self._board_slave = -1

    def _reboot(self, run_main: bool = True) -> None:
        """A hard reset: QEMU starts again on the same firmware and drive."""
        quick = self._proc is not None and self._proc.poll() is not None \
            and time.monotonic() - self._started_at < _QUICK_EXIT_S
        self._kill()
        if quick:  # it cannot start: say why on the port instead of restarting forever
            reason = self.qemu_log.read_text(errors="replace").strip().splitlines()[-3:]
            self._emit(("\r\nmule: qemu-system-arm exited at start: " + " / ".join(reason) + "\r\n").encode())
            self._failed = True
            return
        self._spawn(run_main)

    def _from_user(self, data: bytes) -> None:
        if self._input is not None:
            self._input.write(data)
            self._sent_since_output += len(data)

    def stop(self) -> None:
        super().stop()
        if self._input is not None:
            self._input.close()
            self._input = None

    def _relay_step(self) -> None:
        if self._failed:  # nothing to relay from; keep the port open for the message
            self._stop.wait(0.05)
            self._flush_user()
            return
        super()._relay_step()

    def _sigint_handled(self) -> bool:
        return False


def open_board(kind: str, directory: str | Path, heap: str | int | None = None, can: bool = False) -> VirtualBoard:
    """A board by name ("unix" or "qemu"), not started. ValueError for a bad heap or kind.
    can: the board gets a virtual CAN bus (host_tools/vcan) with an slcan port."""
    if kind not in BOARDS:
        raise ValueError(f"board {kind!r}: choose one of {', '.join(BOARDS)}")
    if kind == "qemu":
        return QemuBoard(directory, heap, can=can)
    return VirtualBoard(directory, heap, can=can)
