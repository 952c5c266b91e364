"""Decode engines: each turns CAN data frames into outcomes in the `mule decode` schema.

`cantools_engine` is the reference in CPython; `firmware_engine` runs the generated
decoder inside the MicroPython unix port. Both yield one Outcome per frame, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Outcome.status values
DECODED = "decoded"
UNKNOWN_ID = "unknown_id"
WRONG_LENGTH = "wrong_length"
BAD_MUX = "bad_multiplexer"


@dataclass
class Outcome:
    status: str
    msg: str | None = None
    raw: dict = field(default_factory=dict)
    phys: dict = field(default_factory=dict)


ENGINES = ("cantools", "firmware", "vector")


class InProcessEngine:
    """An engine that decodes in this process (cantools, vector): a context manager with
    nothing to start or stop, for `with engine:` as the firmware engine needs."""

    def __init__(self, dbc):
        self.dbc = dbc

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass
