"""`mule replay` as a library: stream a CAN log to a board over the link at the log's pace
(or N× faster, or as fast as credit allows), check every TELEMETRY record against
cantools and every ALERT against the ground truth, survive a board that resets or is
unplugged, and sum it all up (docs/replay.md).

    from host_tools.replay import replay
    result = replay("tow.blf", load_dbc(DEFAULT_DBC), "/dev/ttyACM0", speed=1.0)
    result.ok, result.as_dict()["frames_verified"]

Modules, one job each: `source` (the log's frames and what else it holds), `pacing`
(when each frame is due), `session` (the link that survives the board), `inflight`
(numbering and settling every frame), `check` (one frame against cantools), `alerts`,
`summary`, `run` (the loop), `board` (the virtual board, flashed on the fly), `loopback`
(a CPython stand-in board for tests).
"""

from host_tools.replay.pacing import parse_speed
from host_tools.replay.run import Replay, replay
from host_tools.replay.session import ReplayError
from host_tools.replay.summary import ReplayResult

__all__ = ["Replay", "ReplayError", "ReplayResult", "parse_speed", "replay"]
