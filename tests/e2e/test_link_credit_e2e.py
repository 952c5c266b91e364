"""The firmware's side of flow control (docs/protocol.md, CREDIT) on the virtual board:
a PING is answered at once with a CREDIT that acknowledges it, so a host held up by a lost
CREDIT or a lost frame waits milliseconds, not the board's once-a-second CREDIT."""

from __future__ import annotations

import time

import pytest

from host_tools.link import messages as m
from host_tools.link import wire
from host_tools.link.session import BoardLink


@pytest.fixture
def link(pyboard_sized_board, dbc):
    with BoardLink(pyboard_sized_board.port, dbc) as session:
        session.sync()
        yield session


def test_a_ping_is_answered_at_once_with_a_credit_that_acknowledges_it(link):
    assert link.hello.proto == wire.PROTO_VERSION == 2
    waits = []
    for k in range(5):
        # a small batch: far less than rx_window / 4, so only the PING calls for a CREDIT now
        link.send(m.CanBatch(k, (m.CanRecord(0, 0x7FF, False, bytes(8)),)), timeout=1.0)
        ping = link.encoder.seq
        start = time.monotonic()
        link.credit.pinged(ping, start)
        link._write(wire.PING)
        while link.credit.unacked and time.monotonic() - start < 2.0:
            link.poll(0.005)
        waits.append(time.monotonic() - start)
        assert not link.credit.unacked  # the CREDIT acknowledged the PING and the batch before it
        assert link.credit.limit == link.credit.sent_total + link.hello.rx_window
    assert max(waits) < 0.15, waits  # the board's own CREDIT comes once a second
