"""Writing to a pseudo-terminal opened non-blocking, for the relays that feed one (the
virtual boards' ports, the virtual CAN bus's slcan adapter)."""

from __future__ import annotations

import os


def write_pending(fd: int, pending: bytearray) -> None:
    """Write what the pty takes now; the rest stays in `pending` for the next call (a pty
    nobody reads fills up, and one whose other side is closed refuses: both wait)."""
    while pending:
        try:
            n = os.write(fd, pending)
        except OSError:  # BlockingIOError included
            return
        del pending[:n]
