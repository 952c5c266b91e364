"""`make bench`: the board's per-frame cost in instructions on the emulated Pyboard (Cortex-M4F,
armv7emsp, QEMU -icount: 1 instruction = 1 ns of guest time), with the project DBC in replay
mode and supervision on; the same harness timed on the unix port in the same run; free heap
after start-up on the 100 KB board with the modules loaded from its /flash.

    python bench/bench_board_qemu.py [--frames 2000] [--save-baseline]

--save-baseline writes bench/baseline_qemu.json (the figures of the current commit), the
"before" every later run prints beside its own (issue 17)."""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from host_tools import DEFAULT_DBC  # noqa: E402
from host_tools.codegen.build import compile_mpy  # noqa: E402
from host_tools.dbc import load_dbc  # noqa: E402
from host_tools.flash import build_firmware  # noqa: E402
from host_tools.link import messages as m  # noqa: E402
from host_tools.logfile import read_frames  # noqa: E402
from host_tools.simulate.run import simulate  # noqa: E402
from host_tools.link import wire  # noqa: E402
from host_tools.qemu_board.build import build  # noqa: E402
from host_tools.qemu_board.icount import INSTRUCTIONS_PER_US, IcountQemuBoard  # noqa: E402
from host_tools.sample_frames import random_frame  # noqa: E402
from host_tools.tools import tool  # noqa: E402
from board_bench_common import mpremote, put_on_board  # noqa: E402

HARNESS = REPO / "bench" / "board_cost_mp.py"
BASELINE = REPO / "bench" / "baseline_qemu.json"
CLOCK_HZ = 168_000_000  # a Pyboard v1.1's STM32F405
TARGET_INSTRUCTIONS = 10_000
TARGET_FREE = 40 * 1024
ROWS = [  # key, label
    ("decoder", "generated decoder call"),
    ("supervise", "supervision (Supervisor.frame)"),
    ("telemetry", "TELEMETRY packing and flush"),
    ("board_decode", "Board.decode (decode + supervise + TELEMETRY)"),
    ("reader", "link reader (next, COBS, CRC, records)"),
    ("frame_no", "can_frame_no (no longer called per frame)"),
    ("run", "whole path Board.run"),
    ("run_bare", "Board.run with supervision off"),
]


STARTUP = """import gc, os, sys
sys.path.insert(0, "/flash/fw")
os.chdir("/flash/fw")  # its mule_config.json, read as the boot reads the one beside main.py
import app
b = app.start()[0]  # the boot as main.py runs it up to serving (HELLO's heap_free)
gc.collect()
print(" ".join(sys.modules))
print(gc.mem_free())
"""
# where the heap goes: each module the start-up left loaded imported alone, in ORDER first (a
# module's own imports count under it unless listed before it), then the Board's arrays
BREAKDOWN = """import gc, sys
sys.path.insert(0, "/flash/fw")
gc.collect()
last = gc.mem_free()
for name in MODULES:
    __import__(name)
    gc.collect()
    print(name, last - gc.mem_free())
    last = gc.mem_free()
import app
b = app.Board({"mode": "replay", "bus": 1, "bitrate": 500000, "decimation": 1, "port": "feed",
               "board": "bench"}, None)
gc.collect()
print("Board()", last - gc.mem_free())
"""
ORDER = ["micropython", "settings", "config", "e2e", "host_port_usb", "host_port_uart", "host_port_stdio", "link",
         "dbc_decoder", "supervise_rules", "supervise", "changed", "app"]


def replay_wire(frames) -> bytes:
    encoder = wire.FrameEncoder()
    records = [m.CanRecord(round(getattr(f, "t", i * 1e-4) * 1e6) & 0x3FFFFFFF, f.can_id, f.ext, f.data)
               for i, f in enumerate(frames)]
    out = b"".join(encoder.encode(*m.encode(batch)) for batch in m.split_batches(records))
    return out + encoder.encode(wire.STOP)


def parse(text: str) -> dict:
    line = [ln for ln in text.splitlines() if "run=" in ln]
    if not line:
        raise SystemExit(f"the harness printed no figures:\n{text}")
    return {k: int(v) for k, v in (item.split("=") for item in line[-1].split())}


