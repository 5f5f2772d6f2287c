"""What differs between autopilot families, so suites ask for a behaviour, not a parameter name.

ArduPilot Copter and PX4. Values follow each project's parameter documentation (see CHECKS.md).
"""

import math
from collections.abc import Callable
from typing import Any

from drivers.mavlink import COPTER_MODES, mavlink


def family(autopilot: int) -> str:
    """The key a profile's per-autopilot settings use: "ardupilot" (and the built-in simulator,
    which answers as ArduPilot), "px4", else the MAV_AUTOPILOT name in lower case."""
    if autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA:
        return "ardupilot"
    if autopilot == mavlink.MAV_AUTOPILOT_PX4:
        return "px4"
    entry = mavlink.enums["MAV_AUTOPILOT"].get(autopilot)
    return entry.name.removeprefix("MAV_AUTOPILOT_").lower() if entry else str(autopilot)


def per_family(section: dict[str, Any], autopilot: int, where: str) -> Any:
    """A profile setting given per autopilot family (`{ardupilot: ..., px4: ...}`): this
    vehicle's entry. LookupError naming the missing key if the profile gives none."""
    fam = family(autopilot)
    if fam not in section:
        raise LookupError(f"the profile gives no {fam} entry for this check ({where}.{fam})")
    return section[fam]


# ArduPilot Copter FS_GCS_ENABLE: 1 = RTL, 5 = LAND (parameter documentation).
_AP_GCS_ACTIONS = {"RTL": 1, "LAND": 5}
# PX4 NAV_DLL_ACT: 0 off, 1 hold, 2 return, 3 land, 5 terminate, 6 disarm (parameter reference).
_PX4_DLL_ACTIONS = {"RTL": 2, "LAND": 3}


def gcs_failsafe_params(autopilot: int, action: str, timeout_s: float) -> dict[str, float]:
    """Parameters that make the vehicle take `action` after `timeout_s` without a GCS."""
    if autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA:
        return {"FS_GCS_ENABLE": _AP_GCS_ACTIONS[action], "FS_GCS_TIMEOUT": timeout_s}
    if autopilot == mavlink.MAV_AUTOPILOT_PX4:
        # PX4 SITL's start script scales COM_DL_LOSS_T by PX4_SIM_SPEED_FACTOR (its ground
        # station beats in wall time); the harness beats in vehicle time, so it sets the
        # timeout as meant, in vehicle seconds. COM_FAIL_ACT_T (default 5 s) holds position
        # that long after the loss before acting: 0, so the action comes after timeout_s.
        return {"COM_DL_LOSS_T": timeout_s, "NAV_DLL_ACT": _PX4_DLL_ACTIONS[action],
                "COM_FAIL_ACT_T": 0}  # fmt: skip
    raise NotImplementedError(f"GCS failsafe parameters of autopilot {autopilot} are not known")


# ArduPilot FENCE_TYPE bits and FENCE_ACTION values (Copter parameter documentation): 1 = RTL
# (or LAND if RTL cannot start), 2 = always LAND; 0 = report only.
_AP_FENCE_TYPES = {"alt_max": 1, "circle": 2, "polygon": 4}
_AP_FENCE_ACTIONS = {"REPORT": 0, "RTL": 1, "LAND": 2}


def fence_params(autopilot: int, kind: str, action: str, alt_max_m: float | None = None
                 ) -> dict[str, float]:  # fmt: skip
    """Parameters that enable a fence of `kind` (alt_max, circle, polygon: the uploaded
    fence) with `action` on a breach."""
    if autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA:
        params = {"FENCE_ENABLE": 1.0, "FENCE_TYPE": float(_AP_FENCE_TYPES[kind]),
                  "FENCE_ACTION": float(_AP_FENCE_ACTIONS[action])}  # fmt: skip
        if alt_max_m is not None:
            params["FENCE_ALT_MAX"] = alt_max_m
        return params
    raise NotImplementedError(f"fence parameters of autopilot {autopilot} are not known")


