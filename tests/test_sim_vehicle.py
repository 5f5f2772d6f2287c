"""The simulator over raw pymavlink: heartbeat, parameters, commands, flight, faults.

Waits are bounded loops on messages; vehicle time is read from time_boot_ms.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

os.environ.setdefault("MAVLINK20", "1")
from pymavlink import mavutil

from tests.sim_process import WALL_LIMIT_S, launch, stop

M = mavutil.mavlink
GUIDED, LOITER, RTL, LAND, AUTO, STABILIZE = 4, 5, 6, 9, 3, 0


@dataclass
class SimUnderTest:
    proc: subprocess.Popen[bytes]
    port: int
    conn: mavutil.mavfile
    texts: list[str] = field(default_factory=list)  # every STATUSTEXT seen, in order

    def wait(self, types: str | list[str], cond: Callable[[object], bool] = lambda m: True,
             limit: float = WALL_LIMIT_S):
        """First message of `types` meeting `cond`, within `limit` wall seconds."""
        wanted = {types} if isinstance(types, str) else set(types)
        deadline = time.monotonic() + limit
        while (left := deadline - time.monotonic()) > 0:
            msg = self.conn.recv_match(blocking=True, timeout=min(left, 0.5))
            if msg is None or msg.get_srcComponent() != 1:
                continue  # the autopilot only (other components send their own HEARTBEAT)
            if msg.get_type() == "STATUSTEXT":
                self.texts.append(msg.text)
            if msg.get_type() in wanted and cond(msg):
                return msg
        raise AssertionError(f"no {types} meeting the condition within {limit} s")

    def saw_text(self, prefix: str) -> bool:
        """True once a STATUSTEXT starting with `prefix` has arrived (waits, bounded)."""
        if not any(t.startswith(prefix) for t in self.texts):
            self.wait("STATUSTEXT", lambda m: m.text.startswith(prefix))
        return True

    def command(self, cmd: int, *params: float, confirmation: int = 0) -> int:
        p = [*params, *[0.0] * (7 - len(params))]
        self.conn.mav.command_long_send(1, 1, cmd, confirmation, *p)
        return self.wait("COMMAND_ACK", lambda m: m.command == cmd).result

    def set_mode(self, mode: int) -> None:
        assert self.command(M.MAV_CMD_DO_SET_MODE, 1, mode) == M.MAV_RESULT_ACCEPTED
        self.wait("HEARTBEAT", lambda m: m.custom_mode == mode)

    def set_param(self, name: str, value: float) -> float:
        self.conn.mav.param_set_send(1, 1, name.encode(), value, M.MAV_PARAM_TYPE_REAL32)
        return self.wait("PARAM_VALUE", lambda m: m.param_id == name).param_value

    def boot_s(self) -> float:
        return self.wait("ATTITUDE").time_boot_ms / 1000

    def wait_warm(self) -> None:
        self.wait("GPS_RAW_INT", lambda m: m.fix_type >= 3)

    def take_off(self, alt: float = 10.0) -> None:
        self.wait_warm()
        self.set_mode(GUIDED)
        assert self.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED
        assert self.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, alt) == M.MAV_RESULT_ACCEPTED

    def gcs_heartbeat(self) -> None:
        self.conn.mav.heartbeat_send(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, 0)


@pytest.fixture
def sim() -> Iterator[Callable[..., SimUnderTest]]:
    started: list[SimUnderTest] = []

    def start(*args: str, speedup: float = 50) -> SimUnderTest:
        proc, (port,) = launch(*args, speedup=speedup)
        conn = mavutil.mavlink_connection(f"tcp:127.0.0.1:{port}", source_system=255,
                                          source_component=190, dialect="ardupilotmega")
        s = SimUnderTest(proc, port, conn)
        started.append(s)
        return s

    yield start
    for s in started:
        s.conn.close()
        stop(s.proc)


# ---------------------------------------------------------------- basics

def test_heartbeat_is_ardupilot_copter_with_mode_numbers(sim):
    s = sim()
    hb = s.wait("HEARTBEAT")
    assert (hb.type, hb.autopilot) == (M.MAV_TYPE_QUADROTOR, M.MAV_AUTOPILOT_ARDUPILOTMEGA)
    assert hb.base_mode & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    assert hb.custom_mode == STABILIZE
    for mode in (GUIDED, LOITER, 2, 17, STABILIZE):
        s.set_mode(mode)  # waits for HEARTBEAT.custom_mode == mode


def test_heartbeat_rate_is_1hz_in_vehicle_time(sim):
    s = sim()
    t = [s.wait("SYSTEM_TIME").time_boot_ms]
    beats = 0
    while t[-1] - t[0] < 10_000:
        msg = s.wait(["HEARTBEAT", "SYSTEM_TIME"])
        if msg.get_type() == "HEARTBEAT":
            beats += 1
        else:
            t.append(msg.time_boot_ms)
    assert 9 <= beats <= 11, f"{beats} heartbeats in 10 s of vehicle time"


def test_default_streams_and_autopilot_version(sim):
    s = sim()
    for name in ("SYS_STATUS", "SYSTEM_TIME", "GLOBAL_POSITION_INT", "ATTITUDE",
                 "EXTENDED_SYS_STATE", "GPS_RAW_INT", "VFR_HUD"):
        s.wait(name)
    assert s.command(M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION) == 0
    av = s.wait("AUTOPILOT_VERSION")
    assert av.capabilities & M.MAV_PROTOCOL_CAPABILITY_MAVLINK2
    assert av.capabilities & M.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    assert av.uid != 0


def test_unknown_command_is_unsupported_and_ack_goes_to_sender(sim):
    s = sim()
    s.conn.mav.command_long_send(1, 1, 31999, 0, 0, 0, 0, 0, 0, 0, 0)
    ack = s.wait("COMMAND_ACK")
    assert ack.result == M.MAV_RESULT_UNSUPPORTED
    assert (ack.target_system, ack.target_component) == (255, 190)


# ---------------------------------------------------------------- parameters

def test_param_set_is_echoed_and_read_back(sim):
    s = sim()
    assert s.set_param("FS_GCS_TIMEOUT", 3.0) == 3.0
    s.conn.mav.param_request_read_send(1, 1, b"FS_GCS_TIMEOUT", -1)
    assert s.wait("PARAM_VALUE", lambda m: m.param_id == "FS_GCS_TIMEOUT").param_value == 3.0


def test_param_out_of_range_is_rejected_and_echo_shows_old_value(sim):
    s = sim()
    assert s.set_param("FS_GCS_TIMEOUT", 500.0) == 5.0
    assert s.set_param("FS_GCS_TIMEOUT", float("nan")) == 5.0


def test_param_list_streams_every_index_once(sim):
    s = sim()
    s.conn.mav.param_request_list_send(1, 1)
    first = s.wait("PARAM_VALUE")
    seen = {first.param_index}
    while len(seen) < first.param_count:
        seen.add(s.wait("PARAM_VALUE").param_index)
    assert seen == set(range(first.param_count))
    s.conn.mav.param_request_read_send(1, 1, b"", 0)
    by_index = s.wait("PARAM_VALUE", lambda m: m.param_index == 0)
    assert by_index.param_id == "SYSID_THISMAV" and by_index.param_type == M.MAV_PARAM_TYPE_INT16


# ---------------------------------------------------------------- arming and flight

def test_arm_is_denied_before_warm_up_with_prearm_text(sim):
    s = sim()
    # A reboot restarts warm-up; the arm request right behind it meets a cold vehicle.
    s.command(M.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN, 1)
    s.conn.mav.command_long_send(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)
    ack = s.wait("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_COMPONENT_ARM_DISARM)
    assert ack.result == M.MAV_RESULT_DENIED
    assert s.saw_text("PreArm:")


def test_takeoff_denied_unless_armed_in_guided(sim):
    s = sim()
    s.wait_warm()
    assert s.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 10) == M.MAV_RESULT_DENIED
    s.set_mode(GUIDED)
    assert s.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 10) == M.MAV_RESULT_DENIED


def test_takeoff_then_land_disarms_on_ground(sim):
    s = sim()
    s.take_off(10)
    s.wait("EXTENDED_SYS_STATE", lambda m: m.landed_state == M.MAV_LANDED_STATE_TAKEOFF)
    pos = s.wait("GLOBAL_POSITION_INT", lambda m: m.relative_alt > 9_500)
    assert pos.relative_alt < 10_500
    s.wait("EXTENDED_SYS_STATE", lambda m: m.landed_state == M.MAV_LANDED_STATE_IN_AIR)
    assert s.command(M.MAV_CMD_NAV_LAND) == M.MAV_RESULT_ACCEPTED
    s.wait("EXTENDED_SYS_STATE", lambda m: m.landed_state == M.MAV_LANDED_STATE_LANDING)
    s.wait("HEARTBEAT", lambda m: not m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED
           and m.custom_mode == LAND, limit=WALL_LIMIT_S)
    s.wait("EXTENDED_SYS_STATE", lambda m: m.landed_state == M.MAV_LANDED_STATE_ON_GROUND)


def test_duplicate_takeoff_with_confirmation_is_answered_once(sim):
    s = sim()
    s.take_off(10)
    # The retransmission of the same command gets the same answer, with no second effect.
    assert s.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 10,
                     confirmation=1) == M.MAV_RESULT_ACCEPTED


def test_rtl_climbs_returns_and_lands(sim):
    s = sim()
    s.take_off(5)
    s.wait("GLOBAL_POSITION_INT", lambda m: m.relative_alt > 4_500)
    s.set_mode(RTL)
    s.wait("GLOBAL_POSITION_INT", lambda m: m.relative_alt > 14_000)  # RTL_ALT 15 m
    s.wait("HEARTBEAT", lambda m: not m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)


# ---------------------------------------------------------------- faults

def _heartbeat_gaps(s: SimUnderTest, seconds: float) -> list[float]:
    """Gaps between heartbeats in vehicle seconds, timed by ATTITUDE's time_boot_ms."""
    now = s.boot_s()
    end, last_hb, gaps = now + seconds, None, []
    while now < end:
        msg = s.wait(["HEARTBEAT", "ATTITUDE"])
        if msg.get_type() == "ATTITUDE":
            now = msg.time_boot_ms / 1000
        else:
            if last_hb is not None:
                gaps.append(now - last_hb)
            last_hb = now
    return gaps


