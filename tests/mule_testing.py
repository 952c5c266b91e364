"""Test helpers shared across tests/: paths, and the rule for two engines agreeing."""

from __future__ import annotations

import math
from pathlib import Path

from host_tools.sample_frames import SampleFrame, choose_mux, random_frame, set_bits  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
FILES = REPO / "tests" / "files"
PROJECT_DBC = REPO / "dbc" / "kia_ev_pickup.dbc"
FEATURE_DBCS = sorted(p for p in (FILES / "dbc").glob("*.dbc"))

# The Pyboard computes physical values in float32: agreement is demanded to a few ulps
# of float32 (2^-23), relative to the size of the terms raw*scale and offset.
F32_TOLERANCE = 2.0 ** -21


def same_number(expected, got, scale_terms: float = 0.0) -> bool:
    if isinstance(expected, int) and not isinstance(expected, bool):
        return isinstance(got, int) and expected == got
    if not isinstance(got, float):
        return False
    if math.isnan(expected):
        return math.isnan(got)
    if math.isinf(expected) or math.isinf(got):
        return expected == got
    return abs(expected - got) <= F32_TOLERANCE * (abs(expected) + scale_terms) + 1e-300


def disagreements(message_of, reference, candidate) -> list[str]:
    """Differences between two engines' outcomes for the same frames (empty: agree)."""
    problems = []
    for (frame, want), (_, got) in zip(reference, candidate, strict=True):
        where = f"id {frame.can_id:#x} data {frame.data.hex()}"
        if (want.status, want.msg) != (got.status, got.msg):
            problems.append(f"{where}: {want.status}/{want.msg} vs {got.status}/{got.msg}")
            continue
        if list(want.raw) != list(got.raw):
            problems.append(f"{where}: signals {list(want.raw)} vs {list(got.raw)}")
            continue
        message = message_of(frame)
        for name, raw in want.raw.items():
            other = got.raw[name]
            exact = (raw == other and type(raw) is type(other)) or (
                isinstance(raw, float) and math.isnan(raw) and isinstance(other, float) and math.isnan(other))
            if not exact:
                problems.append(f"{where}: raw {name} {raw!r} vs {other!r}")
            signal = message.get_signal_by_name(name)
            terms = abs(float(raw) * signal.scale) + abs(signal.offset) if math.isfinite(float(raw)) else 0.0
            if not same_number(want.phys[name], got.phys[name], terms):
                problems.append(f"{where}: phys {name} {want.phys[name]!r} vs {got.phys[name]!r}")
    return problems
