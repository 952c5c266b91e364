"""Host side of mule: DBC decoder generator, log decoding, and (later) board link tools."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DBC = REPO_ROOT / "dbc" / "kia_ev_pickup.dbc"
