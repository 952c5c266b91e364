"""Fixtures the end-to-end tests share: a virtual board running the
firmware `mule flash` builds."""

from __future__ import annotations

import pytest

from host_tools.flash import build_firmware
from host_tools.vboard import VirtualBoard


@pytest.fixture(scope="module")
def pyboard_sized_board(tmp_path_factory, dbc):
    """A virtual board with a Pyboard's heap (100 KB), firmware built in replay mode."""
    directory = tmp_path_factory.mktemp("board")
    build_firmware(dbc, directory, "x64", {"mode": "replay"})
    with VirtualBoard(directory, heap="100K") as vb:
        yield vb
