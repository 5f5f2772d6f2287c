"""The one place the simulator imports pymavlink (MAVLink 2, ArduPilot dialect)."""

import os

# pymavlink reads this at import time; without it frames would be MAVLink 1.
os.environ.setdefault("MAVLINK20", "1")

from pymavlink.dialects.v20 import ardupilotmega as mavlink

MAVLink = mavlink.MAVLink
MAVLinkMessage = mavlink.MAVLink_message

__all__ = ["MAVLink", "MAVLinkMessage", "mavlink"]
