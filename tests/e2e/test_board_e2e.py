"""End to end on the virtual board: `mule flash` with mpremote, every frame of a log over
the link, every value checked against cantools, garbage on the link counted, STOP."""

from __future__ import annotations

import random
import json
import subprocess
import sys

import pytest

from host_tools.dbc import load_dbc
from host_tools.flash import FlashError, flash, restart
from host_tools.link.session import BoardLink, LinkError
from host_tools.logfile import read_frames
from host_tools.replay import replay
from host_tools.sample_frames import random_frame
from host_tools.simulate import simulate
from host_tools.tools import tool
from host_tools.vboard import VirtualBoard
from mule_testing import FILES


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A virtual board flashed the way a user does it: `mule flash --port`."""
    directory = tmp_path_factory.mktemp("board")
    with VirtualBoard(directory) as vb:
        result = subprocess.run([sys.executable, "-m", "host_tools.cli.main", "flash", "--port", vb.port,
                                 "--set", "board=bench-7", "--set", "rx_window=768"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "matches" in result.stderr
        yield vb


@pytest.fixture
def link(board, dbc):
    with BoardLink(board.port, dbc) as session:
        session.sync()
        yield session


def drive_frames(dbc, tmp_path):
    log = tmp_path / "drive.blf"
    simulate("highway_tow", log, duration_s=4.0, seed=3, bus_load_pct=4, dbc=dbc)
    return [f for f in read_frames(log) if f.kind == "data"]


def test_flash_installs_compiled_firmware_and_the_decoder(board):
    names = {p.name for p in board.directory.iterdir()}
    assert {"main.py", "app.mpy", "link.mpy", "dbc_decoder.mpy", "mule_config.json"} <= names
    assert "app.py" not in names  # a source would shadow the compiled module
    assert "supervise_rules.bin" in names  # the rule tables' int32 arrays
    config = json.loads((board.directory / "mule_config.json").read_text())
    assert config["board"] == "bench-7" and config["rx_window"] == 768  # --set: JSON values
    assert (config["can"], config["replay_path"]) == ("auto", "link")


def test_the_board_runs_with_the_settings_flash_wrote(link):
    assert link.hello.board == "bench-7" and link.hello.rx_window == 768


def test_every_frame_of_a_log_is_accounted_for(board, dbc, tmp_path):
    frames = drive_frames(dbc, tmp_path)
    rnd = random.Random(7)
    frames += [random_frame(dbc, rnd) for _ in range(3000)]  # some unknown ids, bad lengths, bad mux
    result = replay(frames, dbc, board.port, reference=False)  # `mule replay`'s streamer and checker
    t = result.tally
    assert (t.lost, t.mismatched, result.mismatches) == (0, 0, [])
    assert t.verified == t.sent == len(frames)
    assert set(t.outcomes) == {"decoded", "unknown_id", "wrong_length", "bad_multiplexer"}
    last = result.board_stats  # the board's STATS after the last frame
    assert last["frames_received"] >= len(frames)
    assert last["unknown_ids"] >= t.outcomes["unknown_id"]
    assert last["link_crc_errors"] == last["link_bad_frames"] == last["link_seq_gaps"] == 0
    # the board collects once a second before STATS: the high-water mark is below what stays live
    assert last["gc_count"] >= 1 and 0 < last["gc_max_us"] < 1_000_000
    assert 0 < last["heap_min_free"] <= last["heap_free"]


def test_garbage_on_the_link_loses_only_the_frames_it_hit(board, dbc):
    rnd = random.Random(11)
    frames = [random_frame(dbc, rnd, faults=False) for _ in range(2000)]
    hit = set(rnd.sample(range(60), 10))
    ends = [0]  # the first frame number of each batch, then one past the last

    def splice(k: int, wire: bytes) -> bytes:  # non-zero garbage inside the frame
        if k not in hit:
            return wire
        at = rnd.randrange(2, len(wire) - 2)
        return wire[:at] + bytes(rnd.getrandbits(8) | 1 for _ in range(5)) + wire[at:]

    result = replay(frames, dbc, board.port, settle_s=2.0, tamper=splice, reference=False,
                    after_batch=lambda k, next_n: ends.append(next_n))
    in_hit = {n for k in hit for n in range(ends[k], ends[k + 1])}
    lost = {n for first, last in result.lost_runs for n in range(first, last + 1)}
    assert lost == in_hit  # exactly the frames of the corrupted batches
    assert result.mismatches == []  # nothing mis-decoded
    assert result.tally.verified == len(frames) - len(in_hit)
    counted = result.board_link["link_crc_errors"] + result.board_link["link_bad_frames"]  # over the replay
    assert counted == len(hit)


def test_stop_returns_the_board_to_its_repl_and_a_soft_reset_restarts_it(board, dbc):
    with BoardLink(board.port, dbc) as session:
        first = session.sync()
        assert session.stop()
    out = subprocess.run([tool("mpremote"), "connect", board.port, "exec", "print(6 * 7)"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "42", out.stderr
    restart(board.port)
    with BoardLink(board.port, dbc) as session:
        second = session.sync()
    assert second.boot_id != first.boot_id
    assert second.dbc_sha256.hex() == dbc.sha256


def test_flash_refuses_a_board_whose_dbc_differs(board, dbc, tmp_path, monkeypatch):
    import host_tools.flash as flashing

    other = load_dbc(FILES / "dbc" / "signed.dbc")
    monkeypatch.setattr(flashing, "copy_to_board", lambda port, files: None)  # the copy "fails"
    with pytest.raises(FlashError, match="flashing did not take"):
        flash(other, board.port, {"mode": "replay"}, tmp_path / "build", log=lambda text: None)
    # the board still runs the project's decoder
    with BoardLink(board.port, dbc) as session:
        assert session.sync().dbc_sha256.hex() == dbc.sha256


def test_flash_reports_a_board_that_never_answers(tmp_path, dbc, monkeypatch):
    import host_tools.flash as flashing

    (tmp_path / "vb").mkdir()
    with VirtualBoard(tmp_path / "vb") as vb:
        monkeypatch.setattr(flashing, "restart", lambda port, timeout: flashing.Boot("quiet", b""))  # main.py never starts
        with pytest.raises(FlashError, match="no HELLO from the board"):
            flash(dbc, vb.port, {"mode": "replay"}, tmp_path / "build", log=lambda text: None,
                  hello_timeout=2)


def test_safe_mode_file_keeps_the_firmware_from_starting(board, dbc):
    with BoardLink(board.port, dbc) as session:
        session.sync()
        assert session.stop()
    (board.directory / "SAFE_MODE").write_text("")
    try:
        restart(board.port)  # the soft reset runs main.py, which finds SAFE_MODE
        with BoardLink(board.port, dbc) as session, pytest.raises(LinkError, match="no HELLO"):
            session.sync(timeout=1.5)
        out = subprocess.run([tool("mpremote"), "connect", board.port, "exec", "print('repl free')"],
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "repl free", out.stderr
    finally:
        (board.directory / "SAFE_MODE").unlink()
        restart(board.port)
    with BoardLink(board.port, dbc) as session:
        assert session.sync().dbc_sha256.hex() == dbc.sha256
