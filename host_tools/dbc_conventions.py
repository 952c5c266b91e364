"""The project DBC's conventions for raw values that cantools does not model: which raws a
signal's field and its [min|max] allow, and the "not available" code a comment names
and how often a message comes (docs/dbc.md). The board's range check, the supervision tables and the simulator read them here."""

from __future__ import annotations

import math
import re

_NA = re.compile(r"Raw (0x[0-9A-Fa-f]+|\d+) = not available")


def not_available_raw(signal) -> int | None:
    """The raw "not available" code a signal's DBC comment names, if any."""
    comment = signal.comment or ""
    if isinstance(comment, dict):  # cantools keeps per-language comments in some versions
        comment = " ".join(comment.values())
    found = _NA.search(comment)
    return int(found.group(1), 0) if found else None


def raw_limits(signal) -> tuple[int, int]:
    """The raw values the signal's field can hold."""
    if signal.is_signed:
        return -(1 << (signal.length - 1)), (1 << (signal.length - 1)) - 1
    return 0, (1 << signal.length) - 1


def raw_range(signal) -> tuple[int, int]:
    """The raw values inside the DBC's [min|max] (the whole field where none is given)."""
    lo, hi = raw_limits(signal)
    if signal.minimum is not None:
        lo = max(lo, math.ceil((signal.minimum - signal.offset) / signal.scale - 1e-9))
    if signal.maximum is not None:
        hi = min(hi, math.floor((signal.maximum - signal.offset) / signal.scale + 1e-9))
    return lo, hi


def frame_period_us(message) -> int:
    """Time between frames of the id (GenMsgCycleTime); a multiplexed message sends one group
    per frame, so its frames come that many times as often. What timeouts count in."""
    period = (message.cycle_time or 1000) * 1000
    if message.is_multiplexed():
        groups = {v for s in message.signals for v in (s.multiplexer_ids or ())}
        period //= max(1, len(groups))
    return period
