"""When do two decodes of one frame agree? Raw values identical; physical values equal
to float32 precision, because a Pyboard computes raw * scale + offset in 32-bit floats."""

from __future__ import annotations

import math

# A few float32 ulps (2^-23), relative to the size of the terms raw*scale and offset:
# cancellation between them can leave an error as large as their magnitude times eps.
F32_TOLERANCE = 2.0 ** -21


def same_raw(expected, got) -> bool:
    if isinstance(expected, float) and isinstance(got, float) and math.isnan(expected):
        return math.isnan(got)
    return expected == got and type(expected) is type(got)


def same_phys(expected, got, terms: float = 0.0) -> bool:
    """`terms`: |raw * scale| + |offset|, the magnitudes the result was computed from."""
    if isinstance(expected, int):
        return isinstance(got, int) and expected == got
    if not isinstance(got, (int, float)):
        return False
    if math.isnan(expected) or math.isnan(got):
        return math.isnan(expected) and math.isnan(got)
    if math.isinf(expected) or math.isinf(got):
        return expected == got
    return abs(expected - got) <= F32_TOLERANCE * (abs(expected) + terms) + 1e-300


def mismatches(message, want_raw: dict, want_phys: dict, got_raw: dict, got_phys: dict | None) -> list[str]:
    """What differs between two decodes of one frame of `message` (empty: they agree).
    `got_phys`: the candidate's own physical values (the firmware engine computes them in
    MicroPython); None when it sends raw values only (the board's TELEMETRY): physical
    values the host converts from them with cantools would only check cantools against itself."""
    if list(want_raw) != list(got_raw):
        return [f"signals {list(want_raw)} vs {list(got_raw)}"]
    problems = []
    for name, raw in want_raw.items():
        if not same_raw(raw, got_raw[name]):
            problems.append(f"raw {name} {raw!r} vs {got_raw[name]!r}")
        if got_phys is None:
            continue
        signal = message.get_signal_by_name(name)
        terms = abs(float(raw) * signal.scale) + abs(signal.offset) if math.isfinite(float(raw)) else 0.0
        if not same_phys(want_phys[name], got_phys[name], terms):
            problems.append(f"phys {name} {want_phys[name]!r} vs {got_phys[name]!r}")
    return problems
