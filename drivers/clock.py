"""The vehicle's clock, read from the time_boot_ms its own messages carry.

Waits, rates and timeouts in skyproof run on this clock, not on the host's, so a verdict is
the same at speedup 1 and 50 and on a loaded machine. Between two samples the clock moves on
at the vehicle's last observed pace (never more than `max_extrapolation_s` past the newest
sample, so a vehicle that stops talking also stops the clock).
"""

import threading
import time


class VehicleClock:
    """Monotonic vehicle time in seconds since the link saw its first sample (reboots included)."""

    # A drop in time_boot_ms larger than this is a reboot; smaller ones are message-order jitter.
    REBOOT_DROP_S = 2.0

    def __init__(self, max_extrapolation_s: float = 0.5) -> None:
        self._lock = threading.Lock()
        self._max_extra = max_extrapolation_s
        self._origin: float | None = None  # boot time of the first sample, s
        self._epoch = 0.0  # vehicle seconds accumulated before the last reboot
        self._last_boot_s = 0.0
        self._sample_vt = 0.0  # vehicle time of the newest sample
        self._sample_wall = 0.0
        self._pace = 1.0  # vehicle seconds per wall second, smoothed
        self._returned = 0.0
        self.reboots = 0
        self.samples = 0

    @property
    def started(self) -> bool:
        return self._origin is not None

    def observe(self, time_boot_ms: int, wall: float | None = None) -> None:
        """Feed one time_boot_ms sample (called by the link's receive loop)."""
        wall = time.monotonic() if wall is None else wall
        boot_s = time_boot_ms / 1000.0
        with self._lock:
            self.samples += 1
            if self._origin is None:
                self._origin = boot_s
                self._last_boot_s = boot_s
                self._sample_vt, self._sample_wall = 0.0, wall
                return
            if boot_s < self._last_boot_s - self.REBOOT_DROP_S:
                self.reboots += 1
                self._epoch = self._sample_vt
                self._origin = boot_s  # the new boot counts from here
            elif boot_s <= self._last_boot_s:
                return  # older or equal sample from another message type: no news
            self._last_boot_s = boot_s
            vt = self._epoch + (boot_s - self._origin)
            dwall = wall - self._sample_wall
            if dwall > 0.02:  # too-close samples make a noisy pace
                pace = (vt - self._sample_vt) / dwall
                self._pace = 0.7 * self._pace + 0.3 * pace
            self._sample_vt, self._sample_wall = vt, wall

    def now(self) -> float:
        """Vehicle seconds; 0.0 until the first sample arrives. Never goes backwards."""
        with self._lock:
            if self._origin is None:
                return 0.0
            extra = (time.monotonic() - self._sample_wall) * self._pace
            t = self._sample_vt + max(0.0, min(extra, self._max_extra))
            self._returned = max(self._returned, t)
            return self._returned

    @property
    def pace(self) -> float:
        """Observed speedup: vehicle seconds per wall second."""
        return self._pace

    @property
    def wall_of_last_sample(self) -> float:
        return self._sample_wall
