"""Remote ID in the simulator over raw pymavlink: component 236, rates, encodings, arming, faults.

Vehicle time comes from the autopilot's SYSTEM_TIME; waits are bounded loops on messages.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

os.environ.setdefault("MAVLINK20", "1")
from pymavlink import mavutil

from tests.sim_process import WALL_LIMIT_S, launch, stop

M = mavutil.mavlink
ODID = M.MAV_COMP_ID_ODID_TXRX_1
STABILIZE, GUIDED = 0, 4
STATIC = ("OPEN_DRONE_ID_BASIC_ID", "OPEN_DRONE_ID_SYSTEM", "OPEN_DRONE_ID_OPERATOR_ID",
          "OPEN_DRONE_ID_SELF_ID")


@dataclass
class Rid:
    proc: subprocess.Popen[bytes]
    conn: mavutil.mavfile
    texts: list[str] = field(default_factory=list)
    unix_s: float = 0.0  # wall-clock time the vehicle reported last (SYSTEM_TIME)
    boot_s: float = 0.0

    def wait(self, types: str | list[str], cond: Callable[[object], bool] = lambda m: True,
             limit: float = WALL_LIMIT_S):
        wanted = {types} if isinstance(types, str) else set(types)
        deadline = time.monotonic() + limit
        while (left := deadline - time.monotonic()) > 0:
            msg = self.conn.recv_match(blocking=True, timeout=min(left, 0.5))
            if msg is None:
                continue
            if msg.get_type() == "SYSTEM_TIME":
                self.unix_s, self.boot_s = msg.time_unix_usec / 1e6, msg.time_boot_ms / 1e3
            if msg.get_type() == "STATUSTEXT":
                self.texts.append(msg.text)
            if msg.get_type() in wanted and cond(msg):
                return msg
        raise AssertionError(f"no {types} meeting the condition within {limit} s")

    def collect(self, vehicle_s: float) -> list:
        """Everything received during the next `vehicle_s` seconds of vehicle time."""
        self.wait("SYSTEM_TIME")
        start, got = self.boot_s, []
        while self.boot_s - start < vehicle_s:
            got.append(self.wait(["SYSTEM_TIME", "HEARTBEAT", "OPEN_DRONE_ID_LOCATION",
                                  "OPEN_DRONE_ID_ARM_STATUS", *STATIC]))
        return got

    def command(self, cmd: int, *params: float) -> int:
        p = [*params, *[0.0] * (7 - len(params))]
        self.conn.mav.command_long_send(1, 1, cmd, 0, *p)
        return self.wait("COMMAND_ACK", lambda m: m.command == cmd).result

    def set_param(self, name: str, value: float) -> float:
        self.conn.mav.param_set_send(1, 1, name.encode(), value, M.MAV_PARAM_TYPE_REAL32)
        return self.wait("PARAM_VALUE", lambda m: m.param_id == name).param_value

    def autopilot_hb(self, cond: Callable[[object], bool] = lambda m: True):
        return self.wait("HEARTBEAT", lambda m: m.get_srcComponent() == 1 and cond(m))

    def set_mode(self, mode: int) -> None:
        assert self.command(M.MAV_CMD_DO_SET_MODE, 1, mode) == M.MAV_RESULT_ACCEPTED
        self.autopilot_hb(lambda m: m.custom_mode == mode)

    def arm(self) -> int:
        return self.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1)

    def location(self, cond: Callable[[object], bool] = lambda m: True):
        return self.wait("OPEN_DRONE_ID_LOCATION", cond)

    def age_s(self, loc) -> float:
        """How old a LOCATION's timestamp is against the vehicle's next SYSTEM_TIME."""
        self.wait("SYSTEM_TIME")
        return (self.unix_s % 3600 - loc.timestamp + 1800) % 3600 - 1800


@pytest.fixture
def sim() -> Iterator[Callable[..., Rid]]:
    started: list[Rid] = []

    def start(*args: str, speedup: float = 50) -> Rid:
        proc, (port,) = launch(*args, speedup=speedup)
        conn = mavutil.mavlink_connection(f"tcp:127.0.0.1:{port}", source_system=255,
                                          source_component=190, dialect="ardupilotmega")
        r = Rid(proc, conn)
        started.append(r)
        return r

    yield start
    for r in started:
        r.conn.close()
        stop(r.proc)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    n = math.radians(lat2 - lat1) * 6_378_137
    e = math.radians(lon2 - lon1) * 6_378_137 * math.cos(math.radians(lat1))
    return math.hypot(n, e)


def gap_to_truth(r: Rid, loc) -> float:
    pos = r.wait("GLOBAL_POSITION_INT")
    return distance_m(loc.latitude / 1e7, loc.longitude / 1e7, pos.lat / 1e7, pos.lon / 1e7)


# ---------------------------------------------------------------- the normal transmitter

def test_transmitter_is_component_236_with_its_own_heartbeat_and_all_messages(sim):
    r = sim()
    hb = r.wait("HEARTBEAT", lambda m: m.get_srcComponent() == ODID)
    assert (hb.get_srcSystem(), hb.type, hb.autopilot) == (1, M.MAV_TYPE_ODID,
                                                           M.MAV_AUTOPILOT_INVALID)
    for name in ("OPEN_DRONE_ID_LOCATION", "OPEN_DRONE_ID_ARM_STATUS", *STATIC):
        msg = r.wait(name)
        assert (msg.get_srcSystem(), msg.get_srcComponent()) == (1, ODID), name
    basic = r.wait("OPEN_DRONE_ID_BASIC_ID")
    assert basic.id_type == M.MAV_ODID_ID_TYPE_SERIAL_NUMBER
    assert basic.ua_type == M.MAV_ODID_UA_TYPE_HELICOPTER_OR_MULTIROTOR
    assert bytes(basic.uas_id).rstrip(b"\0").decode().startswith("SKYP")


def test_rates_are_1_hz_location_and_3_s_static_in_vehicle_time(sim):
    r = sim()
    got = r.collect(12.0)
    count = {n: sum(1 for m in got if m.get_type() == n) for n in
             ("OPEN_DRONE_ID_LOCATION", "OPEN_DRONE_ID_ARM_STATUS", *STATIC)}
    count["odid HEARTBEAT"] = sum(1 for m in got if m.get_type() == "HEARTBEAT"
                                  and m.get_srcComponent() == ODID)
    assert 11 <= count["OPEN_DRONE_ID_LOCATION"] <= 13, count
    assert 11 <= count["odid HEARTBEAT"] <= 13, count
    for name in STATIC:
        assert 3 <= count[name] <= 5, count
    # Some regions want BASIC_ID and SYSTEM every second: the period is a parameter.
    assert r.set_param("SIM_RID_STATIC_S", 1.0) == 1.0
    got = r.collect(6.0)
    assert 5 <= sum(1 for m in got if m.get_type() == "OPEN_DRONE_ID_BASIC_ID") <= 7


def test_arming_is_refused_until_the_self_test_passes(sim):
    r = sim(speedup=1)  # the 5 s self-test takes 5 s wall: time to ask before it ends
    arm = r.wait("OPEN_DRONE_ID_ARM_STATUS")
    assert arm.status == M.MAV_ODID_ARM_STATUS_PRE_ARM_FAIL_GENERIC
    loc = r.location()
    assert loc.status == M.MAV_ODID_STATUS_REMOTE_ID_SYSTEM_FAILURE
    # No GPS fix yet: every positional field says "unknown".
    assert (loc.latitude, loc.longitude, loc.direction, loc.speed_horizontal,
            loc.speed_vertical, loc.altitude_geodetic, loc.height, loc.timestamp) == (
        0, 0, 36100, 25500, 6300, -1000, -1000, 0xFFFF)
    # ARMING_CHECK=0 does not skip it (ArduPilot's mandatory checks); STABILIZE needs no fix.
    assert r.set_param("ARMING_CHECK", 0) == 0
    assert r.arm() == M.MAV_RESULT_DENIED
    r.wait("STATUSTEXT", lambda m: m.text == "PreArm: Remote ID not ready")
    r.wait("OPEN_DRONE_ID_ARM_STATUS", lambda m: m.status == M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM)
    assert r.arm() == M.MAV_RESULT_ACCEPTED
    assert r.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 0) == M.MAV_RESULT_ACCEPTED


def test_location_follows_the_vehicle_with_fresh_data_and_valid_encodings(sim):
    r = sim()
    r.wait("GPS_RAW_INT", lambda m: m.fix_type >= 3)
    loc = r.location(lambda m: m.latitude != 0)
    assert loc.status == M.MAV_ODID_STATUS_GROUND
    assert gap_to_truth(r, loc) < 5.0
    assert -0.2 <= r.age_s(loc) <= 1.0, "LOCATION older than 1 s"
    # Fly: take off to 10 m, then 5 m/s north.
    r.set_mode(GUIDED)
    r.wait("OPEN_DRONE_ID_ARM_STATUS", lambda m: m.status == M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM)
    assert r.arm() == M.MAV_RESULT_ACCEPTED
    assert r.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 10) == M.MAV_RESULT_ACCEPTED
    climbing = r.location(lambda m: m.speed_vertical > 100)
    assert climbing.status == M.MAV_ODID_STATUS_AIRBORNE
    assert climbing.speed_vertical <= 6200
    r.wait("GLOBAL_POSITION_INT", lambda m: m.relative_alt > 9500)
    velocity_only = 0x0FC7  # ignore position, acceleration, yaw
    for _ in range(3):
        r.conn.mav.set_position_target_local_ned_send(
            0, 1, 1, M.MAV_FRAME_LOCAL_NED, velocity_only, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0)
        loc = r.location(lambda m: m.speed_horizontal > 400)
    assert 400 <= loc.speed_horizontal <= 600, loc.speed_horizontal
    assert loc.direction <= 500 or loc.direction >= 35500, f"heading north, got {loc.direction}"
    assert abs(loc.height - 10) < 1.5, loc.height
    assert loc.height_reference == M.MAV_ODID_HEIGHT_REF_OVER_TAKEOFF
    assert gap_to_truth(r, loc) < 10.0  # 5 m/s and up to 0.25 s between the two samples
    assert -0.2 <= r.age_s(loc) <= 1.0
    assert loc.horizontal_accuracy != M.MAV_ODID_HOR_ACC_UNKNOWN
    system = r.wait("OPEN_DRONE_ID_SYSTEM")
    home = r.command(M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_HOME_POSITION)
    assert home == M.MAV_RESULT_ACCEPTED
    hp = r.wait("HOME_POSITION")
    assert (system.operator_latitude, system.operator_longitude) == (hp.latitude, hp.longitude)


def test_rid_enable_0_means_no_transmitter(sim):
    r = sim()
    assert r.set_param("SIM_RID_ENABLE", 0) == 0
    r.collect(1.5)  # let anything already sent arrive
    got = r.collect(4.0)
    assert not [m for m in got if m.get_srcComponent() == ODID]


# ---------------------------------------------------------------- the known-bad vehicles

def test_fault_remote_id_silent_sends_nothing_and_arming_is_still_allowed(sim):
    r = sim("--fault", "remote_id_silent", speedup=2)
    assert r.set_param("ARMING_CHECK", 0) == 0
    assert r.arm() == M.MAV_RESULT_ACCEPTED  # a normal vehicle refuses here (self-test)
    assert r.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 0) == M.MAV_RESULT_ACCEPTED
    got = r.collect(1.5)
    assert not [m for m in got if m.get_srcComponent() == ODID]


def test_fault_remote_id_stale(sim):
    r = sim("--fault", "remote_id_stale")
    first = r.location(lambda m: m.latitude != 0)
    r.collect(7.0)
    later = r.location()
    assert r.age_s(later) > 5.0, "LOCATION timestamp kept up with the vehicle"
    assert (later.latitude, later.longitude) == (first.latitude, first.longitude)


def test_fault_remote_id_wrong_position(sim):
    r = sim("--fault", "remote_id_wrong_position")
    loc = r.location(lambda m: m.latitude != 0)
    assert 450 < gap_to_truth(r, loc) < 550
