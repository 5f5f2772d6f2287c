"""All that reaches a vehicle: the link, the vehicle API, and the drivers that start vehicles.

Dependencies point one way: suites -> fixtures (conftest.py) -> drivers -> pymavlink.
"""

from pathlib import Path
from typing import Any

from drivers.sim_driver import SimDriver


def make_driver(vehicle: dict[str, Any], log_dir: Path) -> SimDriver:
    """The driver a profile's `vehicle:` section names."""
    kind = vehicle["driver"]
    if kind == "sim":
        return SimDriver(vehicle, log_dir)
    raise ValueError(f"vehicle.driver {kind!r} is not available in this version of skyproof")
