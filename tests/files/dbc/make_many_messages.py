#!/usr/bin/env python3
"""Regenerate many_messages.dbc (400 messages) deterministically.

Stdlib only, fixed seed: running this script rewrites many_messages.dbc next
to it byte for byte identically.  The file stresses the generator with volume:
mixed standard/extended ids, Intel/Motorola signals packed at random (but
non-overlapping) positions, 1..8 signals per message, lengths 1..8, signed and
unsigned, a few float32/float64 signals, scales/offsets, units, min/max, value
tables, comments and GenMsgCycleTime attributes.

Usage: python3 tests/files/dbc/make_many_messages.py
"""
import random
from pathlib import Path

SEED = 20240601
N_MESSAGES = 400
OUT = Path(__file__).with_name("many_messages.dbc")

HEADER = """VERSION ""


NS_ :
\tNS_DESC_
\tCM_
\tBA_DEF_
\tBA_
\tVAL_
\tCAT_DEF_
\tCAT_
\tFILTER
\tBA_DEF_DEF_
\tEV_DATA_
\tENVVAR_DATA_
\tSGTYPE_
\tSGTYPE_VAL_
\tBA_DEF_SGTYPE_
\tBA_SGTYPE_
\tSIG_TYPE_REF_
\tVAL_TABLE_
\tSIG_GROUP_
\tSIG_VALTYPE_
\tSIGTYPE_VALTYPE_
\tBO_TX_BU_
\tBA_DEF_REL_
\tBA_REL_
\tBA_DEF_SGTYPE_
\tBU_SG_REL_
\tBU_EV_REL_
\tBU_BO_REL_
\tSG_MUL_VAL_

BS_:

"""

NODES = ["ECU_A", "ECU_B", "ECU_C", "Gateway"]
# (scale, offset) pairs; ints stay ints in the DBC text
SCALES = [(1, 0)] * 6 + [(0.1, 0), (0.5, 0), (0.01, 0), (1, -40), (0.25, -50),
                          (2, 0), (0.001, 0), (0.0625, 0), (10, -1000), (-0.5, 0)]
UNITS = ["", "", "", "V", "A", "km/h", "rpm", "degC", "%", "Nm", "bar", "m"]
CYCLES = [None, None, None, 10, 20, 50, 100, 100, 200, 500, 1000]


def moto_bits(start, length):
    """Absolute bit numbers of a Motorola signal with MSB at DBC bit `start`."""
    bits, p = [], start
    for i in range(length):
        bits.append(p)
        if i < length - 1:
            p = p + 15 if p % 8 == 0 else p - 1
    return bits


def signal_bits(start, length, intel):
    return list(range(start, start + length)) if intel else moto_bits(start, length)


def fmt(x):
    if isinstance(x, int):
        return str(x)
    r = repr(float(x))
    return r[:-2] if r.endswith(".0") else r


def phys_range(length, signed, scale, offset, is_float):
    if is_float:
        return 0, 0  # "no range"
    lo, hi = ((-(1 << (length - 1)), (1 << (length - 1)) - 1) if signed
              else (0, (1 << length) - 1))
    a, b = lo * scale + offset, hi * scale + offset
    return min(a, b), max(a, b)


def pick_length(rng):
    r = rng.random()
    if r < 0.25:
        return rng.randint(1, 4)
    if r < 0.7:
        return rng.randint(5, 16)
    if r < 0.9:
        return rng.randint(17, 32)
    return rng.randint(33, 64)


