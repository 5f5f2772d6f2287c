"""Builders: one function per telemetry message, reading the simulator state.

Each returns a message, or None when it has nothing true to say (e.g. no home yet).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from sim import geo, modes
from sim.mav import MAVLinkMessage, mavlink

if TYPE_CHECKING:
    from sim.core import Sim

# Only what the simulator really does (no SET_ATTITUDE_TARGET, no terrain, no FTP).
FW_VERSION = (4 << 24) | (5 << 16) | (0 << 8) | mavlink.FIRMWARE_VERSION_TYPE_OFFICIAL
CAPABILITIES = (
    mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_LOCAL_NED
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
    | mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
)
_SENSORS = (
    mavlink.MAV_SYS_STATUS_SENSOR_3D_GYRO
    | mavlink.MAV_SYS_STATUS_SENSOR_3D_ACCEL
    | mavlink.MAV_SYS_STATUS_SENSOR_3D_MAG
    | mavlink.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
    | mavlink.MAV_SYS_STATUS_SENSOR_GPS
    | mavlink.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
    | mavlink.MAV_SYS_STATUS_AHRS
    | mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
    | mavlink.MAV_SYS_STATUS_PREARM_CHECK
)
FENCE_BIT = mavlink.MAV_SYS_STATUS_GEOFENCE

Builder = Callable[["Sim"], MAVLinkMessage | None]


def _boot_ms(sim: Sim) -> int:
    return int(sim.vehicle.time_boot * 1000) & 0xFFFFFFFF


def heartbeat(sim: Sim) -> MAVLinkMessage:
    v = sim.vehicle
    base = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED
    if v.mode in modes.AUTONOMOUS:
        base |= mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
    if v.armed:
        base |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
    if v.failsafe:
        status = mavlink.MAV_STATE_CRITICAL
    else:
        status = mavlink.MAV_STATE_ACTIVE if v.armed else mavlink.MAV_STATE_STANDBY
    return mavlink.MAVLink_heartbeat_message(
        mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, base, v.mode, status, 3
    )


def sys_status(sim: Sim) -> MAVLinkMessage:
    v = sim.vehicle
    health = _SENSORS
    if not v.gps_ok:
        health &= ~mavlink.MAV_SYS_STATUS_SENSOR_GPS
    if not v.warm:
        health &= ~mavlink.MAV_SYS_STATUS_AHRS
    if v.prearm_failures():
        health &= ~mavlink.MAV_SYS_STATUS_PREARM_CHECK
    if "battery" in v.failsafe:
        health &= ~mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
    present = enabled = _SENSORS
    if sim.params.get_int("FENCE_ENABLE"):
        present |= FENCE_BIT
        enabled |= FENCE_BIT
        if "fence" not in v.failsafe:
            health |= FENCE_BIT
    b = v.battery
    return mavlink.MAVLink_sys_status_message(
        present, enabled, health, 250 if v.armed else 100,
        int(b.voltage * 1000), int(b.current_a * 100), b.remaining_pct,
        0, sim.bad_frames(), 0, 0, 0, 0,
    )


def system_time(sim: Sim) -> MAVLinkMessage:
    unix_us = int((sim.unix0 + sim.clock.now) * 1e6)
    return mavlink.MAVLink_system_time_message(unix_us, _boot_ms(sim))


def _pos_known(sim: Sim) -> bool:
    return sim.vehicle.warm  # before the EKF has an origin there is no position to report


def global_position_int(sim: Sim) -> MAVLinkMessage:
    v = sim.vehicle
    hdg = int(math.degrees(v.yaw) % 360 * 100)
    if not _pos_known(sim):
        return mavlink.MAVLink_global_position_int_message(_boot_ms(sim), 0, 0, 0, 0, 0, 0, 0, hdg)
    lat, lon = v.noisy_latlon()
    alt = v.alt_amsl() + v.noise_u
    rel = v.alt_above_home() + v.noise_u
    return mavlink.MAVLink_global_position_int_message(
        _boot_ms(sim), int(lat * 1e7), int(lon * 1e7), int(alt * 1000), int(rel * 1000),
        int(v.vn * 100), int(v.ve * 100), int(-v.vu * 100), hdg,
    )


def local_position_ned(sim: Sim) -> MAVLinkMessage | None:
    v = sim.vehicle
    if not _pos_known(sim):
        return None
    return mavlink.MAVLink_local_position_ned_message(
        _boot_ms(sim), v.n + v.noise_n, v.e + v.noise_e, -(v.alt + v.noise_u), v.vn, v.ve, -v.vu
    )


def attitude(sim: Sim) -> MAVLinkMessage:
    v = sim.vehicle
    return mavlink.MAVLink_attitude_message(
        _boot_ms(sim), v.roll, v.pitch, v.yaw, 0.0, 0.0, v.yaw_rate
    )


def gps_raw_int(sim: Sim) -> MAVLinkMessage:
    """What the receiver reports (sim/gnss.py): a spoofed or jammed fix as it comes."""
    v, fix = sim.vehicle, sim.gnss.fix
    unix_us = int((sim.unix0 + sim.clock.now) * 1e6)
    if fix is None:
        enabled = v.params.get_int("SIM_GPS1_ENABLE")
        sats = 0 if not enabled or not v.warm else min(3, int(v.time_boot))
        return mavlink.MAVLink_gps_raw_int_message(
            unix_us, mavlink.GPS_FIX_TYPE_NO_FIX, 0, 0, 0, 65535, 65535, 0, 0, sats
        )
    lat, lon = geo.offset(v.origin.lat, v.origin.lon, fix.n + v.noise_n, fix.e + v.noise_e)
    spd = math.hypot(v.vn, v.ve)
    cog = int(math.degrees(math.atan2(v.ve, v.vn)) % 360 * 100) if spd > 0.2 else 0
    eph = min(65534, int(fix.h_acc_m * 100 / 1.5))  # HDOP-like, cm
    return mavlink.MAVLink_gps_raw_int_message(
        unix_us, mavlink.GPS_FIX_TYPE_3D_FIX, int(lat * 1e7), int(lon * 1e7),
        int((v.alt_amsl() - v.nav_err_u() + fix.up_offset + v.noise_u) * 1000), eph, 120,
        int(spd * 100), cog, fix.sats, h_acc=int(fix.h_acc_m * 1000),
    )


def extended_sys_state(sim: Sim) -> MAVLinkMessage:
    return mavlink.MAVLink_extended_sys_state_message(
        mavlink.MAV_VTOL_STATE_UNDEFINED, sim.vehicle.landed_state
    )


def home_position(sim: Sim) -> MAVLinkMessage | None:
    v = sim.vehicle
    if v.home is None:
        return None
    h = v.home
    hn, he, halt = v.home_ne_alt()
    return mavlink.MAVLink_home_position_message(
        int(h.lat * 1e7), int(h.lon * 1e7), int(h.alt * 1000), hn, he, -halt,
        [1.0, 0.0, 0.0, 0.0], 0.0, 0.0, 0.0, int((sim.unix0 + sim.clock.now) * 1e6),
    )


def vfr_hud(sim: Sim) -> MAVLinkMessage:
    v = sim.vehicle
    from sim.dynamics import wind  # local: dynamics imports vehicle, keep import light

    wn, we = wind(v)
    air = math.hypot(v.vn - wn, v.ve - we)
    throttle = 0 if not v.armed else (15 if v.landed else 45)
    return mavlink.MAVLink_vfr_hud_message(
        air, math.hypot(v.vn, v.ve), int(math.degrees(v.yaw) % 360), throttle,
        v.alt_amsl(), v.vu,
    )


def battery_status(sim: Sim) -> MAVLinkMessage:
    b = sim.vehicle.battery
    cells = [int(b.voltage * 1000 / 3)] * 3 + [65535] * 7
    return mavlink.MAVLink_battery_status_message(
        0, mavlink.MAV_BATTERY_FUNCTION_ALL, mavlink.MAV_BATTERY_TYPE_LIPO, 32767, cells,
        int(b.current_a * 100), int(b.consumed_mah), -1, b.remaining_pct,
    )


def autopilot_version(sim: Sim) -> MAVLinkMessage:
    digest = hashlib.sha256(f"skyproof-sim:{sim.seed}:{sim.sysid}".encode()).digest()
    uid = int.from_bytes(digest[:8], "little")
    return mavlink.MAVLink_autopilot_version_message(
        CAPABILITIES, FW_VERSION, 0, 0, 0, list(b"skyproof"), [0] * 8, [0] * 8,
        0x1209, 0x5741, uid, list(digest[8:26]),
    )


def fence_status(sim: Sim) -> MAVLinkMessage | None:
    if not sim.params.get_int("FENCE_ENABLE"):
        return None
    fs = sim.failsafe
    breached = 1 if fs.fence_breach != mavlink.FENCE_BREACH_NONE else 0
    if sim.faults.on("fence_status_not_reported"):
        breached = 0  # known-bad: the breach is acted on but FENCE_STATUS never says so
    return mavlink.MAVLink_fence_status_message(
        breached, fs.fence_breach_count & 0xFFFF, fs.fence_breach, fs.fence_breach_time,
        # A mode change is no velocity limit: the closest honest value is UNKNOWN.
        mavlink.FENCE_MITIGATE_UNKNOWN if sim.params.get_int("FENCE_ACTION") else
        mavlink.FENCE_MITIGATE_NONE,
    )


def mission_current(sim: Sim) -> MAVLinkMessage:
    a = sim.auto
    total = a.total if a.total else 65535  # UINT16_MAX: no mission
    return mavlink.MAVLink_mission_current_message(a.current, total, a.mission_state(), 0)


def ekf_status_report(sim: Sim) -> MAVLinkMessage:
    """ArduPilot's estimator summary: before warm-up only attitude is known (constant-position
    mode); after it, absolute horizontal and vertical position too (what GUIDED needs)."""
    f = mavlink
    v = sim.vehicle
    flags = f.EKF_ATTITUDE | f.EKF_VELOCITY_VERT | f.EKF_POS_VERT_ABS
    if v.position_ok:  # (sim/gnss.py: lost after DEAD_RECKON_S without a usable fix)
        flags |= (f.EKF_VELOCITY_HORIZ | f.EKF_POS_HORIZ_REL | f.EKF_POS_HORIZ_ABS
                  | f.EKF_PRED_POS_HORIZ_REL | f.EKF_PRED_POS_HORIZ_ABS)
    elif not v.warm:
        flags |= f.EKF_CONST_POS_MODE
    if sim.gnss.glitching:
        flags |= f.EKF_GPS_GLITCHING
    pos_var = 0.1 if v.position_ok else 1.0
    return mavlink.MAVLink_ekf_status_report_message(flags, 0.1, pos_var, 0.1, 0.1, 0.0)


def simstate(sim: Sim) -> MAVLinkMessage:
    """The simulator's truth, as ArduPilot SITL streams it (SIMSTATE, with ATTITUDE): where
    the vehicle really is, whatever it believes."""
    v = sim.vehicle
    lat, lon = v.true_latlon()
    return mavlink.MAVLink_simstate_message(
        v.roll, v.pitch, v.yaw, 0.0, 0.0, -9.81, 0.0, 0.0, v.yaw_rate,
        int(lat * 1e7), int(lon * 1e7),
    )


def statustext(severity: int, text: str) -> MAVLinkMessage:
    return mavlink.MAVLink_statustext_message(severity, text.encode()[:50])


# Message id -> builder for everything that can be streamed or requested.
BUILDERS: dict[int, Builder] = {
    mavlink.MAVLINK_MSG_ID_HEARTBEAT: heartbeat,
    mavlink.MAVLINK_MSG_ID_SYS_STATUS: sys_status,
    mavlink.MAVLINK_MSG_ID_SYSTEM_TIME: system_time,
    mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: global_position_int,
    mavlink.MAVLINK_MSG_ID_LOCAL_POSITION_NED: local_position_ned,
    mavlink.MAVLINK_MSG_ID_ATTITUDE: attitude,
    mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: gps_raw_int,
    mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: extended_sys_state,
    mavlink.MAVLINK_MSG_ID_HOME_POSITION: home_position,
    mavlink.MAVLINK_MSG_ID_VFR_HUD: vfr_hud,
    mavlink.MAVLINK_MSG_ID_BATTERY_STATUS: battery_status,
    mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION: autopilot_version,
    mavlink.MAVLINK_MSG_ID_FENCE_STATUS: fence_status,
    mavlink.MAVLINK_MSG_ID_MISSION_CURRENT: mission_current,
    mavlink.MAVLINK_MSG_ID_EKF_STATUS_REPORT: ekf_status_report,
    mavlink.MAVLINK_MSG_ID_SIMSTATE: simstate,
}
