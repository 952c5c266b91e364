"""`mule flash` as a library: build the firmware for a board's architecture, copy it with
mpremote, restart the board and check that it answers with the DBC we built from."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import serial

from host_tools import FIRMWARE_DIR
from host_tools.codegen.build import compile_mpy, write_decoder
from host_tools.dbc import Dbc
from host_tools.supervision.rules import RULES_MODULE, write_rules
from host_tools.telemetry_changed import write_deadbands
from host_tools.text import printable
from host_tools.tools import tool

FIRMWARE = FIRMWARE_DIR
DECODER_MODULE = "dbc_decoder"  # the name main.py imports
CONFIG_NAME = "mule_config.json"
# sys.implementation._mpy >> 10: the native architecture of a MicroPython build
ARCHS = {1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m", 6: "armv7em", 7: "armv7emsp",
         8: "armv7emdp", 9: "xtensa", 10: "xtensawin", 11: "rv32imc", 12: "rv64imc"}


class FlashError(Exception):
    pass


class FitUnknown(FlashError):
    """The firmware could not be weighed beside mpremote mount; `fit`: what was measured
    (its need None; supervision's own, measured apart, may be known)."""

    def __init__(self, text: str, fit: "Fit"):
        super().__init__(text)
        self.fit = fit


# firmware/settings.py, loaded in CPython: the one table of board settings (SETTINGS) and
# the check the board also runs on its mule_config.json at boot
_spec = importlib.util.spec_from_file_location("mule_firmware_settings", FIRMWARE / "settings.py")
board_config = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(board_config)
HOST_ONLY = ("supervision",)  # goes into the rule tables, not onto the board's config file


def allowed_values(name: str) -> tuple:
    """The values a "one_of" setting takes (for the CLI's choices)."""
    for setting in board_config.SETTINGS:
        if setting[0] == name and setting[2] == "one_of":
            return setting[3]
    raise KeyError(name)


def check_settings(config: dict) -> list[str]:
    """Why each setting of `config` would not be used by the board (empty: all fine)."""
    problems = []
    for name, value in config.items():
        if name in HOST_ONLY:
            continue
        why = board_config.check(name, value)
        if why is not None and why.startswith("unknown setting"):
            why += f" (the board reads: {', '.join(s[0] for s in board_config.SETTINGS)})"
        if why is not None:
            problems.append(why)
    return problems


@dataclass
class BoardInfo:
    arch: str | None  # None: no native code (bytecode only)
    platform: str
    version: str
    machine_can: bool = False  # machine.CAN
    pyb_can: bool = False  # pyb.CAN
    spi: bool = False  # machine.SPI and machine.Pin (an MCP2515)

    def can_controllers(self) -> list[str]:
        return [name for name, have in (("machine.CAN", self.machine_can), ("pyb.CAN", self.pyb_can)) if have]


def mpremote(port: str, *args: str, timeout: float = 60) -> str:
    cmd = [tool("mpremote"), "connect", port, *args]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FlashError(f"mpremote on {port} did not finish in {timeout:.0f} s: {' '.join(args)}") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise FlashError(f"mpremote on {port} failed ({args[0]}): {detail[-1] if detail else 'no output'}")
    return result.stdout


_INFO_SCRIPT = """\
import sys
def _has(module, names):
    try:
        m = __import__(module)
    except ImportError:
        return 0
    for n in names:
        if not hasattr(m, n):
            return 0
    return 1
print('mule-info', sys.implementation._mpy, sys.platform, '.'.join(str(v) for v in sys.implementation.version[:3]),
      _has('machine', ('CAN',)), _has('pyb', ('CAN',)), _has('machine', ('SPI', 'Pin')))
"""


def board_info(port: str, timeout: float = 20) -> BoardInfo:
    """The board's MicroPython: native architecture, platform, version, CAN controllers."""
    try:
        out = mpremote(port, "exec", _INFO_SCRIPT, timeout=timeout)
    except FlashError as exc:
        if "did not finish" not in str(exc):
            raise
        raise FlashError(f"{port}: the board answers neither STOP nor mpremote (firmware running that does "
                         "not read the port?): boot it in safe mode (hold USR while pressing RST, "
                         "docs/hardware.md) and run `mule flash` again") from None
    words = next((line.split() for line in out.splitlines() if line.startswith("mule-info ")), [])
    try:
        mpy, platform, version, machine_can, pyb_can, spi = words[1:7]
        arch = ARCHS.get(int(mpy) >> 10)
        flags = [bool(int(v)) for v in (machine_can, pyb_can, spi)]
    except ValueError:
        raise FlashError(f"{port}: unexpected answer from the board: {printable(out.strip())!r}") from None
    return BoardInfo(arch, platform, version, *flags)


def check_board(config: dict, info: BoardInfo) -> None:
    """Refuse settings this board cannot run: live mode needs the CAN controller it names."""
    if config.get("mode", "replay") != "live":
        return
    which = config.get("can", "auto")
    board = f"this board (MicroPython {info.version} on {info.platform})"
    fix = ("flash --mode replay, or wire an MCP2515 module to SPI and flash --can mcp2515 "
           "(docs/hardware.md)")
    if which == "mcp2515":
        if not info.spi:
            raise FlashError(f"--can mcp2515 needs machine.SPI and machine.Pin, and {board} has none: "
                             "flash --mode replay")
        return
    needs = {"auto": ("machine.CAN", "pyb.CAN"), "machine": ("machine.CAN",), "pyb": ("pyb.CAN",)}[which]
    if not set(needs) & set(info.can_controllers()):
        has = ", ".join(info.can_controllers()) or "no CAN controller"
        raise FlashError(f"live mode reads the CAN bus through {' or '.join(needs)} (--can {which}), and "
                         f"{board} has {has}: {fix}")


def build_firmware(dbc: Dbc, out_dir: Path, arch: str | None, config: dict) -> list[Path]:
    """Everything the board needs, in out_dir: main.py, the other firmware modules and
    the decoder and the supervision rule tables compiled for `arch`, and the config file.
    config["supervision"], if given, overrides the rules' defaults (docs/supervision.md);
    it goes into the tables, not onto the board's config file."""
    if arch is None:
        raise FlashError("this MicroPython build has no native code emitter (sys.implementation._mpy names no "
                         "architecture); the firmware's link, supervision and per-frame loop are viper and native "
                         "code, so it needs a port built with one (STM32, RP2 and ESP32 builds are)")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    files = []
    decoder = write_decoder(dbc, out_dir / f"{DECODER_MODULE}.py", "viper", board=True)  # docs/decoder.md
    files.append(compile_mpy(decoder, arch))
    decoder.unlink()
    rules, tables = write_rules(dbc, out_dir / f"{RULES_MODULE}.py", config.get("supervision"))
    files += [compile_mpy(rules, arch), tables]
    rules.unlink()
    files.append(write_deadbands(dbc, out_dir))  # for telemetry "changed" (host_tools/telemetry_changed.py)
    config = {k: v for k, v in config.items() if k != "supervision"}
    for source in sorted(FIRMWARE.glob("*.py")):
        if source.name == "main.py":  # boards run main.py from source
            files.append(Path(shutil.copy(source, out_dir / source.name)))
        else:
            files.append(compile_mpy(source, arch, out_dir / source.with_suffix(".mpy").name))
    config_path = out_dir / CONFIG_NAME
    config_path.write_text(json.dumps(config, indent=1) + "\n")
    files.append(config_path)
    return files


# The margin a decoder must leave on the board's heap after start-up, for what streaming
# allocates (floats, STATS, the GC's fragmentation); HELLO's heap_free is measured the same way.
FIT_MARGIN = 10 * 1024

_FIT_FREE = "import gc\ngc.collect()\nprint('mule-free', gc.mem_free())\n"


def _fit_script(body: str, held: str) -> str:
    """A script weighing what `body` (under try:, indented) builds and holds in `held`: prints
    "mule-fit <free before> <free after> ''", or "mule-fit <free before> -1 <the MemoryError>"
    (`held` dropped and the heap collected first)."""
    return ("import gc\ngc.collect()\nf0 = gc.mem_free()\ntry:\n" + body
            + "    gc.collect()\n    print('mule-fit', f0, gc.mem_free(), '')\n"
            + f"except MemoryError as exc:\n    {held} = None\n    gc.collect()\n"
            + "    print('mule-fit', f0, -1, repr(exc))\n")


# Run with the build folder mounted (mpremote mount): the board imports the firmware, the
# decoder and the rule tables and builds app.Board as its boot does (app.start; replay over
# the link), on its own word size and allocator, without a file copied onto it. The port is
# not opened (mpremote has it): its module is held whole, where the boot keeps one class of it.
_FIT_PROBE = _fit_script("    import app, host_port\n    b = app.Board({cfg!r}, None)\n", "b")
# Supervision apart, first in a heap of its own (its lookup is not called while it starts):
# the mount's own code would otherwise fragment the heap its large tables need.
_FIT_SUPERVISION = _fit_script(
    "    import supervise, supervise_rules as r\n    gc.collect()\n"
    "    print('mule-sup', f0 - gc.mem_free(), r.MESSAGES, r.SIG_TAB_BYTES, r.CX_BYTES, r.RING_SIZE, "
    "len(r.RULES), r.SIGNALS)\n"
    "    s = supervise.Supervisor(r, None, None)\n", "s")


@dataclass
class Fit:
    free: int  # the board's heap free at its REPL
    need: int | None  # what start-up takes (None: it ran out of memory)
    problem: str | None  # why it does not fit (MemoryError, supervision off), else None
    base: int | None = None  # what start-up takes without supervision
    supervision: int | None = None  # what supervision takes (estimated when it ran out of memory)

    def without_supervision(self) -> "Fit":
        return Fit(self.free, self.base, None, self.base)

    def left(self) -> int | None:
        return None if self.need is None else self.free - self.need


def _run_probe(port: str, build_dir: Path, script: str, timeout: float) -> tuple[int, int | None, str, list[int]]:
    out = mpremote(port, "exec", _FIT_FREE, "mount", "-l", str(build_dir), "exec", script, timeout=timeout)
    free = next((line.split() for line in out.splitlines() if line.startswith("mule-free ")), [])
    fit = next((line.split(None, 3) for line in out.splitlines() if line.startswith("mule-fit ")), [])
    sup = next((line.split()[1:] for line in out.splitlines() if line.startswith("mule-sup ")), [])
    try:
        board_free, f0, after = int(free[1]), int(fit[1]), int(fit[2])
        sizes = [int(v) for v in sup]
    except (IndexError, ValueError):
        raise FlashError(f"{port}: unexpected answer while weighing the firmware: "
                         f"{printable(out.strip()[-300:])!r}") from None
    return board_free, None if after < 0 else f0 - after, fit[3] if len(fit) > 3 else "", sizes


def supervisor_array_bytes(messages: int, sig_tab: int, cx: int, ring: int, rules: int, signals: int) -> int:
    """The int32 arrays supervise.Supervisor allocates for rule tables of these sizes (its
    __init__), each with ~32 B of object and allocator overhead: what supervision needs
    beyond its module and rules when the board ran out of memory building them."""
    rows = signals
    arrays = {"st": 4 * (16 + 10 * messages) + sig_tab, "cx": cx, "runs": 4 * 5 * messages,
              "run_last": 4 * 5 * messages, "range_runs": 4 * rows, "range_last": 4 * messages,
              "ring_st": 12 * rules}  # the rings are in cx
    return sum(arrays.values()) + 32 * len(arrays)


def measure_fit(port: str, build_dir: Path, config: dict, timeout: float = 120) -> Fit:
    """What the firmware built in build_dir takes on the board's heap at start-up, measured
    on the board itself, on its word size (the folder mounted over the serial link with
    mpremote mount, nothing copied): the firmware and decoder as app.Board starts them
    (replay over the link), plus supervision's module, rules and tables, each after a
    fresh soft reset."""
    cfg = {k: v for k, v in config.items() if k not in HOST_ONLY}
    cfg.update(mode="replay", replay_path="link", supervise=False)  # no controller opened
    cfg.setdefault("decimation", 1)
    free, need, problem, _ = _run_probe(port, build_dir, _FIT_PROBE.format(cfg=cfg), timeout)
    base, sup_need = need, None
    if config.get("supervise", True):
        _, sup_need, sup_problem, sizes = _run_probe(port, build_dir, _FIT_SUPERVISION, timeout)
        need = None if sup_need is None or need is None else need + sup_need
        problem = f"supervision: {sup_problem}" if sup_need is None and base is not None else problem
        if sup_need is None and len(sizes) == 7:  # its module and rules measured, its arrays counted
            sup_need = sizes[0] + supervisor_array_bytes(*sizes[1:])
    if base is None:  # the mount's own code and buffers take heap the real boot has: not conclusive
        raise FitUnknown(f"the firmware ran out of memory beside mpremote mount ({problem}); "
                         "if the board stops at boot, decode fewer messages (--messages/--nodes)",
                         Fit(free, None, problem, None, sup_need))
    return Fit(free, need, problem or None, base, sup_need)


def check_fit(fit: Fit, config: dict, dbc: Dbc, port: str) -> None:
    """Refuse, with the numbers and what to do, a firmware that leaves less than FIT_MARGIN free."""
    supervise = config.get("supervise", True)
    fixes = ["decode fewer messages (--messages NAME,... or --nodes ECU,...)"]
    if supervise:
        fixes.append("flash without supervision (--set supervise=false)")
    fixes.append("or use a board with more RAM")
    what = (f"the firmware with the decoder of {len(dbc.messages)} messages of {dbc.path.name}"
            + (" and its supervision tables" if supervise else ""))
    if fit.need is None:
        why = fit.problem or "MemoryError"
        raise FlashError(f"refused, nothing was copied: {what} does not fit on {port}: the board has "
                         f"{fit.free:,} B of heap free and ran out of memory starting it "
                         f"({why}); " + ", ".join(fixes))
    if fit.left() < FIT_MARGIN:
        raise FlashError(f"refused, nothing was copied: {what} needs {fit.need:,} B of heap at start-up on "
                         f"{port}, which has {fit.free:,} B free: {fit.left():,} B would be left, under the "
                         f"{FIT_MARGIN:,} B margin streaming needs; " + ", ".join(fixes))


def supervision_off(fit: Fit, dbc: Dbc) -> str | None:
    """For a firmware that fits only without supervision: the one line saying so, with the
    numbers; else None."""
    fix = "(--messages/--nodes decode fewer; --set supervise=false turns it off without this check)"
    if fit.base is None:  # the firmware itself could not be weighed: off only if it could never fit
        if fit.supervision is None or fit.supervision + FIT_MARGIN <= fit.free:
            return None
        return (f"supervision off: it needs {fit.supervision / 1024:.1f} KB of heap and the board has "
                f"{fit.free / 1024:.1f} KB free before the firmware and the decoder of {len(dbc.messages)} "
                f"messages {fix}")
    if fit.need is not None and fit.left() >= FIT_MARGIN or fit.free - fit.base < FIT_MARGIN:
        return None
    needs = f"{fit.supervision / 1024:.1f} KB" if fit.supervision is not None else "more than that"
    return (f"supervision off: it needs {needs} of heap and the board has {(fit.free - fit.base) / 1024:.1f} KB "
            f"free beside the decoder of {len(dbc.messages)} messages, {FIT_MARGIN // 1024} KB of which streaming "
            f"needs {fix}")


def _supervision_off(fit: Fit, dbc: Dbc, config: dict, build_dir: Path, log) -> dict:
    """config with supervision off (and the build's config file rewritten, said in one line)
    when only that makes the firmware fit; else config as it was."""
    line = supervision_off(fit, dbc)
    if not line:
        return config
    log(line)
    config = {**config, "supervise": False}
    (build_dir / CONFIG_NAME).write_text(json.dumps({k: v for k, v in config.items() if k not in HOST_ONLY},
                                                    indent=1) + "\n")
    return config


def copy_to_board(port: str, files: list[Path]) -> None:
    # one mpremote session: a soft reset in the raw REPL (main.py does not run), then copies.
    # Into the working folder by its name: FAT (a Pyboard's /flash) cannot stat "." (EINVAL),
    # so mpremote would call ":./" "not a directory".
    # SAFE_MODE while copying: a copy cut short leaves the board booting to its REPL, not
    # into half a firmware (MicroPython's loader can spin for ever on a truncated .mpy, deaf
    # to Ctrl-C). Removed once every file is there, so a user's SAFE_MODE goes too.
    cwd = mpremote(port, "exec", "import os\nf = open('SAFE_MODE', 'w')\nf.write('mule flash: copying')\n"
                                 "f.close()\nprint(os.getcwd())").strip().splitlines()[-1]
    mpremote(port, "fs", "cp", *map(str, files), ":" + cwd.rstrip("/") + "/", "+",
             "exec", "import os; os.remove('SAFE_MODE')", timeout=120)


@dataclass
class Boot:
    """What the board did after the soft reset: "link" (the firmware speaks the link),
    "repl" (it came back to the REPL: the firmware did not start or stopped) or "quiet"
    (neither within the time given); `raw`: its output after "soft reboot"."""

    state: str
    raw: bytes

    def text(self) -> str:
        """What the board printed outside link frames (a traceback), printable, without
        the REPL's banner and prompt."""
        raw = self.raw.rsplit(b"\x00", 1)[-1] if self.state != "quiet" else self.raw
        lines = []
        for line in raw.decode("utf-8", "replace").splitlines():
            line = line.rstrip("\r")
            if (not line.strip() or line.startswith(">>>") or line.startswith('Type "help()"')
                    or (line.startswith("MicroPython ") and " on " in line)):
                continue
            lines.append(printable(line))
        return "\n".join(lines)

    def logs(self) -> list:
        """The LOG messages among the link frames (e.g. a mule_config.json the board refused)."""
        from host_tools.link import messages as m

        out = []
        for frame in m.host_receiver().feed(self.raw):
            if frame.type == m.LOG:
                out.append(m.decode_frame(frame))
        return out


def restart(port: str, timeout: float = 10.0, linger: float = 0.5) -> Boot:
    """Soft-reset from the friendly REPL, as pressing Ctrl-D at the prompt: runs main.py.
    Watches what the board says until its firmware speaks the link (a frame's 0x00) and
    `linger` s more (a firmware that fails right after its HELLO prints why), or until it
    is back at the REPL prompt, or for `timeout` s."""
    with serial.serial_for_url(port, timeout=0.05) as link:
        link.write(b"\r\x02")  # Ctrl-B: leave the raw REPL if mpremote left it there
        deadline = time.monotonic() + 5
        seen = b""
        while b">>> " not in seen and time.monotonic() < deadline:
            seen += link.read(link.in_waiting or 1)
        if b">>> " not in seen:
            raise FlashError(f"{port}: the board did not show its REPL prompt after flashing")
        while link.read(256) and time.monotonic() < deadline:
            pass  # the rest of what Ctrl-B printed: Ctrl-D must meet an idle prompt
        link.write(b"\x04")
        link.flush()
        out = b""
        state = "quiet"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out += link.read(link.in_waiting or 1)
            if b"soft reboot" not in out:
                continue
            after = out.split(b"soft reboot", 1)[1]
            if b">>> " in after.rsplit(b"\x00", 1)[-1]:
                return Boot("repl", after)
            if state == "quiet" and b"\x00" in after:
                state = "link"
                deadline = min(deadline, time.monotonic() + linger)
        return Boot(state, out.split(b"soft reboot", 1)[-1])


def quoted(text: str) -> str:
    return "\n".join("    | " + line for line in text.splitlines())


def remove_shadowing_sources(port: str, names: list[str]) -> None:
    """MicroPython imports x.py before x.mpy: drop old sources of modules we install as .mpy."""
    listing = ", ".join(repr(n) for n in names)
    mpremote(port, "exec", f"import os\nfor n in ({listing},):\n    try:\n        os.remove(n)\n"
                           "    except OSError:\n        pass\n")


def stop_streaming(port: str, dbc: Dbc) -> bool:
    """Ask running mule firmware to return to the REPL (it ignores Ctrl-C while streaming)."""
    from host_tools.link.session import BoardLink, LinkError

    try:
        with BoardLink(port, dbc) as link:
            return link.stop(timeout=1.5)
    except LinkError:
        return False


@dataclass
class FlashReport:
    port: str
    info: BoardInfo
    files: list
    hello: object


def flash(dbc: Dbc, port: str, config: dict, build_dir: Path, log=print,
          hello_timeout: float = 10.0, stop_first: bool = True, check_fit_first: bool = True,
          supervision_if_it_fits: bool = False) -> FlashReport:
    """Build, copy, restart, and check the HELLO's DBC hash. Raises FlashError.
    stop_first=False: the board is known to be at its REPL (no STOP, no wait for its answer).
    check_fit_first=False: copy without weighing the firmware on the board first (measure_fit).
    supervision_if_it_fits: a firmware that fits only without supervision is flashed without
    it, saying so in one line (`mule replay`'s own board), instead of being refused."""
    from host_tools.link.session import BoardLink, LinkError

    problems = check_settings(config)
    if problems:
        raise FlashError("refused, nothing was copied: " + "; ".join(problems))
    if port.startswith("/dev/") and not Path(port).exists():
        raise FlashError(f"{port}: no such serial port (is the board plugged in? `ls /dev/ttyACM*`)")
    if stop_first and stop_streaming(port, dbc):
        log(f"{port}: the running firmware stopped streaming")
    info = board_info(port)
    can = ", ".join(info.can_controllers() + (["machine.SPI"] if info.spi else [])) or "no CAN controller"
    log(f"{port}: MicroPython {info.version} on {info.platform}, native code: {info.arch or 'none'}, {can}")
    check_board(config, info)
    files = build_firmware(dbc, build_dir, info.arch, config)
    if check_fit_first:
        try:
            fit = measure_fit(port, build_dir, config)
        except FlashError as exc:  # not memory (e.g. no mpremote mount there): the boot will say
            fit = getattr(exc, "fit", None)
            if fit is not None and supervision_if_it_fits and "supervise" not in config:
                config = _supervision_off(fit, dbc, config, build_dir, log)
            log(f"{port}: could not weigh the firmware on the board, copying anyway: {exc}")
        else:
            if supervision_if_it_fits and "supervise" not in config:
                config = _supervision_off(fit, dbc, config, build_dir, log)
                if config.get("supervise") is False:
                    fit = fit.without_supervision()
            check_fit(fit, config, dbc, port)
            log(f"{port}: start-up takes {fit.need:,} B of the board's {fit.free:,} B of heap, "
                f"{fit.left():,} B left (at least {FIT_MARGIN:,} B needed)")
    remove_shadowing_sources(port, [f.with_suffix(".py").name for f in files if f.suffix == ".mpy"])
    copy_to_board(port, files)
    log(f"{port}: copied {', '.join(f.name for f in files)}")
    started = time.monotonic()
    boot = restart(port, hello_timeout)
    if boot.state == "repl":
        raise FlashError(f"{port}: the firmware did not start; the board said:\n{quoted(boot.text() or '(nothing)')}")
    try:
        with BoardLink(port, dbc) as link:
            hello = link.sync(timeout=max(2.0, hello_timeout - (time.monotonic() - started)))
    except LinkError as exc:
        said = boot.text()
        if said:
            raise FlashError(f"{port}: no HELLO from the firmware; the board said:\n{quoted(said)}") from None
        raise FlashError(f"{exc}; the board's REPL may show why (mpremote connect {port} repl)") from None
    if hello.dbc_sha256.hex() != dbc.sha256:
        raise FlashError(f"{port}: the board decodes with DBC sha256 {hello.dbc_sha256.hex()[:12]}…, "
                         f"not {dbc.path.name} ({dbc.sha256[:12]}…): flashing did not take")
    log(f"{port}: HELLO from '{printable(hello.board)}' ({printable(hello.fw_version)}), boot {hello.boot_id:#x}, "
        f"DBC {dbc.path.name} sha256 {dbc.sha256[:12]}… matches, heap free after start-up {hello.heap_free:,} B")
    for message in boot.logs():
        log(f"{port}: the board says: {printable(message.text)}")
    return FlashReport(port, info, files, hello)
