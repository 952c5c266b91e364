"""The databases in formats other than DBC that cantools loads, for `mule decode --dbc`:

    .venv/bin/python tests/files/dbc/make_other_formats.py

- mux_simple.kcd: mux_simple.dbc through cantools' KCD dumper, saved with a UTF-8 BOM
- byte_order.sym: byte_order.dbc through cantools' SYM dumper
- wheel.arxml (hand-written, kept as is): AUTOSAR 4, one frame, a scaled little-endian and a
  big-endian signal, saved with a UTF-8 BOM
"""

from pathlib import Path

import cantools

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    kcd = cantools.database.load_file(str(HERE / "mux_simple.dbc")).as_kcd_string()
    (HERE / "mux_simple.kcd").write_bytes(b"\xef\xbb\xbf" + kcd.encode())
    (HERE / "byte_order.sym").write_text(cantools.database.load_file(str(HERE / "byte_order.dbc")).as_sym_string())
