"""Flying for a check: configure the GCS failsafe, arm and take off; wait until landed."""

from drivers.services.flavour import gcs_failsafe_params
from drivers.services.vehicle import Vehicle


def take_off(vehicle: Vehicle, alt_m: float, ready_timeout_s: float,
             climb_timeout_s: float = 60.0) -> None:
    """Once the vehicle is armable, arm in GUIDED and climb to alt_m above home (each wait
    bounded, in vehicle seconds)."""
    vehicle.wait_armable(ready_timeout_s)
    vehicle.set_mode("GUIDED")
    vehicle.arm()
    vehicle.takeoff(alt_m, 1.0, climb_timeout_s)


def fly(vehicle: Vehicle, settings: dict) -> None:
    """Configure the failsafe, then arm and take off in GUIDED."""
    for name, value in gcs_failsafe_params(
        vehicle.autopilot, settings["action"], settings["gcs_timeout_s"]
    ).items():
        vehicle.set_param(name, value)
    take_off(vehicle, settings["takeoff_alt_m"], settings["ready_timeout_s"])


def wait_landed(vehicle: Vehicle, timeout_s: float) -> None:
    vehicle.wait_heartbeat("disarmed on the ground", lambda m: not m.base_mode & 128, timeout_s)
