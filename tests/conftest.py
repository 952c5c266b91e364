"""Fixtures every test folder shares."""

from __future__ import annotations

import pytest

from host_tools.dbc import load_dbc
from mule_testing import PROJECT_DBC


@pytest.fixture(scope="module")
def dbc():
    """The project's DBC, loaded once per test module."""
    return load_dbc(PROJECT_DBC)


@pytest.fixture(scope="session")
def whole_scenario(tmp_path_factory):
    """whole_scenario(name): `name` simulated at full length (seed 2, .blf, the project DBC),
    once per test run for every test that needs a whole scenario: simulate's Result."""
    from host_tools.simulate import simulate

    folder, runs = tmp_path_factory.mktemp("whole-scenarios"), {}

    def run(name):
        if name not in runs:
            runs[name] = simulate(name, folder / f"{name}.blf", seed=2, dbc=load_dbc(PROJECT_DBC))
        return runs[name]

    return run


@pytest.fixture(scope="module")
def qemu_session():
    """One emulated Pyboard (100 KB heap) per test module, for running MicroPython scripts on
    it (tests/qemu_testing.py: QemuScripts); skips without the toolchain unless CI requires it."""
    from qemu_testing import QemuScripts, qemu_firmware

    with QemuScripts(qemu_firmware("100K")) as session:
        yield session


@pytest.fixture(scope="module")
def qemu_replay_board(tmp_path_factory, dbc):
    """One emulated Pyboard (100 KB heap) per test module, flashed once with the project's
    firmware in replay mode as `mule flash` does it (armv7emsp)."""
    from host_tools.flash import flash
    from host_tools.vboard import QemuBoard
    from qemu_testing import qemu_firmware

    firmware = qemu_firmware("100K")
    with QemuBoard(tmp_path_factory.mktemp("qemu-board"), firmware=firmware) as board:
        flash(dbc, board.port, {"mode": "replay"}, tmp_path_factory.mktemp("qemu-build") / "fw",
              log=lambda text: None)
        yield board
