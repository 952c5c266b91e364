"""mypy for MicroPython code: firmware/ checked against the Pyboard's own modules.

The stub packages (micropython-stdlib-stubs, micropython-stm32-stubs) install loose .pyi
files into site-packages, where mypy does not look for them. This module lays them out as
a custom typeshed (`stdlib/` holds both, so `time`, `gc`, `pyb`, ... are the board's
standard library and CPython's never answers), applies the few corrections listed in
STUB_CORRECTIONS, and runs mypy with mypy.ini beside this file.

By hand: .venv/bin/python tests/firmware/static_checks/firmware_mypy.py [files...]
(default: firmware/*.py).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "mypy.ini"
STDLIB_STUBS = "micropython-stdlib-stubs"
BOARD_STUBS = "micropython-stm32-stubs"

# (file, class, old, new, why): text the stubs get wrong about MicroPython 1.29 on STM32.
# Each must match exactly once, so a new stub release that fixes or moves it fails loudly.
_CAN_INIT_SHARED = """        /,
        extframe: bool = False,
        prescaler: int = 100,
        *,
        sjw: int = 1,
        bs1: int = 6,
        bs2: int = 8,
        auto_restart: bool = False,
"""  # the parameters both signatures have after mode
_CAN_INIT_OLD = """    def __init__(
        self,
        bus: int | str,
        mode: int,
""" + _CAN_INIT_SHARED + """    ) -> None:"""
_CAN_INIT_NEW = """    def __init__(
        self,
        bus: int | str,
        mode: int = ...,
""" + _CAN_INIT_SHARED + """        baudrate: int = 0,
        sample_point: int = 75,
        num_filter_banks: int = 14,
        brs_prescaler: int = 1,
        brs_sjw: int = 1,
        brs_bs1: int = 8,
        brs_bs2: int = 3,
        brs_baudrate: int = 0,
        brs_sample_point: int = 0,
    ) -> None:"""
_STREAM_WRITE_WHY = ("write is MicroPython's stream write (py/stream.c): write(buf, max_len) "
                     "sends the first max_len bytes without slicing (no allocation)")
_SETFILTER_WHY = ("pyb.CAN.setfilter takes extframe=False (ports/stm32/pyb_can.c, 1.29; the stub's own "
                  "docstring describes it), which the stub's signatures lack")
_LIST_WHY = ("list is invariant, so a parameter typed list[int | bool | memoryview] rejects every list "
             "unannotated code can build ([0, False, False, 0, memoryview(buf)] is list[object]); "
             "the board only needs a list of the right length")
_TICKS_INIT = "    def __init__(self, value: int, /) -> None: ..."
_TICKS_AND = "\n    def __and__(self, mask: int, /) -> int: ..."
_TICKS_WHY = ("ticks are small ints below the ticks period on the board; masking one to a fixed width "
              "(ticks_us() & 0x3FFFFFFF, the replay records' 30-bit time) is well defined, while + and - "
              "stay refused: they must wrap through ticks_add/ticks_diff")
STUB_CORRECTIONS = [
    ("pyb.pyi", "CAN", _CAN_INIT_OLD, _CAN_INIT_NEW,
     "pyb.CAN(bus, mode, ...) passes every keyword to CAN.init() (pyb_can_make_new), "
     "and CAN(bus) alone is allowed; the stub's constructor lacks baudrate and the rest"),
    ("pyb.pyi", "USB_VCP", "    def write(self, buf: AnyReadableBuf, /) -> int:",
     "    def write(self, buf: AnyReadableBuf, max_len: int = ..., /) -> int:", _STREAM_WRITE_WHY),
    ("machine.pyi", "UART", "    def write(self, buf: AnyReadableBuf, /) -> int | None:",
     "    def write(self, buf: AnyReadableBuf, max_len: int = ..., /) -> int | None:",
     _STREAM_WRITE_WHY),
    ("pyb.pyi", "CAN", "    def setfilter(self, bank: int, mode: int, fifo: int, params: Sequence[int], /) -> None:",
     "    def setfilter(self, bank: int, mode: int, fifo: int, params: Sequence[int], /, *, "
     "extframe: bool = False) -> None:", _SETFILTER_WHY),
    ("pyb.pyi", "CAN", "        rtr: Sequence[bool],\n    ) -> None:",
     "        rtr: Sequence[bool],\n        extframe: bool = False,\n    ) -> None:", _SETFILTER_WHY),
    ("pyb.pyi", "CAN", "def recv(self, fifo: int, list: list[int | bool | memoryview], /,",
     "def recv(self, fifo: int, list: list[Any], /,", _LIST_WHY),
    ("_mpy_shed/time_mp.pyi", "_TicksMs", _TICKS_INIT, _TICKS_INIT + _TICKS_AND, _TICKS_WHY),
    ("_mpy_shed/time_mp.pyi", "_TicksUs", _TICKS_INIT, _TICKS_INIT + _TICKS_AND, _TICKS_WHY),
    ("machine.pyi", "CAN", "    def get_counters(self, list: __CANCounters | None = None, /) -> __CANCounters:",
     "    def get_counters(self, list: list[Any] | None = None, /) -> __CANCounters:", _LIST_WHY),
]

_LINE = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+): (?P<severity>error|note): (?P<message>.*?)"
                   r"(?:  \[(?P<code>[a-z-]+)\])?$")


class StubError(RuntimeError):
    """The installed stubs are not the ones this check was written against."""


def _sha256_record(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _stub_files(dist_name: str):
    """(relative path parts, bytes) of every .pyi a stub distribution installed, each
    checked against the wheel's RECORD: another port's stubs overwrite machine.pyi & co."""
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise StubError(f"{dist_name} is not installed: run `make setup` (it is in the dev extras)") from None
    for f in dist.files or []:
        if f.suffix != ".pyi":
            continue
        data = Path(f.locate()).read_bytes()
        if f.hash is not None and _sha256_record(data) != f"{f.hash.mode}={f.hash.value}":
            raise StubError(f"{f.locate()} is not the file {dist_name} installed (another port's stub "
                            f"package overwrote it?): reinstall {dist_name} alone")
        yield f.parts, data


def class_span(text: str, cls: str) -> tuple[int, int] | None:
    """Where the body of top-level `class cls` is in a stub's text."""
    start = re.search(rf"^class {cls}\b.*:$", text, re.M)
    if start is None:
        return None
    end = re.compile(r"^\S", re.M).search(text, start.end())
    return start.end(), end.start() if end else len(text)


