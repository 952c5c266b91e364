"""The deadbands telemetry "changed" works with (docs/protocol.md, TELEMETRY): derived from
the DBC on the host, a signal's MuleDeadband (physical units) over its resolution, and the
file `mule flash` puts beside the decoder."""

from __future__ import annotations

import struct

from host_tools.dbc import load_dbc
from host_tools.flash import build_firmware
from host_tools.telemetry_changed import DEADBAND_FILE, UNTRACKED, deadbands
from mule_testing import FILES, PROJECT_DBC

DBC = FILES / "dbc" / "telemetry" / "mule_deadband.dbc"


def test_deadband_in_raw_steps_from_the_dbc():
    # tongue_load_kg 1.2 kg at 0.5 kg: 2 steps; hitch_angle_deg 0.3 deg at 0.1 deg: 3 (not
    # 2.9999…); no attribute: 0; E2E counter and CRC: untracked; 32 bits: exact
    assert deadbands(load_dbc(DBC)) == [[2, 3, 0, UNTRACKED, UNTRACKED], [0, 0]]


def test_the_project_dbc_sends_every_change_and_no_e2e_signal():
    dbc = load_dbc(PROJECT_DBC)
    table = deadbands(dbc)
    for message, row in zip(dbc.messages, table):
        attributes = message.dbc.attributes
        e2e = {attributes[a].value for a in ("E2ECounterSignal", "E2ECrcSignal") if a in attributes}
        assert row == [UNTRACKED if s.name in e2e else 0 for s in message.signals], message.name
    assert sum(row.count(UNTRACKED) for row in table) == 14  # 7 protected messages


def test_mule_flash_puts_the_table_beside_the_decoder(tmp_path):
    files = build_firmware(load_dbc(DBC), tmp_path / "fw", "x64", {"mode": "replay"})
    path = tmp_path / "fw" / DEADBAND_FILE
    assert path in files
    assert path.read_bytes() == struct.pack("<7h", 2, 3, 0, -1, -1, 0, 0)
