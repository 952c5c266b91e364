"""`make bench`: vehicle-scale DBCs on the emulated Pyboard (100 KB heap, Cortex-M4F).

Per DBC: messages and signals; the board decoder's bytes in flash (armv7emsp .mpy, which a
Pyboard v1.1 copies into RAM when it imports it from /flash) and its heap after import (unix
port, 64-bit); `mule flash` onto the emulated Pyboard (supervision on; if the firmware cannot
start, again with supervise=false), then 3,000 random valid frames of the DBC replayed at
--speed max with every value verified: lost frames, the board's heap free (STATS) and frames/s.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from host_tools import DEFAULT_DBC  # noqa: E402
from host_tools.codegen.build import decoder_cost, write_decoder  # noqa: E402
from host_tools.dbc import load_dbc  # noqa: E402
from host_tools.replay import replay  # noqa: E402
from host_tools.sample_frames import random_frame  # noqa: E402

DBCS = [DEFAULT_DBC, REPO / "tests/files/dbc/vehicle_120_classic.dbc",
        REPO / "tests/files/dbc/vehicle_330_canfd_overlapping.dbc"]
FRAMES = 3000
MULE = [sys.executable, "-m", "host_tools.cli.main"]


def write_log(dbc, path: Path) -> Path:
    """A candump log of random valid frames (CAN FD ones as `##`)."""
    rnd = random.Random(f"bench-{dbc.path.name}")
    with open(path, "w") as out:
        for k in range(FRAMES):
            frame = random_frame(dbc, rnd, faults=False)
            message = dbc.lookup(frame.can_id, frame.ext)
            can_id = f"{frame.can_id:08X}" if frame.ext else f"{frame.can_id:03X}"
            sep = "##0" if message.is_fd or len(frame.data) > 8 else "#"
            out.write(f"({1000 + k * 0.001:.6f}) can0 {can_id}{sep}{bytes(frame.data).hex().upper()}\n")
    return path


def on_the_emulated_pyboard(dbc, log: Path, folder: Path) -> dict:
    from host_tools.qemu_board.build import build
    from host_tools.vboard import QemuBoard

    elf = build("100K", log=lambda text: None).elf
    with QemuBoard(folder, firmware=elf) as board:
        for extra in ([], ["--set", "supervise=false"]):
            flashed = subprocess.run([*MULE, "flash", "--port", board.port, "--dbc", str(dbc.path), *extra],
                                     capture_output=True, text=True, timeout=600)
            if flashed.returncode == 0:
                break
            said = [line for line in flashed.stderr.splitlines() if "Error" in line]
            print(f"   {dbc.path.name}: the firmware does not start{' ' + extra[1] if extra else ''}: "
                  f"{said[-1].strip() if said else flashed.stderr.strip()[-200:]}")
        else:
            return {}
        result = replay(log, dbc, board.port, speed=None).as_dict()
        stats = result.get("board_stats") or {}
        return {"supervise": not extra, "lost": result["frames_lost"], "verified": result["frames_verified"],
                "mismatched": result["mismatches"], "fps": result["throughput_fps"],
                "heap_free": stats.get("heap_free"), "heap_min_free": stats.get("heap_min_free")}


def main() -> None:
    print("Vehicle-scale DBCs on the emulated Pyboard (qemu, Cortex-M4F, 100 KB heap), "
          f"{FRAMES:,} random frames each at --speed max")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mule-bench-vehicle-") as tmp:
        folder = Path(tmp)
        for path in DBCS:
            dbc = load_dbc(path, warn=None)
            cost = decoder_cost(write_decoder(dbc, folder / f"{path.stem.replace('-', '_')}_board.py", board=True))
            board_dir = folder / f"board_{path.stem}"
            board_dir.mkdir()
            board = on_the_emulated_pyboard(dbc, write_log(dbc, folder / f"{path.stem}.log"), board_dir)
            rows.append((dbc, cost, board))
    print(f"   {'DBC':38} {'msgs':>5} {'signals':>7} {'.mpy B':>7} {'heap B':>7} {'sup':>4} {'verified':>8} "
          f"{'lost':>5} {'heap free':>9} {'min free':>8} {'frames/s':>8}")
    for dbc, cost, board in rows:
        signals = sum(len(m.signals) for m in dbc.messages)
        if not board:
            print(f"   {dbc.path.name:38} {len(dbc.messages):5} {signals:7} {cost.mpy_bytes:7,} "
                  f"{cost.heap_bytes or 0:7,}  does not start on the emulated Pyboard")
            continue
        print(f"   {dbc.path.name:38} {len(dbc.messages):5} {signals:7} {cost.mpy_bytes:7,} "
              f"{cost.heap_bytes or 0:7,} {'on' if board['supervise'] else 'off':>4} {board['verified']:8,} "
              f"{board['lost']:5} {board['heap_free'] or 0:9,} {board['heap_min_free'] or 0:8,} {board['fps']:8,.0f}")
    print("   .mpy B: the board decoder (armv7emsp) in flash, all of it in RAM once imported from /flash; heap B: "
          "its heap after import on the unix port (64-bit); heap free / min free: the board's last STATS")


if __name__ == "__main__":
    main()
