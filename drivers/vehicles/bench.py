"""Lab-bench guarantees for a real autopilot: its parameters are snapshotted before the run and
put back exactly afterwards (the run reports the remaining difference, which must be empty), and
it is left disarmed."""

import json
from pathlib import Path
from typing import Any

from drivers.link.connection import Link
from drivers.services import param_list
from drivers.services.vehicle import Vehicle


def open_vehicle(
    url: str, sysid: int, silence_s: float, baud: int = 115200
) -> tuple[Link, Vehicle]:
    link = Link(url, vehicle_sysid=sysid, silence_s=silence_s, baud=baud)
    vehicle = Vehicle(link, sysid=sysid)
    try:
        vehicle.connect()
    except BaseException:
        link.close()
        raise
    return link, vehicle


def snapshot(vehicle: Vehicle) -> dict[str, float]:
    return param_list.fetch_all(vehicle)


def put_back(vehicle: Vehicle, before: dict[str, float], report: Path) -> dict[str, Any]:
    """Restore every parameter that changed, disarm, and write what still differs to `report`
    (JSON: name -> [before, after]); return that difference."""
    if vehicle.armed:
        vehicle.disarm()
    changed = param_list.diff(before, param_list.fetch_all(vehicle))
    for name, (was, _now) in changed.items():
        if was is not None:
            vehicle.set_param(name, was)
    left = param_list.diff(before, param_list.fetch_all(vehicle))
    result = {
        "restored": sorted(n for n in changed if n not in left),
        "still_different": {n: list(v) for n, v in left.items()},
        "disarmed": not vehicle.armed,
    }
    report.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result
