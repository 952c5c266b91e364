"""What a replay found, as the figures summary.json carries (stable names) and as the
lines the command prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from host_tools.replay.alerts import summary_line
from host_tools.replay.pacing import percentiles
from host_tools.text import plural

SCHEMA = "mule-replay-summary/1"


@dataclass
class ReplayResult:
    log: str
    port: str
    speed: str
    dbc: str
    dbc_sha256: str
    board: dict  # name, fw_version, boots
    tally: object  # inflight.Tally
    source: object  # source.SourceStats
    host_link: dict
    board_link: dict
    gaps: list
    latency: object  # array of seconds
    timing: dict | None
    seconds: float  # first send → last answer
    send_seconds: float  # first send → last send
    log_span_s: float  # the sent frames' first to last log time
    frames_not_sent: int  # left in the log (Ctrl-C, or the board never came back)
    interrupted: bool
    aborted: str | None
    alert_check: object  # alerts.AlertCheck
    alerts: list  # alerts.BoardAlert, in arrival order
    mismatches: list  # check.Mismatch (the first MAX_KEPT_MISMATCHES)
    lost_runs: list
    board_stats: dict | None  # the last STATS
    board_logs: list = field(default_factory=list)  # (level, text) of LOG messages
    series: dict = field(default_factory=dict)  # plot name -> (times, values), see report.plots
    t0: float | None = None  # log time of the first frame sent
    origin: float | None = None  # the log time that is 0 s in every time reported (alerts.time_origin)
    time_base: str = "seconds after the first frame replayed"  # origin in words (alerts.time_base)
    tow_range: dict | None = None  # the board's last TOW_RANGE estimate and how many came
    resets: int = 0  # new boot ids seen during the replay (each restart counted)
    discarded: int = 0  # messages from before the replay's first HELLO (stale in the port)
    discarded_damaged: int = 0  # damaged frames before that HELLO (cut by an earlier session): not link errors
    unattributed_stats: int = 0  # STATS that went backwards within a boot: set aside
    tow_ranges: list = field(default_factory=list)  # every TOW_RANGE (link.messages.TowRange), by frame number
    wire_bytes: int = 0  # host→board bytes of CAN batches, delimiters included

    @property
    def link_errors(self) -> int:
        return (self.host_link["crc_errors"] + self.host_link["bad_frames"] + self.host_link["telemetry_errors"]
                + self.board_link["link_crc_errors"] + self.board_link["link_bad_frames"])

    @property
    def frames_per_second(self) -> float:
        return self.tally.sent / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Everything verified: every frame of the log sent and verified, the alerts as expected,
        and the board up throughout (a reset restarts its supervision: not a clean run even
        when no frame was lost)."""
        if self.source.log.truncated:  # the log ends early: what followed the cut is unknown
            return False
        t = self.tally
        alerts_ok = self.alert_check.status != "failed" or not self.alert_check.counts_for_exit
        return (not self.interrupted and self.aborted is None and self.frames_not_sent == 0 and t.sent > 0
                and t.verified == t.sent and alerts_ok and not self.gaps and not self.resets)

    def as_dict(self) -> dict:
        t = self.tally
        check = self.alert_check
        expected_s = self.timing["expected_s"] if self.timing else None
        return {
            "schema": SCHEMA,
            "ok": self.ok,
            "log": self.log, "port": self.port, "speed": self.speed, "dbc": self.dbc, "dbc_sha256": self.dbc_sha256,
            "frames_sent": t.sent,
            "frames_decoded": t.decoded,
            "frames_verified": t.verified,
            "frames_suppressed": t.suppressed,  # telemetry "changed": verified without a record
            "frames_unchecked": t.unchecked,
            "mismatches": t.mismatched,
            "mismatched_signals": t.mismatched_signals,
            "frames_lost": t.lost,
            "frames_lost_in_gaps": t.lost_in_gaps,
            "frames_not_sent": self.frames_not_sent,
            "link_errors": self.link_errors,
            "alerts_expected": len(check.expected),
            "alerts_raised": len(check.raised),
            "alerts_matched": check.matched,
            "alerts_not_reached": check.not_reached,
            "alert_check": check.as_dict(),
            "time_base": self.time_base,  # of every time here: alerts, gaps' log_t, tow_range's log_t
            "outcomes": dict(t.outcomes),
            "stale_records": t.stale_records,
            "interrupted": self.interrupted,
            "aborted": self.aborted,
            "log_contents": self.source.as_dict(),
            "log_truncated": self.source.log.truncated,
            "link": {"host": dict(self.host_link), "board": dict(self.board_link)},
            "resets": self.resets,
            "messages_before_session": self.discarded,
            "damaged_frames_before_session": self.discarded_damaged,
            "stats_set_aside": self.unattributed_stats,
            "gaps": [g.as_dict() for g in self.gaps],
            "latency": percentiles(self.latency, (50, 90, 99)),
            "timing_error": self.timing,
            "duration": {"log_s": round(self.log_span_s, 6), "wall_s": round(self.send_seconds, 6),
                         "expected_s": expected_s,
                         "error_pct": (round(100 * (self.send_seconds - expected_s) / expected_s, 3)
                                       if expected_s else None)},
            "seconds": round(self.seconds, 6),
            "throughput_fps": round(self.frames_per_second, 1),
            "board": dict(self.board),
            "board_stats": self.board_stats,
            "tow_range": self.tow_range,
            "lost_frames": [list(r) for r in self.lost_runs],
        }

    def lines(self) -> list[str]:
        """The closing summary, a few lines a tester reads."""
        d = self.as_dict()
        src = d["log_contents"]
        lines = [f"frames sent {d['frames_sent']:,}, decoded {d['frames_decoded']:,}, "
                 f"verified {d['frames_verified']:,}"
                 + (f" ({d['frames_suppressed']:,} unchanged within deadband, not sent)" if d["frames_suppressed"] else "")
                 + (f", unchecked {d['frames_unchecked']:,}" if d["frames_unchecked"] else "")
                 + f", mismatched {d['mismatches']:,}, lost {d['frames_lost']:,}"
                 + (f" ({d['frames_lost_in_gaps']:,} in gaps)" if d["frames_lost_in_gaps"] else "")
                 + (f", not sent {d['frames_not_sent']:,}" if d["frames_not_sent"] else "")]
        outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(d["outcomes"].items()))
        if outcomes:
            lines.append(f"board outcomes (all equal to cantools): {outcomes}")
        skipped = [f"{src['remote_frames']:,} remote", f"{src['error_frames']:,} error frames",
                   f"{src['other_channel_frames']:,} on other channels"
                   + (f" ({', '.join(f'{k}: {v:,}' for k, v in src['other_channels'].items())})"
                      if src["other_channels"] else ""),
                   f"{src['bad_records']:,} damaged records skipped"]
        lines.append(f"log: {src['records']:,} records, channel {src['channel']}; not sent: " + ", ".join(skipped)
                     + (f"; {src['backwards_timestamps']:,} timestamps step back" if src["backwards_timestamps"]
                        else ""))
        if self.source.log.truncated:
            lines.append(f"log truncated: {self.source.log.truncated}")
        h, b = d["link"]["host"], d["link"]["board"]
        lines.append(f"link errors {d['link_errors']:,} (host: CRC {h['crc_errors']}, bad {h['bad_frames']}, "
                     f"undecodable telemetry {h['telemetry_errors']}, seq gaps {h['seq_gaps']}; board: CRC "
                     f"{b['link_crc_errors']}, bad {b['link_bad_frames']}, seq gaps {b['link_seq_gaps']}, "
                     f"dropped {b['frames_dropped']})"
                     + (f"; {d['stale_records']:,} stale records ignored" if d["stale_records"] else ""))
        if self.discarded or self.discarded_damaged:
            damaged = f" and {plural(self.discarded_damaged, 'damaged frame')}" if self.discarded_damaged else ""
            lines.append(f"{plural(self.discarded, 'message')}{damaged} from before this "
                         "session's HELLO (queued in the port: an earlier boot's or run's, or this boot's before the "
                         "SYNC) discarded, not counted")
        if self.unattributed_stats:
            lines.append(f"{self.unattributed_stats:,} STATS set aside: their uptime went backwards within a boot")
        for gap in self.gaps:
            lines.append(gap_line(gap))
        if self.resets:
            lines.append(f"resets: {self.resets} (boots {', '.join(d['board'].get('boots', []))})")
        lat = d["latency"]
        if lat:
            lines.append(f"latency frame → telemetry: p50 {lat['p50_ms']:.2f} ms, p90 {lat['p90_ms']:.2f} ms, "
                         f"p99 {lat['p99_ms']:.2f} ms, max {lat['max_ms']:.2f} ms")
        lines.append(f"throughput {d['throughput_fps']:,.0f} frames/s ({d['seconds']:.2f} s for "
                     f"{d['frames_sent']:,} frames at --speed {self.speed})")
        if self.timing:
            tm, du = self.timing, d["duration"]
            lines.append(f"timing: {du['wall_s']:.3f} s for {du['log_s']:.3f} s of log "
                         f"(expected {du['expected_s']:.3f} s, error {du['error_pct']:+.3f} %); "
                         f"send time vs schedule: p50 {tm['p50_ms']:.3f} ms, "
                         f"p99 {tm['p99_ms']:.3f} ms, max {tm['max_ms']:.3f} ms, {tm['within_2ms_pct']:.2f} % "
                         "within 2 ms")
        tow = self.tow_range
        if tow and tow["range_km"] is not None:
            lines.append(f"towing range (board, last of {tow['count']:,}): {tow['range_km']:.1f} km at "
                         f"{tow['wh_per_km']} Wh/km over the last {tow['window_m']:,} m")
        lines.append(summary_line(self.alert_check))
        if self.interrupted:
            lines.append("interrupted (Ctrl-C): the figures cover what was sent until then")
        if self.aborted:
            lines.append(f"stopped early: {self.aborted}")
        return lines


