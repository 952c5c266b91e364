"""Issue 16, item 5: what `mule replay` says happened is read from boot ids and frame
numbers, never guessed. Stale messages queued in the port are discarded and counted, a
restart is a new boot id (every one counted), a silent board is "not answering", a
damaged link is named as such, a frame is lost only when its number never comes back,
and alerts expected where the board got no frames are "not reached"."""

from __future__ import annotations

import time

import pytest

from host_tools.link import messages as m
from host_tools.link import wire
from host_tools.link.session import LinkError
from host_tools.replay import alerts as alerting
from host_tools.replay import loopback as lb
from host_tools.simulate import simulate
from test_replay_loopback import busy_log, run  # noqa: F401 (busy_log: the fixture)


def restarted_words(result) -> list[str]:
    """Lines that say the board restarted (the summary's "resets: …", a gap's "boot A → B")."""
    return [line for line in result.lines() if "restarted" in line or line.startswith("resets:") or "boot 0x" in line and " → " in line]


def test_stale_stats_from_an_earlier_boot_queued_in_the_port_are_discarded_not_a_restart(busy_log, dbc,
                                                                                          monkeypatch):
    # (a) A board that ran for a while before this boot left its HELLO, STATS and a LOG in
    # the USB pipe: the host's flush does not reach them; they arrive before this session's HELLO.
    old = wire.FrameEncoder()
    # first the tail of a frame an earlier session left cut in half: damaged, and stale
    queued = bytearray(old.encode(*m.encode(m.Log(1, "cut in half")))[7:])
    for message in (m.Hello(0x1234567, m.MODE_REPLAY, m.CAP_REPLAY, 1024, bytes.fromhex(dbc.sha256), "fw", "b"),
                    m.Stats(uptime_ms=600),
                    m.Stats(uptime_ms=700), m.Log(1, "old boot")):
        queued += old.encode(*m.encode(message))
    flush = lb._Port.reset_input_buffer

    def flush_leaves_the_pipe(port):
        flush(port)
        port.board._out[:0] = queued
        queued.clear()

    monkeypatch.setattr(lb._Port, "reset_input_buffer", flush_leaves_the_pipe)
    board = lb.LoopbackBoard(dbc, stats_every=0.05)
    result = run(busy_log, dbc, board)
    d = result.as_dict()
    assert result.gaps == [] and d["resets"] == 0, result.lines()
    assert d["messages_before_session"] == 4  # the old boot's HELLO, two STATS and a LOG
    assert d["damaged_frames_before_session"] == 1 and d["link_errors"] == 0, result.lines()
    assert result.ok and d["frames_verified"] == d["frames_sent"] == board.frames_seen
    assert d["board"]["boots"] == [f"{board.boot_id:#010x}"]
    assert ("old boot" not in [text for _, text in result.board_logs])
    assert any("4 messages and 1 damaged frame from before this session's HELLO" in line for line in result.lines())
    assert not restarted_words(result)


def freeze_at(board, frames: int, thaw_after_s: float | None):
    """The board stops answering (same boot) once it has seen `frames`; thaws after a while."""
    frozen = []
    board.on_batch = lambda first_no, records: (frozen.append(time.monotonic()), setattr(board, "silent", True)) \
        if board.frames_seen >= frames and not frozen else None
    tick = board._tick

    def thaw_tick():
        if thaw_after_s is not None and frozen and board.silent and time.monotonic() - frozen[0] > thaw_after_s:
            board.silent = False
        tick()

    board._tick = thaw_tick
    return frozen


def test_a_board_that_freezes_and_thaws_is_not_answering_not_restarted(busy_log, dbc):
    # (b) same boot before and after: not a restart, and the frames it dropped are counted
    board = lb.LoopbackBoard(dbc)
    freeze_at(board, 3000, thaw_after_s=0.6)
    result = run(busy_log, dbc, board, stall_s=0.3)
    d = result.as_dict()
    assert [g.kind for g in result.gaps] == ["not_answering"], result.lines()
    gap = result.gaps[0]
    assert gap.boot_before == gap.boot_after == board.boot_id and gap.boots == []
    assert gap.last_answered is not None and f"not answering since frame {gap.last_answered:,}" in gap.reason
    assert d["resets"] == 0 and len(d["board"]["boots"]) == 1
    assert d["frames_lost"] == d["frames_sent"] - board.frames_seen == gap.frames_lost > 0
    assert d["frames_verified"] == board.frames_seen
    assert any("not answering at" in line and "same boot" in line for line in result.lines())
    assert not restarted_words(result)


