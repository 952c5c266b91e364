"""`mule flash` as a library: build the firmware for a board's architecture, copy it with
mpremote, restart the board and check that it answers with the DBC we built from."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import serial

from host_tools import REPO_ROOT
from host_tools.codegen.build import compile_mpy, write_decoder
from host_tools.dbc import Dbc
from host_tools.tools import tool

FIRMWARE = REPO_ROOT / "firmware"
DECODER_MODULE = "dbc_decoder"  # the name main.py imports
CONFIG_NAME = "mule_config.json"
# sys.implementation._mpy >> 10: the native architecture of a MicroPython build
ARCHS = {1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m", 6: "armv7em", 7: "armv7emsp",
         8: "armv7emdp", 9: "xtensa", 10: "xtensawin", 11: "rv32imc", 12: "rv64imc"}


class FlashError(Exception):
    pass


@dataclass
class BoardInfo:
    arch: str | None  # None: no native code (bytecode only)
    platform: str
    version: str


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


def board_info(port: str) -> BoardInfo:
    out = mpremote(port, "exec", "import sys; print(sys.implementation._mpy, sys.platform, "
                                 "'.'.join(str(v) for v in sys.implementation.version[:3]))")
    try:
        mpy, platform, version = out.split()[-3:]
        arch = ARCHS.get(int(mpy) >> 10)
    except ValueError:
        raise FlashError(f"{port}: unexpected answer from the board: {out.strip()!r}") from None
    return BoardInfo(arch, platform, version)


def build_firmware(dbc: Dbc, out_dir: Path, arch: str | None, config: dict) -> list[Path]:
    """Everything the board needs, in out_dir: main.py, the other firmware modules and
    the decoder and the supervision rule tables compiled for `arch`, and the config file.
    config["supervision"], if given, overrides the rules' defaults (docs/supervision.md);
    it goes into the tables, not onto the board's config file."""
    from host_tools.supervise import RULES_MODULE, write_rules

    if arch is None:
        raise FlashError("this MicroPython build has no native code emitter (sys.implementation._mpy names no "
                         "architecture); the firmware's link, supervision and per-frame loop are viper and native "
                         "code, so it needs a port built with one (STM32, RP2 and ESP32 builds are)")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    files = []
    decoder = write_decoder(dbc, out_dir / f"{DECODER_MODULE}.py", "viper")
    files.append(compile_mpy(decoder, arch))
    decoder.unlink()
    rules, tables = write_rules(dbc, out_dir / f"{RULES_MODULE}.py", config.get("supervision"))
    files += [compile_mpy(rules, arch), tables]
    rules.unlink()
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


def copy_to_board(port: str, files: list[Path]) -> None:
    # one mpremote session: a soft reset in the raw REPL (main.py does not run), then copies.
    # Into the working folder by its name: FAT (a Pyboard's /flash) cannot stat "." (EINVAL),
    # so mpremote would call ":./" "not a directory".
    cwd = mpremote(port, "exec", "import os; print(os.getcwd())").strip().splitlines()[-1]
    mpremote(port, "fs", "cp", *map(str, files), ":" + cwd.rstrip("/") + "/", timeout=120)


def restart(port: str) -> None:
    """Soft-reset from the friendly REPL, as pressing Ctrl-D at the prompt: runs main.py."""
    with serial.serial_for_url(port, timeout=0.2) as link:
        link.write(b"\r\x02")  # Ctrl-B: leave the raw REPL if mpremote left it there
        deadline = time.monotonic() + 5
        seen = b""
        while b">>> " not in seen and time.monotonic() < deadline:
            seen += link.read(link.in_waiting or 1)
        if b">>> " not in seen:
            raise FlashError(f"{port}: the board did not show its REPL prompt after flashing")
        link.write(b"\x04")
        link.flush()


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
          hello_timeout: float = 10.0) -> FlashReport:
    """Build, copy, restart, and check the HELLO's DBC hash. Raises FlashError."""
    from host_tools.link.session import BoardLink, LinkError

    if port.startswith("/dev/") and not Path(port).exists():
        raise FlashError(f"{port}: no such serial port (is the board plugged in? `ls /dev/ttyACM*`)")
    if stop_streaming(port, dbc):
        log(f"{port}: the running firmware stopped streaming")
    info = board_info(port)
    log(f"{port}: MicroPython {info.version} on {info.platform}, native code: {info.arch or 'none'}")
    files = build_firmware(dbc, build_dir, info.arch, config)
    remove_shadowing_sources(port, [f.with_suffix(".py").name for f in files if f.suffix == ".mpy"])
    copy_to_board(port, files)
    log(f"{port}: copied {', '.join(f.name for f in files)}")
    restart(port)
    try:
        with BoardLink(port, dbc) as link:
            hello = link.sync(timeout=hello_timeout)
    except LinkError as exc:
        raise FlashError(f"{exc}; the board's REPL may show why (mpremote connect {port} repl)") from None
    if hello.dbc_sha256.hex() != dbc.sha256:
        raise FlashError(f"{port}: the board decodes with DBC sha256 {hello.dbc_sha256.hex()[:12]}…, "
                         f"not {dbc.path.name} ({dbc.sha256[:12]}…): flashing did not take")
    log(f"{port}: HELLO from '{hello.board}' ({hello.fw_version}), boot {hello.boot_id:#x}, "
        f"DBC {dbc.path.name} sha256 {dbc.sha256[:12]}… matches")
    return FlashReport(port, info, files, hello)