def failsafe_kept_until_mode_change(autopilot: int) -> bool:
    """Whether the GCS failsafe stays active after the link returns until the ground station
    changes mode: PX4's (failsafe.cpp: NAV_DLL_ACT actions clear OnModeChangeOrDisarm); an
    ArduPilot one clears as the ground station is heard again."""
    return autopilot == mavlink.MAV_AUTOPILOT_PX4


# PX4 packs its mode into custom_mode as main_mode << 16 | sub_mode << 24 (px4_custom_mode.h).
# The suites speak ArduPilot Copter's mode names; these are PX4's nearest equivalents.
_PX4_MODES = {
    "STABILIZE": (7, 0),  # STABILIZED
    "ALT_HOLD": (2, 0),  # ALTCTL
    "GUIDED": (4, 3),  # AUTO.LOITER: holds, takes MAV_CMD_NAV_TAKEOFF and go-to commands
    "LOITER": (4, 3),  # AUTO.LOITER
    "AUTO": (4, 4),  # AUTO.MISSION
    "RTL": (4, 5),  # AUTO.RTL
    "LAND": (4, 6),  # AUTO.LAND
    "TAKEOFF": (4, 2),  # AUTO.TAKEOFF (named, for reports: the suites never ask for it)
}


def custom_mode(autopilot: int, name: str) -> int:
    """HEARTBEAT custom_mode of flight mode `name`."""
    if autopilot == mavlink.MAV_AUTOPILOT_PX4:
        main, sub = _PX4_MODES[name]
        return main << 16 | sub << 24
    return COPTER_MODES[name]  # ArduPilot Copter, and the built-in simulator


def set_mode_params(autopilot: int, name: str) -> tuple[float, float, float]:
    """MAV_CMD_DO_SET_MODE param1..3 for flight mode `name`: ArduPilot takes its mode number
    in param2; PX4's commander takes the main mode in param2 and the sub-mode in param3."""
    custom = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    if autopilot == mavlink.MAV_AUTOPILOT_PX4:
        main, sub = _PX4_MODES[name]
        return custom, main, sub
    return custom, COPTER_MODES[name], 0


def mode_name(autopilot: int, custom: int) -> str:
    """The suites' name for a HEARTBEAT custom_mode (its number if unknown)."""
    if autopilot == mavlink.MAV_AUTOPILOT_PX4:
        names = {m << 16 | s << 24: n for n, (m, s) in reversed(_PX4_MODES.items())}
    else:
        names = {number: n for n, number in COPTER_MODES.items()}
    return names.get(custom, str(custom))


def extra_streams(autopilot: int) -> dict[str, float]:
    """Streams a family needs beyond the common ones (message name -> Hz)."""
    if autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA:
        return {"EKF_STATUS_REPORT": 2}
    return {}


def position_ready(autopilot: int) -> tuple[str, str, Callable[[Any], bool]]:
    """(what, message type, test) for "the estimator has an absolute position", which GUIDED
    needs: ArduPilot passes its pre-arm checks ~20 s (vehicle) before its EKF has one."""
    if autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA:
        good, bad = mavlink.EKF_POS_HORIZ_ABS, mavlink.EKF_CONST_POS_MODE
        return (
            "EKF_STATUS_REPORT with an absolute position (POS_HORIZ_ABS, no CONST_POS_MODE)",
            "EKF_STATUS_REPORT",
            lambda m: m.flags & good and not m.flags & bad,
        )
    return (
        "GLOBAL_POSITION_INT with a position (lat/lon not 0)",
        "GLOBAL_POSITION_INT",
        lambda m: m.lat != 0 or m.lon != 0,
    )


def uses_amsl_altitude(autopilot: int) -> bool:
    """Whether NAV_TAKEOFF and DO_REPOSITION (COMMAND_LONG) take their altitude above mean sea
    level: PX4's navigator does (takeoff.cpp compares it with the global altitude); ArduPilot
    reads it relative to home."""
    return autopilot == mavlink.MAV_AUTOPILOT_PX4


