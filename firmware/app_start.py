# app.Board's start-up: its buffers, supervision, the decoder's look-up tables and, with a
# controller, the CAN source. Code that runs once: Board.__init__ imports this module and
# drops it again (RAM is the budget: its bytecode leaves the heap once the board is built).
import gc
import sys
import time
from array import array
from binascii import unhexlify

from micropython import const

import dbc_decoder as dbc
import link

# app.py's indices into Board.at and Board.stats
_AT_SUP = const(1)
_AT_TM = const(2)
_HEAP_MIN = const(13)
# link.py's (private there: a public name is heap on the board; tests/host/test_board_constants.py
# holds the copies to link's values)
_STATS_COUNT = const(18)
_CAN_MAX_DATA = const(64)
# HELLO's caps bits (the board's only copy; tests/files/constants/board.json specifies them)
_CAP_REPLAY = const(1)
_CAP_PYB_CAN = const(2)
_CAP_MACHINE_CAN = const(4)
_CAP_VIPER = const(8)
_CAP_SUPERVISION = const(16)
_CAP_TELEMETRY_CHANGED = const(32)


def _boot_id():
    try:
        import os

        return int.from_bytes(os.urandom(4), "little") & 0x3FFFFFFF
    except (ImportError, AttributeError, OSError):
        return time.ticks_us() & 0x3FFFFFFF


def _board_name(cfg):
    if cfg.get("board"):
        return cfg["board"]
    return getattr(sys.implementation, "_machine", sys.platform)


def build(self, cfg, port):
    """Board.__init__'s work (self: the app.Board being built)."""
    self.port = port  # of cfg, only what run() reads keeps (the dict leaves the heap)
    self.watchdog_ms = int(cfg.get("watchdog_ms", 0))
    self.name = _board_name(cfg)  # HELLO's board
    ch = None  # telemetry "changed": only the signals that moved (firmware/changed.py); its
    # attributes exist only when it is on (none on a board without it: RAM is the budget)
    if cfg.get("telemetry", "all") == "changed":
        gc.collect()
        try:  # first: its code and state at the bottom of the heap, below supervision's large blocks
            import changed

            ch = self.changed = changed.Changed(dbc, int(cfg.get("refresh_ms", 1000)))
        except (ImportError, OSError, ValueError, MemoryError) as exc:
            self.changed_problem = "telemetry changed unavailable, sending all: %r" % (exc,)
    # supervision first: its code and tables are the largest blocks, best taken from an
    # unfragmented heap
    self.supervisor = None
    self.sup_problem = None
    if cfg.get("supervise", True):
        gc.collect()
        try:
            import supervise
            import supervise_rules

            self.supervisor = supervise.Supervisor(supervise_rules, dbc.lookup, self.alert, self.tow_range)
        except (ImportError, MemoryError) as exc:  # no rule tables, or no room: decode only
            self.sup_problem = "supervision off: %r" % (exc,)
    self.replay = cfg["mode"] != "live"
    self.decimation = max(1, int(cfg["decimation"]))
    self.rx_window = int(cfg.get("rx_window", 1024))
    # the port's reads: what a pass of the loop takes at most (the rest waits in the port's own
    # buffer for the next pass); the reader decodes from it without a copy
    self.rx = bytearray(min(self.rx_window, 512))
    self.reader = link.FrameReader()
    self.writer = link.Writer(dbc) if ch is None else ch.writer(dbc)
    self.lanes, self.selected = dbc.new_buffers()
    self.decoders = dbc.DECODERS  # messages with a function of their own (the hot ones)
    chosen, every = len(dbc.MESSAGES), getattr(dbc, "DBC_MESSAGES", len(dbc.MESSAGES))
    self.selection = None if chosen == every else (
        "decoder: %d of the DBC's %d messages (mule flash --messages/--nodes); frames of the others "
        "count as unknown ids" % (chosen, every))
    self.table_decode = dbc.table_decode  # every other message of the DBC: the table walker
    # replay_batch's look-up (_records, viper): the frame keys sorted for a binary search,
    # no dictionary call per frame; own[k]: keys[k] has a function of its own, fns[k]
    keys = dbc.keys()
    keys.sort()
    self.keys = array("i", keys)
    self.own = bytearray(1 if k in self.decoders else 0 for k in keys)
    self.fns = tuple(self.decoders.get(k) for k in keys)
    # _records' state: the record being done (replay_batch drops one that raises),
    # supervision on, TELEMETRY in the loop (0: records go through decode(), as another
    # telemetry mode needs)
    self.at = array("i", bytes(4 * 3))
    self.at[_AT_TM] = 1
    self.sup_frame = self.sup_other = self.sup_st = None
    self.stats = array("i", bytes(4 * _STATS_COUNT))  # _records counts through a pointer
    self.record = array("i", bytes(16))
    self.data = bytearray(_CAN_MAX_DATA)
    self.stats[_HEAP_MIN] = gc.mem_free()
    self.boot_id = _boot_id()
    self.sha = unhexlify(dbc.DBC_SHA256)
    self.source = None
    self.live_no = 0
    self.started = time.ticks_ms()
    self.last_stats = self.started
    self.last_credit = self.started
    self.caps = _CAP_REPLAY | (_CAP_VIPER if dbc.EMIT == "viper" else 0)
    if self.supervisor is not None:
        self.caps |= _CAP_SUPERVISION
        self.at[_AT_SUP] = 1
        self.sup_frame = type(self.supervisor).frame  # called unbound: no look-up per frame
        self.sup_other = supervise.other
        self.sup_st = self.supervisor.st
    if ch is not None:
        import app_live  # Board.decode's code

        self.decode = ch.decode(self, app_live.decode)  # notes the frame time first
        self.caps |= _CAP_TELEMETRY_CHANGED
        self.at[_AT_TM] = 0  # replay_batch: each record through decode(), which picks
    # live: frames from the CAN controller. Replay with "replay_path": "loopback": the
    # link's frames go through the controller (silent loopback) and back, so replay
    # tests its filters and FIFO too. can_source.BusGuard watches the error state.
    self.problems = []  # LOG lines repeated after each HELLO (run() fills it)
    self.can_problem = None
    self.bus_guard = None
    loopback = self.replay and cfg.get("replay_path", "link") == "loopback"
    self.live = None  # app_live: the code of the controller's paths, loaded only for them
    if not self.replay or loopback:
        import app_live
        import can_source

        self.live = app_live

        try:
            self.source = can_source.open_source(cfg, dbc.keys(), loopback)
        except (ImportError, AttributeError, ValueError, OSError) as exc:
            if not loopback:
                raise
            # no controller here: replay over the link only, and say so in HELLO's LOG
            self.can_problem = "replay_path loopback unavailable, replaying from the link: %r" % (exc,)
        if self.source is not None:
            self.caps |= {"pyb": _CAP_PYB_CAN, "machine": _CAP_MACHINE_CAN}.get(self.source.kind, 0)
            self.bus_guard = can_source.BusGuard(time.ticks_ms())
            self.bus_no = 0  # the frame number ALERTs about the bus carry: the last frame seen
            self.bus_checked = time.ticks_ms()