def test_a_board_that_stays_frozen_ends_the_replay_as_not_answering(busy_log, dbc):
    board = lb.LoopbackBoard(dbc)
    freeze_at(board, 3000, thaw_after_s=None)
    result = run(busy_log, dbc, board, stall_s=0.3, reconnect_s=0.6)
    assert [g.kind for g in result.gaps] == ["not_answering"]
    assert "has not answered since frame" in result.aborted and "not a restart" in result.aborted
    assert "mule flash" not in result.aborted
    assert not restarted_words(result)


def test_five_fast_resets_are_five(busy_log, dbc):
    # (c) the board crash-loops five times in a row, each boot saying HELLO
    board = lb.LoopbackBoard(dbc)
    boots = [board.boot_id]
    batches = []

    def crash_loop(first_no, records):
        batches.append(first_no)
        if len(batches) == 40:
            for _ in range(5):
                board.reset()
                boots.append(board.boot_id)

    board.on_batch = crash_loop
    result = run(busy_log, dbc, board)
    d = result.as_dict()
    assert d["resets"] == 5, result.lines()
    assert d["board"]["boots"] == [f"{b:#010x}" for b in boots]
    assert sum(len(g.boots) for g in result.gaps) == 5 and result.gaps[0].kind == "reset"
    assert any("(5 resets)" in line for line in result.lines())
    assert d["frames_verified"] == board.frames_seen  # the batch that died with the board: lost
    assert d["frames_lost"] == d["frames_sent"] - board.frames_seen > 0
    assert not result.ok


def test_records_that_arrive_out_of_order_are_not_lost(busy_log, dbc):
    # (d) every two TELEMETRY frames swap places on the way back (a STATS lets a held one
    # go, so the last is not kept for ever): nothing is missing
    board = lb.LoopbackBoard(dbc)
    held = []
    swapped = []

    def swap_pairs(frame: bytes) -> bytes:
        if frame[2] == wire.TELEMETRY:
            if not held:
                held.append(frame)
                return b""
            swapped.append(1)
            return frame + held.pop()
        if frame[2] == wire.STATS and held:
            return frame + held.pop()
        return frame

    board.mangle = swap_pairs
    result = run(busy_log, dbc, board)
    d = result.as_dict()
    assert len(swapped) > 100
    assert d["frames_lost"] == 0 and d["frames_verified"] == d["frames_sent"] == board.frames_seen, result.lines()
    assert d["mismatches"] == d["stale_records"] == 0 and result.gaps == []
    assert result.ok


@pytest.fixture(scope="module")
def overload(tmp_path_factory, dbc):
    """hitch_overload for 70 s: the sidecar expects tongue_overload from ~63 s to the end."""
    path = tmp_path_factory.mktemp("logs") / "hitch_overload.log"
    result = simulate("hitch_overload", path, duration_s=70, seed=2, dbc=dbc)
    assert [a["kind"] for a in result.truth["expected_alerts"]] == ["tongue_overload"]
    return path


def supervising_board(dbc, monkeypatch) -> lb.LoopbackBoard:
    """A loopback board whose HELLO advertises supervision (it raises nothing)."""
    monkeypatch.setattr(alerting, "_supervise", None, raising=False)  # the checkouts before host_tools.supervision
    monkeypatch.setattr(m, "CAP_SUPERVISION", 1 << 4, raising=False)
    board = lb.LoopbackBoard(dbc)
    original = board._hello

    def hello_with_supervision():
        original()
        board._out.clear()
        sha = bytes.fromhex(dbc.sha256)
        board._emit(m.Hello(board.boot_id, m.MODE_REPLAY, m.CAP_REPLAY | 1 << 4, board.rx_window, sha, "fw", "b"))
        board._emit(m.Credit(board.rx_window))

    board._hello = hello_with_supervision
    board.boot()
    return board


def test_alerts_expected_in_the_part_never_sent_are_not_reached_not_missing(overload, dbc, monkeypatch):
    # (e) stopped after ~30 s of a log whose alert comes at ~63 s
    board = supervising_board(dbc, monkeypatch)
    result = run(overload, dbc, board, stop=lambda: board.frames_seen > 4000)
    d = result.as_dict()
    assert d["interrupted"] and d["frames_not_sent"] > 0
    check = result.alert_check
    assert (d["alerts_expected"], d["alerts_matched"], d["alerts_not_reached"]) == (1, 0, 1)
    assert check.status == "passed" and "not raised" not in check.reason, check.reason
    assert "1 expected alert not reached" in check.reason


