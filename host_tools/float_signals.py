"""What a float32 board (a Pyboard) does with a DBC's IEEE float64 signals, said once for
`mule flash` and `mule codegen`: it never pretends to hold the double (docs/hardware.md)."""

from __future__ import annotations

from host_tools.dbc import Dbc
from host_tools.text import printable


def float64_note(dbc: Dbc) -> str | None:
    """One line naming the DBC's float64 signals and what the board does with them; None without any."""
    names = [f"{m.name}.{s.name}" for m in dbc.messages for s in m.signals if s.is_float and s.length == 64]
    if not names:
        return None
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return printable(f"{len(names)} IEEE float64 signal{'s' if len(names) > 1 else ''} ({shown}): a Pyboard's floats "
                     "are float32, so TELEMETRY carries their 64 raw bits and the host rebuilds the double (exact); "
                     "on the board itself their value is float32 (phys_value() rounds, beyond ±3.4e38 it is inf) "
                     "and supervision does not range-check them")
