"""Inputs that pass for what they are not, and text from files and boards that tries to drive
the terminal: a cut log never verifies, and nothing a log, a DBC or a board says reaches the
terminal as an escape sequence or as rich markup."""

from __future__ import annotations

import io

from rich.console import Console

from host_tools.link import messages as m
from host_tools.logfile import LogError
from host_tools.monitor import Dashboard
from host_tools.replay import Replay
from host_tools.replay.loopback import LoopbackBoard
from host_tools.text import printable
from mule_testing import FILES

LOGS = FILES / "logs"
ESCAPES = "\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b[31m\u202e\x9b"


def test_printable_escapes_controls_and_keeps_the_rest():
    assert printable("tongue_load_kg 550 kg · ±2° über") == "tongue_load_kg 550 kg · ±2° über"
    assert printable(ESCAPES) == "\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07\\x1b[31m\\u202e\\x9b"
    assert printable("a\nb\tc") == "a\\x0ab\\x09c"
    assert printable("a\nb", keep_newlines=True) == "a\nb"
    assert printable(LogError("x\x1b.log", 3, "bad")) == "x\\x1b.log:3: bad"


def test_a_replay_of_a_cut_blf_is_not_everything_verified(dbc):
    board = LoopbackBoard(dbc)
    result = Replay(LOGS / "blf_truncated_half.blf", dbc, board.link, port="loopback", speed=None,
                    settle_s=0.5, sync_timeout=0.5, skip_bad=True).run()
    d = result.as_dict()
    assert d["frames_sent"] == d["frames_verified"] == 191  # all that was there, verified
    assert not result.ok and d["ok"] is False
    assert d["log_truncated"].startswith("file truncated at byte 2,725")
    assert "up to 209 frames or other objects after it are lost" in d["log_truncated"]
    assert any(line.startswith("log truncated: file truncated at byte 2,725") for line in result.lines())
    assert d["log_contents"]["bad_records"] == 0  # not "1 damaged record" for 209 lost frames


def test_the_monitor_shows_board_text_and_names_as_plain_printable_text(dbc):
    dash = Dashboard(dbc, "loopback", clock=lambda: 0.0)
    dash.on_message(m.Hello(boot_id=1, mode=0, caps=0, rx_window=8, dbc_sha256=bytes(32), fw_version="1.0",
                            board=f"[bold red]evil[/]{ESCAPES}"), now=0.0)
    dash.on_message(m.Log(level=2, text="[blink]boom[/blink]\x1b[2J"), now=0.0)
    out = io.StringIO()
    Console(file=out, width=200, color_system=None, force_terminal=False).print(dash.render())
    text = out.getvalue()
    for control in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert control not in text
    assert "[bold red]evil[/]\\x1b[2J" in text  # markup shown as typed, not applied
    assert "board: [blink]boom[/blink]\\x1b[2J" in text  # (the panel is 72 wide: it fits)