def test_fault_heartbeat_gaps(sim):
    gaps = _heartbeat_gaps(sim("--fault", "heartbeat_gaps"), 20)
    assert max(gaps) >= 3.0, gaps
    normal = _heartbeat_gaps(sim(), 10)
    assert max(normal) <= 1.3, normal


def test_fault_param_writes_ignored(sim):
    s = sim("--fault", "param_writes_ignored")
    assert s.set_param("FS_GCS_TIMEOUT", 3.0) == 5.0


def test_fault_takeoff_stalls_at_half_altitude(sim):
    s = sim("--fault", "takeoff_stalls")
    s.take_off(10)
    t0 = s.boot_s()
    top = 0
    while s.boot_s() < t0 + 15:  # 10 m needs ~5 s: give it three times that
        top = max(top, s.wait("GLOBAL_POSITION_INT").relative_alt)
    assert 4_000 < top < 6_000


def test_malformed_frame_is_dropped_without_the_fault(sim):
    s = sim()
    frame = bytearray(M.MAVLink_heartbeat_message(6, 8, 0, 0, 0, 3).pack(s.conn.mav))
    frame[-1] ^= 0xFF  # break the CRC
    s.conn.write(bytes(frame))
    s.wait("HEARTBEAT")
    assert s.command(M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION) == 0
    assert s.proc.poll() is None


