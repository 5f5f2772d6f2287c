"""Wall-time bounds of a run, derived from its profile: the last guard against a check (or a
run) that would otherwise never end. A check's own waits run in vehicle time and are bounded by
its suite's settings; these bounds say how long, in wall seconds, that can take at the vehicle's
speedup, with room to spare, so they fire only when something escaped every vehicle-time bound.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .loader import Profile

CHECK_FLOOR_S = 120.0  # wall: starting a vehicle (SITL: up to 3 attempts), connecting, teardown
RUN_FLOOR_S = 300.0  # wall: collection, the first vehicle, the reports
WAIT_FACTOR = 4.0  # a check waits up to twice each bound it judges, and its waits add up


@dataclass(frozen=True)
class WallBound:
    seconds: float
    why: str  # how it was derived, for the message that reports it exceeded

    def __str__(self) -> str:
        return f"{round(self.seconds, 1):g} s ({self.why})"


def vehicle_seconds(settings: Any) -> float:
    """The sum of a suite's vehicle-time settings (keys ending in `_s`, nested ones too): more
    than any one of its checks waits for in all, once each."""
    if isinstance(settings, dict):
        return sum(
            float(v) if k.endswith("_s") and _number(v) else vehicle_seconds(v)
            for k, v in settings.items()
        )
    if isinstance(settings, list):
        return sum(vehicle_seconds(v) for v in settings)
    return 0.0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _speedup(profile: Profile) -> float:
    return float(profile.vehicle.get("speedup") or 1.0)


def _own_s(profile: Profile, suite: str) -> float:
    """Vehicle seconds a check of `suite` may wait, once each (the key-secrecy check stays
    armed the vehicle's log_after_arming_s)."""
    settings = profile.suites.get(suite, {})
    return vehicle_seconds(settings) + float(profile.vehicle.get("log_after_arming_s", 0))


def _budget_s(profile: Profile, suite: str) -> float:
    """Wall seconds a check of `suite` may spend waiting on the vehicle, at its speedup."""
    return WAIT_FACTOR * _own_s(profile, suite) / _speedup(profile)


def check_bound(profile: Profile, suite: str) -> WallBound:
    """A check's wall-time bound: a floor, plus its suite's vehicle-time settings at speedup."""
    why = (
        f"{CHECK_FLOOR_S:g} s + {WAIT_FACTOR:g} × {_own_s(profile, suite):g} vehicle s of "
        f"suites.{suite} bounds / speedup {_speedup(profile):g}"
    )
    return WallBound(CHECK_FLOOR_S + _budget_s(profile, suite), why)


def run_bound(profile: Profile, suites: Iterable[str]) -> WallBound:
    """The run's wall-time bound: a floor, plus each check's vehicle-time budget (one entry of
    `suites` per check)."""
    suites = list(suites)
    seconds = RUN_FLOOR_S + sum(_budget_s(profile, s) for s in suites)
    why = (
        f"{RUN_FLOOR_S:g} s + {WAIT_FACTOR:g} × the vehicle-time bounds of its {len(suites)} "
        f"checks' suites / speedup {_speedup(profile):g}"
    )
    return WallBound(seconds, why)