def make_message(rng, index, frame_id, extended):
    length = rng.randint(1, 8)
    nbits = 8 * length
    used = set()
    want = rng.randint(1, 8)
    signals = []
    attempts = 0
    while len(signals) < want and attempts < 400:
        attempts += 1
        intel = rng.random() < 0.5
        is_float = False
        if rng.random() < 0.05 and nbits >= 32:
            is_float = True
            slen = 64 if (nbits >= 64 and rng.random() < 0.4) else 32
        else:
            slen = min(pick_length(rng), nbits)
        start = rng.randrange(nbits)
        try:
            bits = signal_bits(start, slen, intel)
        except Exception:
            continue
        if any(b < 0 or b >= nbits for b in bits) or used.intersection(bits):
            continue
        used.update(bits)
        signed = (not is_float) and slen > 1 and rng.random() < 0.35
        scale, offset = rng.choice(SCALES) if not is_float else rng.choice([(1, 0), (1, 0), (0.5, 10)])
        if slen == 1:
            scale, offset = 1, 0
        unit = rng.choice(UNITS)
        k = len(signals)
        name = f"M{index:03d}_S{k}_{'I' if intel else 'M'}{slen}{'s' if signed else 'u'}{'f' if is_float else ''}"
        mn, mx = phys_range(slen, signed, scale, offset, is_float)
        if rng.random() < 0.3:
            mn, mx = 0, 0  # leave "no range" on some signals
        choices = None
        if not is_float and slen <= 8 and (scale, offset) == (1, 0) and rng.random() < 0.25:
            lo = -(1 << (slen - 1)) if signed else 0
            hi = (1 << (slen - 1)) - 1 if signed else (1 << slen) - 1
            keys = sorted({rng.randint(lo, hi) for _ in range(rng.randint(2, 4))}, reverse=True)
            choices = [(key, f"State_{key}".replace("-", "m")) for key in keys]
        signals.append(dict(name=name, start=start, length=slen, intel=intel, signed=signed,
                            scale=scale, offset=offset, min=mn, max=mx, unit=unit,
                            is_float=is_float, choices=choices,
                            receiver=rng.choice(NODES)))
    sender = rng.choice(NODES)
    dbc_id = frame_id | (0x80000000 if extended else 0)
    name = f"Msg{index:03d}_{'X' if extended else 'S'}{frame_id:0{8 if extended else 3}X}"
    return dict(dbc_id=dbc_id, name=name, length=length, sender=sender, signals=signals,
                cycle=rng.choice(CYCLES),
                comment=(f"Generated message {index}." if rng.random() < 0.1 else None))


def main():
    rng = random.Random(SEED)
    std_ids = rng.sample(range(0x800), 260)
    ext_ids = set()
    while len(ext_ids) < N_MESSAGES - len(std_ids):
        # some extended ids below 0x800, the rest spread over 29 bits; never
        # reuse a standard id numerically (std_ext_ids.dbc covers that case)
        fid = rng.randrange(0x800) if rng.random() < 0.1 else rng.randrange(0x800, 1 << 29)
        if fid not in std_ids:
            ext_ids.add(fid)
    ext_ids = sorted(ext_ids)
    rng.shuffle(ext_ids)
    ids = [(i, False) for i in std_ids] + [(i, True) for i in ext_ids]
    rng.shuffle(ids)

    messages = [make_message(rng, n, fid, ext) for n, (fid, ext) in enumerate(ids)]

    out = [HEADER, "BU_: " + " ".join(NODES) + "\n\n\n"]
    for m in messages:
        out.append(f"BO_ {m['dbc_id']} {m['name']}: {m['length']} {m['sender']}\n")
        for s in m["signals"]:
            out.append(
                f" SG_ {s['name']} : {s['start']}|{s['length']}@{'1' if s['intel'] else '0'}"
                f"{'-' if s['signed'] or s['is_float'] else '+'} ({fmt(s['scale'])},{fmt(s['offset'])})"
                f" [{fmt(s['min'])}|{fmt(s['max'])}] \"{s['unit']}\" {s['receiver']}\n")
        out.append("\n")
    out.append("\n\n")
    out.append(f'CM_ "Generated by make_many_messages.py (seed {SEED}): {len(messages)} messages. Do not edit by hand.";\n')
    for m in messages:
        if m["comment"]:
            out.append(f"CM_ BO_ {m['dbc_id']} \"{m['comment']}\";\n")
    for m in messages:
        for s in m["signals"]:
            if s["choices"] or s["is_float"]:
                out.append(f"CM_ SG_ {m['dbc_id']} {s['name']} \"{'float' if s['is_float'] else 'enum'} signal\";\n")
    out.append('BA_DEF_ BO_  "GenMsgCycleTime" INT 0 65535;\n')
    out.append('BA_DEF_DEF_  "GenMsgCycleTime" 0;\n')
    for m in messages:
        if m["cycle"]:
            out.append(f"BA_ \"GenMsgCycleTime\" BO_ {m['dbc_id']} {m['cycle']};\n")
    for m in messages:
        for s in m["signals"]:
            if s["choices"]:
                pairs = " ".join(f'{k} "{v}"' for k, v in s["choices"])
                out.append(f"VAL_ {m['dbc_id']} {s['name']} {pairs} ;\n")
    for m in messages:
        for s in m["signals"]:
            if s["is_float"]:
                out.append(f"SIG_VALTYPE_ {m['dbc_id']} {s['name']} : {1 if s['length'] == 32 else 2};\n")

    with open(OUT, "w", encoding="ascii", newline="\n") as f:
        f.write("".join(out))
    print(f"wrote {OUT} ({len(messages)} messages)")


if __name__ == "__main__":
    main()
