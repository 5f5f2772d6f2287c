"""Cutting the ground station's uplink in the impairment proxy, with the last heartbeat timed
so the failsafe's moment can be judged against a window (see `cut_uplink`)."""

import math
from dataclasses import dataclass

from drivers.impair.proxy import ImpairmentProxy
from drivers.services.vehicle import Vehicle

BEAT_S = 1.0  # HEARTBEAT period (MAVLink's 1 Hz; test_heartbeat_rate holds a vehicle to it)


@dataclass(frozen=True)
class Cut:
    last_heartbeat_t: float  # vehicle time of the last GCS heartbeat that reached the vehicle
    before_t: float  # newest HEARTBEAT still in the flight mode
    after_t: float | None  # first HEARTBEAT in another mode (None: no change seen)
    mode: str


def _vehicle_beat(vehicle: Vehicle, timeout_s: float = 3.0) -> float:
    """Vehicle time of the next HEARTBEAT of the autopilot."""
    return vehicle.link.wait(
        "a HEARTBEAT of the vehicle", ["HEARTBEAT"],
        lambda m: m.get_srcSystem() == vehicle.sysid and m.get_srcComponent() == vehicle.compid,
        timeout_s=timeout_s,
    ).t  # fmt: skip


def _last_heartbeat(vehicle: Vehicle, proxy: ImpairmentProxy, settings: dict) -> None:
    """Send our last GCS heartbeat at the moment that puts the vehicle's beats half a period
    outside each end of the accepted failsafe window, and return once it is through the proxy
    (the outage that follows must not catch it). Our periodic heartbeats stop here."""
    link = vehicle.link
    timeout, tol = settings["gcs_timeout_s"], settings["tolerance_s"]
    period = BEAT_S
    n = math.floor(2 * tol / period) + 1  # beats spanning the window with room either side
    margin = (n * period - 2 * tol) / 2
    # the vehicle's beats come at phase + k periods (phase from three of them, each arrival
    # a little late by its own jitter: averaged on the circle)
    beats = [_vehicle_beat(vehicle) for _ in range(3)]
    angle = [2 * math.pi * (b % period) / period for b in beats]
    phase = math.atan2(sum(map(math.sin, angle)), sum(map(math.cos, angle))) / (2 * math.pi)
    # our heartbeat at L puts L + timeout + tol + margin on a vehicle beat
    at = beats[-1] + (phase * period - beats[-1] - (timeout + tol + margin)) % period
    if at < link.clock.now() + 0.05 * period:
        at += period
    link.elapse(max(0.0, at - link.clock.now()))  # our 1 Hz heartbeats carry on meanwhile
    link.gcs_heartbeats = False
    through = proxy.counters["up"].frames
    link.send_heartbeat()
    deadline = link.clock.now() + 1.0
    while proxy.counters["up"].frames <= through and link.clock.now() < deadline:
        link.elapse(0.01)  # the proxy takes it in within a few vehicle milliseconds


def cut_uplink(
    vehicle: Vehicle,
    proxy: ImpairmentProxy,
    settings: dict,
    outage_s: float,
    *,
    watch_s: float | None = None,
    restore_on_change: bool = False,
) -> Cut:
    """Drop everything the harness sends for outage_s (from a last heartbeat timed as the
    module says); watch up to `watch_s` (default timeout + tolerance + 8 s) for the vehicle's
    mode change. With `restore_on_change` the link comes back as soon as the mode changes."""
    link = vehicle.link
    _last_heartbeat(vehicle, proxy, settings)
    last = link.last_heartbeat_t
    proxy.outage(outage_s, "up")
    link.gcs_heartbeats = True  # a real ground station keeps trying; the proxy drops them
    flying = vehicle.latest("HEARTBEAT").custom_mode
    before_t = link.latest("HEARTBEAT").t
    if watch_s is None:
        watch_s = settings["gcs_timeout_s"] + settings["tolerance_s"] + 8.0
    with link.subscribe(["HEARTBEAT"]) as sub:
        deadline = last + watch_s
        while link.clock.now() < deadline:
            got = sub.get(link.poll_s(deadline))
            link.check_alive("the vehicle's mode change after the uplink was cut")
            if (
                not got
                or got.msg.get_srcSystem() != vehicle.sysid
                or got.msg.get_srcComponent() != 1
            ):
                continue
            if got.msg.custom_mode != flying:
                if restore_on_change:
                    proxy.clear()
                return Cut(last, before_t, got.t, vehicle.mode)
            before_t = got.t
    return Cut(last, before_t, None, vehicle.mode)
