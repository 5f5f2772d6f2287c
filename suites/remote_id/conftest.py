"""The Remote ID suite's fixture: the harness takes its two parts in Open Drone ID over MAVLink
(drivers/services/remote_id.py): the vehicle's transponder, on the channel the autopilot feeds it on
(ArduPilot's DID_MAVPORT), and the ground station's operator data on the harness's own link.

A vehicle without Open Drone ID over MAVLink (no DID_ENABLE parameter, DID_ENABLE=0, or a
transponder port the harness cannot reach) skips every check, saying which."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drivers.errors import WaitTimeout
from drivers.services import flavour
from drivers.services.remote_id import BEAT_S, OperatorData, OperatorFeed, Transponder, vehicle_utc
from drivers.services.vehicle import Vehicle


@dataclass
class RemoteId:
    vehicle: Vehicle
    transponder: Transponder
    operator: OperatorFeed
    port: int  # the transponder's channel (DID_MAVPORT)
    since: float  # vehicle time from which the vehicle has heard both parts of the harness


def _param(vehicle: Vehicle, name: str) -> float | None:
    """A parameter's value, or None when the vehicle has no such parameter."""
    try:
        return vehicle.get_param(name)
    except WaitTimeout:
        return None


@pytest.fixture
def rid(
    request: pytest.FixtureRequest,
    vehicle: Vehicle,
    vehicle_driver: Any,
    settings: dict[str, Any],
    run_dir: Path,
) -> Iterator[RemoteId]:
    """The transponder (healthy) and the operator's data, both running, on a vehicle whose
    position is known (the operator stands there)."""
    enable = _param(vehicle, "DID_ENABLE")
    if enable is None:
        pytest.skip("the vehicle has no DID_ENABLE parameter: no Open Drone ID over MAVLink "
                    "(ArduPilot's AP_OpenDroneID) to verify")  # fmt: skip
    if int(enable) != 1:
        pytest.skip(f"Open Drone ID is off on this vehicle (DID_ENABLE={enable:g}); boot it "
                    "with DID_ENABLE=1 and DID_MAVPORT (the profile's vehicle.params)")
    got = _param(vehicle, "DID_MAVPORT")
    port = -1 if got is None else int(got)
    urls = list(getattr(vehicle_driver, "urls", []))
    if not 1 <= port < len(urls):
        pytest.skip(f"the transponder's channel DID_MAVPORT={port} is not one the harness can "
                    f"take apart from its ground station link (channel 0; it reaches channels "
                    f"0..{len(urls) - 1}): give the transponder a port of its own")
    link = vehicle.link
    tlog = run_dir / "tlogs" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.nodeid)}" \
        "-transponder.tlog"  # fmt: skip
    transponder = Transponder(urls[port], link, vehicle.sysid, tlog=tlog,
                              liveness=vehicle_driver.liveness)  # fmt: skip
    feed = None
    try:
        # the operator stands where the vehicle is: wait for the vehicle to know where that is
        flight = settings["flight"]
        what, mtype, ready = flavour.position_ready(vehicle.autopilot)
        link.wait(what, [mtype], ready, timeout_s=flight["ready_timeout_s"], include_latest=True)
        pos = link.wait("a GLOBAL_POSITION_INT with a position", ["GLOBAL_POSITION_INT"],
                        lambda m: m.lat != 0 or m.lon != 0, timeout_s=5, include_latest=True).msg
        link.wait("SYSTEM_TIME with the vehicle's UTC", ["SYSTEM_TIME"],
                  lambda m: m.time_unix_usec != 0, timeout_s=5, include_latest=True)
        op = settings["operator"]
        data = OperatorData(op["uas_id"], op["operator_id"], op["self_id"], pos.lat / 1e7,
                            pos.lon / 1e7, pos.alt / 1000)  # fmt: skip
        feed = OperatorFeed(link, data, lambda: vehicle_utc(link) or 0.0)
        feed.start()
        link.elapse(BEAT_S)  # a beat period: the vehicle has the transponder's report too
        yield RemoteId(vehicle, transponder, feed, port, link.clock.now())
    finally:
        if feed is not None:
            feed.stop()
        transponder.close()  # its tlog lies beside the check's own, "-transponder" added
    if link.task_error:
        pytest.fail(f"the harness's transponder or operator feed stopped: {link.task_error}")
