"""What the benches that run a harness on the emulated Pyboard share: mpremote against its
port, and the firmware plus the harness's files copied to its /flash."""

from __future__ import annotations

import subprocess
from pathlib import Path

from host_tools.tools import tool


def mpremote(port: str, *args: str) -> str:
    """`mpremote connect PORT ARGS...`: its output; exits naming the command when it fails."""
    result = subprocess.run([tool("mpremote"), "connect", port, *args], capture_output=True, text=True,
                            timeout=600)
    if result.returncode:
        raise SystemExit(f"mpremote {' '.join(args)}: {result.stdout}{result.stderr}")
    return result.stdout


def put_on_board(port: str, firmware: list[Path], *files: Path) -> None:
    """The firmware's modules (main.py left out: nothing starts by itself) to /flash/fw, the
    harness's files to /flash."""
    mpremote(port, "fs", "mkdir", ":fw")
    mpremote(port, "fs", "cp", *[str(f) for f in firmware if f.name != "main.py"], ":/flash/fw/")
    mpremote(port, "fs", "cp", *map(str, files), ":/flash/")
