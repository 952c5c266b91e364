"""Test helpers shared across tests/: paths, and comparing two engines' outcomes."""

from __future__ import annotations

from pathlib import Path

from host_tools.sample_frames import SampleFrame, choose_mux, random_frame, set_bits  # noqa: F401
from host_tools.verify import mismatches

REPO = Path(__file__).resolve().parent.parent
FILES = REPO / "tests" / "files"
PROJECT_DBC = REPO / "dbc" / "kia_ev_pickup.dbc"
FEATURE_DBCS = sorted(p for p in (FILES / "dbc").glob("*.dbc"))


def disagreements(message_of, reference, candidate) -> list[str]:
    """Differences between two engines' outcomes for the same frames (empty: agree)."""
    problems = []
    for (frame, want), (_, got) in zip(reference, candidate, strict=True):
        where = f"id {frame.can_id:#x} data {frame.data.hex()}"
        if (want.status, want.msg) != (got.status, got.msg):
            problems.append(f"{where}: {want.status}/{want.msg} vs {got.status}/{got.msg}")
            continue
        problems.extend(f"{where}: {problem}" for problem in
                        mismatches(message_of(frame), want.raw, want.phys, got.raw, got.phys))
    return problems
