"""What differs between autopilot families, so suites ask for a behaviour, not a parameter name.

ArduPilot Copter today; PX4 (COM_DL_LOSS_T, NAV_DLL_ACT, its own mode encoding) comes with its
SITL driver. Values follow each project's parameter documentation (see CHECKS.md)."""

from drivers.mavlink import mavlink

# ArduPilot Copter FS_GCS_ENABLE: 1 = RTL, 5 = LAND (parameter documentation).
_AP_GCS_ACTIONS = {"RTL": 1, "LAND": 5}


def gcs_failsafe_params(autopilot: int, action: str, timeout_s: float) -> dict[str, float]:
    """Parameters that make the vehicle take `action` after `timeout_s` without a GCS."""
    if autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA:
        return {"FS_GCS_ENABLE": _AP_GCS_ACTIONS[action], "FS_GCS_TIMEOUT": timeout_s}
    raise NotImplementedError(f"GCS failsafe parameters of autopilot {autopilot} are not known")
