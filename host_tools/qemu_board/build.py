"""Build the emulated Pyboard's firmware: MicroPython's qemu port for QEMU's mps2-an386
(Cortex-M4F, float32, armv7emsp) with this package's board folder, once per heap size,
into build/qemu-<hash of the inputs>/, reused while the inputs are unchanged.

    python -m host_tools.qemu_board.build [--heap 100K] [--install]

The source: $MICROPYTHON_SRC (a MicroPython checkout of commit 1c3c201), else the pruned
tarball in ../shared/micropython/ unpacked into build/. The toolchain: Debian's
gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm (--install: apt-get, as root).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from host_tools import REPO_ROOT
from host_tools.tools import ToolMissing

BOARD = "MULE_PYBOARD"
BOARD_DIR = Path(__file__).resolve().parent / "boards" / BOARD
# the virtual CAN bus's machine.CAN, frozen into the firmware too (the board folder's manifest.py)
FROZEN_VCAN = Path(__file__).resolve().parent.parent / "vcan" / "mp"
FROZEN_VCAN_FILES = ("can_model.py", "machine_can.py", "mule_vcan.py")
# heap built in beyond the board's for the frozen machine.CAN's objects when a virtual CAN bus is
# attached (the firmware takes it off again without one: vcan_link.c); measured: the frozen
# modules' objects and a controller with its buffers and 8 filters (test_vboard_qemu_can.py)
VCAN_HEAP = 4096
BUILD_ROOT = REPO_ROOT / "build"
TARBALL = REPO_ROOT.parent / "shared" / "micropython" / "micropython-1c3c201.tar.gz"
APT_PACKAGES = ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "qemu-system-arm")
DEFAULT_HEAP = 100 * 1024  # a Pyboard v1.1's heap, about
MIN_HEAP = 32 * 1024  # below this MicroPython's own start-up and the REPL do not fit
MAX_HEAP = 3 * 1024 * 1024
RECIPE = "3"  # bump when build() changes how the firmware is made (part of the inputs' hash)  # the firmware lives in the machine's 4 MB SSRAM1 with it


class BuildError(ToolMissing):
    """The firmware cannot be built here; the message says why and what to do (the CLI
    prints it as a user error, as for a missing tool)."""


@dataclass
class Firmware:
    elf: Path
    heap: int
    build_seconds: float | None  # None: reused from an earlier build


def parse_heap(text: str | int | None, maximum: int | None = None) -> int:
    """Bytes from "100K", "1M", "65536"; refuses what no board can run with."""
    if text is None:
        return DEFAULT_HEAP
    if isinstance(text, int):
        size = text
    else:
        raw = text.strip().upper()
        scale = {"K": 1024, "M": 1024 * 1024}.get(raw[-1:], 1)
        digits = raw[:-1] if scale > 1 else raw
        if not digits.isdigit():
            raise ValueError(f"heap {text!r}: give a size in bytes, or with K or M, e.g. 100K")
        size = int(digits) * scale
    if size < MIN_HEAP:
        raise ValueError(f"heap {text}: below {MIN_HEAP // 1024}K MicroPython cannot start the firmware "
                         f"(a Pyboard v1.1 has about 100K); give at least {MIN_HEAP // 1024}K")
    if maximum is not None and size > maximum:
        raise ValueError(f"heap {text}: above {maximum // (1024 * 1024)}M it does not fit the emulated "
                         "board's RAM beside the firmware")
    return size


def missing_tools() -> list[str]:
    """The Debian packages this machine lacks for building and running the board."""
    missing = []
    if not shutil.which("arm-none-eabi-gcc"):
        missing += ["gcc-arm-none-eabi", "libnewlib-arm-none-eabi"]
    else:
        libc = subprocess.run(["arm-none-eabi-gcc", "-print-file-name=libc.a"], capture_output=True, text=True)
        if not Path(libc.stdout.strip()).is_absolute():
            missing.append("libnewlib-arm-none-eabi")
    if not shutil.which("qemu-system-arm"):
        missing.append("qemu-system-arm")
    if not shutil.which("make"):
        missing.append("make")
    return missing


def ensure_toolchain(install: bool, log=print) -> None:
    missing = missing_tools()
    if not missing:
        return
    command = "apt-get install -y " + " ".join(missing)
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        log(f"installing {' '.join(missing)} (apt-get, ~90 s)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
            if subprocess.run(cmd, env=env).returncode != 0:
                raise BuildError(f"`{' '.join(cmd)}` failed; install them by hand: sudo {command}")
        missing = missing_tools()
        if not missing:
            return
    raise BuildError(f"the emulated Pyboard needs {', '.join(missing)}: run `sudo apt-get update && sudo "
                     f"{command}` (Debian/Ubuntu), then `make qemu`")


def source_tree(log=print) -> tuple[Path, str]:
    """(MicroPython's top folder, a string naming exactly which source it is)."""
    env = os.environ.get("MICROPYTHON_SRC")
    if env:
        top = Path(env).expanduser().resolve()
        if not (top / "ports" / "qemu" / "Makefile").exists():
            raise BuildError(f"MICROPYTHON_SRC={env}: no ports/qemu/Makefile there; point it at a MicroPython "
                             "checkout (commit 1c3c201)")
        rev = subprocess.run(["git", "-C", str(top), "rev-parse", "HEAD"], capture_output=True, text=True)
        return top, f"src:{top}:{rev.stdout.strip() or 'no git'}"
    if not TARBALL.exists():
        raise BuildError(f"no MicroPython source: {TARBALL} is missing; set MICROPYTHON_SRC to a MicroPython "
                         "checkout of commit 1c3c201 (git clone https://github.com/micropython/micropython; "
                         "git checkout 1c3c201)")
    digest = hashlib.sha256(TARBALL.read_bytes()).hexdigest()
    top = BUILD_ROOT / f"micropython-{digest[:12]}"
    stamp = top / ".unpacked"
    if not stamp.exists():
        log(f"unpacking {TARBALL.name} into {top.relative_to(REPO_ROOT)}")
        partial = top.with_name(top.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        with tarfile.open(TARBALL) as tar:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuse links out of the tree
                tar.extractall(partial, filter="data")
            else:
                tar.extractall(partial)
        inner = [p for p in partial.iterdir() if p.is_dir()]
        root = inner[0] if len(inner) == 1 and not (partial / "py").exists() else partial
        shutil.rmtree(top, ignore_errors=True)
        root.rename(top)
        shutil.rmtree(partial, ignore_errors=True)
        stamp.write_text(digest + "\n")
    return top, f"tarball:{digest}"


def _toolchain_version() -> str:
    out = []
    for cmd in (["arm-none-eabi-gcc", "--version"], ["qemu-system-arm", "--version"]):
        result = subprocess.run(cmd, capture_output=True, text=True)
        out.append(result.stdout.splitlines()[0] if result.stdout else "")
    return "|".join(out)


def inputs_hash(source_id: str, heap: int) -> str:
    h = hashlib.sha256()
    for part in (source_id, str(heap), _toolchain_version(), RECIPE, str(VCAN_HEAP)):
        h.update(part.encode() + b"\0")
    for path in sorted(BOARD_DIR.iterdir()) + [FROZEN_VCAN / name for name in FROZEN_VCAN_FILES]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def firmware_path(heap: int | str | None = None) -> Path | None:
    """The built firmware for this heap if it is up to date, else None (nothing is built)."""
    heap = parse_heap(heap)
    try:
        _, source_id = _source_id_without_unpacking()
    except BuildError:
        return None
    if missing_tools():
        return None
    out = BUILD_ROOT / f"qemu-{inputs_hash(source_id, heap)}"
    elf = out / "firmware.elf"
    return elf if (out / "stamp").exists() and elf.exists() else None


def _source_id_without_unpacking() -> tuple[Path | None, str]:
    if os.environ.get("MICROPYTHON_SRC") or not TARBALL.exists():
        return source_tree()
    digest = hashlib.sha256(TARBALL.read_bytes()).hexdigest()
    return None, f"tarball:{digest}"


def build(heap: int | str | None = None, install: bool = False, log=print) -> Firmware:
    """The firmware for this heap size: built once, then reused. Raises BuildError."""
    heap = parse_heap(heap, MAX_HEAP)
    ensure_toolchain(install, log)
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    with open(BUILD_ROOT / ".qemu-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs or CLIs building at once
        top, source_id = source_tree(log)
        out = BUILD_ROOT / f"qemu-{inputs_hash(source_id, heap)}"
        elf = out / "firmware.elf"
        if (out / "stamp").exists() and elf.exists():
            return Firmware(elf, heap, None)
        started = time.monotonic()
        jobs = str(os.cpu_count() or 2)
        mpy_cross = BUILD_ROOT / f"mpy-cross-{hashlib.sha256(source_id.encode()).hexdigest()[:12]}"
        mpy_cross_exe = mpy_cross / "mpy-cross"
        if not mpy_cross_exe.exists():
            log("building mpy-cross (~10 s)")
            _make(top / "mpy-cross", ["BUILD=" + str(mpy_cross), "-j" + jobs], log)
        log(f"building the emulated Pyboard's firmware, heap {heap // 1024}K (~15 s), into "
            f"{out.relative_to(REPO_ROOT)}")
        shutil.rmtree(out, ignore_errors=True)
        # the tarball sits inside this project's git repo: name MicroPython's version ourselves
        env = {} if source_id.startswith("src:") else {"MICROPY_GIT_TAG": "v1.29.0-preview.731.g1c3c201",
                                                        "MICROPY_GIT_HASH": "1c3c201"}
        _make(top / "ports" / "qemu", [
            f"BOARD={BOARD}", f"BOARD_DIR={BOARD_DIR}", f"BUILD={out}", f"MICROPY_HEAP_SIZE={heap + VCAN_HEAP}",
            f"CFLAGS_EXTRA=-DMULE_VCAN_HEAP={VCAN_HEAP}",
            f"MICROPY_MPYCROSS={mpy_cross_exe}", "MICROPY_MPYCROSS_DEPENDENCY=", f"-j{jobs}",
            f"{out}/firmware.elf"], log, env)
        seconds = time.monotonic() - started
        (out / "stamp").write_text(f"{inputs_hash(source_id, heap)}\nheap {heap}\nsource {source_id}\n"
                                   f"built in {seconds:.1f} s\n")
        log(f"built {elf.relative_to(REPO_ROOT)} in {seconds:.0f} s")
        return Firmware(elf, heap, seconds)


def _make(folder: Path, args: list[str], log, env: dict | None = None) -> None:
    result = subprocess.run(["make", "-C", str(folder), *args], capture_output=True, text=True,
                            env=dict(os.environ, **(env or {})))
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise BuildError(f"`make -C {folder}` failed:\n{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m host_tools.qemu_board.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heap", default="100K", help="the board's heap, e.g. 100K (one firmware per size)")
    parser.add_argument("--install", action="store_true",
                        help="install missing Debian packages with apt-get when running as root")
    parser.add_argument("--if-possible", action="store_true",
                        help="when the toolchain or source cannot be had, say why and exit 0 "
                             "(the qemu tests then skip with that reason)")
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        print(f"qemu board: {text}", file=sys.stderr)

    try:
        firmware = build(args.heap, install=args.install, log=log)
    except ValueError as exc:
        log(str(exc))
        return 2
    except BuildError as exc:
        log(str(exc))
        return 0 if args.if_possible else 1
    if firmware.build_seconds is None:
        log(f"{firmware.elf.relative_to(REPO_ROOT)} is up to date (heap {firmware.heap // 1024}K)")
    print(firmware.elf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
