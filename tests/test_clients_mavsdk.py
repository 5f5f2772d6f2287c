"""A real ground-station library against the built-in simulator: MAVSDK-Python 4.x (the C++
MAVSDK through ctypes) connects, reads telemetry, and flies take-off, a go-to, a 4-waypoint
mission, RTL and landing. Every assertion is on what the vehicle reported doing (positions,
altitudes, modes, landed state), not on MAVSDK's return values alone.

Speedup: SPEEDUP = 20. MAVSDK's own timeouts (command ACKs, mission transfer, heartbeat loss)
run on the wall clock while the vehicle's run in vehicle time, so a high speedup shrinks the
vehicle's windows as MAVSDK sees them: between arm and take-off the vehicle disarms after
DISARM_DELAY = 10 s (0.5 s wall at 20x); a mission upload with no progress for 8 s is cancelled.
Measured here: arm + take-off took 1-5 ms wall, and the flight passed 3/3 at 10, 20, 40 and 60x
with two busy-loop processes loading both cores, and at 100 and 200x under `-n 2` (the sim then
runs as fast as it can). 20 keeps a wide margin below all of that (and below the ~64x that real
ArduPilot SITL reached on this kind of machine); the file takes ~7 s wall. Waits are bounded in
vehicle seconds (read from SYSTEM_TIME through MAVSDK), plus a wall-clock guard for a silent
vehicle, whose clock would otherwise never run out.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

# No importorskip: these tests run in CI, and a broken MAVSDK install must fail them loudly.
from mavsdk.asyncio import Autopilot, ComponentType, Configuration, Mavsdk, Vehicle
from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.mission_raw import MissionItem, MissionRawAsync
from mavsdk.asyncio.plugins.param import ParamAsync
from mavsdk.asyncio.plugins.telemetry import FixType, FlightMode, LandedState, TelemetryAsync

from drivers.mavlink import mavlink
from drivers.vehicles.sim_driver import SimDriver

SPEEDUP = 20  # see the module docstring
HOME = (-35.363261, 149.165230, 584.0, 0.0)  # lat, lon, alt AMSL, heading, as given to the sim
EARTH_R = 6_378_137.0
SILENT_WALL_S = 5.0  # no SYSTEM_TIME for this long (wall) = the vehicle is gone
DISCOVERY_WALL_S = 10.0  # MAVSDK's own discovery bound (wall: before any vehicle clock)
POLL_WALL_S = 0.01
# Last resort only (the waits above are bounded): a blocked MAVSDK call must not hang CI.
pytestmark = pytest.mark.timeout(120)


def offset(north_m: float, east_m: float) -> tuple[float, float]:
    """lat, lon of the point north_m/east_m from HOME."""
    lat = HOME[0] + math.degrees(north_m / EARTH_R)
    lon = HOME[1] + math.degrees(east_m / (EARTH_R * math.cos(math.radians(HOME[0]))))
    return lat, lon


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Horizontal distance, flat-earth (fine over a few hundred metres)."""
    dn = math.radians(lat2 - lat1) * EARTH_R
    de = math.radians(lon2 - lon1) * EARTH_R * math.cos(math.radians(lat1))
    return math.hypot(dn, de)


@dataclass
class Sample:
    t: float  # vehicle seconds
    lat: float
    lon: float
    rel_alt: float

    def dist_to(self, lat: float, lon: float) -> float:
        return distance_m(self.lat, self.lon, lat, lon)


