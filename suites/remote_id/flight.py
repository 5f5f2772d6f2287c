"""The flights the Remote ID checks make: GUIDED take-off from where the vehicle stands, and a
landing in place (disarmed on the ground afterwards)."""

from __future__ import annotations

from typing import Any

from drivers.link.connection import Message
from drivers.services.vehicle import Vehicle


def take_off(vehicle: Vehicle, flight: dict[str, Any]) -> Message:
    """Arm in GUIDED and climb to flight.alt_m; returns the GLOBAL_POSITION_INT it started at."""
    vehicle.wait_armable(flight["ready_timeout_s"])
    start = vehicle.latest("GLOBAL_POSITION_INT")
    vehicle.set_mode("GUIDED")
    vehicle.arm()
    vehicle.takeoff(flight["alt_m"], 1.0, flight["leg_timeout_s"])
    return start


def land(vehicle: Vehicle, flight: dict[str, Any]) -> None:
    vehicle.land(flight["land_timeout_s"])


def airborne(msg: Message) -> bool:
    """A GLOBAL_POSITION_INT of the vehicle flying (a metre or more above home)."""
    return msg.relative_alt >= 1000
