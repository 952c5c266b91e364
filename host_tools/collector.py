"""Python's cyclic garbage collector held off while a hot loop runs (the replay's send
loop, a simulator run)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside. The loops this guards make a few tuples, lists
    and records per frame, freed by reference counting at once; the collections their
    counts set off found nothing, cost the simulator an eighth of its run, and stopped the
    replay for 30-100 ms at a time (a pass over every live object: the DBC, the log reader),
    which put hundreds of frames late at --speed 1. What lives on entry is frozen, so not
    even a collection someone forces scans it. Whatever cycles the loop leaves are collected
    once the collector is back on; its state on entry is restored."""
    was_on = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_on:
            gc.enable()
