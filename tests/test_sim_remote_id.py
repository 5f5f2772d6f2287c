"""Remote ID in the simulator over raw pymavlink, as ArduPilot does it with DID_ENABLE=1: the
autopilot feeds a transponder on channel DID_MAVPORT (OPEN_DRONE_ID_* from component 1, on that
channel only), relays the ground station's data, gates arming on the transponder's ARM_STATUS
(DID_OPTIONS bit 0) and warns when the transponder goes quiet; and its faults.

Channel 0 is the ground station's, channel 1 the transponder's (played here as component 236).
Vehicle time comes from the autopilot's SYSTEM_TIME; waits are bounded loops on messages.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

os.environ.setdefault("MAVLINK20", "1")
from pymavlink import mavutil

from tests.sim_process import REPO, WALL_LIMIT_S, launch, stop

M = mavutil.mavlink
ODID = M.MAV_COMP_ID_ODID_TXRX_1
GUIDED = 4
STATIC = ("OPEN_DRONE_ID_BASIC_ID", "OPEN_DRONE_ID_SYSTEM", "OPEN_DRONE_ID_OPERATOR_ID",
          "OPEN_DRONE_ID_SELF_ID")
FEED = ("OPEN_DRONE_ID_LOCATION", "OPEN_DRONE_ID_SYSTEM_UPDATE", *STATIC)
DID = ("--param", "DID_ENABLE=1", "--param", "DID_MAVPORT=1")
OPERATOR = (225430000, 1139420000)  # degE7, a few metres from the simulator's home below
HOME = "--home=22.5431,113.9425,20,0"


@dataclass
class Rid:
    proc: subprocess.Popen[bytes]
    gcs: mavutil.mavfile
    tx: mavutil.mavfile  # the transponder's channel
    texts: list[str] = field(default_factory=list)
    unix_s: float = 0.0  # wall-clock time the vehicle reported last (SYSTEM_TIME)
    boot_s: float = 0.0
    got_tx: list = field(default_factory=list)  # the autopilot's OPEN_DRONE_ID_* there
    arm_status: int | None = None  # what our transponder says each beat (None: silent)
    next_beat: float = 0.0

    def pump(self) -> None:
        """Read both channels once; beat as the transponder (1 Hz of vehicle time)."""
        while (msg := self.tx.recv_match(blocking=False)) is not None:
            if msg.get_srcComponent() == 1 and msg.get_type().startswith("OPEN_DRONE_ID"):
                self.got_tx.append((self.boot_s, msg))
        if self.arm_status is not None and self.boot_s >= self.next_beat:
            self.next_beat = self.boot_s + 1.0
            self.tx.mav.heartbeat_send(M.MAV_TYPE_ODID, M.MAV_AUTOPILOT_INVALID, 0, 0,
                                       M.MAV_STATE_ACTIVE)
            error = b"" if self.arm_status == M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM else b"test fail"
            self.tx.mav.open_drone_id_arm_status_send(self.arm_status, error)

    def wait(self, types: str | list[str], cond: Callable[[object], bool] = lambda m: True,
             limit: float = WALL_LIMIT_S):
        wanted = {types} if isinstance(types, str) else set(types)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self.pump()
            msg = self.gcs.recv_match(blocking=True, timeout=0.05)
            if msg is None:
                continue
            if msg.get_type() == "SYSTEM_TIME":
                self.unix_s, self.boot_s = msg.time_unix_usec / 1e6, msg.time_boot_ms / 1e3
            if msg.get_type() == "STATUSTEXT":
                self.texts.append(msg.text)
            if msg.get_type() in wanted and cond(msg):
                return msg
        raise AssertionError(f"no {types} meeting the condition within {limit} s")

    def elapse(self, vehicle_s: float) -> None:
        self.wait("SYSTEM_TIME")
        start = self.boot_s
        while self.boot_s - start < vehicle_s:
            self.wait("SYSTEM_TIME")

    def fed(self, since: float = 0.0, name: str | None = None) -> list:
        return [(t, m) for t, m in self.got_tx if t >= since
                and (name is None or m.get_type() == name)]

    def command(self, cmd: int, *params: float) -> int:
        p = [*params, *[0.0] * (7 - len(params))]
        self.gcs.mav.command_long_send(1, 1, cmd, 0, *p)
        return self.wait("COMMAND_ACK", lambda m: m.command == cmd).result

    def set_param(self, name: str, value: float) -> float:
        self.gcs.mav.param_set_send(1, 1, name.encode(), value, M.MAV_PARAM_TYPE_REAL32)
        return self.wait("PARAM_VALUE", lambda m: m.param_id == name).param_value

    def arm(self) -> int:
        return self.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1)

    def give_operator_data(self) -> None:
        """The ground station's part: identity, operator, purpose, operator location."""
        g = self.gcs.mav
        g.open_drone_id_basic_id_send(0, 0, [0] * 20, M.MAV_ODID_ID_TYPE_SERIAL_NUMBER,
                                      M.MAV_ODID_UA_TYPE_HELICOPTER_OR_MULTIROTOR,
                                      list(b"SKYPA0123456789".ljust(20, b"\0")))
        g.open_drone_id_operator_id_send(0, 0, [0] * 20, M.MAV_ODID_OPERATOR_ID_TYPE_CAA,
                                         b"CHN-OP-TEST")
        g.open_drone_id_self_id_send(0, 0, [0] * 20, M.MAV_ODID_DESC_TYPE_TEXT, b"sim test")
        g.open_drone_id_system_send(0, 0, [0] * 20, M.MAV_ODID_OPERATOR_LOCATION_TYPE_TAKEOFF,
                                    M.MAV_ODID_CLASSIFICATION_TYPE_UNDECLARED, *OPERATOR, 1, 0,
                                    -1000, -1000, 0, 0, 20.0, 200_000_000)