def run_qemu(dbc, wire_bytes: bytes, tmp: Path, free_heap: bool = True) -> dict:
    tmp.mkdir(exist_ok=True)
    # the costs on a 256 KB heap (the wire and the records are held in RAM beside the board);
    # free heap after start-up on the Pyboard's 100 KB, the board alone
    firmware = build("256K", log=lambda text: None).elf
    small = build("100K", log=lambda text: None).elf
    files = build_firmware(dbc, tmp / "fw", "armv7emsp", {"mode": "replay"})
    (tmp / "wire.bin").write_bytes(wire_bytes)
    harness = compile_mpy(HARNESS, "armv7emsp", tmp / "board_cost_mp.mpy")
    (tmp / "board").mkdir(exist_ok=True)

    with IcountQemuBoard(tmp / "board", heap="100K", firmware=firmware) as board:
        put_on_board(board.port, files, harness, tmp / "wire.bin")
        out = parse(mpremote(board.port, "exec", "import board_cost_mp"))
    if free_heap:
        with IcountQemuBoard(tmp / "board", heap="100K", firmware=small) as board:
            *loaded, free = mpremote(board.port, "exec", STARTUP).strip().splitlines()
            out["free"] = int(free)
            ours = {f.stem for f in files}
            names = [n for n in loaded[-1].split() if n in ours]
            names = [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]
            rows = mpremote(board.port, "exec", f"MODULES = {names!r}\n" + BREAKDOWN).split()
            out["heap_by_module"] = dict(zip(rows[0::2], map(int, rows[1::2])))
    # µs of guest time x 1000 -> instructions (the harness printed µs x 1000 per frame)
    return {k: (v * INSTRUCTIONS_PER_US // 1000 if k in dict(ROWS) else v) for k, v in out.items()}  # noqa


def run_unix(dbc, wire_bytes: bytes, tmp: Path) -> dict:
    build_firmware(dbc, tmp / "fw-x64", "x64", {"mode": "replay"})
    (tmp / "wire.bin").write_bytes(wire_bytes)
    result = subprocess.run([tool("micropython"), "-X", "heapsize=512K", str(HARNESS), str(tmp / "fw-x64"),
                             str(tmp / "wire.bin")], capture_output=True, text=True, timeout=600)
    if result.returncode:
        raise SystemExit(f"unix port: {result.stdout}{result.stderr}")
    return parse(result.stdout)  # ns per frame (µs x 1000)


def replay_on_qemu(scenario: str, bus_load: float, seconds: float, tmp: Path) -> dict:
    """`mule replay --board qemu --speed max` of the scenario at this bus load: its summary."""
    log = tmp / "replay.log"
    mule = [str(Path(sys.executable).with_name("mule"))]
    subprocess.run(mule + ["simulate", scenario, "-o", str(log), "--duration", str(seconds), "--bus-load",
                           str(bus_load)], cwd=REPO, check=True, capture_output=True)
    result = subprocess.run(mule + ["replay", str(log), "--board", "qemu", "--speed", "max", "--report",
                                    str(tmp / "report")], cwd=REPO, capture_output=True, text=True, timeout=600)
    summary = tmp / "report" / "summary.json"
    if not summary.exists():
        raise SystemExit(f"mule replay --board qemu: {result.stdout}{result.stderr}")
    return json.loads(summary.read_text())


def git_commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="highway_tow",
                        help="simulator scenario replayed (1 s of it at --bus-load); 'random': random valid frames")
    parser.add_argument("--bus-load", type=float, default=60)
    parser.add_argument("--frames", type=int, default=2000, help="with --scenario random")
    parser.add_argument("--replay-seconds", type=float, default=5, help="of the scenario replayed by mule replay")
    parser.add_argument("--save-baseline", action="store_true")
    parser.add_argument("--firmware-from", metavar="COMMIT",
                        help="measure firmware/ as it was at COMMIT (e.g. for --save-baseline)")
    args = parser.parse_args()
    dbc = load_dbc(DEFAULT_DBC)
    with tempfile.TemporaryDirectory() as tmp:
        commit = git_commit()
        if args.firmware_from:
            import host_tools.flash

            old = Path(tmp) / "old"
            old.mkdir()
            archive = subprocess.run(["git", "archive", args.firmware_from, "firmware"], cwd=REPO,
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            host_tools.flash.FIRMWARE = old / "firmware"
            commit = args.firmware_from
        if args.scenario == "random":
            rnd = random.Random(3)
            frames = [random_frame(dbc, rnd, faults=False) for _ in range(args.frames)]
            source = f"{len(frames):,} random valid frames"
        else:
            log = Path(tmp) / "scenario.log"
            simulate(args.scenario, log, duration_s=1, bus_load_pct=args.bus_load, dbc=dbc)
            frames = list(read_frames(log))
            source = f"1 s of {args.scenario} at {args.bus_load:g} % bus load ({len(frames):,} frames)"
        wire_bytes = replay_wire(frames)
        replay = replay_on_qemu(args.scenario if args.scenario != "random" else "highway_tow", args.bus_load,
                                args.replay_seconds, Path(tmp))
        qemu = run_qemu(dbc, wire_bytes, Path(tmp))
        # the same path on the DBC's own frames alone (decoded, supervised, sent as TELEMETRY):
        # the mix above is mostly other ECUs' ids on a busy bus, which cost less
        own = [f for f in frames if dbc.lookup(f.can_id, f.ext) is not None] \
            if args.scenario != "random" else frames
        own_qemu = run_qemu(dbc, replay_wire(own), Path(tmp) / "own", free_heap=False) \
            if len(own) < len(frames) else qemu
        unix = run_unix(dbc, wire_bytes, Path(tmp))
    if args.save_baseline:
        BASELINE.write_text(json.dumps({"commit": commit, "dbc": DEFAULT_DBC.name, "frames": source,
                                        "instructions_per_frame": {k: qemu[k] for k, _ in ROWS},
                                        "free_after_start": qemu["free"]}, indent=1) + "\n")
    base = json.loads(BASELINE.read_text()) if BASELINE.exists() else None
    before = base["instructions_per_frame"] if base else {}
    print(f"\nboard per-frame cost, {DEFAULT_DBC.name}, replay mode, supervision "
          f"{'on' if qemu['supervised'] else 'OFF'}, {source}")
    print("emulated Pyboard: Cortex-M4F armv7emsp, QEMU -icount (instructions: guest ns), 256 KB heap (the "
          "wire held in RAM); unix port: x86-64, ns per frame, each loop best of 5")
    label_before = f"before ({base['commit']})" if base else "before"
    print(f"\n{'per frame':48} {'Cortex-M4 instr':>15} {label_before:>16} {'unix ns':>9} {'instr/ns':>9}")
    for key, label in ROWS:
        b = f"{before[key]:,}" if key in before else "-"
        ratio = f"{qemu[key] / unix[key]:.1f}" if unix.get(key, 0) > 0 else "-"
        print(f"{label:48} {qemu[key]:15,} {b:>16} {unix.get(key, 0):9,} {ratio:>9}")
    n = qemu["run"]
    print(f"\nboard path on Cortex-M4: {n:,} instructions/frame (supervision "
          f"{'on' if qemu['supervised'] else 'OFF'})" + (f"; before: {before['run']:,} ({base['commit']})"
                                                         if before else ""))
    print(f"  of which the DBC's own frames alone ({len(own):,} of {len(frames):,}, each decoded, supervised "
          f"and sent): {own_qemu['run']:,} instructions/frame"
          f"{'' if own_qemu['run'] <= TARGET_INSTRUCTIONS else ' (above the target: the mix meets it)'}")
    print(f"implied at 168 MHz: {CLOCK_HZ / n:,.0f} frames/s (assuming 1 instruction per cycle, optimistic: "
          "flash wait states and taken branches cost more)")
    print(f"{qemu['alloc']} B/frame on the emulated Pyboard (Board.decode, collector off; the whole replay path "
          "under heap_lock: tests/firmware/test_app_heap_qemu.py)")
    free = qemu["free"]
    print(f"free heap after start-up (100 KB emulated Pyboard, modules from /flash, project DBC): {free:,} B"
          + (f"; before: {base['free_after_start']:,} B" if base else ""))
    if "heap_by_module" in qemu:
        print("  what the start-up holds: " + ", ".join(f"{name} {size:,}" for name, size in
                                                       qemu["heap_by_module"].items()) + " B")
    ok_replay = replay["frames_verified"] == replay["frames_sent"] and replay["frames_lost"] == 0
    print(f"mule replay --board qemu --speed max, {args.replay_seconds:g} s at {args.bus_load:g} % bus load: "
          f"verified {replay['frames_verified']:,} of {replay['frames_sent']:,} frames, lost {replay['frames_lost']}, "
          f"{replay['throughput_fps']:,.0f} frames/s (alerts: {replay['alerts_matched']} of "
          f"{replay['alerts_expected']} expected matched)")
    ok_n = n <= TARGET_INSTRUCTIONS and qemu["supervised"] and qemu["alloc"] == 0
    ok_free = free >= TARGET_FREE
    print(f"\ntargets: whole path ≤ {TARGET_INSTRUCTIONS:,} instructions/frame with supervision on: "
          f"{'met' if ok_n else 'NOT met'}; free heap ≥ 40 KB after start-up: {'met' if ok_free else 'NOT met'}; "
          f"every frame verified, 0 lost: {'met' if ok_replay else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
