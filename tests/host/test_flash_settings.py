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

