"""What a replay sends from a real truck's log: the data frames of one bus, in order;
remote and error frames, other buses, damaged records and timestamps that step back are
counted, never sent."""

from __future__ import annotations

import pytest

from host_tools.logfile import LogError
from host_tools.replay.source import LogSource, estimate_records

# HitchLoad is 0x0CFF4D2A (extended), BmsPackStatus 0x200; 0x7DF is not in the DBC
TRUCK_LOG = """\
(1700000000.000100) can1 7DF#0201050000000000
(1700000000.000200) can1 200#0102030405060708
(1700000000.000300) can0 7DF#0201050000000000
(1700000000.000400) can0 0CFF4D2A#0001000000100000
(1700000000.000500) can0 200#R
(1700000000.000600) can0 20000080#0000000000000000
(1700000000.000700) can0 200#0102030405060708
(1700000000.000650) can0 7DF#0201050000000000
(1700000000.000800) can1 0CFF4D2A#0001000000100000
"""


def write(tmp_path, text, name="truck.log"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_auto_replays_the_first_bus_that_carries_an_id_of_the_dbc(tmp_path, dbc):
    source = LogSource(write(tmp_path, TRUCK_LOG), dbc)
    frames = list(source)
    # can1's first frame has an unknown id, its second (0x200) is in the DBC: can1 it is
    assert [(f.channel, f.can_id) for f in frames] == [("can1", 0x7DF), ("can1", 0x200), ("can1", 0x0CFF4D2A)]
    stats = source.stats
    assert stats.channel == "can1"
    assert stats.records == 9
    assert stats.remote_frames == 1 and stats.error_frames == 1
    assert stats.other_channels == {"can0": 4}
    assert stats.data_frames == 3


def test_a_chosen_channel_and_timestamps_that_step_back(tmp_path, dbc):
    source = LogSource(write(tmp_path, TRUCK_LOG), dbc, channel="can0")
    frames = list(source)
    assert [f.can_id for f in frames] == [0x7DF, 0x0CFF4D2A, 0x200, 0x7DF]
    assert source.stats.backwards_timestamps == 1  # 0.000650 after 0.000700
    assert source.stats.other_channels == {"can1": 3}
    summary = source.stats.as_dict()
    assert summary["other_channel_frames"] == 3 and summary["channel"] == "can0"


def test_a_log_without_any_id_of_the_dbc_replays_its_first_bus(tmp_path, dbc):
    text = "(1.0) can3 7DF#00\n(2.0) can4 7E8#00\n(3.0) can3 7E0#00\n"
    source = LogSource(write(tmp_path, text), dbc)
    assert [f.can_id for f in source] == [0x7DF, 0x7E0]
    assert source.stats.channel == "can3" and source.stats.other_channels == {"can4": 1}


def test_a_damaged_record_stops_the_replay_with_file_and_line_unless_skipped(tmp_path, dbc):
    path = write(tmp_path, "(1.0) can0 200#0102030405060708\n(1.1) can0 2G0#01\n(1.2) can0 200#0102030405060708\n")
    with pytest.raises(LogError, match=r"truck\.log:2:"):
        list(LogSource(path, dbc))
    source = LogSource(path, dbc, skip_bad=True)
    assert len(list(source)) == 2
    assert source.stats.bad_records == 1
    assert source.stats.as_dict()["bad_record_examples"][0]["where"].endswith("truck.log:2")


def test_an_unknown_format_is_refused_at_once(tmp_path, dbc):
    with pytest.raises(LogError, match="unknown log format"):
        LogSource(write(tmp_path, "x", "truck.txt"), dbc)


def test_estimate_records_for_the_progress_bar(tmp_path):
    assert estimate_records(write(tmp_path, TRUCK_LOG)) == 9
    assert estimate_records(tmp_path / "missing.log") is None
