"""`mule flash` checks every board setting against firmware/settings.py before a board is
touched: the message names the setting, its value and what is allowed, and exits 2."""

from __future__ import annotations

import pytest

import host_tools.cli.flash as cli_flash
from host_tools.cli.main import main

REFUSED = [
    (["--set", "rx_window=0"], "rx_window = 0: must be an integer in 517..65535"),
    (["--set", "rx_window=999999999"], "rx_window = 999999999: must be an integer in 517..65535"),
    (["--decimation", "0"], "decimation = 0: must be an integer in 1..65535"),
    (["--bitrate", "123"], "bitrate = 123: must be one of 125000, 250000, 500000, 1000000"),
    (["--bus", "9"], "bus = 9: must be an integer in 0..3"),
    (["--set", "watchdog_ms=10"], "watchdog_ms = 10: must be 0 (off) or an integer in 500..32000"),
    (["--set", "port=uart:1"], 'port = "uart:1": must be one of'),
    (["--set", "supervise=yes"], 'supervise = "yes": must be true or false'),
    (["--set", "board=a\x1b[2Jb"], 'board = "a\\u001b[2Jb": must be printable text of at most 32 characters'),
    (["--set", "rx_windw=2048"], 'unknown setting "rx_windw" (the board reads: mode, bus, bitrate'),
]


@pytest.mark.parametrize("args, message", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_a_setting_out_of_range_is_refused_before_anything_is_copied(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.setattr(cli_flash, "VirtualBoard", lambda *a, **k: pytest.fail("a board was started"))
    code = main(["flash", "--vboard-dir", str(tmp_path / "vb"), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"mule flash: {message}" in err
    assert "nothing was copied" in err
    assert "\x1b" not in err
    assert not (tmp_path / "vb").exists()



REPLAY_REFUSED = [
    (["--set", "supervise=yes"], 'supervise = "yes": must be true or false'),
    (["--set", "rx_windw=2048"], 'unknown setting "rx_windw" (the board reads: mode, bus, bitrate'),
    (["--set", "supervise"], "--set 'supervise': give KEY=VALUE"),
    (["--set", "supervise=false", "--port", "/dev/ttyACM0"], "--set sets up the virtual board mule replay flashes"),
]


@pytest.mark.parametrize("args, message", REPLAY_REFUSED, ids=[" ".join(a) for a, _ in REPLAY_REFUSED])
def test_mule_replay_checks_its_settings_before_a_board_is_started(tmp_path, monkeypatch, capsys, args, message):
    import host_tools.replay.board as replay_board

    monkeypatch.setattr(replay_board, "open_board", lambda *a, **k: pytest.fail("a board was started"))
    log = tmp_path / "one.log"
    log.write_text("(1000.000000) can0 123#00\n")
    code = main(["replay", str(log), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"mule replay: error: {message}" in err


def test_mule_replay_turns_supervision_off_only_when_it_cannot_fit():
    from host_tools.dbc import load_dbc
    from host_tools.flash import FIT_MARGIN, Fit, supervision_off
    from mule_testing import FILES

    dbc = load_dbc(FILES / "dbc" / "vehicle_330_canfd_overlapping.dbc", warn=None)
    # measured on the emulated Pyboard: 98,848 B free, 64 KB without supervision, 131 KB for it
    line = supervision_off(Fit(98_848, None, "supervision: MemoryError", 64_192, 134_860), dbc)
    assert line == ("supervision off: it needs 131.7 KB of heap and the board has 33.8 KB free beside the decoder of "
                    "330 messages, 10 KB of which streaming needs (--messages/--nodes decode fewer; --set "
                    "supervise=false turns it off without this check)")
    assert supervision_off(Fit(98_848, None, "MemoryError beside mount", None, 134_860), dbc).startswith(
        "supervision off: it needs 131.7 KB of heap and the board has 96.5 KB free before the firmware")
    fits = 98_848 - 64_192 - FIT_MARGIN
    assert supervision_off(Fit(98_848, 64_192 + fits, None, 64_192, fits), dbc) is None  # it fits: on
    assert supervision_off(Fit(98_848, None, "MemoryError", 98_848 - FIT_MARGIN + 1, 100), dbc) is None  # no use
    assert supervision_off(Fit(98_848, None, "MemoryError beside mount", None, 50_000), dbc) is None  # may fit