@dataclass
class Watch:
    """The vehicle's latest state as MAVSDK reports it, kept by background tasks reading its
    telemetry streams, and every position with the vehicle time it arrived at."""

    tel: TelemetryAsync
    mission: MissionRawAsync
    now: float | None = None  # vehicle seconds, from SYSTEM_TIME.time_unix_usec
    clock_wall: float = field(default_factory=time.monotonic)
    latest: dict[str, object] = field(default_factory=dict)
    track: list[Sample] = field(default_factory=list)
    modes: list[FlightMode] = field(default_factory=list)  # every mode change, in order
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        t = self.tel
        self._follow("time", t.subscribe_unix_epoch_time(), self._tick)
        self._follow("position", t.subscribe_position(), self._position)
        self._follow("mode", t.subscribe_flight_mode(), self._mode)
        for name, stream in (
            ("home", t.subscribe_home()),
            ("health", t.subscribe_health()),
            ("gps", t.subscribe_gps_info()),
            ("armed", t.subscribe_armed()),
            ("in_air", t.subscribe_in_air()),
            ("landed", t.subscribe_landed_state()),
            ("progress", self.mission.subscribe_mission_progress()),
        ):
            self._follow(name, stream, None)

    def _follow(self, name: str, stream, on_item: Callable[[object], None] | None) -> None:
        async def run() -> None:
            async for item in stream:
                self.latest[name] = item
                if on_item:
                    on_item(item)

        self.tasks.append(asyncio.create_task(run(), name=f"telemetry {name}"))

    def _tick(self, unix_us: object) -> None:
        assert isinstance(unix_us, int)
        self.now = unix_us / 1e6
        self.clock_wall = time.monotonic()

    def _position(self, p) -> None:
        if self.now is not None:
            s = Sample(self.now, p.latitude_deg, p.longitude_deg, p.relative_altitude_m)
            self.track.append(s)

    def _mode(self, mode) -> None:
        if not self.modes or self.modes[-1] != mode:
            self.modes.append(mode)

    def get(self, name: str):
        return self.latest.get(name)

    async def until(self, what: str, cond: Callable[[], object], vehicle_s: float) -> None:
        """Poll the latest telemetry until `cond()` holds, for at most `vehicle_s` vehicle s."""
        wall_start = time.monotonic()
        while self.now is None:  # no vehicle clock yet: a wall bound
            self._check_tasks(what)
            if time.monotonic() - wall_start > SILENT_WALL_S:
                raise AssertionError(f"no SYSTEM_TIME within {SILENT_WALL_S} s wall ({what})")
            await asyncio.sleep(POLL_WALL_S)
        start = self.now
        while not cond():
            self._check_tasks(what)
            if self.now - start > vehicle_s:
                raise AssertionError(
                    f"waited {vehicle_s:g} s of vehicle time for {what}; last seen: {self.state()}"
                )
            if time.monotonic() - self.clock_wall > SILENT_WALL_S:
                raise AssertionError(
                    f"vehicle silent for {SILENT_WALL_S} s wall while waiting for {what}; "
                    f"last seen: {self.state()}"
                )
            await asyncio.sleep(POLL_WALL_S)

    def _check_tasks(self, what: str) -> None:
        for task in self.tasks:
            if task.done() and task.exception():
                raise AssertionError(f"{task.get_name()} failed while waiting for {what}") from (
                    task.exception()
                )

    def state(self) -> str:
        pos = self.track[-1] if self.track else None
        keep = ("mode", "armed", "in_air", "landed", "progress")
        return f"position {pos}, " + ", ".join(f"{k} {self.latest.get(k)}" for k in keep)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()  # the stream's generator unsubscribes on its way out
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def connect(url: str, mavsdk: Mavsdk):
    assert url.startswith("tcp:127.0.0.1:"), url
    await mavsdk.add_any_connection("tcpout://" + url.removeprefix("tcp:"))
    system = await mavsdk.first_autopilot(timeout_s=DISCOVERY_WALL_S)
    assert system is not None, f"MAVSDK found no autopilot at {url} in {DISCOVERY_WALL_S} s"
    return system


def run(sim_url: str, scenario) -> None:
    async def main() -> None:
        config = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
        async with Mavsdk(config) as mavsdk:
            system = await connect(sim_url, mavsdk)
            # One instance per plugin: MAVSDK keeps mission progress per MissionRaw instance.
            tel, mission = TelemetryAsync(system), MissionRawAsync(system)
            watch = Watch(tel, mission)
            watch.start()
            try:
                # ArduPilot streams little unless asked: set the rates this test relies on.
                await tel.set_rate_unix_epoch_time(10)
                await tel.set_rate_position(10)
                await scenario(system, watch)
            finally:
                await watch.stop()

    asyncio.run(main())


def start_sim(tmp_path) -> SimDriver:
    driver = SimDriver({"driver": "sim", "speedup": SPEEDUP, "home": HOME}, tmp_path)
    driver.start()
    return driver


