"""Trailer sway from the hitch angle, as docs/simulator.md's `trailer_sway` rule defines it:
turning points of the angle (confirmed once it comes back by a band from an extreme), and an
alert after enough consecutive half cycles that are both wide and in the sway's frequency band.

Integers only (raw angle units, µs), so the board's implementation can agree to the frame.
"""

from __future__ import annotations

RAISE, CLEAR = "raise", "clear"


class SwayDetector:
    """Feed it the raw angle of every usable HitchLoad frame; it says when sway starts and ends."""

    def __init__(self, band: int, on_p2p: int, off_p2p: int, lo_half_us: int, hi_half_us: int, half_cycles: int):
        self.band, self.on_p2p, self.off_p2p = band, on_p2p, off_p2p
        self.lo_h, self.hi_h, self.half_cycles = lo_half_us, hi_half_us, half_cycles
        self.started = False  # a first usable frame was seen
        self.dir = 0  # 0 unknown, +1 rising, -1 falling
        self.ext = self.hi = self.lo = 0
        self.have_prev = False
        self.prev_e = self.prev_t = 0
        self.count = 0
        self.active = False
        self.p2p = 0  # the last turning point's peak-to-peak (the raise value)

    def update(self, v: int, t: int) -> str | None:
        """RAISE or CLEAR at this frame, or None."""
        if not self.started:
            self.started = True
            self.hi = self.lo = v
            return None
        band = self.band
        turning = None
        if self.dir == 0:
            self.hi = max(self.hi, v)
            self.lo = min(self.lo, v)
            if v <= self.hi - band:
                turning, self.dir, self.ext = self.hi, -1, v
            elif v >= self.lo + band:
                turning, self.dir, self.ext = self.lo, 1, v
        elif self.dir == 1:
            if v > self.ext:
                self.ext = v
            elif v <= self.ext - band:
                turning, self.dir, self.ext = self.ext, -1, v
        else:
            if v < self.ext:
                self.ext = v
            elif v >= self.ext + band:
                turning, self.dir, self.ext = self.ext, 1, v
        event = None
        if turning is not None:
            if self.have_prev:
                p2p = abs(turning - self.prev_e)
                in_band = self.lo_h <= t - self.prev_t <= self.hi_h
                self.count = self.count + 1 if p2p >= self.on_p2p and in_band else 0
                self.p2p = p2p
                if self.active and not (p2p >= self.off_p2p and in_band):
                    self.active, event = False, CLEAR
                elif not self.active and self.count >= self.half_cycles:
                    self.active, event = True, RAISE
            self.prev_e, self.prev_t, self.have_prev = turning, t, True
        elif self.active and t - self.prev_t > self.hi_h:
            self.active, event = False, CLEAR
            self.count = 0
        return event
