"""The geofence suite's geometry and plans: fence items (mavlink.io "Mission Protocol", mission
type FENCE) laid out around where the vehicle stands, distances beyond an inclusion square, and
the flight plans that cross it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.mavlink import mavlink
from drivers.services.mission import Item
from drivers.services.vehicle import offset

M = mavlink
INCLUSION = M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
EXCLUSION = M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
CIRCLE_IN = M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
CIRCLE_OUT = M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION
FENCE_FRAME = M.MAV_FRAME_GLOBAL_INT
NAMES = {INCLUSION: "inclusion vertex", EXCLUSION: "exclusion vertex",
         CIRCLE_IN: "inclusion circle", CIRCLE_OUT: "exclusion circle"}  # fmt: skip


@dataclass(frozen=True)
class Square:
    """An inclusion square centred on (lat, lon), half_side metres north/south and east/west."""

    lat: float
    lon: float
    half_side_m: float

    def corners(self) -> list[tuple[float, float]]:
        h = self.half_side_m
        return [self.at(n, e) for n, e in ((h, h), (h, -h), (-h, -h), (-h, h))]

    def at(self, north_m: float, east_m: float) -> tuple[float, float]:
        lat, lon = offset(self.lat, self.lon, north_m, 0.0)
        return offset(lat, lon, east_m, 90.0)

    def beyond_m(self, lat: float, lon: float) -> float:
        """How far (lat, lon) lies outside the square (negative: inside, by that much)."""
        k = math.radians(1.0) * 6_378_137.0
        n = (lat - self.lat) * k
        e = (lon - self.lon) * k * math.cos(math.radians(self.lat))
        return max(abs(n), abs(e)) - self.half_side_m


def polygon(command: int, points: list[tuple[float, float]]) -> list[Item]:
    """A polygon's vertex items (param1 = the number of vertices, as each vertex says)."""
    return [Item(lat, lon, 0.0, command, FENCE_FRAME, (float(len(points)), 0, 0, 0))
            for lat, lon in points]  # fmt: skip


def circle(command: int, lat: float, lon: float, radius_m: float) -> Item:
    return Item(lat, lon, 0.0, command, FENCE_FRAME, (radius_m, 0, 0, 0))


def full_fence(square: Square) -> list[Item]:
    """Every kind of fence item: the inclusion square, an exclusion triangle and two circles,
    all clear of the flight the breach check makes (north from the centre). Radii are whole
    metres: how a vehicle stores a fraction is not this check's business."""
    h = square.half_side_m
    triangle = [square.at(-0.8 * h, -0.8 * h), square.at(-0.6 * h, -0.8 * h),
                square.at(-0.7 * h, -0.6 * h)]  # fmt: skip
    return [
        *polygon(INCLUSION, square.corners()),
        *polygon(EXCLUSION, triangle),
        circle(CIRCLE_IN, square.lat, square.lon, float(round(2 * h))),
        circle(CIRCLE_OUT, *square.at(-0.5 * h, 0.7 * h), 5.0),
    ]


def differences(sent: list[Item], got: list[Item]) -> list[str]:
    """How the fence read back differs from the one uploaded, item by item (as the wire
    carries it: 1e-7 degrees, float32 parameters)."""
    wrong = [] if len(got) == len(sent) else [f"{len(got)} items read back, {len(sent)} sent"]
    for seq, (a, b) in enumerate(zip(sent, got, strict=False)):
        what = NAMES.get(a.command, str(a.command))
        if b.command != a.command:
            wrong.append(f"item {seq} ({what}): command {b.command}, sent {a.command}")
            continue
        dlat = round(b.lat * 1e7) - round(a.lat * 1e7)
        dlon = round(b.lon * 1e7) - round(a.lon * 1e7)
        if dlat or dlon:
            wrong.append(f"item {seq} ({what}): moved by {dlat}, {dlon} (1e-7 degrees)")
        if abs(b.params[0] - a.params[0]) > 1e-4 * max(1.0, abs(a.params[0])):
            wrong.append(f"item {seq} ({what}): param1 {b.params[0]:g}, sent {a.params[0]:g}")
    return wrong


def flight_plan(start_lat: float, start_lon: float, to: tuple[float, float], alt_m: float,
                speed_m_s: float) -> list[Item]:
    """Home, the cruise speed, then one waypoint (alt_m above home)."""
    return [
        Item(start_lat, start_lon, 0.0),  # seq 0: home, as ArduPilot reads a mission
        Item(0.0, 0.0, 0.0, M.MAV_CMD_DO_CHANGE_SPEED, M.MAV_FRAME_MISSION,
             (1.0, speed_m_s, -1.0, 0.0)),  # 1: ground speed
        Item(to[0], to[1], alt_m),
    ]  # fmt: skip