def assert_sim_had_no_internal_error(log_dir) -> None:
    log = (log_dir / "sim-1.log").read_text()
    assert "internal error" not in log, f"the simulator hit a bug of its own:\n{log}"


def test_mavsdk_reads_identity_health_position_and_mode(tmp_path):
    async def scenario(system, w: Watch) -> None:
        assert await system.autopilot_type() == Autopilot.ARDUPILOT
        assert await system.vehicle_type() == Vehicle.MULTICOPTER
        # Warm-up (GPS fix, EKF origin, home) takes 8 s of vehicle time after boot.
        await w.until("health: armable", lambda: getattr(w.get("health"), "is_armable", False), 20)
        await w.until(
            "a 3D GPS fix",
            lambda: getattr(w.get("gps"), "fix_type", None) in (FixType.FIX_3D, FixType.FIX_DGPS),
            5,
        )
        assert w.get("gps").num_satellites >= 6
        health = w.get("health")
        assert health.is_global_position_ok and health.is_home_position_ok
        await w.until("the home position", lambda: w.get("home") is not None, 5)
        home = w.get("home")
        assert distance_m(home.latitude_deg, home.longitude_deg, *HOME[:2]) < 0.5
        assert abs(home.absolute_altitude_m - HOME[2]) < 0.5
        await w.until("a position", lambda: w.track, 5)
        here = w.track[-1]
        assert here.dist_to(*HOME[:2]) < 1.0 and abs(here.rel_alt) < 0.5
        # A freshly booted ArduPilot Copter sits disarmed on the ground in STABILIZE.
        await w.until("mode, armed and landed state", lambda: None not in (
            w.get("mode"), w.get("armed"), w.get("landed")), 5)
        assert w.get("mode") == FlightMode.STABILIZED
        assert w.get("armed") is False and w.get("landed") == LandedState.ON_GROUND

    sim = start_sim(tmp_path)
    try:
        run(sim.url, scenario)
        assert sim.liveness() is None
    finally:
        sim.stop()
    assert_sim_had_no_internal_error(tmp_path)


TAKEOFF_M = 10.0
GOTO = (40.0, 30.0, 15.0)  # north, east, altitude above home (m)
WAYPOINTS = [(50.0, 0.0, 12.0), (50.0, 50.0, 18.0), (0.0, 50.0, 12.0), (-20.0, 20.0, 10.0)]


def mission_items() -> list[MissionItem]:
    """Item 0 is home (ArduPilot overwrites it); the waypoints are relative-altitude items."""
    M = mavlink
    items = [
        MissionItem(0, M.MAV_FRAME_GLOBAL, M.MAV_CMD_NAV_WAYPOINT, 1, 1, 0, 0, 0, 0,
                    round(HOME[0] * 1e7), round(HOME[1] * 1e7), HOME[2], M.MAV_MISSION_TYPE_MISSION)
    ]
    for seq, (n, e, alt) in enumerate(WAYPOINTS, start=1):
        lat, lon = offset(n, e)
        items.append(
            MissionItem(seq, M.MAV_FRAME_GLOBAL_RELATIVE_ALT, M.MAV_CMD_NAV_WAYPOINT, 0, 1,
                        0, 0, 0, 0, round(lat * 1e7), round(lon * 1e7), alt,
                        M.MAV_MISSION_TYPE_MISSION)
        )
    return items


