# The board's paths through a CAN controller (app.Board): live mode, loopback replay and
# the bus's error state, and Board.decode (one frame at a time: these paths and telemetry
# changed). Apart from app.py so that a board replaying from the link, the common case,
# holds none of this code in RAM: Board imports it only when it opens a controller or
# decodes one frame at a time (docs/architecture.md).
import time

import micropython
from micropython import const

import dbc_decoder as dbc

_LIVE_BURST = const(16)  # CAN frames taken per pass before serving the link again
_LOG_ERROR = const(3)
_T_MASK = const(0x3FFFFFFF)  # supervision times: µs mod 2**30, as replay records carry them
_FRAME_NO_MASK = const(0x3FFFFFFF)  # frame numbers count mod 2**30, as on the wire
_EXT_KEY = const(0x20000000)  # the decoder's key flag for extended ids
# STATS fields (app.py's)
_RECEIVED = const(1)
_DECODED = const(2)
_UNKNOWN = const(3)
_WRONG_LENGTH = const(4)
_BAD_MUX = const(5)
_DROPPED = const(9)
# ALERT codes 32.. are the board's own (1..31 supervision's): 32 can_bus_state, value the
# new can_state (can_source.STATE_*), cleared (| 0x100) back at error-active
_ALERT_BUS_STATE = const(32)
_CLEARED = const(0x100)
_STATE_ACTIVE = const(0)
_STATE_BUS_OFF = const(3)
_STATE_NONE = const(255)


@micropython.native
def decode(board, frame_no, can_id, ext, data, n, t=0):
    """Board.decode (app.Board attaches it when first used): one frame through the decoder,
    supervision and TELEMETRY. t: the frame's time, µs mod 2**30 (the log's in replay mode)."""
    stats = board.stats
    stats[_RECEIVED] += 1
    key = can_id | _EXT_KEY if ext else can_id
    fn = board.decoders.get(key)
    if fn is not None:
        result = fn(data, board.lanes, board.selected, n)
    else:  # a message in the decoder's table, or an id it does not know (ERR_UNKNOWN_ID)
        result = board.table_decode(key, data, board.lanes, board.selected, n)
    if board.supervisor is not None:
        # before decimation: every frame counts for timeouts, counters and conditions.
        # A frame that fails its checks still goes out as TELEMETRY; its ALERT marks
        # the values invalid (docs/supervision.md).
        board.supervisor.frame(frame_no, t, result, can_id, ext, data, n, board.lanes, board.selected)
    if result >= 0:
        stats[_DECODED] += 1
        if stats[_DECODED] % board.decimation:
            return
    elif result == dbc.ERR_UNKNOWN_ID:
        stats[_UNKNOWN] += 1
    elif result == dbc.ERR_LENGTH:
        stats[_WRONG_LENGTH] += 1
    else:
        stats[_BAD_MUX] += 1
    writer = board.writer
    k = writer.telemetry(frame_no, result, board.lanes, board.selected)
    while k >= 0:
        board.send(writer.telemetry_flush())
        k = writer.telemetry(frame_no, result, board.lanes, board.selected, k)


def replay_loopback(board):
    """Each link frame into the controller (silent loopback) and back through its
    filters and FIFO, decoded with the record's number and time. One record per frame
    still: a frame the filters reject is an unknown id, as the decoder would say."""
    reader = board.reader
    record = board.record
    data = board.data
    source = board.source
    if source is None:
        return
    for i in range(reader.count):
        try:
            frame_no = reader.can_frame_no(i)
            board.bus_no = frame_no
            n = reader.can_record(i, record, data)
            can_id = record[1]
            ext = record[2] != 0
            frame = source.loop(can_id, ext, data, n) if n <= 8 else None  # classic CAN: 8 bytes
            if frame is not None and frame[0] == can_id and frame[1] == ext:
                got = frame[4]
                board.decode(frame_no, can_id, ext, got, len(got), record[0])
                continue
            if frame is not None or (n <= 8 and dbc.lookup(can_id, ext) >= 0):
                # the controller lost or changed a frame it should carry: say so, and
                # decode the link's copy so the host still gets its record
                board.log(_LOG_ERROR, "frame %d: loopback gave %r for id 0x%x" % (frame_no, frame, can_id))
            board.decode(frame_no, can_id, ext, data, n, record[0])
        except Exception as exc:  # one bad frame must not stop the board
            board.stats[_DROPPED] += 1
            board.log(_LOG_ERROR, "frame %d: %r" % (reader.can_frame_no(i), exc))


def poll_can(board):
    source = board.source
    got = False
    if source is None:
        return got
    for _ in range(_LIVE_BURST):
        frame = source.recv()
        if frame is None:
            break
        got = True
        board.live_no = (board.live_no + 1) & _FRAME_NO_MASK  # mod 2**30 (docs/protocol.md): a small int
        try:
            data = frame[4]
            board.decode(board.live_no, frame[0], frame[1], data, len(data), time.ticks_us() & _T_MASK)
        except Exception as exc:
            board.stats[_DROPPED] += 1
            board.log(_LOG_ERROR, "CAN frame %d: %r" % (board.live_no, exc))
    return got


def watch_bus(board, now):
    """ALERT can_bus_state on each error-state change (cleared back at error-active);
    restart a bus-off controller after BusGuard's backoff, with a LOG line."""
    guard = board.bus_guard
    source = board.source
    if guard is None or source is None:
        return
    action = guard.update(source.state(), now)
    if action == guard.CHANGED:
        state = guard.state
        frame_no = board.live_no if not board.replay else board.bus_no
        if state == _STATE_ACTIVE:
            board.alert(frame_no, _ALERT_BUS_STATE | _CLEARED, 2, -1, -1, state, b"can_bus_state")
        elif state != _STATE_NONE:
            board.alert(frame_no, _ALERT_BUS_STATE, 3 if state == _STATE_BUS_OFF else 2, -1, -1, state,
                        b"can_bus_state")
    elif action == guard.RESTART:
        source.restart()
        waited = guard.restarted(now)
        board.log(_LOG_ERROR, "CAN bus-off: restart %d after %d ms (next after %d ms)"
                  % (guard.restarts, waited, guard.backoff_ms))
