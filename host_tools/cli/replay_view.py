"""`mule replay --dashboard`: the monitor's live view (host_tools/monitor.Dashboard, the
panels `mule monitor` draws) fed by the replay's own session, so one process owns the port.
It needs a terminal: without one (stdout not a tty, or CI=true) the replay runs without it
and says so (docs/replay.md)."""

from __future__ import annotations

import os
import threading
import time

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from host_tools.dbc import Dbc
from host_tools.monitor import Dashboard
from host_tools.text import printable

REFRESH_S = 0.25


def no_terminal(console: Console) -> str | None:
    """Why the dashboard cannot be drawn on `console`, or None when it can."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        return "CI is set"
    if not console.is_terminal:
        return "its output is not a terminal"
    return None


def make_view(dbc: Dbc, err: Console, console: Console | None = None) -> "ReplayView | None":
    """The view on stdout's terminal, or None after saying on `err` why there is none: the
    replay goes on without it (a script or CI running the same command keeps its verdict)."""
    console = Console() if console is None else console
    why = no_terminal(console)
    if why:
        err.print(f"mule replay: --dashboard needs a terminal ({why}): replaying without the dashboard",
                  markup=False, highlight=False)
        return None
    return ReplayView(dbc, "", console)


class ReplayView:
    """Give `on_message` to the replay (Replay(on_message=...)) and attach the replay; `with
    view:` draws the dashboard while the replay runs and leaves its last picture on the screen."""

    def __init__(self, dbc: Dbc, port: str, console: Console, clock=time.monotonic):
        self.console = console
        self.dashboard = Dashboard(dbc, port, clock=clock)
        self.replay = None
        self._live: Live | None = None
        self._lock = threading.Lock()  # the replay's thread feeds the dashboard, rich's draws it

    def attach(self, replay, port: str) -> "ReplayView":
        """The replay whose session feeds the view (its HELLO, its host link counters)."""
        self.replay = replay
        self.dashboard.port = port
        return self

    def on_message(self, message) -> None:
        dash = self.dashboard
        with self._lock:
            if dash.hello is None and self.replay is not None and self.replay.session.hello is not None:
                dash.on_message(self.replay.session.hello)  # the session's own HELLO comes first
            dash.on_message(message)

    def render(self):
        """The picture now. Taken under the lock: it reads the dashboard into text (the tables
        rich lays out afterwards hold strings only)."""
        with self._lock:
            line = "mule replay: starting"
            if self.replay is not None:
                t = self.replay.book.tally
                line = (f"mule replay {self.replay.log}: sent {t.sent:,}, verified {t.verified:,}, "
                        f"mismatched {t.mismatched:,}")
                try:
                    self.dashboard.host_link = self.replay.session.host_counters()
                except AttributeError:  # its port is being reopened
                    pass
            return Group(Text(printable(line)), self.dashboard.render())

    def __enter__(self) -> "ReplayView":
        # drawn by rich's refresh thread, not in the replay's loop: laying out the panels takes
        # tens of ms, which the loop's pacing cannot spare (--speed 1's schedule)
        self._live = Live(get_renderable=self.render, console=self.console, refresh_per_second=1 / REFRESH_S,
                          screen=False)
        self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        self._live.stop()  # draws the last picture and leaves it on the screen
        self._live = None
