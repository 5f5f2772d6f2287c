"""The one place skyproof imports pymavlink: MAVLink 2, ArduPilot dialect (a superset of common)."""

import os
from typing import Any

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

__all__ = ["COPTER_MODES", "DIALECT", "TIME_BOOT_TYPES", "frame_header", "mavlink", "mavutil"]

_UNPACKER = mavlink.MAVLink(None)  # its header unpackers, so headers are read as pymavlink does


def frame_header(msg: Any) -> Any:
    """The header of a received frame as it came on the wire. pymavlink decodes the header only
    of messages its dialect knows: an unknown one (UNKNOWN_<id>) comes with an empty header
    (source 0/0, seq 0), so read source, sequence and id from the frame's own bytes."""
    hdr = msg._header
    if hdr.msgId != mavlink.MAVLINK_MSG_ID_UNKNOWN:
        return hdr
    buf = bytes(msg.get_msgbuf())
    if buf[:1] == bytes([mavlink.PROTOCOL_MARKER_V2]) and len(buf) >= 10:
        _, mlen, incompat, compat, seq, sysid, compid, low, high = (
            _UNPACKER.mav20_unpacker.unpack(buf[:10])
        )
        return mavlink.MAVLink_header(low | high << 16, incompat, compat, mlen, seq, sysid, compid)
    if buf[:1] == bytes([mavlink.PROTOCOL_MARKER_V1]) and len(buf) >= 6:
        _, mlen, seq, sysid, compid, msg_id = _UNPACKER.mav10_unpacker.unpack(buf[:6])
        return mavlink.MAVLink_header(msg_id, 0, 0, mlen, seq, sysid, compid)
    return hdr
