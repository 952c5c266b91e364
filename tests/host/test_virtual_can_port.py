"""A port a mule process holds is refused to a second one with a message saying so (pyserial
exclusive=True), never shared: two readers would each get part of the board's bytes."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from host_tools.link.session import BoardLink, LinkError


@pytest.fixture
def port():
    master, slave = pty.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_second_link_on_a_held_port_is_refused(port):
    with BoardLink(port):
        with pytest.raises(LinkError, match="in use by another program"):
            BoardLink(port)
    BoardLink(port).close()  # free again once the first one closed it


def test_monitor_on_a_port_a_replay_holds_says_so(port):
    with BoardLink(port):  # what a running `mule replay` holds
        result = subprocess.run([sys.executable, "-m", "host_tools.cli.main", "monitor", "--port", port,
                                 "--duration", "1"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "in use by another program" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