@pytest.fixture
def sim() -> Iterator[Callable[..., Rid]]:
    started: list[Rid] = []

    def start(*args: str, speedup: float = 50) -> Rid:
        proc, (p0, p1) = launch(HOME, *args, speedup=speedup, listens=2)
        conns = [mavutil.mavlink_connection(f"tcp:127.0.0.1:{p}", source_system=s,
                                            source_component=c, dialect="ardupilotmega")
                 for p, s, c in ((p0, 255, 190), (p1, 1, ODID))]  # fmt: skip
        r = Rid(proc, *conns)
        started.append(r)
        return r

    yield start
    for r in started:
        r.gcs.close()
        r.tx.close()
        stop(r.proc)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    n = math.radians(lat2 - lat1) * 6_378_137
    e = math.radians(lon2 - lon1) * 6_378_137 * math.cos(math.radians(lat1))
    return math.hypot(n, e)


def gap_to_position(r: Rid, loc) -> float:
    pos = r.wait("GLOBAL_POSITION_INT")
    return distance_m(loc.latitude / 1e7, loc.longitude / 1e7, pos.lat / 1e7, pos.lon / 1e7)


def latest_location(r: Rid, cond: Callable[[object], bool] = lambda m: True):
    deadline = time.monotonic() + WALL_LIMIT_S
    seen = len(r.got_tx)
    while time.monotonic() < deadline:
        r.wait("SYSTEM_TIME")
        for _, m in r.got_tx[seen:]:
            if m.get_type() == "OPEN_DRONE_ID_LOCATION" and cond(m):
                return m
        seen = len(r.got_tx)
    raise AssertionError("no OPEN_DRONE_ID_LOCATION meeting the condition")


# ---------------------------------------------------------------- the normal autopilot

