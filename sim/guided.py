"""GUIDED set-points: SET_POSITION_TARGET_GLOBAL_INT and _LOCAL_NED (position or velocity).

As ArduPilot: ignored unless in GUIDED; no ACK; a velocity set-point lasts 3 s.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim import commands, geo, modes
from sim.links import Link
from sim.mav import MAVLinkMessage, mavlink

if TYPE_CHECKING:
    from sim.core import Sim

M = mavlink
POS_IGNORE = (M.POSITION_TARGET_TYPEMASK_X_IGNORE | M.POSITION_TARGET_TYPEMASK_Y_IGNORE
              | M.POSITION_TARGET_TYPEMASK_Z_IGNORE)
VEL_IGNORE = (M.POSITION_TARGET_TYPEMASK_VX_IGNORE | M.POSITION_TARGET_TYPEMASK_VY_IGNORE
              | M.POSITION_TARGET_TYPEMASK_VZ_IGNORE)


def _usable(sim: Sim, msg: MAVLinkMessage) -> bool:
    v = sim.vehicle
    return (commands.for_us(sim, msg.target_system, msg.target_component)
            and v.mode == modes.GUIDED and v.armed and not v.landed)


def _velocity(sim: Sim, msg: MAVLinkMessage) -> None:
    vel = (msg.vx, msg.vy, msg.vz)
    if msg.type_mask & VEL_IGNORE != VEL_IGNORE and all(math.isfinite(x) for x in vel):
        sim.vehicle.velocity(msg.vx, msg.vy, -msg.vz)  # NED in, north/east/up inside


def on_global_int(sim: Sim, link: Link, msg: MAVLinkMessage) -> None:
    if not _usable(sim, msg):
        return
    v = sim.vehicle
    if msg.type_mask & POS_IGNORE == POS_IGNORE:
        _velocity(sim, msg)
        return
    lat, lon = msg.lat_int / 1e7, msg.lon_int / 1e7
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not math.isfinite(msg.alt):
        return
    n, e = geo.ne_of(v.origin.lat, v.origin.lon, lat, lon)
    v.goto(n, e, commands.target_alt(sim, msg.coordinate_frame, msg.alt))


def on_local_ned(sim: Sim, link: Link, msg: MAVLinkMessage) -> None:
    if not _usable(sim, msg):
        return
    v = sim.vehicle
    if msg.type_mask & POS_IGNORE == POS_IGNORE:
        _velocity(sim, msg)
        return
    if not all(math.isfinite(x) for x in (msg.x, msg.y, msg.z)):
        return
    if msg.coordinate_frame == M.MAV_FRAME_LOCAL_OFFSET_NED:
        v.goto(v.n + msg.x, v.e + msg.y, v.alt - msg.z)
    elif msg.coordinate_frame == M.MAV_FRAME_LOCAL_NED:
        v.goto(msg.x, msg.y, -msg.z)  # origin = where the EKF started (our origin)