def nonfinite_takeoff_alt_is_default(autopilot: int) -> bool:
    """Whether MAV_CMD_NAV_TAKEOFF with a NaN or infinite altitude is a legal command meaning
    "the default height": PX4's (NaN is its "not given"; navigator takeoff.cpp takes
    MIS_TAKEOFF_ALT for any non-finite altitude, and commander switches to AUTO.TAKEOFF for
    every NAV_TAKEOFF). Elsewhere such an altitude is hostile and must be refused."""
    return autopilot == mavlink.MAV_AUTOPILOT_PX4


def takeoff_params(autopilot: int, rel_alt_m: float, home_amsl_m: float) -> list[float]:
    """MAV_CMD_NAV_TAKEOFF param1..7 for a climb to rel_alt_m above home, where it is."""
    if uses_amsl_altitude(autopilot):
        # NaN: "not given" to PX4's parameter checks (pitch, yaw, lat/lon: here, as it is)
        nan = math.nan
        return [nan, 0, 0, nan, nan, nan, home_amsl_m + rel_alt_m]
    return [0, 0, 0, 0, 0, 0, rel_alt_m]


def git_hash(autopilot: int, custom_version: bytes) -> str:
    """The firmware's git hash from AUTOPILOT_VERSION flight_custom_version ("" if none):
    ArduPilot puts the first 8 hex digits there as text; PX4 a little-endian uint64 whose top
    five bytes are the first 10 hex digits (the low three its vendor version)."""
    if autopilot == mavlink.MAV_AUTOPILOT_PX4:
        value = int.from_bytes(custom_version[:8], "little") >> 24
        return f"{value:010x}" if value else ""
    return custom_version.rstrip(b"\0").decode("ascii", "replace")


def mission_starts_with_home(autopilot: int) -> bool:
    """Whether mission item 0 is home, which the vehicle fills in itself (ArduPilot, and the
    built-in simulator), rather than the first item to fly (PX4: it flies item 0 as given)."""
    return autopilot != mavlink.MAV_AUTOPILOT_PX4


def log_on_ground_params(autopilot: int) -> dict[str, float]:
    """Parameters that make the vehicle keep a log while disarmed, so its log service has one
    to list and read: ArduPilot logs only when armed unless LOG_DISARMED is 1 (the built-in
    simulator takes it too); PX4 SITL lists its logs as they are."""
    return {"LOG_DISARMED": 1} if autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA else {}


# ArduPilot Copter BATT_FS_LOW_ACT / BATT_FS_CRT_ACT: 1 = LAND, 2 = RTL (AP_BattMonitor_Params).
_AP_BATT_ACTIONS = {"LAND": 1, "RTL": 2}


def battery_failsafe_params(autopilot: int, low_v: float, critical_v: float, timer_s: int,
                            low_action: str, critical_action: str) -> dict[str, float]:
    """Parameters of a two-stage battery failsafe: under low_v (then critical_v) for timer_s,
    take low_action (then critical_action)."""
    if autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA:
        return {"BATT_LOW_VOLT": low_v, "BATT_CRT_VOLT": critical_v, "BATT_LOW_TIMER": timer_s,
                "BATT_FS_LOW_ACT": _AP_BATT_ACTIONS[low_action],
                "BATT_FS_CRT_ACT": _AP_BATT_ACTIONS[critical_action]}  # fmt: skip
    raise NotImplementedError(f"battery failsafe parameters of autopilot {autopilot} are not known")


def simulated_pack_param(autopilot: int) -> str:
    """The simulator parameter that sets the pack's resting voltage: ArduPilot SITL's (which
    the built-in simulator shares)."""
    if autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA:
        return "SIM_BATT_VOLTAGE"
    raise NotImplementedError(f"the simulated pack of autopilot {autopilot} is not known")