def test_fault_crash_on_malformed_exits_3(sim):
    s = sim("--fault", "crash_on_malformed")
    s.wait("HEARTBEAT")
    frame = bytearray(M.MAVLink_heartbeat_message(6, 8, 0, 0, 0, 3).pack(s.conn.mav))
    frame[-1] ^= 0xFF
    s.conn.write(bytes(frame))
    assert s.proc.wait(WALL_LIMIT_S) == 3


# ---------------------------------------------------------------- stage 2: streams, time, reboot

def _count(s: SimUnderTest, name: str, vehicle_s: float) -> int:
    """How many `name` messages arrive in `vehicle_s` seconds of vehicle time (by SYSTEM_TIME)."""
    start = s.wait("SYSTEM_TIME").time_boot_ms
    n = 0
    while True:
        msg = s.wait([name, "SYSTEM_TIME"])
        if msg.get_type() == "SYSTEM_TIME":
            if msg.time_boot_ms - start >= vehicle_s * 1000:
                return n
        else:
            n += 1


def test_set_message_interval_changes_and_stops_a_stream(sim):
    s = sim()
    us = 50_000  # 20 Hz
    assert s.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_ATTITUDE, us) == 0
    assert 95 <= _count(s, "ATTITUDE", 5) <= 105
    assert s.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_ATTITUDE, -1) == 0
    assert _count(s, "ATTITUDE", 3) <= 1  # one may already be in flight
    assert s.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_ATTITUDE, 0) == 0
    assert 18 <= _count(s, "ATTITUDE", 5) <= 22  # back to the 4 Hz default


