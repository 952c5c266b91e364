"""The board's ALERT messages read with the DBC (message and signal names) and the rule
table (kinds, the cleared bit): for `mule replay` and `mule monitor` alike."""

from __future__ import annotations

from dataclasses import dataclass

from host_tools.dbc import Dbc
from host_tools.link import messages as m
from host_tools.supervision.firmware import CLEARED, KINDS
from host_tools.supervision.reference import AlertEvent


@dataclass
class BoardAlert:
    frame: int | None  # the replay's frame number the alert names (None: not one we sent)
    t: float | None  # seconds since the first replayed frame
    code: int
    severity: int
    message: str | None
    signal: str | None
    value: int
    text: str
    kind: str
    cleared: bool
    mi: int = -1
    si: int = -1

    def as_dict(self) -> dict:
        return {"source": "board", "frame": self.frame, "t": _round(self.t), "kind": self.kind,
                "cleared": self.cleared, "code": self.code, "severity": self.severity, "message": self.message,
                "signal": self.signal, "value": self.value, "text": self.text}


def describe(alert: m.Alert, dbc: Dbc, frame: int | None, t: float | None) -> BoardAlert:
    messages = dbc.messages
    message = messages[alert.mi].name if 0 <= alert.mi < len(messages) else None
    signal = None
    if message is not None and 0 <= alert.si < len(messages[alert.mi].signals):
        signal = messages[alert.mi].signals[alert.si].name
    if 1 <= (alert.code & 0xFF) <= len(KINDS):
        kind = KINDS[(alert.code & 0xFF) - 1]
    else:  # the board's own (can_bus_state: docs/protocol.md), named by its text
        kind = (alert.text.split() or [f"code {alert.code}"])[0]
    cleared = bool(alert.code & CLEARED)
    return BoardAlert(frame, t, alert.code, alert.severity, message, signal, alert.value, alert.text, kind, cleared,
                      alert.mi, alert.si)


def events(alerts: list[BoardAlert]) -> list[AlertEvent]:
    """The board's alerts as the reference's AlertEvents, frame_no the replay's frame number
    (those naming a frame the replay did not send left out)."""
    return [AlertEvent(a.frame, a.code, a.severity, a.mi, a.si, a.value, a.text) for a in alerts if a.frame is not None]


def _round(t):
    return None if t is None else round(t, 6)
