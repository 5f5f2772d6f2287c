"""The one place skyproof imports pymavlink: MAVLink 2, ArduPilot dialect (a superset of common)."""

import os

# pymavlink reads this at import time; without it, mavutil would speak MAVLink 1.
os.environ.setdefault("MAVLINK20", "1")

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

DIALECT = "ardupilotmega"

# Message types that carry the vehicle's time since boot: the vehicle clock reads these.
TIME_BOOT_TYPES: frozenset[str] = frozenset(
    cls.msgname for cls in mavlink.mavlink_map.values() if "time_boot_ms" in cls.fieldnames
)

# ArduPilot Copter flight modes (custom_mode of HEARTBEAT), as MAVProxy names them.
COPTER_MODES: dict[str, int] = {name: number for number, name in mavutil.mode_mapping_acm.items()}

__all__ = ["COPTER_MODES", "DIALECT", "TIME_BOOT_TYPES", "mavlink", "mavutil"]
