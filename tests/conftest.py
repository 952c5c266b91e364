"""Fixtures every test folder shares."""

from __future__ import annotations

import pytest

from host_tools.dbc import load_dbc
from mule_testing import PROJECT_DBC


@pytest.fixture(scope="module")
def dbc():
    """The project's DBC, loaded once per test module."""
    return load_dbc(PROJECT_DBC)
