"""Parameter values on the wire: PARAM_VALUE/PARAM_SET carry every value in a float field.

ArduPilot casts integers to float (10 -> 10.0); PX4 copies their bytes (10 -> 1.4e-44). Which
one a vehicle does it says in AUTOPILOT_VERSION capabilities (MAV_PROTOCOL_CAPABILITY_PARAM_
ENCODE_*), else its HEARTBEAT autopilot field tells; decode by param_type either way.
"""

import math
import struct

from drivers.mavlink import mavlink

_INT_FORMATS = {
    mavlink.MAV_PARAM_TYPE_UINT8: "<B",
    mavlink.MAV_PARAM_TYPE_INT8: "<b",
    mavlink.MAV_PARAM_TYPE_UINT16: "<H",
    mavlink.MAV_PARAM_TYPE_INT16: "<h",
    mavlink.MAV_PARAM_TYPE_UINT32: "<I",
    mavlink.MAV_PARAM_TYPE_INT32: "<i",
}


def is_bytewise(autopilot: int, capabilities: int | None = None) -> bool:
    """True for a vehicle that copies integer parameters' bytes into the float field: as its
    AUTOPILOT_VERSION capabilities say (PARAM_ENCODE_BYTEWISE or PARAM_ENCODE_C_CAST), else
    as its autopilot family does (PX4 bytewise, ArduPilot by cast)."""
    if capabilities is not None:
        if capabilities & mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE:
            return True
        if capabilities & mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_C_CAST:
            return False
    return autopilot == mavlink.MAV_AUTOPILOT_PX4


def decode(wire: float, param_type: int, bytewise: bool) -> float:
    fmt = _INT_FORMATS.get(param_type)
    if fmt is None:
        return wire
    if not bytewise:
        return float(round(wire)) if math.isfinite(wire) else wire  # NaN: not a cast integer
    raw = struct.pack("<f", wire)[: struct.calcsize(fmt)]
    return float(struct.unpack(fmt, raw)[0])


def encode(value: float, param_type: int, bytewise: bool) -> float:
    fmt = _INT_FORMATS.get(param_type)
    if fmt is None or not bytewise or not math.isfinite(value):
        return float(value)  # NaN, inf: no integer has them; their float bits go as they are
    raw = struct.pack(fmt, int(value)).ljust(4, b"\0")
    return struct.unpack("<f", raw)[0]


def name_of(param_id: str | bytes) -> str:
    """pymavlink hands param_id back as str or bytes depending on version; NUL-padded."""
    if isinstance(param_id, bytes):
        param_id = param_id.decode("ascii", "replace")
    return param_id.rstrip("\0")


def same(a: float, b: float) -> bool:
    """Equal as parameters: float32 on the wire, so compare with a relative tolerance."""
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