def test_request_data_stream_sets_a_group_rate(sim):
    s = sim()
    s.conn.mav.request_data_stream_send(1, 1, M.MAV_DATA_STREAM_POSITION, 10, 1)
    assert 45 <= _count(s, "GLOBAL_POSITION_INT", 5) <= 55


def test_timesync_reply_echoes_ts1_with_vehicle_time(sim):
    s = sim()
    boot_ms = s.wait("SYSTEM_TIME").time_boot_ms
    s.conn.mav.timesync_send(0, 123_456_789)
    reply = s.wait("TIMESYNC", lambda m: m.ts1 == 123_456_789)
    assert reply.tc1 >= boot_ms * 1_000_000


def test_home_position_after_warm_up(sim):
    s = sim("--home", "22.5431,113.9425,20,90")
    s.wait_warm()
    assert s.command(M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_HOME_POSITION) == 0
    home = s.wait("HOME_POSITION")
    assert (home.latitude, home.longitude, home.altitude) == (225431000, 1139425000, 20000)


def test_reboot_restarts_boot_time_and_keeps_params(sim):
    s = sim()
    s.wait_warm()
    assert s.set_param("RTL_ALT", 2500) == 2500
    before = s.wait("SYSTEM_TIME").time_boot_ms
    assert s.command(M.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN, 1) == M.MAV_RESULT_ACCEPTED
    after = s.wait("SYSTEM_TIME", lambda m: m.time_boot_ms < before).time_boot_ms
    assert after < 2000
    s.conn.mav.param_request_read_send(1, 1, b"RTL_ALT", -1)
    assert s.wait("PARAM_VALUE", lambda m: m.param_id == "RTL_ALT").param_value == 2500


def test_state_dir_persists_params_across_processes(sim, tmp_path):
    first = sim("--state-dir", str(tmp_path))
    assert first.set_param("FS_GCS_TIMEOUT", 7) == 7
    first.conn.close()
    first.proc.terminate()
    assert first.proc.wait(WALL_LIMIT_S) == 0
    second = sim("--state-dir", str(tmp_path))
    second.conn.mav.param_request_read_send(1, 1, b"FS_GCS_TIMEOUT", -1)
    assert second.wait("PARAM_VALUE", lambda m: m.param_id == "FS_GCS_TIMEOUT").param_value == 7
    fresh = sim()
    fresh.conn.mav.param_request_read_send(1, 1, b"FS_GCS_TIMEOUT", -1)
    assert fresh.wait("PARAM_VALUE", lambda m: m.param_id == "FS_GCS_TIMEOUT").param_value == 5


# ---------------------------------------------------------------- stage 2: failsafes

def _airborne(s: SimUnderTest, alt: float = 10.0) -> None:
    s.take_off(alt)
    s.wait("GLOBAL_POSITION_INT", lambda m: m.relative_alt > (alt - 0.5) * 1000)
    # Fine-grained vehicle time for the timing checks below.
    assert s.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_ATTITUDE, 50_000) == 0


def _seconds_until(s: SimUnderTest, types: str | list[str], cond: Callable[[object], bool],
                   vehicle_limit: float) -> float | None:
    """Vehicle seconds from now until a message of `types` meets `cond` (None: never)."""
    wanted = [types] if isinstance(types, str) else types
    t0 = now = s.boot_s()
    while now - t0 < vehicle_limit:
        msg = s.wait([*wanted, "ATTITUDE"])
        if msg.get_type() in wanted and cond(msg):
            return now - t0
        if msg.get_type() == "ATTITUDE":
            now = msg.time_boot_ms / 1000
    return None


def _text(prefix: str) -> Callable[[object], bool]:
    return lambda m: m.text.startswith(prefix)