def test_mavsdk_flies_takeoff_goto_mission_rtl_and_lands(tmp_path):
    async def scenario(system, w: Watch) -> None:
        action, mission, param = ActionAsync(system), w.mission, ParamAsync(system)
        # The vehicle's own figures, so the checks below follow its configuration.
        wp_radius_m = await param.get_param_float("WPNAV_RADIUS") / 100
        rtl_alt_m = await param.get_param_int("RTL_ALT") / 100
        reach_m = wp_radius_m + 1.0  # + 10 Hz position samples at up to 10 m/s, and noise

        await w.until("health: armable", lambda: getattr(w.get("health"), "is_armable", False), 20)
        await w.until("a position", lambda: w.track, 5)

        # -- take-off --------------------------------------------------------------------------
        await action.set_takeoff_altitude(TAKEOFF_M)
        await action.arm()
        await action.takeoff()
        await w.until(
            f"take-off to {TAKEOFF_M} m", lambda: w.track[-1].rel_alt > TAKEOFF_M - 0.3, 20
        )
        await w.until("in the air", lambda: w.get("landed") == LandedState.IN_AIR, 3)
        assert w.get("armed") is True and w.get("in_air") is True
        assert w.get("mode") == FlightMode.OFFBOARD  # how MAVSDK names ArduPilot's GUIDED
        assert w.track[-1].dist_to(*HOME[:2]) < 1.5  # straight up

        # -- go-to -----------------------------------------------------------------------------
        lat, lon = offset(GOTO[0], GOTO[1])
        await action.goto_location(lat, lon, HOME[2] + GOTO[2], 0.0)
        await w.until(
            f"arrival at the go-to point {GOTO}",
            lambda: w.track[-1].dist_to(lat, lon) < 1.0
            and abs(w.track[-1].rel_alt - GOTO[2]) < 0.5,
            30,
        )

        # -- mission ---------------------------------------------------------------------------
        items = mission_items()
        await mission.upload_mission(items)
        stored = await mission.download_mission()
        assert [(i.seq, i.command, i.x, i.y) for i in stored[1:]] == [
            (i.seq, i.command, i.x, i.y) for i in items[1:]
        ]
        assert [round(i.z, 2) for i in stored[1:]] == [alt for _, _, alt in WAYPOINTS]
        flown_from = len(w.track)
        await mission.start_mission()
        await w.until("AUTO mode", lambda: w.get("mode") == FlightMode.MISSION, 3)
        await w.until(
            "the mission's last item reached",
            lambda: (p := w.get("progress")) is not None and p.total > 0 and p.current == p.total,
            90,
        )
        assert await mission.is_mission_finished()
        # Arrival: within WPNAV_RADIUS (+ margin) horizontally and 1 m vertically, in order.
        flown = w.track[flown_from:]
        arrivals = []
        for n, e, alt in WAYPOINTS:
            wlat, wlon = offset(n, e)
            at = [k for k, s in enumerate(flown)
                  if s.dist_to(wlat, wlon) < reach_m and abs(s.rel_alt - alt) < 1.0]
            best = min(flown, key=lambda s, a=wlat, b=wlon: s.dist_to(a, b))
            assert at, f"never reached waypoint {(n, e, alt)}; nearest pass: {best}"
            arrivals.append(at[0])
        assert arrivals == sorted(arrivals), f"waypoints reached out of order: {arrivals}"
        last_lat, last_lon = offset(*WAYPOINTS[-1][:2])
        assert w.track[-1].dist_to(last_lat, last_lon) < reach_m  # holds at the last one

        # -- RTL and landing -------------------------------------------------------------------
        rtl_from = len(w.track)
        await action.return_to_launch()
        await w.until("RTL mode", lambda: w.get("mode") == FlightMode.RETURN_TO_LAUNCH, 3)
        await w.until("landed and disarmed", lambda: w.get("armed") is False, 120)
        await w.until("landed state on ground", lambda: w.get("landed") == LandedState.ON_GROUND, 3)
        back = w.track[rtl_from:]
        # It was at 10 m, below RTL_ALT: ArduPilot climbs to RTL_ALT before it returns.
        assert max(s.rel_alt for s in back) > rtl_alt_m - 0.5
        end = w.track[-1]
        assert end.dist_to(*HOME[:2]) < 1.5, f"landed {end.dist_to(*HOME[:2]):.1f} m from home"
        assert abs(end.rel_alt) < 0.5
        assert w.get("in_air") is False
        # No mode change but the ones asked for (a failsafe would add one).
        assert w.modes == [
            FlightMode.STABILIZED, FlightMode.OFFBOARD, FlightMode.MISSION,
            FlightMode.RETURN_TO_LAUNCH,
        ], f"unexpected mode changes: {[m.name for m in w.modes]}"

    sim = start_sim(tmp_path)
    try:
        run(sim.url, scenario)
        assert sim.liveness() is None
    finally:
        sim.stop()
    assert_sim_had_no_internal_error(tmp_path)
