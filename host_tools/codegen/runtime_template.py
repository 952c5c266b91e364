import struct

# The full profile of the decoder: common_template.py, then this, then the tables.

# Fields of a MESSAGES row.
M_NAME = const(0)
M_FRAME_ID = const(1)
M_EXT = const(2)
M_LENGTH = const(3)
M_CYCLE_MS = const(4)  # GenMsgCycleTime, or None
M_SIGNAL_NAMES = const(5)  # packed: one name per signal
M_UNITS = const(6)  # packed: one unit per signal ("" for none)
M_LAYOUT = const(7)  # bytes: one 36-byte record per signal, see below
M_CHOICES = const(8)  # packed: signal index, raw value, label per value-table entry

# "Packed" strings: one bytes object holding each string's UTF-8 bytes after their count
# (LEB128: 7 bits a byte, low first, high bit set on all but the last; one byte below 128),
# b"\ndrive_mode\x0eroad grade raw": one heap object per field, and names with spaces,
# tabs, newlines or any other character come back exactly (_unpack).

# A layout record, little-endian: lane u16, kind u16, scale and offset (int64 when
# KIND_INT_CONV, else float64), minimum and maximum (float64). Packed bytes instead
# of tuples of floats: a few KB of heap instead of tens.
_RECORD = const(36)

# Bits of a signal's kind word above its length (low 7 bits), besides KIND_SIGNED and KIND_FLOAT.
KIND_IDENTITY = const(0x200)
KIND_INT_CONV = const(0x400)
KIND_HAS_MIN = const(0x800)
KIND_HAS_MAX = const(0x1000)

_float_buf = bytearray(8)


@micropython.native
def decode(can_id, ext, data, lanes, selected):
    """Decode one frame into `lanes`; allocates nothing.

    Returns the message index mi >= 0, with the count n of signals present in
    selected[0] and their indices in selected[1..n] (a multiplexed frame holds only its
    multiplexer's signals); or ERR_UNKNOWN_ID, ERR_LENGTH, ERR_MUX. A hot loop can skip
    this call: DECODERS.get(key(can_id, ext))(data, lanes, selected, len(data)), and
    table_decode(key, data, lanes, selected, len(data)) where DECODERS has no function.
    """
    k = can_id | _EXT_KEY if ext else can_id
    decoder = DECODERS.get(k)
    if decoder is None:
        return table_decode(k, data, lanes, selected, len(data))
    return decoder(data, lanes, selected, len(data))


def lane_of(mi, si):
    """First lane of signal `si`: its raw bits are in lanes[lane] (and lanes[lane + 1]
    for signals wider than 32 bits). Allocates nothing."""
    layout = MESSAGES[mi][M_LAYOUT]
    r = si * _RECORD
    return layout[r] | (layout[r + 1] << 8)


def kind_of(mi, si):
    """Length and KIND_* flags of signal `si`. Allocates nothing."""
    layout = MESSAGES[mi][M_LAYOUT]
    r = si * _RECORD
    return layout[r + 2] | (layout[r + 3] << 8)


def raw_value(mi, si, lanes):
    """Raw value of signal `si` after decode(): an int, or a float for IEEE signals."""
    lane = lane_of(mi, si)
    kind = kind_of(mi, si)
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


def scale_offset(mi, si):
    """(scale, offset) of signal `si`: ints when the DBC's are integers."""
    fmt = "<qq" if kind_of(mi, si) & KIND_INT_CONV else "<dd"
    return struct.unpack_from(fmt, MESSAGES[mi][M_LAYOUT], si * _RECORD + 4)


def signal_range(mi, si):
    """(minimum, maximum) from the DBC as floats; None where the DBC gives none."""
    kind = kind_of(mi, si)
    low, high = struct.unpack_from("<dd", MESSAGES[mi][M_LAYOUT], si * _RECORD + 20)
    return (low if kind & KIND_HAS_MIN else None, high if kind & KIND_HAS_MAX else None)


def phys_value(mi, si, lanes):
    """Physical value: raw * scale + offset, as cantools computes it."""
    raw = raw_value(mi, si, lanes)
    if kind_of(mi, si) & KIND_IDENTITY:
        return raw
    scale, offset = scale_offset(mi, si)
    return raw * scale + offset


def signal_count(mi):
    """How many signals message `mi` has (allocates nothing)."""
    return len(MESSAGES[mi][M_LAYOUT]) // _RECORD


def _unpack(packed):
    """The strings of a packed field, in order."""
    found = []
    i = 0
    while i < len(packed):
        size = shift = 0
        while True:
            b = packed[i]
            i += 1
            size |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        found.append(str(packed[i:i + size], "utf-8"))
        i += size
    return found


def signal_names(mi):
    """Names of message `mi`'s signals, in DBC order (signal index order)."""
    return _unpack(MESSAGES[mi][M_SIGNAL_NAMES])


def signal_unit(mi, si):
    """Unit of signal `si`, "" where the DBC gives none."""
    return _unpack(MESSAGES[mi][M_UNITS])[si]


def signal_choices(mi, si):
    """The value table of signal `si` as ((raw, label), ...), or None."""
    found = []
    items = _unpack(MESSAGES[mi][M_CHOICES])
    for k in range(0, len(items), 3):
        if int(items[k]) == si:
            found.append((int(items[k + 1]), items[k + 2]))
    return tuple(found) if found else None


def find_message(name):
    """Message index by name, or -1."""
    for mi in range(len(MESSAGES)):
        if MESSAGES[mi][M_NAME] == name:
            return mi
    return -1


def find_signal(mi, name):
    """Signal index by name within message `mi`, or -1."""
    names = signal_names(mi)
    for si in range(len(names)):
        if names[si] == name:
            return si
    return -1
