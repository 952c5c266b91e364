"""`mule monitor` on a live virtual board with its CAN bus, flashed with telemetry "changed"
(the replay's twin: test_telemetry_changed_e2e.py), then reset into "all": the values held
between partial records, every frame the board took accounted for (a run is no gap), the
recording only frames the bus carried, bit for bit, and the mode followed across the reset."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from host_tools.flash import CONFIG_NAME
from host_tools.link import messages as m
from host_tools.link.session import BoardLink
from host_tools.logfile import read_frames
from host_tools.monitor import Dashboard, Recorder, run_monitor
from host_tools.vboard import VirtualBoard
from host_tools.vcan.play import open_bus, play

DRIVE = Path(__file__).parents[1] / "files" / "monitor" / "drive.log"  # 1.2 s of highway_tow, DBC frames
CONFIG = {"mode": "live", "telemetry": "changed", "refresh_ms": 250}
SPEED = 2.0


class Script:
    """Plays DRIVE onto the bus (a thread), resets the board into "all" between the two
    plays; as the monitor's stop() (its own thread) it notes the dashboard after each play."""

    def __init__(self, vb, board_dir, dash, recorder):
        self.vb, self.board_dir, self.dash, self.recorder = vb, board_dir, dash, recorder
        self.played = 0  # plays done: the monitor then waits for their records
        self.frames = len(list(read_frames(DRIVE)))
        self.snapshots: list[dict] = []
        self.deadline = time.monotonic() + 60
        self.quiet_since = (0, time.monotonic())
        self.thread = threading.Thread(target=self._play, daemon=True)
        self.next_play = threading.Event()

    def _play(self):
        for k in range(2):
            self.next_play.wait(20)
            self.next_play.clear()
            if k:
                (self.board_dir / CONFIG_NAME).write_text(json.dumps({**CONFIG, "telemetry": "all"}))
                self.vb.soft_reset()
                while len(self.dash.boots) < 2 and time.monotonic() < self.deadline:
                    time.sleep(0.02)
                time.sleep(0.2)
            bus = open_bus(f"slcan:{self.vb.can_bus.port}")
            try:
                play(DRIVE, bus, speed=SPEED)
            finally:
                bus.shutdown()
            self.played += 1

    def stop(self) -> bool:
        if not self.thread.is_alive() and self.played == 0 and not self.snapshots:
            self.thread.start()
            self.next_play.set()
        seen = self.dash.records
        if seen != self.quiet_since[0]:
            self.quiet_since = (seen, time.monotonic())
        # a play's records are in once as many came as frames were played (the board may lose
        # some to a full FIFO on a loaded machine: then after 2 s without one)
        quiet = time.monotonic() - self.quiet_since[1]
        expected = len(self.snapshots) * self.frames + self.frames
        if self.played > len(self.snapshots) and (quiet > 0.2 and seen >= expected or quiet > 2):
            for frame in self.dash.finish():  # the last record: no part of it can still come
                self.recorder.take(frame, time.time())
            self.snapshots.append({"text": self.dash.text(160), "records": self.dash.records,
                                   "unchanged": self.dash.unchanged, "gaps": self.dash.telemetry_gaps,
                                   "latest": {k: dict(v) for k, v in self.dash.latest.items()},
                                   "accounted": self.recorder.frames + sum(self.recorder.not_recorded.values()),
                                   "not_recorded": dict(self.recorder.not_recorded), "stats": self.dash.stats})
            if len(self.snapshots) == 1:
                self.next_play.set()
        return len(self.snapshots) == 2 or time.monotonic() > self.deadline


def test_monitor_follows_a_live_board_with_telemetry_changed_and_across_a_reset(tmp_path, dbc, x64_board_folder):
    board_dir = x64_board_folder(tmp_path / "board", CONFIG)
    bus_frames = [(f.can_id, bytes(f.data)) for f in read_frames(DRIVE)]
    recorder = Recorder(tmp_path / "recorded.log", dbc)
    # live mode, "changed" and the virtual controller outgrow the 64-bit unix port's 100 KB
    with VirtualBoard(board_dir, heap="256K", can=True) as vb:
        dash = Dashboard(dbc, vb.port)
        script = Script(vb, board_dir, dash, recorder)
        run_monitor(lambda: BoardLink(vb.port, dbc), dbc, dash, recorder=recorder, stop=script.stop)
    recorder.close()
    assert len(script.snapshots) == 2, "the plays did not finish"
    changed, after = script.snapshots
    # telemetry changed: every frame the board took has a record, a run's frames are no gap
    assert "telemetry changed" in changed["text"].splitlines()[0]
    # (a loaded machine may starve the board: frames its controller's FIFO lost have no number)
    assert changed["gaps"] == 0 and 0.9 * len(bus_frames) <= changed["records"] <= len(bus_frames), changed["stats"]
    assert changed["unchanged"] > 10 and changed["accounted"] == changed["records"], changed["not_recorded"]
    assert changed["not_recorded"]["not_sent"] > 0 and changed["not_recorded"]["encode_failed"] == 0
    # the values shown are the last frame's, each held since the board last sent it
    hitch = dbc.database.get_message_by_name("HitchLoad")
    lost = len(bus_frames) - changed["records"]
    last_hitches = [hitch.decode(data, decode_choices=False) for can_id, data in reversed(bus_frames)
                    if can_id == hitch.frame_id][:1 + lost]  # the last the board took
    shown = {name: changed["latest"]["HitchLoad"][name]
             for name in ("tongue_load_kg", "drawbar_force_n", "hitch_angle_deg", "trailer_connected")}
    assert any(shown == pytest.approx({name: want[name] for name in shown}) for want in last_hitches), \
        (shown, last_hitches[0])
    assert "–" not in changed["text"].split("range left")[0].split("Hitch")[1], changed["text"]
    # reset into "all": followed, and every frame recorded
    assert "board reset" in after["text"] and "telemetry all" in after["text"]
    assert "telemetry changed" not in after["text"].splitlines()[0] and "Cycle times" in after["text"]
    assert after["accounted"] == after["records"] and after["gaps"] == 0
    recorded = [(f.can_id, bytes(f.data)) for f in read_frames(tmp_path / "recorded.log") if f.kind == "data"]
    assert len(recorded) == recorder.frames >= after["records"] - changed["records"] + 10
    # each recorded frame is one the bus carried, bit for bit, in order
    at = 0
    for frame in recorded + [None]:
        if frame is None:
            break
        while at < 2 * len(bus_frames) and bus_frames[at % len(bus_frames)] != frame:
            at += 1
        assert at < 2 * len(bus_frames), f"recorded {frame} is not on the bus (in this order)"
        at += 1
    assert dash.hello is not None and not dash.hello.caps & m.CAP_TELEMETRY_CHANGED
