"""`mule replay --dashboard`: the replay's own session feeds mule monitor's panels (one
process, one port), and without a terminal the replay runs without them, saying why."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from host_tools.cli.replay_view import ReplayView, make_view
from host_tools.link import messages as m
from host_tools.replay import Replay
from host_tools.replay.loopback import LoopbackBoard
from host_tools.simulate import simulate
from host_tools.supervision.firmware import KINDS


@pytest.fixture(scope="module")
def drive(tmp_path_factory, dbc):
    path = tmp_path_factory.mktemp("logs") / "highway_tow.log"
    simulate("highway_tow", path, duration_s=3, seed=2, dbc=dbc)
    return path


def test_the_replays_session_feeds_the_monitors_panels(drive, dbc):
    mi = next(i for i, msg in enumerate(dbc.messages) if msg.name == "HitchLoad")
    si = next(i for i, s in enumerate(dbc.messages[mi].signals) if s.name == "tongue_load_kg")
    first = []

    def alerts(frame_no, record):  # one tongue_overload with the replay's 100th frame
        first[:] = first or [frame_no]
        return [m.Alert(frame_no, KINDS.index("tongue_overload") + 1, 2, mi, si, 630, "tongue_overload")] if frame_no - first[0] == 100 else []

    board = LoopbackBoard(dbc, alerts=alerts)
    console = Console(file=io.StringIO(), force_terminal=True, width=180, record=True)
    sent: dict = {}  # the last raw values the board sent per message (each verified against cantools)
    view = ReplayView(dbc, "", console)
    replay = Replay(drive, dbc, board.link, port="loopback", speed=None, settle_s=0.3, sync_timeout=0.5,
                    on_message=view.on_message, on_decoded=lambda i, t, raw: sent.__setitem__(dbc.messages[i].name, raw))
    with view.attach(replay, "loopback"):
        result = replay.run()
    assert result.tally.verified == result.tally.sent > 300, result.lines()  # its alert is not the sidecar's
    dash = view.dashboard
    assert dash.hello is not None and dash.hello.mode == m.MODE_REPLAY
    for name in ("HitchLoad", "BmsPackStatus", "BmsCellStats", "VcuVehicleStatus"):
        assert dash.raw[name] == sent[name]
    assert dash.records == result.tally.sent  # the link panel counts every record the board sent
    assert dash.alert_count == 1 and dash.alerts[0][1].kind == "tongue_overload"
    text = console.export_text()  # what the terminal showed last
    hitch = dash.latest["HitchLoad"]
    assert f"{hitch['tongue_load_kg']:.0f} kg" in text and f"{dash.latest['BmsPackStatus']['soc_pct']:.1f} %" in text
    assert "RAISED  tongue_overload HitchLoad.tongue_load_kg" in text
    assert f"records  {result.tally.sent:,}".replace("  ", " ") in " ".join(text.split())
    assert "mode replay" in text


def test_without_a_terminal_the_replay_runs_without_the_dashboard(monkeypatch, dbc):
    err = Console(file=io.StringIO(), width=200)
    monkeypatch.delenv("CI", raising=False)
    assert make_view(dbc, err, Console(file=io.StringIO())) is None
    assert "--dashboard needs a terminal (its output is not a terminal): replaying without the dashboard" \
        in err.file.getvalue()
    monkeypatch.setenv("CI", "true")
    assert make_view(dbc, err, Console(file=io.StringIO(), force_terminal=True)) is None
    assert "(CI is set)" in err.file.getvalue()
    monkeypatch.delenv("CI")
    assert make_view(dbc, err, Console(file=io.StringIO(), force_terminal=True)) is not None


@pytest.fixture
def cli_on_loopback(monkeypatch, dbc):
    """`mule replay --port loopback` talking to a LoopbackBoard: the command line's own path."""
    from host_tools.cli import replay as cli_replay

    board = LoopbackBoard(dbc)
    monkeypatch.setattr(cli_replay, "BoardLink", lambda port, dbc: board.link())
    monkeypatch.delenv("CI", raising=False)
    return board


def test_the_command_line_draws_the_dashboard_on_a_terminal(cli_on_loopback, drive, monkeypatch, capsys):
    from host_tools.cli import main, replay_view

    screen = Console(file=io.StringIO(), force_terminal=True, width=180, record=True)
    monkeypatch.setattr(replay_view, "Console", lambda: screen)
    code = main.main(["replay", str(drive), "--port", "loopback", "--speed", "max", "--settle", "0.3", "--dashboard"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "everything verified" in out.out and "needs a terminal" not in out.err
    n = cli_on_loopback.frames_seen
    last = screen.export_text().split(f"mule replay {drive}: ")[-1]  # the picture left on the screen
    assert last.startswith(f"sent {n}, verified {n}, mismatched 0")
    assert "mode replay" in last and "Hitch" in last and "Battery" in last
    assert f"records {n}" in " ".join(last.split()) and f"board frames {n}" in " ".join(last.split())


def test_the_command_line_without_a_terminal_replays_and_says_so(cli_on_loopback, drive, capsys):
    from host_tools.cli import main

    code = main.main(["replay", str(drive), "--port", "loopback", "--speed", "max", "--settle", "0.3", "--dashboard"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "mule replay: --dashboard needs a terminal (its output is not a terminal): replaying without the " \
           "dashboard" in " ".join(out.err.split())
    assert "everything verified" in out.out and "Battery" not in out.out