def _correct(stdlib: Path) -> None:
    for name, cls, old, new, why in STUB_CORRECTIONS:
        path = stdlib / name
        text = path.read_text()
        span = class_span(text, cls)
        if span is None:
            raise StubError(f"{name}: no class {cls}; correction no longer applies ({why})")
        start, stop = span
        body = text[start:stop]
        if body.count(old) != 1:
            raise StubError(f"{name} class {cls}: the text to correct was found {body.count(old)} times, "
                            f"not once: check whether the stubs fixed it ({why})")
        path.write_text(text[:start] + body.replace(old, new) + text[stop:])


def build_typeshed(out: Path) -> Path:
    """A custom typeshed in `out`: the MicroPython stdlib stubs, the STM32 board's modules
    beside them in stdlib/ (listed in VERSIONS so mypy treats them as standard library),
    then STUB_CORRECTIONS."""
    stdlib = out / "stdlib"
    board_modules = set()
    for dist in (STDLIB_STUBS, BOARD_STUBS):
        for parts, data in _stub_files(dist):
            if parts[0] == "stdlib":
                dest = stdlib.joinpath(*parts[1:])
            elif parts[0] == "stubs":
                dest = out.joinpath(*parts)
            else:  # the board's modules and _mpy_shed (helpers the stubs import)
                dest = stdlib.joinpath(*parts)
                board_modules.add(parts[0].removesuffix(".pyi"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
    with open(stdlib / "VERSIONS", "a") as versions:
        versions.write("\n# MicroPython board modules (added by firmware_mypy.py)\n")
        versions.writelines(f"{name}: 3.0-\n" for name in sorted(board_modules))
    _correct(stdlib)
    return out


def run_mypy(files: list[Path], typeshed: Path, cwd: Path | None = None) -> tuple[int, list[dict]]:
    """mypy's exit code and its findings: dicts with path, line, severity, message, code."""
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(CONFIG), "--custom-typeshed-dir", str(typeshed),
           "--no-error-summary", "--no-pretty", "--no-color-output", *map(str, files)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)
    findings = []
    for line in result.stdout.splitlines():
        m = _LINE.match(line)
        if m is None:
            raise RuntimeError(f"unexpected mypy output: {line!r}\n{result.stdout}{result.stderr}")
        findings.append({**m.groupdict(), "line": int(m["line"])})
    if result.returncode not in (0, 1) or (result.returncode == 1) != any(
            f["severity"] == "error" for f in findings):
        raise RuntimeError(f"mypy failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    return result.returncode, findings


def main(argv: list[str]) -> int:
    repo = HERE.parents[2]
    files = [Path(a) for a in argv] or sorted((repo / "firmware").glob("*.py"))
    with tempfile.TemporaryDirectory() as tmp:
        code, findings = run_mypy(files, build_typeshed(Path(tmp) / "typeshed"))
    for f in findings:
        print(f"{f['path']}:{f['line']}: {f['severity']}: {f['message']}" + (f"  [{f['code']}]" if f["code"] else ""))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
