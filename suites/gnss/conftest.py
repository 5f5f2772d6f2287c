"""The GNSS suite's isolation: a GNSS fault leaves the vehicle's estimator disturbed after its
parameters are back (ArduPilot SITL: still rejecting the restored fix as a glitch, its position
tens of metres off, a wider innovation gate after a jam that lets the next jump through), which
would make a later check's verdict depend on the order of checks. So each GNSS check hands on
a fresh vehicle, and its record says so."""

from collections.abc import Iterator
from typing import Any

import pytest

from drivers.pytest_vehicle import restart_after


@pytest.fixture(autouse=True)
def fresh_vehicle_after(request: pytest.FixtureRequest, vehicle_driver: Any) -> Iterator[None]:
    # set up before `vehicle`, so this runs after it has restored parameters and disarmed
    yield
    restart_after(request.node, vehicle_driver,
                  "restarted after this GNSS check: its fault leaves the estimator disturbed")
