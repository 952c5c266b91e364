"""`mule replay --dbc OTHER.dbc` with a DBC that is not the truck's (no HitchLoad, no
battery): the report plots that DBC's own signals, not six empty truck plots, and the
alert line says there was no expectation instead of "expected 0 ... every alert as
expected"."""

from __future__ import annotations

import pytest

from host_tools.dbc import load_dbc
from host_tools.replay import Replay
from host_tools.report import SeriesCollector, write_report
from host_tools.supervision.reference import check_frames
from mule_testing import FILES, supervising_board

TRAILER_DBC = FILES / "foreign_dbc" / "trailer_ecu.dbc"


@pytest.fixture(scope="module")
def trailer():
    return load_dbc(TRAILER_DBC)


@pytest.fixture(scope="module")
def trailer_log(tmp_path_factory, trailer):
    """3 s of the trailer ECU: TrailerAxle every 20 ms (its axle load over its 5,000 kg
    maximum for 0.2 s), TrailerLights every 100 ms, TrailerInfo once a second."""
    db = trailer.database
    axle, lights, info = (db.get_message_by_name(n) for n in ("TrailerAxle", "TrailerLights", "TrailerInfo"))
    lines = []
    for k in range(150):
        t = 1_700_000_000.0 + k * 0.02
        load = 6200 if 50 <= k < 60 else 3000 + k
        frames = [(axle, {"axle_load_kg": load, "brake_temp_c": 20 + k / 10, "wheel_speed_kph": 80 + k / 100,
                          "tyre_pressure_kpa": 600})]
        if k % 5 == 0:
            frames.append((lights, {"lamp_state": 3, "lamp_current_a": 2.5 + k / 100}))
        if k % 50 == 0:
            frames.append((info, {"trailer_id": 4711, "axle_count": 2}))
        for i, (message, values) in enumerate(frames):
            data = message.encode(values, strict=False)
            lines.append(f"({t + i * 0.0005:.6f}) can0 {message.frame_id:03X}#{data.hex().upper()}")
    path = tmp_path_factory.mktemp("trailer") / "trailer.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def trailer_board(trailer, trailer_log):
    board = supervising_board(trailer, trailer_log)
    assert board.expected_events, "the log must make the board's supervision raise an alert"
    return board


def test_a_foreign_dbc_gets_plots_of_its_own_signals_and_honest_alert_wording(trailer, trailer_log, tmp_path):
    collector = SeriesCollector(trailer)
    result = Replay(trailer_log, trailer, trailer_board(trailer, trailer_log).link, port="loopback", speed=None,
                    settle_s=0.3, sync_timeout=0.5, on_decoded=collector.add).run()
    result.series = collector.series
    assert result.tally.verified == result.tally.sent == 183
    # the six signals with the most verified values: TrailerAxle's 4 (150 each), TrailerLights' 2
    # (30 each); TrailerInfo's (3 each) left out
    paths = write_report(tmp_path, result)
    pngs = sorted(p.name for p in paths if p.suffix == ".png")
    assert pngs == sorted(f"{n}.png" for n in (
        "TrailerAxle.axle_load_kg", "TrailerAxle.brake_temp_c", "TrailerAxle.wheel_speed_kph",
        "TrailerAxle.tyre_pressure_kpa", "TrailerLights.lamp_state", "TrailerLights.lamp_current_a"))
    assert all((tmp_path / name).stat().st_size > 8000 for name in pngs)  # curves, not "no frames" captions
    assert not (tmp_path / "tongue_load.png").exists()
    axle_times, axle_loads = result.series["TrailerAxle.axle_load_kg"]
    assert len(axle_loads) == 150 and max(axle_loads) == 6200

    line = result.lines()[-1]
    assert result.alert_check.status == "passed" and not result.alert_check.sidecar
    assert line.startswith("alerts: none expected (no sidecar); the board raised 1 (range "
                           "TrailerAxle.axle_load_kg at ")
    assert "the host reference (the board's supervision run on the host) raises the same 1 as the board" in line
    assert "expected 0" not in line and "every alert as expected" not in line


def test_without_a_sidecar_or_reference_it_lists_what_the_board_raised(trailer, trailer_log):
    result = Replay(trailer_log, trailer, trailer_board(trailer, trailer_log).link, port="loopback", speed=None,
                    settle_s=0.3, sync_timeout=0.5, reference=False).run()
    line = result.lines()[-1]
    assert line.startswith("alerts: none expected (no sidecar); the board raised 1 (range TrailerAxle.axle_load_kg at ")
    assert line.endswith(": not available (no sidecar beside the log and no host reference to check the board's "
                         "alerts against)")


@pytest.mark.parametrize("name", ["scale_offset", "signed", "float_signals", "byte_order"])
def test_the_host_reference_reads_any_dbcs_values_as_the_board_sends_them(name):
    """Unsigned 32-bit values of 2**31 or more, 33- to 64-bit signals and floats fill the
    board's int32 lanes as TELEMETRY carries them; the reference stopped with OverflowError
    on them, so a replay with most other DBCs failed its alert check ("the host reference
    failed")."""
    import dataclasses
    import random
    import struct

    from host_tools.replay.loopback import lanes_of
    from host_tools.sample_frames import random_frame
    from host_tools.supervision.reference import lane_words
    from mule_testing import FILES

    dbc = load_dbc(FILES / "dbc" / f"{name}.dbc")
    rnd = random.Random(7)
    for message in dbc.messages:
        for signal in message.signals:
            for _ in range(30):
                if signal.is_float:
                    raw = rnd.uniform(-1e9, 1e9)
                    raw = struct.unpack("<f", struct.pack("<f", raw))[0] if signal.length == 32 else raw
                elif signal.is_signed:
                    raw = rnd.randint(-(1 << (signal.length - 1)), (1 << (signal.length - 1)) - 1)
                else:
                    raw = rnd.randint(0, (1 << signal.length) - 1)
                sent = lanes_of(signal, raw)  # what the board puts on the link (loopback.py's inverse)
                assert lane_words(signal, raw) == tuple(v for v in (sent.v0, sent.v1) if v is not None)
    frames = [dataclasses.replace(random_frame(dbc, rnd, faults=False), t=1000.0 + i * 0.01) for i in range(200)]
    check_frames(dbc, frames)  # raised OverflowError
