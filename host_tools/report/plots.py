"""The report's plots: what the board decoded over the log's time (tongue load, drawbar
force, hitch angle, SOC, pack power, cell spread; with another DBC, its own most frequent
signals), with the alerts marked. PNG files via
matplotlib's Agg backend: no display, no GUI toolkit, same output on a laptop and in CI."""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Plot:
    name: str  # file stem
    title: str
    unit: str
    message: str
    signals: tuple[str, ...]
    value: Callable[[dict], float]


PLOTS = (
    Plot("tongue_load", "Tongue load", "kg", "HitchLoad", ("tongue_load_kg",), lambda v: v["tongue_load_kg"]),
    Plot("drawbar_force", "Drawbar force", "kN", "HitchLoad", ("drawbar_force_n",),
         lambda v: v["drawbar_force_n"] / 1000),
    Plot("hitch_angle", "Hitch angle", "°", "HitchLoad", ("hitch_angle_deg",), lambda v: v["hitch_angle_deg"]),
    Plot("soc", "State of charge", "%", "BmsPackStatus", ("soc_pct",), lambda v: v["soc_pct"]),
    Plot("pack_power", "Pack power (+ discharge)", "kW", "BmsPackStatus", ("pack_voltage_v", "pack_current_a"),
         lambda v: v["pack_voltage_v"] * v["pack_current_a"] / 1000),
    Plot("cell_spread", "Cell spread (max − min)", "mV", "BmsCellStats", ("cell_v_max_mv", "cell_v_min_mv"),
         lambda v: v["cell_v_max_mv"] - v["cell_v_min_mv"]),
)


OWN_PLOTS = 6  # a DBC without the truck's messages: its most frequent verified signals


class Series(dict):
    """plot name -> (times, values), and `plots`: the Plot of each, in the order drawn."""

    plots: tuple = PLOTS


def _own_plot(message, signal) -> Plot:
    name = f"{message.name}.{signal.name}"
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return Plot(stem, name, signal.unit or "", message.name, (signal.name,), lambda v, s=signal.name: v[s])


class SeriesCollector:
    """Give `add` to the replay as on_decoded: keeps (log time, value) of every plot, the
    physical values computed from the raw ones the board sent (and cantools agreed with).
    A DBC without any of the truck's plotted messages (`mule replay --dbc OTHER.dbc`) gets
    plots of its own signals instead: every signal is kept, and `series` offers the
    OWN_PLOTS with the most verified values (ties: DBC order)."""

    def __init__(self, dbc, plots=PLOTS):
        names = [msg.name for msg in dbc.messages]
        usable = []
        for p in plots:
            if p.message in names:
                have = {s.name: s.conversion for s in dbc.messages[names.index(p.message)].signals}
                if all(s in have for s in p.signals):
                    usable.append((p, {s: have[s] for s in p.signals}))
        self.own = not usable and plots is PLOTS  # another DBC: its own signals
        if self.own:
            plots = tuple(_own_plot(msg, sig) for msg in dbc.messages for sig in msg.signals)
            usable = [(p, {p.signals[0]: sig.conversion})
                      for p, sig in zip(plots, (sig for msg in dbc.messages for sig in msg.signals))]
        self.plots = plots
        self._series = {p.name: (array("d"), array("d")) for p in plots}
        self._by_index: dict[int, list] = {}
        for p, conversions in usable:
            self._by_index.setdefault(names.index(p.message), []).append((p, conversions))

    @property
    def series(self) -> Series:
        plots = self.plots
        if self.own:
            order = {p.name: k for k, p in enumerate(plots)}
            busy = sorted((p for p in plots if len(self._series[p.name][0])),
                          key=lambda p: (-len(self._series[p.name][0]), order[p.name]))
            plots = tuple(busy[:OWN_PLOTS]) or plots[:1]
        out = Series((p.name, self._series[p.name]) for p in plots)
        out.plots = plots
        return out

    def add(self, mi: int, t: float, raw: dict) -> None:
        for plot, conversions in self._by_index.get(mi, ()):
            if all(s in raw for s in conversions):
                phys = {s: c.raw_to_scaled(raw[s], decode_choices=False) for s, c in conversions.items()}
                times, values = self._series[plot.name]
                times.append(t)
                values.append(float(plot.value(phys)))


_COLOURS = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#1f77b4", "#ff7f0e")


def write_plots(directory: Path, series: dict, t0: float | None, expected: list, raised: list,
                plots=None, xlabel: str = "seconds after the first frame replayed") -> list[Path]:
    """One PNG per plot in `directory` (plots: the series' own, else the truck's six). `t0`:
    the log time at 0 s of the report's clock (alerts.time_origin); `expected`/`raised`: alert
    intervals on that clock, shaded; raised ones on top, expected outlined."""
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display (CI has none)
    from matplotlib import pyplot as plt

    kinds = sorted({a["kind"] for a in expected + raised})
    colour = {k: _COLOURS[i % len(_COLOURS)] for i, k in enumerate(kinds)}
    if plots is None:
        plots = getattr(series, "plots", PLOTS)
    paths = []
    for plot in plots:
        times, values = series.get(plot.name, ((), ()))
        fig, ax = plt.subplots(figsize=(10, 3.2), dpi=100)
        if len(times):
            base = t0 if t0 is not None else times[0]
            ax.plot([t - base for t in times], values, linewidth=0.8, color="#1f77b4")
            end = times[-1] - base
        else:
            ax.text(0.5, 0.5, f"no {plot.message} frames verified", ha="center", va="center",
                    transform=ax.transAxes, color="gray")
            end = max([a["end"] or a["start"] for a in expected + raised] + [1.0])
        labelled = set()
        for a in expected:
            stop = a["end"] if a["end"] is not None else end
            label = f"expected {a['kind']}"
            ax.axvspan(a["start"], max(stop, a["start"] + end / 500), facecolor="none", hatch="//",
                       edgecolor=colour[a["kind"]], linewidth=0.8,
                       label=None if label in labelled else label)
            labelled.add(label)
        for a in raised:
            stop = a["end"] if a["end"] is not None else end
            label = f"board {a['kind']}"
            ax.axvspan(a["start"], max(stop, a["start"] + end / 500), color=colour[a["kind"]], alpha=0.25,
                       label=None if label in labelled else label)
            labelled.add(label)
        ax.set_title(plot.title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(plot.unit)
        ax.grid(True, linewidth=0.3)
        if labelled:
            ax.legend(loc="upper right", fontsize=7, ncol=2)
        fig.tight_layout()
        path = directory / f"{plot.name}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
