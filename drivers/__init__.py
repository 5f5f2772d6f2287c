"""All that reaches a vehicle: the link, the vehicle API, and the drivers that start vehicles.

Dependencies point one way: suites -> fixtures (conftest.py) -> drivers -> pymavlink.

Every vehicle driver keeps one contract (sim_driver, ardupilot_sitl, px4_sitl):

    name: str                      # "sim", "ardupilot-sitl", "px4-sitl", "endpoint"
    capabilities: frozenset[str]   # from sim_faults, restart, reboot, flight, wipe, hardware
    sysid: int                     # the vehicle's MAVLink system id
    urls: list[str]                # MAVLink channel index -> loopback connection string
    __init__(vehicle: dict, log_dir: Path)   # vehicle = the profile's vehicle section
    start() -> str                 # start, decide readiness, return urls[0]; DriverError
    stop() -> None                 # the whole process group; idempotent
    liveness() -> str | None       # None while running, else why it is gone
    ensure_running() -> str        # restart if dead
    restart() -> str
"""

import importlib
from pathlib import Path
from typing import Any

# vehicle.driver -> "module:class"; imported on demand, so `import drivers.x` stays light
DRIVERS = {
    "sim": "drivers.sim_driver:SimDriver",
    "ardupilot-sitl": "drivers.ardupilot_sitl:ArduPilotSitl",
    "px4-sitl": "drivers.px4_sitl:Px4Sitl",
    "endpoint": "drivers.endpoint:EndpointDriver",
}

BOOT_PARAMS = ("sim", "ardupilot-sitl")  # drivers that boot a vehicle with vehicle.params


def make_driver(vehicle: dict[str, Any], log_dir: Path) -> Any:
    """The driver a profile's `vehicle:` section names."""
    kind = vehicle["driver"]
    if kind not in DRIVERS:
        raise ValueError(
            f"vehicle.driver {kind!r} is not available in this version of skyproof "
            f"(known: {', '.join(DRIVERS)})"
        )
    if vehicle.get("params") and kind not in BOOT_PARAMS:
        raise ValueError(
            f"vehicle.params: driver {kind!r} cannot boot the vehicle with parameters (only "
            f"{', '.join(BOOT_PARAMS)} can); set them on the vehicle and remove vehicle.params"
        )
    module, _, cls = DRIVERS[kind].partition(":")
    return getattr(importlib.import_module(module), cls)(vehicle, log_dir)
