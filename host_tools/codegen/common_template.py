import micropython
from array import array
from micropython import const

# The part of the decoder both profiles share (runtime_template.py: the full module;
# board_template.py: the board's, without names). docs/decoder.md.

# decode() results below zero
ERR_UNKNOWN_ID = const(-1)  # the DBC lacks the id
ERR_LENGTH = const(-2)  # payload length differs from the DBC's
ERR_MUX = const(-3)  # a multiplexer value the DBC does not define

# Bits of a signal's kind word above its length (low 7 bits); the full profile has more.
KIND_SIGNED = const(0x80)
KIND_FLOAT = const(0x100)

_EXT_KEY = const(0x20000000)  # above every 29-bit id, so keys stay small ints


def new_buffers():
    """Allocate once: (lanes, selected) for decode()."""
    return array("i", bytes(4 * MAX_LANES)), array("H", bytes(2 * (MAX_SIGNALS + 1)))


def key(can_id, ext):
    """The DECODERS key of an id: a standard and an extended 0x123 are different frames."""
    return can_id | _EXT_KEY if ext else can_id


@micropython.native
def lookup(can_id, ext):
    """Message index for an arbitration id, or -1 when the DBC lacks it."""
    return _INDEX.get(can_id | _EXT_KEY if ext else can_id, -1)
