"""Supervision's share of the emulated Pyboard's 100 KB heap (32-bit, modules from /flash as
`mule flash` builds them: a Pyboard copies an .mpy's bytecode, constants and viper machine
code into its heap): supervise and supervise_rules imported and a Supervisor built as the
board builds it (towing range on), project DBC."""

from __future__ import annotations

from host_tools.codegen.build import PYBOARD_MARCH
from host_tools.dbc import load_dbc
from host_tools.flash import build_firmware
from mule_testing import PROJECT_DBC

# 35.2 KB here before issue 17's cut (module 22.9 KB, of it 11.8 KB viper machine code; rules
# 2.5 KB; tables 10.1 KB); 25.9 KB since: the viper twins read table entries at constant
# offsets, the bytecode twins live in supervise_plain (not on the board), signals share their
# bounds, st's head and cx come from supervise_rules.bin (the module keeps what the board
# reads), no per-signal range stamps or last frames
SUPERVISION_HEAP_MAX = 27 * 1024 + 512

_MEASURE = """import gc, sys
sys.path.insert(0, '/flash/sup')
import e2e
gc.collect()
f0 = gc.mem_free()
import supervise, supervise_rules
def _cb(*args):
    pass
s = supervise.Supervisor(supervise_rules, None, _cb, _cb)
gc.collect()
print('heap', f0 - gc.mem_free(), len(s.st), len(s.cx))
s = _cb = None
for name in ('supervise', 'supervise_rules', 'e2e'):
    del sys.modules[name]
sys.path.pop(0)
"""


def test_supervision_heap_on_the_pyboard(qemu_session, tmp_path):
    files = build_firmware(load_dbc(PROJECT_DBC), tmp_path / "fw", PYBOARD_MARCH, {"mode": "replay"})
    qemu_session.mkdir("/flash/sup")
    for f in files:
        if f.stem in ("e2e", "supervise", "supervise_rules"):
            qemu_session.put(f, f"/flash/sup/{f.name}")
    heap, st, cx = map(int, qemu_session.exec(_MEASURE).decode().split()[-3:])
    assert st > 0 and cx > 0  # the tables were read
    assert heap <= SUPERVISION_HEAP_MAX, f"supervision takes {heap:,} B of the board's heap"