def test_alerts_expected_after_the_board_died_are_not_reached(overload, dbc, monkeypatch):
    # the board goes away for good at ~30 s: frames sent after that are lost, the rest never sent
    board = supervising_board(dbc, monkeypatch)
    board.on_batch = lambda first_no, records: board.unplug() if board.frames_seen > 4000 else None
    result = run(overload, dbc, board, reconnect_s=0.3)
    assert result.aborted and result.alert_check.not_reached == 1
    assert "not raised" not in result.alert_check.reason


def corrupt_everything(frame: bytes) -> bytes:
    return frame[:3] + bytes([frame[3] ^ 0x5A or 1]) + frame[4:]


def test_a_corrupted_link_is_named_as_such_not_a_flash_problem(busy_log, dbc):
    # (f) every frame from the board arrives with a bad CRC
    board = lb.LoopbackBoard(dbc)
    board.mangle = corrupt_everything
    with pytest.raises(LinkError) as caught:
        run(busy_log, dbc, board)
    text = str(caught.value)
    assert "link is damaged" in text and "bad CRC" in text and "cable" in text and "baud" in text
    assert "mule flash" not in text


def test_a_link_that_goes_bad_mid_replay_is_a_damaged_link_with_counts(busy_log, dbc):
    board = lb.LoopbackBoard(dbc, stats_every=0.05)
    board.on_batch = lambda first_no, records: setattr(board, "mangle", corrupt_everything) \
        if board.frames_seen > 3000 else None
    result = run(busy_log, dbc, board, stall_s=0.3, reconnect_s=0.6)
    assert [g.kind for g in result.gaps] == ["link_damaged"], result.lines()
    reason = result.gaps[0].reason
    assert "CRC errors" in reason and "link is damaged" in reason
    assert "link stayed damaged" in result.aborted and "mule flash" not in result.aborted
    assert result.as_dict()["resets"] == 0 and not restarted_words(result)


def test_a_board_that_says_nothing_at_all_still_points_at_the_firmware(busy_log, dbc):
    board = lb.LoopbackBoard(dbc)
    board.silent = True
    board._out.clear()
    with pytest.raises(LinkError, match="not one byte back.*mule flash"):
        run(busy_log, dbc, board)


def test_a_late_record_is_never_written_off_and_the_progress_shows_only_true_gaps(dbc):
    from host_tools.replay.check import Checker
    from host_tools.replay.inflight import FrameBook

    class Frame:
        def __init__(self, k):
            self.t, self.can_id, self.ext, self.data, self.where = k / 100, 0x7FF, False, bytes(8), f"x:{k}"

    book = FrameBook(Checker(dbc), base=7_000_000)
    book.sent([Frame(k) for k in range(6)], 0.0)
    for n in (0, 2, 4, 1):
        book.record(m.TelemetryRecord(book.wire_no(n), -1), 0.1)
    assert book.missing() == 1  # 3: later ones came; 5: still in flight
    book.record(m.TelemetryRecord(book.wire_no(3), -1), 0.2)  # late, not lost
    assert book.missing() == 0
    book.settle_all()
    assert (book.tally.verified, book.tally.lost, book.lost_runs) == (5, 1, [[5, 5]])


def test_the_log_is_read_once_and_the_reference_gets_every_frame_sent(overload, dbc, monkeypatch):
    """The host reference runs over the frames as they were sent (kept while streaming), not
    over a second reading of the log after the stream."""
    import host_tools.replay.source as source

    opened = []
    real = source.read_frames
    monkeypatch.setattr(source, "read_frames", lambda *a, **k: opened.append(a[0]) or real(*a, **k))
    seen = []
    real_reference = alerting.reference_intervals
    monkeypatch.setattr(alerting, "reference_intervals", lambda dbc_, frames, *origin: seen.append(frames) or
                        real_reference(dbc_, frames, *origin))
    board = supervising_board(dbc, monkeypatch)
    result = run(overload, dbc, board, stop=lambda: board.frames_seen > 3000)
    assert len(opened) == 1
    sent = [f for f in real(overload) if f.kind == "data"][:result.tally.sent]
    assert [(f.t, f.can_id, f.ext, bytes(f.data)) for f in seen[0]] == \
           [(f.t, f.can_id, f.ext, bytes(f.data)) for f in sent]
