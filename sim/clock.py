"""Vehicle time: advances in fixed physics steps, paced at speedup x wall time.

Vehicle time never jumps: if the machine cannot keep up, at most MAX_BURST steps run
back to back and the pacing anchor is moved, so vehicle time simply runs slower.
"""

from __future__ import annotations

import time

STEP_S = 0.02  # physics step, vehicle seconds
MAX_BURST = 10  # steps run back to back before we give up catching up


class SimClock:
    def __init__(self, speedup: float, step_s: float = STEP_S) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be > 0")
        self.speedup = speedup
        self.step_s = step_s
        self.steps = 0  # integer step count avoids float drift over long runs
        self._wall_anchor = time.monotonic()
        self._steps_anchor = 0

    @property
    def now(self) -> float:
        """Vehicle seconds since the process started."""
        return self.steps * self.step_s

    def _due_wall(self, steps: int) -> float:
        return self._wall_anchor + (steps - self._steps_anchor) * self.step_s / self.speedup

    def steps_due(self, wall: float | None = None) -> int:
        """How many steps should run now (bounded; re-anchors when too far behind)."""
        wall = time.monotonic() if wall is None else wall
        target = self._steps_anchor + int((wall - self._wall_anchor) * self.speedup / self.step_s)
        due = target - self.steps
        if due > MAX_BURST:
            # Too slow: slow vehicle time down rather than jump it forward.
            self._steps_anchor = self.steps + MAX_BURST
            self._wall_anchor = wall
            due = MAX_BURST
        return max(0, due)

    def advance(self) -> None:
        self.steps += 1

    def wall_until_next(self, wall: float | None = None) -> float:
        wall = time.monotonic() if wall is None else wall
        return max(0.0, self._due_wall(self.steps + 1) - wall)
