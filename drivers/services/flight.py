"""Flying for a check: configure the GCS failsafe, arm and take off; wait until landed."""

from drivers.services.flavour import gcs_failsafe_params
from drivers.services.vehicle import Vehicle


def fly(vehicle: Vehicle, settings: dict) -> None:
    """Configure the failsafe, then arm and take off in GUIDED."""
    for name, value in gcs_failsafe_params(
        vehicle.autopilot, settings["action"], settings["gcs_timeout_s"]
    ).items():
        vehicle.set_param(name, value)
    vehicle.wait_armable(settings["ready_timeout_s"])
    vehicle.set_mode("GUIDED")
    vehicle.arm()
    vehicle.takeoff(settings["takeoff_alt_m"], 1.0, 60)


def wait_landed(vehicle: Vehicle, timeout_s: float) -> None:
    vehicle.wait_heartbeat("disarmed on the ground", lambda m: not m.base_mode & 128, timeout_s)
