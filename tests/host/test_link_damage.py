"""Flow control survives a damaged link (docs/protocol.md, CREDIT): a lost CREDIT or a CAN
batch lost on the way to the board costs milliseconds, never a stall, so a replay at
--speed max slows down in proportion to the damage. Against the host's board stand-in
(host_tools/replay/loopback.py); bench/bench_link_damage.py does it on the virtual board."""

from __future__ import annotations

import random

import pytest

from host_tools.link import wire
from host_tools.replay import Replay
from host_tools.replay import loopback as lb
from host_tools.simulate import simulate

DAMAGE = 0.10  # of the frames in one direction
MIN_RATIO = 0.5  # of the clean run's frames/s, at 10 % damage


@pytest.fixture(scope="module")
def drive(tmp_path_factory, dbc):
    """3 s of a towing truck on a busy bus: ~5,500 frames."""
    path = tmp_path_factory.mktemp("logs") / "highway_tow.log"
    simulate("highway_tow", path, duration_s=3, seed=7, bus_load_pct=40, dbc=dbc)
    return path


def _replay(log, dbc, board):
    return Replay(log, dbc, board.link, port="loopback", speed=None, settle_s=0.5, sync_timeout=0.5).run()


def _payload(frame: bytes) -> bytes:
    return wire.cobs_decode(frame.strip(b"\x00"))


def _best_fps(runs) -> float:
    return max(result.as_dict()["throughput_fps"] for result in runs)


def _lossy_board_to_host(dbc, seed: int):
    board = lb.LoopbackBoard(dbc)
    rnd = random.Random(seed)
    dropped: list[bytes] = []

    def drop(frame: bytes) -> bytes:
        # STATS are spared: the replay's last wait for one makes every drop visible as a seq gap
        if _payload(frame)[0] != wire.STATS and rnd.random() < DAMAGE:
            dropped.append(_payload(frame))
            return b""
        return frame

    def arm(first_no, records):  # from the first batch on: the session has started
        board.mangle = drop

    board.on_batch = arm
    return board, dropped


def _lossy_host_to_board(dbc, seed: int):
    board = lb.LoopbackBoard(dbc, stats_every=0.05)
    rnd = random.Random(seed)
    take = board._take
    lost: list[bytes] = []

    def lossy_take(data: bytes) -> None:  # one write is one frame: a full USB buffer drops it
        if _payload(data)[0] == wire.CAN and rnd.random() < DAMAGE:
            lost.append(_payload(data))
            return
        take(data)

    board._take = lossy_take
    return board, lost


def _compare(log, dbc, lossy, rounds: int = 3):
    """Clean and damaged runs interleaved, `rounds` of each (this machine's speed swings
    with its load): the clean runs and the damaged ones with what each lost."""
    clean, damaged = [], []
    for _ in range(rounds):
        clean.append(_replay(log, dbc, lb.LoopbackBoard(dbc)))
        board, lost = lossy(dbc, 16)
        damaged.append((_replay(log, dbc, board), lost))
    return clean, damaged


def test_lost_board_frames_cost_milliseconds_not_a_stall(drive, dbc):
    clean, damaged = _compare(drive, dbc, _lossy_board_to_host)
    for result, dropped in damaged:
        d = result.as_dict()
        credits = sum(p[0] == wire.CREDIT for p in dropped)
        records = sum(p[3] for p in dropped if p[0] == wire.TELEMETRY)
        assert credits > 5 and records > 0
        assert result.gaps == [], result.lines()  # no stall, no re-SYNC
        assert d["link"]["host"]["seq_gaps"] == len(dropped)
        assert d["frames_lost"] == records and d["frames_verified"] == d["frames_sent"] - records
    fps, clean_fps = _best_fps(r for r, _ in damaged), _best_fps(clean)
    assert fps >= MIN_RATIO * clean_fps, (fps, clean_fps)


def test_batches_lost_on_the_way_in_are_released_not_held_against_the_window(drive, dbc):
    clean, damaged = _compare(drive, dbc, _lossy_host_to_board)
    for result, lost in damaged:
        d = result.as_dict()
        records = sum(p[7] for p in lost)  # the batch's count: type, seq, first_no, count
        assert len(lost) > 10
        assert result.gaps == [], result.lines()
        assert d["frames_lost"] == records and d["frames_verified"] == d["frames_sent"] - records
        assert d["link"]["board"]["link_seq_gaps"] <= len(lost)  # a lost last batch has no successor to reveal it
    fps, clean_fps = _best_fps(r for r, _ in damaged), _best_fps(clean)
    assert fps >= MIN_RATIO * clean_fps, (fps, clean_fps)
