"""Host side of mule: DBC decoder generator, log decoding, and (later) board link tools."""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
# A source tree (a clone, `pip install -e .`) keeps firmware/ and dbc/ beside host_tools/; a
# wheel carries them inside the package, in host_tools/_data/ (the wheel maps them there: pyproject.toml).
INSTALLED = not (REPO_ROOT / "firmware" / "app.py").is_file()
DATA_DIR = PACKAGE_DIR / "_data" if INSTALLED else REPO_ROOT
FIRMWARE_DIR = DATA_DIR / "firmware"
DEFAULT_DBC = DATA_DIR / "dbc" / "kia_ev_pickup.dbc"
# What mule writes for itself (flash builds, the virtual board's folder, the demo's drive):
# build/ in a source tree; installed, a per-user cache folder, never site-packages
BUILD_DIR = (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mule" if INSTALLED
             else REPO_ROOT / "build")
