"""What differs between autopilot families, so suites ask for a behaviour, not a parameter name.

ArduPilot Copter and PX4. Values follow each project's parameter documentation (see CHECKS.md).
"""

from collections.abc import Callable
from typing import Any

from drivers.mavlink import COPTER_MODES, mavlink

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
        # timeout as meant, in vehicle seconds.
        return {"COM_DL_LOSS_T": timeout_s, "NAV_DLL_ACT": _PX4_DLL_ACTIONS[action]}
    raise NotImplementedError(f"GCS failsafe parameters of autopilot {autopilot} are not known")


# ArduPilot FENCE_TYPE bits and FENCE_ACTION values (Copter parameter documentation): 1 = RTL
# (or LAND if RTL cannot start), 2 = always LAND.
_AP_FENCE_TYPES = {"alt_max": 1, "circle": 2, "polygon": 4}
_AP_FENCE_ACTIONS = {"RTL": 1, "LAND": 2}


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
}


def custom_mode(autopilot: int, name: str) -> int:
    """HEARTBEAT custom_mode of flight mode `name` (as MAV_CMD_DO_SET_MODE takes it)."""
    if autopilot == mavlink.MAV_AUTOPILOT_PX4:
        main, sub = _PX4_MODES[name]
        return main << 16 | sub << 24
    return COPTER_MODES[name]  # ArduPilot Copter, and the built-in simulator


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
