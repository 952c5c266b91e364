"""Makes changed_session.wire: what a live-mode virtual board with its CAN bus sent `mule
monitor` (board → host bytes, as read from the port) while drive.log was played onto the
bus three times, the board reset between plays into another telemetry mode: "changed"
(refresh_ms 250), then "all", then "changed" again. drive.log (highway_tow, 1.2 s, DBC
frames only) is also written here: after each reset the board numbers the frames it
receives 1, 2, 3 …, so frame_no N of each boot is line N of drive.log.

    .venv/bin/python tests/files/monitor/make_changed_session.py
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path

from host_tools import DEFAULT_DBC
from host_tools.dbc import load_dbc
from host_tools.flash import CONFIG_NAME, build_firmware
from host_tools.link.session import BoardLink
from host_tools.monitor import Dashboard, run_monitor
from host_tools.simulate.run import simulate
from host_tools.vboard import VirtualBoard
from host_tools.vcan.play import open_bus, play

HERE = Path(__file__).parent
MODES = [{"telemetry": "changed", "refresh_ms": 250}, {"telemetry": "all"}, {"telemetry": "changed", "refresh_ms": 250}]


def main() -> None:
    dbc = load_dbc(DEFAULT_DBC)
    log = HERE / "drive.log"
    simulate("highway_tow", log, duration_s=1.2, seed=5, dbc=dbc)
    (HERE / "drive.log.truth.json").unlink()  # the simulator's sidecar: not needed here
    captured = bytearray()
    with tempfile.TemporaryDirectory() as tmp:
        board_dir = Path(tmp)
        build_firmware(dbc, board_dir, "x64", {"mode": "live", **MODES[0]})
        # live mode with "changed" and the virtual controller outgrow the 64-bit port's 100 KB
        with VirtualBoard(board_dir, heap="256K", can=True) as vb:
            dash = Dashboard(dbc, vb.port)
            done = threading.Event()

            def connect():
                link = BoardLink(vb.port, dbc)
                read = link.serial.read

                def tapped(n=1):
                    data = read(n)
                    captured.extend(data)
                    return data

                link.serial.read = tapped
                return link

            def player():
                try:
                    for k, mode in enumerate(MODES):
                        if k:
                            (board_dir / CONFIG_NAME).write_text(json.dumps({"mode": "live", **mode}))
                            vb.soft_reset()
                        while len(dash.boots) < k + 1:
                            time.sleep(0.05)
                        time.sleep(0.3)
                        bus = open_bus(f"slcan:{vb.can_bus.port}")
                        try:
                            play(log, bus)
                        finally:
                            bus.shutdown()
                        time.sleep(0.5)
                finally:
                    done.set()

            thread = threading.Thread(target=player)
            thread.start()
            run_monitor(connect, dbc, dash, stop=done.is_set)
            thread.join()
    (HERE / "changed_session.wire").write_bytes(bytes(captured))
    print(f"{len(captured)} bytes, boots {len(dash.boots)}, records {dash.records}, unchanged {dash.unchanged}, "
          f"missed {dash.telemetry_gaps}")


if __name__ == "__main__":
    main()
