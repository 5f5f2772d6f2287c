"""Geofence: max altitude (FENCE_TYPE bit 1), circle around home (bit 2) and polygons /
circles uploaded as mission_type FENCE (bit 4). Pure geometry; failsafe.py acts on it."""

from __future__ import annotations

import dataclasses
import math
import struct
from dataclasses import dataclass, field

from sim.geo import ne_of
from sim.mav import mavlink
from sim.mission_store import Item
from sim.vehicle import Vehicle

M = mavlink
TYPE_ALT_MAX, TYPE_CIRCLE, TYPE_POLYGON = 1, 2, 4
BREACH_NONE = M.FENCE_BREACH_NONE
BREACH_MAXALT = M.FENCE_BREACH_MAXALT
BREACH_BOUNDARY = M.FENCE_BREACH_BOUNDARY


@dataclass
class Zones:
    """Uploaded fence zones in origin north/east metres."""

    inclusion_polygons: list[list[tuple[float, float]]] = field(default_factory=list)
    exclusion_polygons: list[list[tuple[float, float]]] = field(default_factory=list)
    inclusion_circles: list[tuple[float, float, float]] = field(default_factory=list)
    exclusion_circles: list[tuple[float, float, float]] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.inclusion_polygons or self.exclusion_polygons
                    or self.inclusion_circles or self.exclusion_circles)


def inside_polygon(n: float, e: float, poly: list[tuple[float, float]]) -> bool:
    """Even-odd ray casting."""
    inside = False
    j = len(poly) - 1
    for i in range(len(poly)):
        (ni, ei), (nj, ej) = poly[i], poly[j]
        if (ei > e) != (ej > e) and n < (nj - ni) * (e - ei) / (ej - ei) + ni:
            inside = not inside
        j = i
    return inside


def breach(v: Vehicle, zones: Zones) -> tuple[int, str]:
    """(FENCE_BREACH_*, human name) for the vehicle now; BREACH_NONE if inside everything."""
    p = v.params
    ftype = p.get_int("FENCE_TYPE")
    if ftype & TYPE_ALT_MAX and v.alt_above_home() > p["FENCE_ALT_MAX"]:
        return BREACH_MAXALT, "Max Alt"
    hn, he, _ = v.home_ne_alt()
    if ftype & TYPE_CIRCLE and math.hypot(v.n - hn, v.e - he) > p["FENCE_RADIUS"]:
        return BREACH_BOUNDARY, "Circle"
    if ftype & TYPE_POLYGON:
        if any(not inside_polygon(v.n, v.e, poly) for poly in zones.inclusion_polygons):
            return BREACH_BOUNDARY, "Polygon"
        if any(inside_polygon(v.n, v.e, poly) for poly in zones.exclusion_polygons):
            return BREACH_BOUNDARY, "Polygon"
        if any(math.hypot(v.n - cn, v.e - ce) > r for cn, ce, r in zones.inclusion_circles):
            return BREACH_BOUNDARY, "Circle"
        if any(math.hypot(v.n - cn, v.e - ce) < r for cn, ce, r in zones.exclusion_circles):
            return BREACH_BOUNDARY, "Circle"
    return BREACH_NONE, ""


FENCE_CMDS = {
    M.MAV_CMD_NAV_FENCE_RETURN_POINT, M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
    M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
    M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
}


def check_item(item: Item) -> int:
    if item.command not in FENCE_CMDS:
        return M.MAV_MISSION_UNSUPPORTED
    if item.command in (M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
                        M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION) and not item.param1 > 0:
        return M.MAV_MISSION_INVALID_PARAM1  # a circle needs a radius
    return M.MAV_MISSION_ACCEPTED


def zones_from_items(items: list[Item], lat0: float, lon0: float) -> Zones | None:
    """Zones for a fence list (None if polygons are malformed)."""
    zones = Zones()
    i = 0
    while i < len(items):
        it = items[i]
        n, e = ne_of(lat0, lon0, it.x / 1e7, it.y / 1e7)
        if it.command in (M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
                          M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION):
            inc = it.command == M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
            (zones.inclusion_circles if inc else zones.exclusion_circles).append((n, e, it.param1))
            i += 1
        elif it.command == M.MAV_CMD_NAV_FENCE_RETURN_POINT:
            i += 1
        else:
            count = int(it.param1)
            group = items[i:i + count]
            if count < 3 or len(group) < count or any(g.command != it.command for g in group):
                return None
            poly = [ne_of(lat0, lon0, g.x / 1e7, g.y / 1e7) for g in group]
            inc = it.command == M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
            (zones.inclusion_polygons if inc else zones.exclusion_polygons).append(poly)
            i += count
    return zones


def as_float32(item: Item) -> Item:
    """Fault fence_points_float32: a point kept as float32 degrees (about 1 m off here)."""
    def f32(deg_e7: int) -> int:
        return round(struct.unpack("f", struct.pack("f", deg_e7 / 1e7))[0] * 1e7)

    return dataclasses.replace(item, x=f32(item.x), y=f32(item.y))


def check_list(items: list[Item]) -> int:
    ok = zones_from_items(items, 0.0, 0.0) is not None
    return M.MAV_MISSION_ACCEPTED if ok else M.MAV_MISSION_INVALID_PARAM1