KIND_WORDS = {"reset": "reset", "not_answering": "not answering", "link_damaged": "link damaged",
              "no_credit": "no credit", "disconnect": "port lost", "resync": "re-SYNC"}


def gap_line(gap) -> str:
    """One gap, in the words of what happened: a restart only with a new boot id."""
    g = gap.as_dict()
    head = f"{KIND_WORDS.get(g['kind'], g['kind'])} at {g['detected_at_s']:.1f} s (log t {g['log_t']})"
    if g["boots"]:
        chain = " → ".join([g["boot_before"] or "?"] + g["boots"])
        boots = (("boot " if g["kind"] == "reset" else "then restarted: boot ") + chain
                 + (f" ({g['resets']} resets)" if g["resets"] > 1 else ""))
    elif g["boot_after"] is not None:
        boots = f"same boot {g['boot_after']} (not a restart)"
    else:
        boots = f"boot {g['boot_before']}, no new boot id seen"
    back = (f"back after {g['seconds']:.1f} s, continued with frame {g['first_frame_after']}"
            if g["boot_after"] is not None else f"did not come back ({g['seconds']:.1f} s)")
    return (f"{head}: {boots}, {back}, {g['frames_lost']:,} frames in flight lost"
            + (f" ({g['reason']})" if g["reason"] else ""))