@pytest.mark.parametrize(("fault", "mode", "delay"), [
    (None, RTL, 5.0),
    ("gcs_failsafe_late", RTL, 10.0),
    ("gcs_failsafe_wrong_action", LAND, 5.0),
    ("no_gcs_failsafe", None, None),
])
def test_gcs_failsafe(sim, fault, mode, delay):
    s = sim(*(["--fault", fault] if fault else []))
    assert s.set_param("FS_GCS_ENABLE", 1) == 1
    _airborne(s)
    s.gcs_heartbeat()  # the last one: from here the vehicle should count FS_GCS_TIMEOUT
    took = _seconds_until(s, "STATUSTEXT", _text("Failsafe: GCS"), 15)
    if mode is None:
        assert took is None, "failsafe fired although the vehicle has none"
        assert s.wait("HEARTBEAT").custom_mode == GUIDED
        return
    assert took is not None and abs(took - delay) < 0.3, f"failsafe after {took} s"
    s.wait("HEARTBEAT", lambda m: m.custom_mode == mode)


def test_battery_failsafe_low_then_critical(sim):
    s = sim()
    assert s.set_param("BATT_FS_LOW_ACT", 2) == 2  # RTL
    assert s.set_param("BATT_FS_CRT_ACT", 1) == 1  # LAND
    assert s.set_param("BATT_CRT_VOLT", 9.75) == 9.75
    _airborne(s)
    s.set_param("SIM_BATT_VOLTAGE", 10.25)  # under BATT_LOW_VOLT 10.5, over the critical 9.75
    took = _seconds_until(s, "STATUSTEXT", _text("Battery 1 is low"), 15)
    assert took is not None and 9.9 < took < 10.5, f"low-battery failsafe after {took} s"
    s.wait("HEARTBEAT", lambda m: m.custom_mode == RTL)
    s.set_param("SIM_BATT_VOLTAGE", 9.5)
    took = _seconds_until(s, "STATUSTEXT", _text("Battery 1 is critical"), 15)
    assert took is not None and 9.9 < took < 10.5, f"critical-battery failsafe after {took} s"
    s.wait("HEARTBEAT", lambda m: m.custom_mode == LAND)


