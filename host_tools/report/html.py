"""index.html: the replay's verdict, figures, plots, alerts and mismatches on one page that
opens from the folder without a server (the plots are embedded as data: URIs)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

MAX_ROWS = 200  # mismatches and alerts listed on the page; the .jsonl files have them all

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1100px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { padding: 2px 10px; text-align: left; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; font-weight: bold; } .bad { color: #cf222e; font-weight: bold; }
img { max-width: 100%; display: block; margin: 0.5em 0; } code { background: #f3f3f3; padding: 0 3px; }
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _table(headings: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headings)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{_num(v)}</td>' if isinstance(v, (int, float)) and not isinstance(v, bool)
                        else f"<td>{_e(v)}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _num(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3f}"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(path.stem)}" src="data:image/png;base64,{data}">'


def render(summary: dict, plots: list[Path], alert_rows: list[dict], mismatches: list[dict],
           lines: list[str]) -> str:
    ok = summary["ok"]
    verdict = ("<span class='ok'>everything verified</span>" if ok
               else "<span class='bad'>not everything verified</span>")
    figures = [[name, summary[name]] for name in (
        "frames_sent", "frames_decoded", "frames_verified", "mismatches", "frames_lost", "frames_not_sent",
        "link_errors", "alerts_expected", "alerts_raised", "alerts_matched")]
    figures.append(["throughput (frames/s)", summary["throughput_fps"]])
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mule replay: {_e(Path(summary['log']).name)}"
             f"</title><style>{_STYLE}</style></head><body>",
             f"<h1>mule replay of <code>{_e(summary['log'])}</code>: {verdict}</h1>",
             f"<p>board on <code>{_e(summary['port'])}</code> ({_e(summary['board'].get('name'))}, "
             f"{_e(summary['board'].get('fw_version'))}), --speed {_e(summary['speed'])}, DBC "
             f"<code>{_e(Path(summary['dbc']).name)}</code> sha256 {_e(summary['dbc_sha256'][:12])}…</p>",
             "<h2>Summary</h2>", _table(["figure", "value"], figures),
             "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>",
             "<p>Data: <a href='summary.json'>summary.json</a>, <a href='mismatches.jsonl'>mismatches.jsonl</a>, "
             "<a href='alerts.jsonl'>alerts.jsonl</a>.</p>",
             "<h2>Plots</h2>", "<p>Values as the board decoded them (every one checked against cantools); "
             "shaded: alerts the board raised; hatched: alerts the sidecar expects.</p>"]
    parts += [_image(p) for p in plots]
    parts.append("<h2>Alerts</h2>")
    check = summary["alert_check"]
    parts.append(f"<p>Check: <b>{_e(check['status'])}</b> ({_e(check['reason'])})</p>")
    parts.append(f"<p>Times (board, sidecar and reference rows, plots, gaps): {_e(summary.get('time_base'))}.</p>")
    if alert_rows:
        rows = [[r.get("source"), r.get("kind"), r.get("message"), r.get("signal"),
                 r.get("start", r.get("t")), r.get("end"), _matched(r)] for r in alert_rows[:MAX_ROWS]]
        parts.append(_table(["source", "kind", "message", "signal", "start (s)", "end (s)", "matched"], rows))
    else:
        parts.append("<p>No alerts raised or expected.</p>")
    parts.append("<h2>Resets and gaps</h2>")
    gaps = summary["gaps"]
    if gaps:
        parts.append(_table(["kind", "at (s)", "log t (s)", "boot before", "boot after", "seconds", "frames lost",
                             "continued with frame"],
                            [[g["kind"], g["detected_at_s"], g["log_t"], g["boot_before"], g["boot_after"],
                              g["seconds"], g["frames_lost"], g["first_frame_after"]] for g in gaps]))
    else:
        parts.append("<p>None: the board stayed up and answered throughout.</p>")
    parts.append(f"<h2>Mismatches ({summary['mismatches']:,} frames)</h2>")
    if mismatches:
        parts.append(_table(["frame", "where", "message", "signal", "expected (cantools)", "got (board)"],
                            [[m["frame"], m["where"], m["message"], m["signal"], m["expected"], m["got"]]
                             for m in mismatches[:MAX_ROWS]]))
    else:
        parts.append("<p>None.</p>")
    src = summary["log_contents"]
    parts.append("<h2>The log</h2>")
    parts.append(_table(["what", "count"], [
        ["records", src["records"]], [f"data frames on channel {src['channel']} (sent)", src["data_frames"]],
        ["remote frames (not sent)", src["remote_frames"]], ["error frames (not sent)", src["error_frames"]],
        ["data frames on other channels (not sent)", src["other_channel_frames"]],
        ["damaged records skipped (--skip-bad)", src["bad_records"]],
        ["timestamps stepping back", src["backwards_timestamps"]]]))
    if summary.get("board_stats"):
        parts.append("<h2>The board's last STATS</h2>")
        parts.append(_table(["counter", "value"], [[k, v] for k, v in summary["board_stats"].items()]))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _matched(row: dict) -> str:
    if row.get("source") == "board":
        return "cleared" if row.get("cleared") else "raised"
    return "yes" if row.get("matched") else "no"


def write_html(directory: Path, summary: dict, plots: list[Path], alert_rows: list[dict], mismatches: list[dict],
               lines: list[str]) -> Path:
    path = directory / "index.html"
    path.write_text(render(summary, plots, alert_rows, mismatches, lines), encoding="utf-8")
    return path
