"""The vehicle's clock, read from the time_boot_ms its own messages carry.

Waits, rates and timeouts in skyproof run on this clock, not on the host's, so a verdict is
the same at speedup 1 and 50 and on a loaded machine. Between two samples the clock moves on
at the vehicle's last observed pace (never more than `max_extrapolation_s` past the newest
sample, so a vehicle that stops talking also stops the clock).

One thread writes (the link's receive loop); any thread reads. The writer publishes an
immutable snapshot in one assignment, so readers need no lock on the hot path.
"""

import time
from typing import NamedTuple


class _Sample(NamedTuple):
    vt: float  # vehicle seconds since the first sample (reboots included)
    wall: float  # host monotonic time when it arrived
    pace: float  # vehicle seconds per wall second, smoothed


class VehicleClock:
    """Monotonic vehicle time in seconds since the link saw its first sample."""

    # A drop in time_boot_ms larger than this is a reboot; smaller ones are message-order jitter.
    REBOOT_DROP_S = 2.0
    PACE_WINDOW_S = 0.1  # wall seconds between the two samples a pace estimate is taken from

    def __init__(self, max_extrapolation_s: float = 0.5) -> None:
        self._max_extra = max_extrapolation_s
        self._origin: float | None = None  # boot seconds of the first sample of this boot
        self._epoch = 0.0  # vehicle seconds accumulated before the last reboot
        self._last_boot_s = 0.0
        self._sample: _Sample | None = None
        self._anchor = (0.0, 0.0)  # (vt, wall) the next pace estimate is measured from
        self._paced = False  # whether a pace has been measured yet (1.0 is assumed until then)
        self._returned = 0.0
        self.reboots = 0

    @property
    def started(self) -> bool:
        return self._sample is not None

    def observe(self, time_boot_ms: int, wall: float | None = None) -> None:
        """Feed one time_boot_ms sample (called by the link's receive loop only)."""
        wall = time.monotonic() if wall is None else wall
        boot_s = time_boot_ms / 1000.0
        last = self._sample
        if last is None:
            self._origin = self._last_boot_s = boot_s
            self._sample = _Sample(0.0, wall, 1.0)
            self._anchor = (0.0, wall)
            return
        if boot_s < self._last_boot_s - self.REBOOT_DROP_S:
            self.reboots += 1
            self._epoch = last.vt
            self._origin = boot_s  # the new boot counts from here
            self._anchor = (last.vt, wall)
        elif boot_s <= self._last_boot_s:
            return  # older or equal sample from another message type: no news
        self._last_boot_s = boot_s
        vt = self._epoch + (boot_s - self._origin)
        pace = last.pace
        anchor_vt, anchor_wall = self._anchor
        if wall - anchor_wall >= self.PACE_WINDOW_S:  # close samples would make a noisy pace
            measured = (vt - anchor_vt) / (wall - anchor_wall)
            # the first measurement replaces the 1.0 assumed until then: blended with it, the pace
            # of a vehicle at 40x would take a second of wall time (40 of its seconds) to settle
            pace = 0.5 * pace + 0.5 * measured if self._paced else measured
            self._paced = True
            self._anchor = (vt, wall)
        self._sample = _Sample(vt, wall, pace)

    def now(self) -> float:
        """Vehicle seconds; 0.0 until the first sample arrives. Never goes backwards."""
        s = self._sample
        if s is None:
            return 0.0
        extra = (time.monotonic() - s.wall) * s.pace
        t = s.vt + max(0.0, min(extra, self._max_extra))
        if t > self._returned:
            self._returned = t
        return self._returned

    @property
    def pace(self) -> float:
        """Observed speedup: vehicle seconds per wall second."""
        return self._sample.pace if self._sample else 1.0

    @property
    def wall_of_last_sample(self) -> float:
        return self._sample.wall if self._sample else 0.0
