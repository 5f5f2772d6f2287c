"""All that reaches a vehicle, in rooms by job; imports point one way (tests/test_layers.py
holds them to it, `python -m tests.layers` prints the graph):

    attack/    hostile traffic: raw frames, a second station, a flooder, fuzzing  \
    impair/    degrading the link: the impairment proxy, netem, a cut uplink      -> services/
    vehicles/  starting and stopping vehicles: simulator, SITL, endpoint, bench   /
    services/  what the harness asks of a vehicle: Vehicle, params, mission, ...  -> link/
    link/      the MAVLink connection on the vehicle's clock, signing a connection -> the root
    (root)     mavlink (the dialect), errors, process (process groups), ports

Suites and fixtures (conftest.py) use them all; none of them imports suites/ or sim/.

Every vehicle driver (vehicles/) keeps one contract (sim_driver, ardupilot_sitl, px4_sitl):

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
    "sim": "drivers.vehicles.sim_driver:SimDriver",
    "ardupilot-sitl": "drivers.vehicles.ardupilot_sitl:ArduPilotSitl",
    "px4-sitl": "drivers.vehicles.px4_sitl:Px4Sitl",
    "endpoint": "drivers.vehicles.endpoint:EndpointDriver",
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
