"""A vehicle that is already running, reached by a MAVProxy-style connection string: a bench
autopilot on /dev/ttyACM0, a vehicle behind a telemetry radio or a MAVProxy router, or a SITL
somebody started by hand. skyproof does not own its process: it cannot restart it, and on
hardware it must leave it exactly as it found it (see drivers/vehicles/bench.py)."""

from pathlib import Path
from typing import Any

from drivers.errors import DriverError


class EndpointDriver:
    name = "endpoint"

    def __init__(self, vehicle: dict[str, Any], log_dir: Path) -> None:
        self.cfg = vehicle
        self.url: str = vehicle["connect"]
        self.baud: int = int(vehicle.get("baud", 115200))
        self.hardware: bool = bool(vehicle.get("hardware", False))
        # Flight on hardware is opted into by the run (conftest), never assumed.
        self.capabilities = frozenset({"hardware"} if self.hardware else {"flight"})
        self.urls = [self.url]

    @property
    def sysid(self) -> int:
        return int(self.cfg.get("sysid", 1))

    def allow_flight(self) -> None:
        """The run confirmed propellers are off and the profile allows arming."""
        self.capabilities = self.capabilities | {"flight"}

    def start(self) -> str:
        return self.url

    def ensure_running(self) -> str:
        return self.url

    def liveness(self) -> str | None:
        return None  # not our process: the link's silence bound tells a dead vehicle

    def restart(self) -> str:
        raise DriverError(
            f"cannot restart the vehicle at {self.url}: skyproof does not own its process"
        )

    def stop(self) -> None:
        pass  # not ours to stop
