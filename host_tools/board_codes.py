"""What the board's numbers mean on the host, written once: the decoder's result codes as
`mule decode` statuses (TELEMETRY's result field, the supervisor's `result` argument), and
a frame's log time as the board's replay clock (a CAN record's `t_us`)."""

from __future__ import annotations

from host_tools.codegen.emit import ERR_LENGTH, ERR_MUX, ERR_UNKNOWN_ID
from host_tools.engines import BAD_MUX, UNKNOWN_ID, WRONG_LENGTH

# the generated decoder's error results (docs/decoder.md); >= 0: a message index
RESULT_STATUS = {ERR_UNKNOWN_ID: UNKNOWN_ID, ERR_LENGTH: WRONG_LENGTH, ERR_MUX: BAD_MUX}
STATUS_RESULT = {status: code for code, status in RESULT_STATUS.items()}


def status_of(result: int) -> str:
    """A negative result code's status ("result N" for a code the host does not know)."""
    return RESULT_STATUS.get(result, f"result {result}")


# the board keeps times (supervision, telemetry "changed") in µs mod 2**30: small ints on 32 bits
TIME_MASK = 0x3FFFFFFF


def replay_us(t: float, t0: float) -> int:
    """A frame's time on the board's replay clock: µs since the first frame (log time t0),
    mod 2**32 as a CAN record carries it (the board's supervision keeps it mod 2**30)."""
    return int((t - t0) * 1e6) & 0xFFFFFFFF
