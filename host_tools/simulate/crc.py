"""The E2E CRC of docs/dbc.md (firmware/e2e.py's payload_crc) for the simulator's per-frame
path: the same table lookups, unrolled for one payload length. The board's loop over the
bytes cost as much as encoding the frame; the table is read back from the shared function,
so the two cannot drift apart (tests/host/test_simulate_encoding.py compares them too)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from host_tools.e2e import crc8_j1850

# one byte b gives crc8_j1850 = table[0xFF ^ b] ^ 0xFF (init and final xor 0xFF)
_TABLE = bytes(crc8_j1850(bytes([i ^ 0xFF])) ^ 0xFF for i in range(256))


@functools.lru_cache(maxsize=None)
def payload_crc_function(length: int) -> Callable[[bytes], int]:
    """data -> payload_crc(data) for payloads of `length` bytes (the CRC over all but the last)."""
    crc = "0xFF"
    for k in range(length - 1):
        crc = f"T[{crc} ^ data[{k}]]"
    namespace: dict = {"_TABLE": _TABLE}
    exec(compile(f"def crc(data, T=_TABLE):\n    return {crc} ^ 0xFF\n", f"<payload_crc of {length} bytes>", "exec"),
         namespace)
    return namespace["crc"]
