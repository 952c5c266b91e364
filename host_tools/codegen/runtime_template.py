import micropython
import struct
from array import array
from micropython import const

ERR_LENGTH = const(-1)  # payload length differs from the DBC's
ERR_MUX = const(-2)  # a multiplexer value the DBC does not define

# Field numbers of a MESSAGES row and of a signal row.
M_NAME = const(0)
M_FRAME_ID = const(1)
M_EXT = const(2)
M_LENGTH = const(3)
M_CYCLE_MS = const(4)
M_SIGNALS = const(5)
S_NAME = const(0)
S_LANE = const(1)
S_KIND = const(2)
S_SCALE = const(3)
S_OFFSET = const(4)
S_MINIMUM = const(5)
S_MAXIMUM = const(6)
S_UNIT = const(7)
S_CHOICES = const(8)

# Bits of a signal's kind word above its length (low 7 bits).
KIND_SIGNED = const(0x80)
KIND_FLOAT = const(0x100)
KIND_IDENTITY = const(0x200)

_EXT_KEY = const(0x20000000)  # above every 29-bit id, so keys stay small ints
_float_buf = bytearray(8)


def new_buffers():
    """Allocate once: (lanes, selected) for decode_raw."""
    return array("i", bytes(4 * MAX_LANES)), array("H", bytes(2 * MAX_SIGNALS))


def lookup(can_id, ext):
    """Message index for an arbitration id, or -1 when the DBC lacks it."""
    return _INDEX.get(can_id | _EXT_KEY if ext else can_id, -1)


def decode_raw(mi, data, lanes, selected):
    """Decode message `mi` into `lanes`; allocates nothing.

    Returns n >= 0: the indices of the signals present are selected[0:n] (a
    multiplexed frame holds only its multiplexer's signals). Returns ERR_LENGTH or
    ERR_MUX when the frame cannot be decoded.
    """
    n = len(data)
    if n != _LENGTHS[2 * mi] and n != _LENGTHS[2 * mi + 1]:
        return ERR_LENGTH
    return _DECODERS[mi](data, lanes, selected)


def raw_value(mi, si, lanes):
    """Raw value of signal `si` after decode_raw: an int, or a float for IEEE signals."""
    signal = MESSAGES[mi][M_SIGNALS][si]
    lane = signal[S_LANE]
    kind = signal[S_KIND]
    length = kind & 0x7F
    low = lanes[lane]
    if kind & KIND_FLOAT:
        if length == 32:
            struct.pack_into("<i", _float_buf, 0, low)
            return struct.unpack_from("<f", _float_buf)[0]
        struct.pack_into("<ii", _float_buf, 0, low, lanes[lane + 1])
        return struct.unpack_from("<d", _float_buf)[0]
    if length < 32:
        return low
    if length == 32:
        return low if kind & KIND_SIGNED else low & 0xFFFFFFFF
    high = lanes[lane + 1]
    if not kind & KIND_SIGNED:
        high &= 0xFFFFFFFF
    return (high << 32) | (low & 0xFFFFFFFF)


def phys_value(mi, si, lanes):
    """Physical value (raw * scale + offset, as cantools computes it)."""
    signal = MESSAGES[mi][M_SIGNALS][si]
    raw = raw_value(mi, si, lanes)
    if signal[S_KIND] & KIND_IDENTITY:
        return raw
    return raw * signal[S_SCALE] + signal[S_OFFSET]


def find_message(name):
    """Message index by name, or -1."""
    for mi in range(len(MESSAGES)):
        if MESSAGES[mi][M_NAME] == name:
            return mi
    return -1


def find_signal(mi, name):
    """Signal index by name within message `mi`, or -1."""
    signals = MESSAGES[mi][M_SIGNALS]
    for si in range(len(signals)):
        if signals[si][S_NAME] == name:
            return si
    return -1