def test_without_did_enable_nothing_is_sent_and_arming_is_not_gated(sim):
    # ArduPilot's default: DID_ENABLE=0; DID_OPTIONS alone changes nothing
    r = sim("--param", "DID_OPTIONS=1")
    r.elapse(10.0)
    assert r.fed() == []
    r.wait("SYS_STATUS", lambda m: m.onboard_control_sensors_health
           & M.MAV_SYS_STATUS_PREARM_CHECK)
    assert r.command(M.MAV_CMD_DO_SET_MODE, 1, GUIDED) == M.MAV_RESULT_ACCEPTED
    assert r.arm() == M.MAV_RESULT_ACCEPTED


def test_autopilot_feeds_the_transponder_on_its_channel_only_at_its_rates(sim):
    r = sim(*DID)
    r.arm_status = M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM
    r.elapse(2.0)
    start = r.boot_s
    r.elapse(12.0)
    counts = {n: len(r.fed(start, n)) for n in FEED}
    assert 11 <= counts["OPEN_DRONE_ID_LOCATION"] <= 13, counts
    assert 11 <= counts["OPEN_DRONE_ID_SYSTEM_UPDATE"] <= 13, counts
    for name in STATIC:  # in turn, one every 0.5 s: each every 2 s
        assert 5 <= counts[name] <= 7, counts
    # nothing of it on the ground station's channel
    got = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if (m := r.gcs.recv_match(blocking=True, timeout=0.1)) is not None:
            got.append(m.get_type())
    assert not [t for t in got if t.startswith("OPEN_DRONE_ID")], got


def test_ground_station_data_is_relayed_as_given(sim):
    r = sim(*DID)
    r.arm_status = M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM
    r.give_operator_data()
    r.elapse(1.0)
    start = r.boot_s
    r.elapse(4.5)
    last = {m.get_type(): m for _, m in r.fed(start)}
    basic = last["OPEN_DRONE_ID_BASIC_ID"]
    assert bytes(basic.uas_id).rstrip(b"\0") == b"SKYPA0123456789"
    assert basic.ua_type == M.MAV_ODID_UA_TYPE_HELICOPTER_OR_MULTIROTOR
    assert last["OPEN_DRONE_ID_OPERATOR_ID"].operator_id == "CHN-OP-TEST"
    assert last["OPEN_DRONE_ID_SELF_ID"].description == "sim test"
    system = last["OPEN_DRONE_ID_SYSTEM"]
    assert (system.operator_latitude, system.operator_longitude) == OPERATOR
    update = last["OPEN_DRONE_ID_SYSTEM_UPDATE"]
    assert (update.operator_latitude, update.operator_longitude) == OPERATOR


def test_arming_waits_for_a_healthy_transponder_and_says_why(sim):
    r = sim(*DID, "--param", "DID_OPTIONS=1")
    r.give_operator_data()
    r.wait("GPS_RAW_INT", lambda m: m.fix_type >= 3)
    assert r.command(M.MAV_CMD_DO_SET_MODE, 1, GUIDED) == M.MAV_RESULT_ACCEPTED
    # no transponder at all (ARMING_CHECK=0 does not skip it: a mandatory check)
    assert r.set_param("ARMING_CHECK", 0) == 0
    assert r.arm() == M.MAV_RESULT_DENIED
    r.wait("STATUSTEXT", lambda m: m.text == "PreArm: Remote ID: no ARM_STATUS from transponder")
    # a transponder that reports a failure: its error text is passed on
    r.arm_status = M.MAV_ODID_ARM_STATUS_PRE_ARM_FAIL_GENERIC
    r.elapse(1.5)
    r.give_operator_data()  # the SYSTEM must be fresh too (3 s)
    assert r.arm() == M.MAV_RESULT_DENIED
    r.wait("STATUSTEXT", lambda m: m.text == "PreArm: Remote ID: test fail")
    # healthy: arms
    r.arm_status = M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM
    r.elapse(1.5)
    r.give_operator_data()
    assert r.arm() == M.MAV_RESULT_ACCEPTED
    assert r.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 0) == M.MAV_RESULT_ACCEPTED


