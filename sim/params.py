"""Parameters: ArduPilot-like names, types, defaults and ranges; optional JSON persistence.

Values travel float-cast (as ArduPilot does), typed by MAV_PARAM_TYPE per parameter.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sim.mav import mavlink

INT8 = mavlink.MAV_PARAM_TYPE_INT8
INT16 = mavlink.MAV_PARAM_TYPE_INT16
INT32 = mavlink.MAV_PARAM_TYPE_INT32
REAL32 = mavlink.MAV_PARAM_TYPE_REAL32

_TYPE_LIMITS = {INT8: (-128, 127), INT16: (-32768, 32767), INT32: (-(2**31), 2**31 - 1)}


@dataclass(frozen=True)
class ParamDef:
    name: str
    ptype: int
    default: float
    lo: float
    hi: float


def _p(name: str, ptype: int, default: float, lo: float, hi: float) -> ParamDef:
    return ParamDef(name, ptype, default, lo, hi)


# Units follow ArduPilot: speeds in cm/s, RTL_ALT in cm, FENCE_* in m, timeouts in s.
_DEFS: list[ParamDef] = [
    _p("SYSID_THISMAV", INT16, 1, 1, 255),
    _p("SYSID_MYGCS", INT16, 255, 1, 255),
    _p("ARMING_CHECK", INT32, 1, 0, 0x7FFFF),
    _p("DISARM_DELAY", INT8, 10, 0, 127),
    _p("LOG_DISARMED", INT8, 0, 0, 1),  # accepted, as ArduPilot's; the sim's logs are seeded
    _p("FS_GCS_ENABLE", INT8, 0, 0, 7),
    _p("FS_GCS_TIMEOUT", REAL32, 5, 2, 120),
    _p("FS_EKF_ACTION", INT8, 1, 0, 3),  # sim/gnss.py: the EKF failsafe, as ArduPilot
    _p("FS_EKF_THRESH", REAL32, 0.8, 0, 1),
    _p("EK3_GLITCH_RAD", INT8, 25, 10, 100),
    _p("BATT_CAPACITY", INT32, 3300, 0, 1_000_000),
    _p("BATT_LOW_VOLT", REAL32, 10.5, 0, 100),
    _p("BATT_LOW_MAH", REAL32, 0, 0, 1_000_000),
    _p("BATT_LOW_TIMER", INT8, 10, 0, 120),
    # ArduPilot's battery failsafe (AP_BattMonitor_Params): a critical stage under the low one;
    # actions 0 none, 1 LAND, 2 RTL, 3 SmartRTL or RTL, 4 SmartRTL or LAND, 5 terminate,
    # 6 DO_LAND_START or RTL, 7 BRAKE or LAND (Copter); both 0 by default, as there
    _p("BATT_CRT_VOLT", REAL32, 0, 0, 100),
    _p("BATT_CRT_MAH", REAL32, 0, 0, 1_000_000),
    _p("BATT_FS_LOW_ACT", INT8, 0, 0, 7),
    _p("BATT_FS_CRT_ACT", INT8, 0, 0, 7),
    _p("FENCE_ENABLE", INT8, 0, 0, 1),
    _p("FENCE_TYPE", INT8, 7, 0, 15),
    _p("FENCE_ACTION", INT8, 1, 0, 5),
    _p("FENCE_ALT_MAX", REAL32, 100, 10, 1000),
    _p("FENCE_RADIUS", REAL32, 300, 30, 10000),
    _p("FENCE_MARGIN", REAL32, 2, 1, 10),
    _p("WPNAV_SPEED", REAL32, 1000, 10, 2000),
    _p("WPNAV_SPEED_UP", REAL32, 250, 10, 1000),
    _p("WPNAV_SPEED_DN", REAL32, 150, 10, 500),
    _p("WPNAV_RADIUS", REAL32, 200, 5, 1000),
    _p("WPNAV_ACCEL", REAL32, 250, 50, 500),
    _p("PILOT_SPEED_UP", INT16, 250, 50, 500),
    _p("RTL_ALT", INT32, 1500, 200, 300000),
    _p("RTL_SPEED", INT16, 0, 0, 2000),
    _p("RTL_LOIT_TIME", INT32, 5000, 0, 60000),
    _p("LAND_SPEED", INT16, 50, 30, 200),
    _p("LAND_ALT_LOW", INT16, 1000, 100, 10000),
    _p("SIM_WIND_SPD", REAL32, 0, 0, 40),
    _p("SIM_WIND_DIR", REAL32, 180, 0, 360),
    _p("SIM_WIND_TURB", REAL32, 0, 0, 10),
    # ArduPilot SITL's GNSS faults (sim/gnss.py): GLTCH_X/Y in degrees, _Z in metres
    _p("SIM_GPS1_ENABLE", INT8, 1, 0, 1),
    _p("SIM_GPS1_JAM", INT8, 0, 0, 1),
    _p("SIM_GPS1_GLTCH_X", REAL32, 0, -1, 1),
    _p("SIM_GPS1_GLTCH_Y", REAL32, 0, -1, 1),
    _p("SIM_GPS1_GLTCH_Z", REAL32, 0, -1000, 1000),
    _p("SIM_BATT_VOLTAGE", REAL32, 12.6, 0, 100),
    _p("SIM_BATT_CAP_AH", REAL32, 0, 0, 1000),
]
# Stream-rate groups per channel (Hz). 0 = the simulator's default rates for that group.
STREAM_GROUPS = ("RAW_SENS", "EXT_STAT", "RC_CHAN", "POSITION", "EXTRA1", "EXTRA2", "EXTRA3")
for _ch in range(3):
    for _g in STREAM_GROUPS:
        _DEFS.append(_p(f"SR{_ch}_{_g}", INT16, 0, 0, 50))

# Signing policy (sim/signing.py), radio link model (sim/radio.py), Remote ID (sim/remote_id.py).
_DEFS += [
    _p("SIM_SIGN_TRUST0", INT8, 1, 0, 1),  # channel 0 accepts unsigned (ArduPilot's USB)
    _p("SIM_SIGN_RADIO", INT8, 1, 0, 1),  # unsigned RADIO_STATUS/RADIO accepted anywhere
    _p("SIM_RADIO_PWR", REAL32, 20, -30, 36),  # transmit power, dBm
    _p("SIM_RADIO_FREQ", REAL32, 2440, 100, 6000),  # MHz
    _p("SIM_RADIO_GAIN", REAL32, 4, -30, 40),  # both antennas together, dBi
    _p("SIM_RADIO_SENS", REAL32, -110, -140, -20),  # receiver sensitivity, dBm
    _p("SIM_RADIO_FADE", REAL32, 2, 0, 20),  # fading, dB standard deviation
    # ArduPilot's names: Open Drone ID on (read at boot), the transponder's channel (read at
    # boot; -1 none), options (bit 0: no arming without a healthy transponder)
    _p("DID_ENABLE", INT8, 0, 0, 1),
    _p("DID_MAVPORT", INT8, -1, -1, 9),
    _p("DID_OPTIONS", INT16, 0, 0, 7),
]

# MAVLink's param_id holds 16 characters: a longer name could never be read or set.
assert all(len(d.name) <= 16 for d in _DEFS), [d.name for d in _DEFS if len(d.name) > 16]
DEFS: dict[str, ParamDef] = {d.name: d for d in _DEFS}
NAMES: list[str] = [d.name for d in _DEFS]  # index order for PARAM_REQUEST_READ by index


def coerce(d: ParamDef, value: float) -> float | None:
    """Value as stored for `d`, or None when it must be rejected (NaN, out of range)."""
    if not math.isfinite(value):
        return None
    if d.ptype != REAL32:
        value = float(round(value))
        lo, hi = _TYPE_LIMITS[d.ptype]
        if not lo <= value <= hi:
            return None
    if not d.lo <= value <= d.hi:
        return None
    return value


class ParamStore:
    """Current values; reboots keep them, process restarts keep them only with a state dir."""

    def __init__(self, state_file: Path | None = None) -> None:
        self.values: dict[str, float] = {d.name: float(d.default) for d in _DEFS}
        self.state_file = state_file
        self.listeners: list[Callable[[str, float], None]] = []
        if state_file is not None and state_file.exists():
            self._load(state_file)

    def _load(self, path: Path) -> None:
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            return  # a corrupt file means defaults, as with a wiped eeprom
        for name, value in stored.items():
            d = DEFS.get(name)
            if d is not None and isinstance(value, int | float):
                v = coerce(d, float(value))
                if v is not None:
                    self.values[name] = v

    def save(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        # Atomic replace so a killed process never leaves half a file.
        tmp.write_text(json.dumps(self.values, indent=1, sort_keys=True))
        os.replace(tmp, self.state_file)

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def get_int(self, name: str) -> int:
        return int(self.values[name])

    def set(self, name: str, value: float) -> bool:
        """Set if valid; returns whether the value was accepted."""
        d = DEFS.get(name)
        if d is None:
            return False
        v = coerce(d, value)
        if v is None:
            return False
        changed = v != self.values[name]
        self.values[name] = v
        if changed:
            self.save()
            for listener in self.listeners:
                listener(name, v)
        return True
