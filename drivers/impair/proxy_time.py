"""The impairment proxy's schedule clock: vehicle seconds that never stall.

The proxy's VehicleClock (clock.py) is what a caller reads, and it stops when the vehicle
stops talking, as a harness's clock should. A scheduler cannot stop: a harness frame held for
"1 s of latency" must still leave if the vehicle goes quiet, or the request that would make it
talk again never arrives. So this timeline advances by the vehicle's own time_boot_ms steps
while samples flow, extrapolates at the observed pace for up to GRACE_S vehicle seconds past the
newest sample, and then runs on at min(pace, 1) (never faster than the vehicle nor than real
time, so an outage is never cut short by the guess). Before the first sample it is wall time.

Only differences of this timeline mean anything (due = now + delay); its origin is arbitrary.
"""

import threading
import time

from drivers.link.clock import VehicleClock


class VehicleTimeline:
    GRACE_S = 1.0  # vehicle seconds of extrapolation at the observed pace
    PACE_WINDOW_S = 0.05  # wall seconds between pace estimates (closer samples are too noisy)
    REBOOT_DROP_S = VehicleClock.REBOOT_DROP_S

    def __init__(self, clock: VehicleClock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        t0 = time.monotonic()
        self._anchor_vt, self._anchor_wall = 0.0, t0  # timeline position of the newest sample
        self._window_vt, self._window_wall = 0.0, t0
        self._last_boot_s: float | None = None
        self._pace = 1.0
        self._returned = 0.0

    @property
    def pace(self) -> float:
        """Observed vehicle seconds per wall second (1.0 until measured)."""
        return self._pace

    def observe(self, time_boot_ms: int, wall: float | None = None) -> None:
        """One time_boot_ms from the vehicle: feeds the VehicleClock and this timeline."""
        wall = time.monotonic() if wall is None else wall
        self.clock.observe(time_boot_ms, wall)
        boot_s = time_boot_ms / 1000.0
        with self._lock:
            last = self._last_boot_s
            if last is not None and last - self.REBOOT_DROP_S <= boot_s <= last:
                return  # an older sample from another message type: no news
            step = 0.0 if last is None or boot_s < last else boot_s - last  # reboot: no step
            self._last_boot_s = boot_s
            guessed = self._at(wall)
            beyond_grace = (wall - self._anchor_wall) * self._pace > self.GRACE_S
            self._anchor_vt += step
            if last is None or beyond_grace:  # carry on from where the guess got to
                self._anchor_vt = max(self._anchor_vt, guessed, self._returned)
            self._anchor_wall = wall
            if last is None or beyond_grace:  # a pace across a silence would be a guess
                self._window_vt, self._window_wall = self._anchor_vt, wall
            elif wall - self._window_wall >= self.PACE_WINDOW_S:
                pace = (self._anchor_vt - self._window_vt) / (wall - self._window_wall)
                if pace > 0:
                    self._pace = min(1000.0, max(0.01, 0.5 * self._pace + 0.5 * pace))
                self._window_vt, self._window_wall = self._anchor_vt, wall

    def now(self, wall: float | None = None) -> float:
        wall = time.monotonic() if wall is None else wall
        with self._lock:
            self._returned = max(self._returned, self._at(wall))
            return self._returned

    def _at(self, wall: float) -> float:
        dt = max(0.0, wall - self._anchor_wall)
        pace = self._pace
        fast = min(dt * pace, self.GRACE_S)
        return self._anchor_vt + fast + (dt - fast / pace) * min(pace, 1.0)

    def wall_delay(self, vehicle_s: float) -> float:
        """Wall seconds that `vehicle_s` vehicle seconds take at the observed pace."""
        return max(0.0, vehicle_s) / self._pace
