"""The supervision twins on the emulated Pyboard (armv7emsp viper, 31-bit small ints,
float32, 100 KB heap): the board's viper supervision raises the same alerts with the same
values and the same towing range estimates as the host's plain-Python reference, over the
logs and configurations of test_supervise_twins.py (one QEMU for all of them)."""

from __future__ import annotations

from pathlib import Path

from host_tools.flash import build_firmware
from host_tools.supervision.reference import check_frames
from test_supervise_twins import CONFIGS, logs  # noqa: F401  (logs: the fixture, the same drives)

SCRIPT = Path(__file__).resolve().parent / "supervise_twins_mp.py"  # the unix tests' script


def test_the_boards_viper_supervision_equals_the_host_reference_on_32_bits(qemu_session, dbc, logs, tmp_path):
    for config in CONFIGS:
        files = build_firmware(dbc, tmp_path / config, "armv7emsp",
                               {"mode": "replay", "supervision": CONFIGS[config] or {}})
        qemu_session.mkdir(f"/flash/{config}")
        for file in files:
            if file.name != "main.py":
                qemu_session.put(file, f"/flash/{config}/{file.name}")
    kinds = set()
    for k, (frames, blob) in enumerate(logs):
        qemu_session.put(blob, "/flash/frames.bin")
        for config in CONFIGS:
            tows: list = []
            alerts = check_frames(dbc, frames, CONFIGS[config], tow_out=tows)
            want = [("A",) + e.key() for e in alerts] + [("T", r.frame_no, r.range_dkm, r.wh_per_km, r.window_m)
                                                        for r in tows]
            out = qemu_session.run(SCRIPT, [f"/flash/{config}", "/flash/frames.bin"])
            got = [tuple(line.split()[:1]) + tuple(map(int, line.split()[1:])) for line in out.splitlines()]
            assert sorted(got) == sorted(want), f"log {k}, {config}"
            kinds |= {e.kind for e in alerts}
    assert len(kinds) == 19, kinds  # every rule raised (and cleared) on the way
