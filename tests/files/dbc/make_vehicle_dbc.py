#!/usr/bin/env python3
"""Regenerate the vehicle-scale test DBCs deterministically (stdlib only, fixed seeds).

A production vehicle database, not a feature file: hundreds of messages on mixed buses
(classic 8-byte frames with standard ids, J1939-style extended ids, CAN FD frames up to
64 bytes), signals packed the way ECU suppliers pack them (byte-aligned mostly, a whole
node in Motorola order), signed, scaled, 64-bit and float signals, nested multiplexers
(SG_MUL_VAL_), and the overlapping signals real DBCs carry, of three kinds:

- an Intel and a Motorola signal over the same bits (cantools decodes each from its bits);
- a multiplexed signal over a plain one (decoded at different levels of cantools' tree);
- two signals of one level and one byte order sharing bits (cantools' strict load refuses
  the file; its non-strict decode of such a frame raises "unpacking failed").

Usage: python3 tests/files/dbc/make_vehicle_dbc.py   (rewrites the files byte for byte)
"""
import random
from pathlib import Path

from make_many_messages import signal_bits  # beside this file: the bit arithmetic of both generators

HERE = Path(__file__).parent
# file name -> (seed, messages, FD share, overlapping messages of each kind)
FILES = {
    "vehicle_330_canfd_overlapping.dbc": (20261206, 330, 0.2, 6),
    "vehicle_120_classic.dbc": (20261207, 120, 0.0, 0),
}
NODES = ["VCU", "BMS", "INV", "OBC", "DCDC", "ESP", "EPS", "ADAS", "BCM", "HVAC", "TPMS", "HITCH"]
MOTOROLA_NODES = {"HITCH", "EPS", "TPMS"}  # suppliers that pack big-endian
FD_LENGTHS = [12, 16, 20, 24, 32, 48, 64, 64, 64]
SCALES = [(1, 0)] * 5 + [(0.1, 0), (0.5, 0), (0.01, 0), (1, -40), (0.25, -50), (0.001, 0),
                         (0.0625, 0), (10, -1000), (0.1, -3276.8), (0.05, -1600)]
UNITS = ["", "", "", "V", "A", "km/h", "rpm", "degC", "%", "Nm", "bar", "kW", "deg"]
CYCLES = [None, 10, 10, 20, 20, 50, 100, 100, 200, 500, 1000]
WIDTHS = [1, 1, 2, 2, 3, 4, 8, 8, 8, 8, 12, 16, 16, 16, 16, 24, 32, 32, 64]

HEADER = """VERSION ""


NS_ :
\tCM_
\tBA_DEF_
\tBA_
\tVAL_
\tBA_DEF_DEF_
\tSIG_VALTYPE_
\tSG_MUL_VAL_

BS_:

"""


def fmt(x):
    if isinstance(x, int):
        return str(x)
    r = repr(float(x))
    return r[:-2] if r.endswith(".0") else r


def moto_start(lsb_byte, lsb_bit, length):
    """DBC start (MSB, sawtooth) of a Motorola signal whose LSB is bit `lsb_bit` of byte `lsb_byte`."""
    pos = lsb_byte * 8 + lsb_bit
    for _ in range(length - 1):  # walk from the LSB towards the MSB
        pos = pos - 15 if pos % 8 == 7 else pos + 1
    return pos