def test_location_follows_the_vehicle_and_a_lost_transponder_is_reported(sim):
    r = sim(*DID)
    r.arm_status = M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM
    r.wait("GPS_RAW_INT", lambda m: m.fix_type >= 3)
    loc = latest_location(r, lambda m: m.latitude != 0)
    assert loc.status == M.MAV_ODID_STATUS_GROUND
    assert gap_to_position(r, loc) < 5.0
    r.wait("SYSTEM_TIME")
    age = (r.unix_s % 3600 - loc.timestamp + 1800) % 3600 - 1800
    assert -0.3 <= age <= 1.0, age
    # fly north at 5 m/s, 10 m up
    assert r.command(M.MAV_CMD_DO_SET_MODE, 1, GUIDED) == M.MAV_RESULT_ACCEPTED
    assert r.arm() == M.MAV_RESULT_ACCEPTED
    assert r.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 10) == M.MAV_RESULT_ACCEPTED
    r.wait("GLOBAL_POSITION_INT", lambda m: m.relative_alt > 9500)
    velocity_only = 0x0FC7  # ignore position, acceleration, yaw
    for _ in range(3):
        r.gcs.mav.set_position_target_local_ned_send(
            0, 1, 1, M.MAV_FRAME_LOCAL_NED, velocity_only, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0)
        loc = latest_location(r, lambda m: m.speed_horizontal > 400)
    assert loc.status == M.MAV_ODID_STATUS_AIRBORNE
    assert 400 <= loc.speed_horizontal <= 600, loc.speed_horizontal
    assert loc.direction <= 500 or loc.direction >= 35500, f"north, got {loc.direction}"
    assert abs(loc.height - 10) < 1.5, loc.height
    assert gap_to_position(r, loc) < 10.0  # 5 m/s and up to 0.25 s between the two samples
    # the transponder goes quiet: a warning, and LOCATION says the system failed
    r.arm_status = None
    quiet = r.boot_s
    r.wait("STATUSTEXT", lambda m: m.text == "ODID: lost transmitter")
    assert 3.5 <= r.boot_s - quiet <= 5.5
    latest_location(r, lambda m: m.status == M.MAV_ODID_STATUS_REMOTE_ID_SYSTEM_FAILURE)


def test_bad_boot_parameters_are_refused_with_the_reason():
    for arg, says in (("DID_ENABLE", "expected NAME=VALUE"), ("NO_SUCH=1", "no parameter"),
                      ("DID_MAVPORT=12", "not a valid value (-1..9)")):
        out = subprocess.run([sys.executable, "-m", "sim", "--param", arg], cwd=REPO,
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 2 and says in out.stderr, (arg, out.stderr)


# ---------------------------------------------------------------- the known-bad vehicles

def test_fault_remote_id_silent_sends_the_transponder_nothing(sim):
    r = sim(*DID, "--fault", "remote_id_silent")
    r.arm_status = M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM
    r.elapse(6.0)
    assert r.fed() == []


def test_fault_remote_id_stale(sim):
    r = sim(*DID, "--fault", "remote_id_stale")
    r.arm_status = M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM
    first = latest_location(r, lambda m: m.latitude != 0)
    r.elapse(7.0)
    later = latest_location(r)
    r.wait("SYSTEM_TIME")
    assert (r.unix_s % 3600 - later.timestamp) % 3600 > 5.0, "timestamp kept up"
    assert (later.latitude, later.longitude) == (first.latitude, first.longitude)


@pytest.mark.parametrize("fault, metres", [("remote_id_wrong_position", 500),
                                           ("remote_id_position_50m", 50)])
def test_fault_location_offset(sim, fault, metres):
    r = sim(*DID, "--fault", fault)
    r.arm_status = M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM
    loc = latest_location(r, lambda m: m.latitude != 0)
    assert metres - 5 < gap_to_position(r, loc) < metres + 5