def test_battery_failsafe_latches_until_battery_reset(sim):
    s = sim()
    assert s.set_param("BATT_FS_LOW_ACT", 1) == 1  # LAND
    assert s.set_param("BATT_LOW_TIMER", 1) == 1
    _airborne(s)
    s.set_param("SIM_BATT_VOLTAGE", 10.25)
    s.wait("HEARTBEAT", lambda m: m.custom_mode == LAND)
    s.wait("HEARTBEAT", lambda m: not m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
    s.set_param("SIM_BATT_VOLTAGE", 12.6)
    s.set_mode(GUIDED)
    # as ArduPilot Copter: no arming while the failsafe is latched, whatever the pack says now
    assert s.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_DENIED
    assert s.saw_text("PreArm: Battery failsafe")
    assert s.command(M.MAV_CMD_BATTERY_RESET, 1, 100) == M.MAV_RESULT_ACCEPTED
    assert s.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED


@pytest.mark.parametrize("fault", [None, "guided_alt_limit_ignored"])
def test_guided_destination_above_the_altitude_fence_is_refused(sim, fault):
    s = sim(*(["--fault", fault] if fault else []))
    assert s.set_param("FENCE_TYPE", 1) == 1
    assert s.set_param("FENCE_ACTION", 0) == 0
    assert s.set_param("FENCE_ENABLE", 1) == 1
    _airborne(s)
    lat, lon = _at(0, 0)
    s.conn.mav.command_int_send(1, 1, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                                M.MAV_CMD_DO_REPOSITION, 0, 0, -1, 0, 0, 0, lat, lon, 110)
    want = M.MAV_RESULT_ACCEPTED if fault else M.MAV_RESULT_FAILED  # FENCE_ALT_MAX 100
    assert s.wait("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_DO_REPOSITION).result == want


@pytest.mark.parametrize("fault", [None, "fence_ignored"])
def test_fence_max_alt(sim, fault):
    s = sim(*(["--fault", fault] if fault else []))
    assert s.set_param("FENCE_ENABLE", 1) == 1
    assert s.set_param("FENCE_ALT_MAX", 20) == 20
    s.take_off(30)
    took = _seconds_until(s, "HEARTBEAT", lambda m: m.custom_mode == RTL, 20)
    if fault:
        assert took is None
        assert s.wait("FENCE_STATUS").breach_status == 0
        return
    assert took is not None
    assert s.wait("FENCE_STATUS").breach_status == 1
    assert s.saw_text("Fence Breach")


def test_gps_loss_lands(sim):
    s = sim()
    _airborne(s)
    s.set_param("SIM_GPS1_ENABLE", 0)
    # as ArduPilot SITL: ~7 s of dead reckoning, then a second of failed EKF checks
    took = _seconds_until(s, "STATUSTEXT", _text("EKF Failsafe: changed to LAND"), 12)
    assert took is not None and 7.5 < took < 9.0, f"EKF failsafe after {took} s"
    s.wait("HEARTBEAT", lambda m: m.custom_mode == LAND)
    assert s.wait("GPS_RAW_INT").fix_type < 3


def _north_m(lat_e7: int, lat0_e7: int) -> float:
    return (lat_e7 - lat0_e7) / 1e7 * M_PER_DEG


@pytest.mark.parametrize("fault", [None, "gnss_follows_spoof"])
def test_gnss_jump_is_rejected_and_truth_stays(sim, fault):
    # a 50 m jump north (SIM_GPS1_GLTCH_X in degrees, as ArduPilot SITL): GPS_RAW_INT shows
    # it at once; the estimator rejects it (GPS_GLITCHING) and SIMSTATE's truth stays put,
    # unless it fuses every fix (the fault): then the vehicle flies 50 m south to follow it
    s = sim(*(["--fault", fault] if fault else []))
    _airborne(s, 5)
    for msg_id in (M.MAVLINK_MSG_ID_SIMSTATE, M.MAVLINK_MSG_ID_EKF_STATUS_REPORT):
        assert s.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, msg_id, 200_000) == 0
    before = s.wait("SIMSTATE")
    s.set_param("SIM_GPS1_GLTCH_X", 50 / M_PER_DEG)
    raw = s.wait("GPS_RAW_INT", lambda m: _north_m(m.lat, before.lat) > 45)
    assert raw.fix_type >= 3
    flagged = _seconds_until(s, "EKF_STATUS_REPORT",
                             lambda m: m.flags & M.EKF_GPS_GLITCHING, 3)
    _seconds_until(s, "SIMSTATE", lambda m: False, 8)  # let it do what it will
    moved = abs(_north_m(s.wait("SIMSTATE").lat, before.lat))
    if fault:
        assert flagged is None and moved > 40, (flagged, moved)
    else:
        assert flagged is not None and moved < 1, (flagged, moved)
        assert s.saw_text("GPS Glitch")


# ---------------------------------------------------------------- stage 3: missions, guided, wind

HOME_LAT, HOME_LON = -35.363261, 149.165230  # the simulator's default home
M_PER_DEG = 111_319.5


def _at(north: float, east: float) -> tuple[int, int]:
    """lat/lon * 1e7 of a point north/east metres from home (flat earth, as the sim)."""
    lat = HOME_LAT + north / M_PER_DEG
    lon = HOME_LON + east / (M_PER_DEG * math.cos(math.radians(HOME_LAT)))
    return round(lat * 1e7), round(lon * 1e7)


def _metres(pos, north: float, east: float) -> float:
    """Horizontal distance (m) between a GLOBAL_POSITION_INT and a point north/east of home."""
    lat, lon = _at(north, east)
    dn = (pos.lat - lat) / 1e7 * M_PER_DEG
    de = (pos.lon - lon) / 1e7 * M_PER_DEG * math.cos(math.radians(HOME_LAT))
    return math.hypot(dn, de)


def _item(seq: int, command: int, north: float = 0, east: float = 0, alt: float = 10,
          p1: float = 0, frame: int = M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, mission_type: int = 0):
    x, y = _at(north, east) if (north or east) else (0, 0)
    return M.MAVLink_mission_item_int_message(1, 1, seq, frame, command, 0, 1, p1, 0, 0, 0,
                                              x, y, alt, mission_type)


def _plan() -> list:
    return [
        _item(0, M.MAV_CMD_NAV_WAYPOINT, alt=0),  # home placeholder, as ArduPilot
        _item(1, M.MAV_CMD_NAV_TAKEOFF, alt=10),
        _item(2, M.MAV_CMD_NAV_WAYPOINT, north=40, alt=10),
        _item(3, M.MAV_CMD_NAV_WAYPOINT, north=40, east=40, alt=15),
        _item(4, M.MAV_CMD_NAV_LAND, alt=0),
    ]


def _upload(s: SimUnderTest, items: list, mission_type: int = 0) -> int:
    s.conn.mav.mission_count_send(1, 1, len(items), mission_type)
    while True:
        msg = s.wait(["MISSION_REQUEST_INT", "MISSION_ACK"])
        if msg.get_type() == "MISSION_ACK":
            return msg.type
        s.conn.mav.send(items[msg.seq])


def test_mission_upload_then_download_round_trip(sim):
    s = sim()
    s.wait_warm()
    plan = _plan()
    assert _upload(s, plan) == M.MAV_MISSION_ACCEPTED
    s.conn.mav.mission_request_list_send(1, 1, 0)
    count = s.wait("MISSION_COUNT").count
    assert count == len(plan)
    for seq in range(count):
        s.conn.mav.mission_request_int_send(1, 1, seq, 0)
        got = s.wait("MISSION_ITEM_INT", lambda m, q=seq: m.seq == q)
        if seq == 0:  # item 0 reads back as home
            assert (got.x, got.y) == _at(0, 0) or abs(got.x - _at(0, 0)[0]) < 5
            continue
        want = plan[seq]
        assert (got.command, got.x, got.y, got.z) == (want.command, want.x, want.y, want.z)
    s.conn.mav.mission_ack_send(1, 1, M.MAV_MISSION_ACCEPTED, 0)
    assert s.wait("MISSION_CURRENT").total == len(plan) - 1


def test_mission_upload_rerequests_a_lost_item_then_times_out(sim):
    s = sim()
    plan = _plan()
    s.conn.mav.mission_count_send(1, 1, len(plan), 0)
    first = s.wait("MISSION_REQUEST_INT")
    t0 = s.boot_s()
    # We "lose" the answer: the vehicle must ask for the same item again, about 1 s later.
    again = s.wait("MISSION_REQUEST_INT")
    assert again.seq == first.seq == 0
    assert s.boot_s() - t0 < 2.0
    # And if we never answer, it cancels the upload with an ACK (8 s of vehicle time).
    ack = s.wait("MISSION_ACK")
    assert ack.type == M.MAV_MISSION_OPERATION_CANCELLED
    assert 6.0 < s.boot_s() - t0 < 10.0


def test_mission_item_with_unknown_command_is_refused(sim):
    s = sim()
    bad = [_item(0, M.MAV_CMD_NAV_WAYPOINT), _item(1, 59999)]
    assert _upload(s, bad) == M.MAV_MISSION_UNSUPPORTED


def test_mission_clear_all(sim):
    s = sim()
    assert _upload(s, _plan()) == M.MAV_MISSION_ACCEPTED
    s.conn.mav.mission_clear_all_send(1, 1, 0)
    assert s.wait("MISSION_ACK").type == M.MAV_MISSION_ACCEPTED
    s.conn.mav.mission_request_list_send(1, 1, 0)
    assert s.wait("MISSION_COUNT").count == 0


def test_auto_is_refused_without_a_mission(sim):
    s = sim()
    s.wait_warm()
    s.set_mode(GUIDED)
    assert s.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED
    assert s.command(M.MAV_CMD_DO_SET_MODE, 1, AUTO) == M.MAV_RESULT_FAILED


def test_auto_flies_the_mission_and_lands(sim):
    s = sim(speedup=80)
    s.wait_warm()
    assert _upload(s, _plan()) == M.MAV_MISSION_ACCEPTED
    s.set_mode(GUIDED)
    assert s.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED
    assert s.command(M.MAV_CMD_MISSION_START) == M.MAV_RESULT_ACCEPTED
    reached = []
    while len(reached) < 4:
        msg = s.wait(["MISSION_ITEM_REACHED", "GLOBAL_POSITION_INT"])
        if msg.get_type() == "MISSION_ITEM_REACHED":
            reached.append(msg.seq)
            if msg.seq == 3:  # at the corner: 40 m north, 40 m east, 15 m up
                pos = s.wait("GLOBAL_POSITION_INT")
                assert _metres(pos, 40, 40) < 3.0  # WPNAV_RADIUS is 2 m
                assert abs(pos.relative_alt - 15_000) < 1_500
    assert reached == [1, 2, 3, 4]
    s.wait("HEARTBEAT", lambda m: not m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
    assert s.wait("MISSION_CURRENT").mission_state == M.MISSION_STATE_COMPLETE


def test_guided_goto_by_position_target_and_reposition(sim):
    s = sim()
    _airborne(s)
    lat, lon = _at(30, 0)
    s.conn.mav.set_position_target_global_int_send(
        0, 1, 1, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0b0000_1111_1111_1000, lat, lon, 12,
        0, 0, 0, 0, 0, 0, 0, 0)
    s.wait("GLOBAL_POSITION_INT",
           lambda m: _metres(m, 30, 0) < 1.0 and abs(m.relative_alt - 12_000) < 500)
    lat, lon = _at(0, 30)
    s.conn.mav.command_int_send(1, 1, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                                M.MAV_CMD_DO_REPOSITION, 0, 0, -1, 0, 0, 0, lat, lon, 10)
    assert s.wait("COMMAND_ACK").result == M.MAV_RESULT_ACCEPTED
    s.wait("GLOBAL_POSITION_INT", lambda m: _metres(m, 0, 30) < 1.0)


def test_fence_polygon_uploaded_as_fence_items(sim):
    s = sim()
    s.wait_warm()
    corners = [(-50, -50), (-50, 50), (50, 50), (50, -50)]
    fence = [_item(i, M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, north=n, east=e, p1=4,
                   mission_type=M.MAV_MISSION_TYPE_FENCE) for i, (n, e) in enumerate(corners)]
    assert _upload(s, fence, M.MAV_MISSION_TYPE_FENCE) == M.MAV_MISSION_ACCEPTED
    assert s.set_param("FENCE_TYPE", 4) == 4
    assert s.set_param("FENCE_ENABLE", 1) == 1
    _airborne(s)
    lat, lon = _at(100, 0)
    s.conn.mav.set_position_target_global_int_send(
        0, 1, 1, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0b0000_1111_1111_1000, lat, lon, 10,
        0, 0, 0, 0, 0, 0, 0, 0)
    s.wait("HEARTBEAT", lambda m: m.custom_mode == RTL)
    assert s.saw_text("Fence Breach: Polygon")


def test_wind_makes_alt_hold_drift_downwind(sim):
    s = sim()
    _airborne(s)
    s.set_param("SIM_WIND_SPD", 5)
    s.set_param("SIM_WIND_DIR", 180)  # from the south: drifts north
    start = s.wait("GLOBAL_POSITION_INT").lat
    s.set_mode(2)  # ALT_HOLD: no position hold
    s.wait("GLOBAL_POSITION_INT", lambda m: m.lat - start > 20 / M_PER_DEG * 1e7)


def test_same_seed_same_noise(sim):
    def samples(seed: str) -> dict[int, tuple[int, int]]:
        s = sim("--seed", seed)
        out: dict[int, tuple[int, int]] = {}
        while len(out) < 20:
            m = s.wait("GLOBAL_POSITION_INT", lambda m: m.lat != 0)
            out[m.time_boot_ms] = (m.lat, m.lon)
        return out

    a, b, c = samples("7"), samples("7"), samples("8")
    common = sorted(set(a) & set(b))
    assert common and all(a[t] == b[t] for t in common)
    assert any(a[t] != c[t] for t in sorted(set(a) & set(c)))


@pytest.mark.parametrize("locked", [False, True])
def test_home_moves_to_where_it_arms_unless_a_gcs_set_it(sim, locked):
    # as Copter (AP_Arming_Copter::arm): each arming resets home to the vehicle's position,
    # unless a ground station set home (MAV_CMD_DO_SET_HOME), which locks it
    s = sim()
    s.wait_warm()
    if locked:
        assert s.command(M.MAV_CMD_DO_SET_HOME, 1) == M.MAV_RESULT_ACCEPTED
    _airborne(s, 5)
    lat, lon = _at(30, 0)
    s.conn.mav.command_int_send(1, 1, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                                M.MAV_CMD_DO_REPOSITION, 0, 0, -1, 0, 0, 0, lat, lon, 5)
    s.wait("GLOBAL_POSITION_INT", lambda m: _metres(m, 30, 0) < 0.5)
    assert s.command(M.MAV_CMD_NAV_LAND) == M.MAV_RESULT_ACCEPTED
    s.wait("HEARTBEAT", lambda m: not m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED,
           limit=WALL_LIMIT_S)
    s.set_mode(GUIDED)
    assert s.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED
    home = s.wait("HOME_POSITION")
    assert _metres(SimpleNamespace(lat=home.latitude, lon=home.longitude), *(
        (0, 0) if locked else (30, 0))) < 0.5
