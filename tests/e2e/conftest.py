"""Fixtures the end-to-end tests share: a virtual board running the
firmware `mule flash` builds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from host_tools.dbc import load_dbc
from host_tools.flash import CONFIG_NAME, build_firmware
from host_tools.vboard import VirtualBoard
from mule_testing import PROJECT_DBC


@pytest.fixture(scope="session")
def x64_board_folder(tmp_path_factory):
    """folder(directory, config): a virtual board's folder, the project DBC's firmware for
    the unix port (built once, 3 s) with its own mule_config.json (no "supervision": that
    one goes into the rule tables; build_firmware it)."""
    built = tmp_path_factory.mktemp("x64_firmware") / "firmware"
    build_firmware(load_dbc(PROJECT_DBC), built, "x64", {"mode": "replay"})

    def folder(directory: Path, config: dict) -> Path:
        assert "supervision" not in config
        shutil.copytree(built, directory)
        (directory / CONFIG_NAME).write_text(json.dumps(config, indent=1) + "\n")
        return directory

    return folder


@pytest.fixture(scope="module")
def pyboard_sized_board(tmp_path_factory, x64_board_folder):
    """A virtual board with a Pyboard's heap (100 KB), firmware built in replay mode."""
    directory = x64_board_folder(tmp_path_factory.mktemp("board") / "board", {"mode": "replay"})
    with VirtualBoard(directory, heap="100K") as vb:
        yield vb