class Message:
    def __init__(self, index, frame_id, ext, length, fd, sender, rng):
        self.index, self.frame_id, self.ext, self.length, self.fd = index, frame_id, ext, length, fd
        self.sender = sender
        self.signals = []
        self.used = set()
        self.rng = rng
        self.cycle = rng.choice(CYCLES)
        self.mul_val = []  # SG_MUL_VAL_ lines

    @property
    def dbc_id(self):
        return self.frame_id | (0x80000000 if self.ext else 0)

    @property
    def name(self):
        return f"{self.sender}_{'X' if self.ext else 'S'}{self.frame_id:0{8 if self.ext else 3}X}_{self.index:03d}"

    def place(self, width, intel, used=None, align=True):
        """A free run of `width` bits (byte-aligned where it can be); None if none."""
        used = self.used if used is None else used
        nbits = 8 * self.length
        starts = list(range(0, nbits, 8 if align and width >= 8 else (4 if align else 1)))
        self.rng.shuffle(starts)
        for lsb in starts:
            if intel:
                start = lsb
            else:
                if lsb // 8 * 8 + 8 > nbits:
                    continue
                start = moto_start(lsb // 8, lsb % 8, width)
            bits = signal_bits(start, width, intel)
            if all(0 <= b < nbits for b in bits) and not used.intersection(bits) and \
                    (intel or start // 8 < self.length):
                if not intel and sorted(bits) != sorted(set(bits)):
                    continue
                return start, bits
        return None

    def add(self, name, start, length, intel, signed=False, scale=1, offset=0, unit="", mux="",
            is_float=False, choices=None, bits=None, reserve=True):
        if reserve and bits:
            self.used.update(bits)
        if length == 1 or is_float:
            scale, offset = (1, 0) if length == 1 else (scale, offset)
        lo, hi = ((-(1 << (length - 1)), (1 << (length - 1)) - 1) if signed else (0, (1 << length) - 1))
        mn, mx = sorted((lo * scale + offset, hi * scale + offset)) if not is_float else (0, 0)
        if isinstance(scale, float) or isinstance(offset, float):
            mn, mx = round(mn, 6), round(mx, 6)
        self.signals.append(dict(name=name, start=start, length=length, intel=intel, signed=signed,
                                 scale=scale, offset=offset, min=mn, max=mx, unit=unit, mux=mux,
                                 is_float=is_float, choices=choices))

    def random_signal(self, k, intel, used=None, mux="", prefix="Sig"):
        rng = self.rng
        width = rng.choice(WIDTHS)
        if width == 64 and self.length < 8:
            width = 32
        is_float = width in (32, 64) and rng.random() < 0.1
        spot = self.place(width, intel, used)
        if spot is None:
            return None
        start, bits = spot
        signed = not is_float and width > 1 and rng.random() < 0.3
        scale, offset = rng.choice(SCALES) if not is_float else (1, 0)
        choices = None
        if width <= 4 and not signed:
            choices = [(v, f"State{v}") for v in range(min(4, 1 << width))]
        name = f"{prefix}{k:02d}_{'I' if intel else 'M'}{width}{'s' if signed else 'u'}{'f' if is_float else ''}"
        if used is not None:
            used.update(bits)
        self.add(name, start, width, intel, signed, scale, offset, rng.choice(UNITS), mux, is_float,
                 choices, bits, reserve=used is None)
        return bits


def make_messages(seed, count, fd_share, overlapping):
    rng = random.Random(seed)
    std_ids = rng.sample(range(0x010, 0x7F0), int(count * 0.6))
    ext = set()
    while len(ext) < count - len(std_ids):
        pgn = rng.choice([0xF004, 0xFEF1, 0xFEEE, 0xFF00 + rng.randrange(256), 0xFD00 + rng.randrange(256)])
        ext.add((rng.choice([3, 6, 7]) << 26) | (pgn << 8) | rng.randrange(256))
    ids = [(i, False) for i in std_ids] + [(i, True) for i in sorted(ext)]
    rng.shuffle(ids)
    messages = []
    for index, (frame_id, is_ext) in enumerate(ids):
        fd = rng.random() < fd_share
        length = rng.choice(FD_LENGTHS) if fd else rng.choice([8, 8, 8, 8, 6, 4, 2])
        sender = rng.choice(NODES)
        messages.append(Message(index, frame_id, is_ext, length, fd, sender, rng))
    # the first messages of the file carry the special layouts, so a reader finds them
    special = iter(messages)
    for _ in range(min(8, count // 20)):
        nested_mux(next(special))
    for kind in ("cross_order", "mux_over_plain", "same_order"):
        for _ in range(overlapping):
            overlap(next(special), kind)
    for m in messages:
        if not m.signals:
            plain(m)
    return messages


def plain(m):
    intel = m.sender not in MOTOROLA_NODES
    want = m.rng.randint(2, 6) * (1 + m.length // 16)
    k = 0
    for _ in range(want * 3):
        if len(m.signals) >= want:
            break
        if m.random_signal(k, intel) is not None:
            k += 1
    last = (m.length - 1) * 8  # a checksum byte, in the last byte when it is free
    for lsb in [last] + list(range(0, 8 * m.length, 8)):
        bits = list(range(lsb, lsb + 8))
        if not m.used.intersection(bits):
            m.add(f"Crc_{m.index:03d}", lsb, 8, True, bits=bits)
            break


def nested_mux(m):
    """M -> m<i>M -> m<j>: a page multiplexer, a sub-page multiplexer under some pages."""
    m.length = max(m.length, 8)
    rng = m.rng
    m.add("Page", 0, 4, True, bits=list(range(0, 4)), choices=[(0, "Summary"), (1, "Detail")])
    m.add("Alive", 4, 4, True, bits=list(range(4, 8)))
    pages = rng.sample(range(16), 4)
    for p in pages:
        used = set(m.used)
        if p == pages[0]:  # nested: a sub-multiplexer in byte 1
            m.add("SubPage", 8, 8, True, mux=f"m{p}M", bits=list(range(8, 16)))
            m.mul_val.append(("SubPage", "Page", f"{p}-{p}"))
            used.update(range(8, 16))
            for q in rng.sample(range(256), 3):
                sub_used = set(used)
                for k in range(rng.randint(1, 3)):
                    name_k = len(m.signals)
                    bits = m.random_signal(name_k, True, sub_used, mux=f"m{q}", prefix=f"P{p}Q{q}_")
                    if bits is not None:
                        m.mul_val.append((m.signals[-1]["name"], "SubPage", f"{q}-{q}"))
            continue
        for k in range(rng.randint(1, 4)):
            name_k = len(m.signals)
            if m.random_signal(name_k, rng.random() < 0.7, used, mux=f"m{p}", prefix=f"P{p}_") is not None:
                m.mul_val.append((m.signals[-1]["name"], "Page", f"{p}-{p}"))


def overlap(m, kind):
    m.length = max(m.length, 8)
    if kind == "cross_order":
        # a 16-bit Intel value over bytes 2..3 and a Motorola view of the same bytes
        m.add("RawWord_I16u", 16, 16, True, bits=list(range(16, 32)))
        m.add("RawWord_M16s", moto_start(2, 0, 16), 16, False, signed=True, scale=0.1, reserve=False)
    elif kind == "mux_over_plain":
        m.add("Mode", 0, 2, True, bits=[0, 1])
        m.add("Temp_I16s", 16, 16, True, signed=True, scale=0.1, offset=-40, unit="degC", bits=list(range(16, 32)))
        m.add("TempHigh_I8u", 24, 8, True, mux="m1", reserve=False)  # the high byte of Temp, in mode 1
        m.add("Counter_I4u", 8, 4, True, mux="m0", bits=list(range(8, 12)))
    else:
        # a 16-bit value and its low byte, both Intel at the top level: cantools cannot unpack it
        m.add("Status_I16u", 32, 16, True, bits=list(range(32, 48)))
        m.add("StatusLow_I8u", 32, 8, True, reserve=False)
    plain(m)


def write(path, seed, messages):
    out = [HEADER, "BU_: " + " ".join(NODES) + "\n\n\n"]
    for m in messages:
        out.append(f"BO_ {m.dbc_id} {m.name}: {m.length} {m.sender}\n")
        for s in m.signals:
            mux = f" {s['mux']}" if s["mux"] else ""
            if s["name"] in ("Page", "Mode"):
                mux = " M"
            out.append(
                f" SG_ {s['name']}{mux} : {s['start']}|{s['length']}@{'1' if s['intel'] else '0'}"
                f"{'-' if s['signed'] or s['is_float'] else '+'} ({fmt(s['scale'])},{fmt(s['offset'])})"
                f" [{fmt(s['min'])}|{fmt(s['max'])}] \"{s['unit']}\" Vector__XXX\n")
        out.append("\n")
    out.append(f'\nCM_ "Generated by make_vehicle_dbc.py (seed {seed}): {len(messages)} messages. '
               'Do not edit by hand.";\n')
    out.append('BA_DEF_ BO_  "GenMsgCycleTime" INT 0 65535;\n')
    out.append('BA_DEF_ BO_  "VFrameFormat" ENUM  "StandardCAN","ExtendedCAN","reserved","J1939PG",'
               + ",".join(['"reserved"'] * 10) + ',"StandardCAN_FD","ExtendedCAN_FD";\n')
    out.append('BA_DEF_DEF_  "GenMsgCycleTime" 0;\n')
    out.append('BA_DEF_DEF_  "VFrameFormat" "StandardCAN";\n')
    for m in messages:
        if m.cycle:
            out.append(f'BA_ "GenMsgCycleTime" BO_ {m.dbc_id} {m.cycle};\n')
        if m.fd:
            out.append(f'BA_ "VFrameFormat" BO_ {m.dbc_id} {15 if m.ext else 14};\n')
        elif m.ext:
            out.append(f'BA_ "VFrameFormat" BO_ {m.dbc_id} 1;\n')
    for m in messages:
        for s in m.signals:
            if s["choices"]:
                pairs = " ".join(f'{k} "{v}"' for k, v in reversed(s["choices"]))
                out.append(f"VAL_ {m.dbc_id} {s['name']} {pairs} ;\n")
    for m in messages:
        for s in m.signals:
            if s["is_float"]:
                out.append(f"SIG_VALTYPE_ {m.dbc_id} {s['name']} : {1 if s['length'] == 32 else 2};\n")
    for m in messages:
        for child, parent, values in m.mul_val:
            out.append(f"SG_MUL_VAL_ {m.dbc_id} {child} {parent} {values};\n")
    path.write_text("".join(out), encoding="ascii", newline="\n")


def main():
    for name, (seed, count, fd_share, overlapping) in FILES.items():
        messages = make_messages(seed, count, fd_share, overlapping)
        write(HERE / name, seed, messages)
        print(f"wrote {HERE / name} ({len(messages)} messages, "
              f"{sum(len(m.signals) for m in messages)} signals)")


if __name__ == "__main__":
    main()
