"""Flat-earth conversions around home: plenty for flights of a few kilometres."""

from __future__ import annotations

import math

EARTH_R = 6_378_137.0


def offset(lat: float, lon: float, north: float, east: float) -> tuple[float, float]:
    """Lat/lon (deg) of a point north/east metres from (lat, lon)."""
    dlat = math.degrees(north / EARTH_R)
    dlon = math.degrees(east / (EARTH_R * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


def ne_of(lat0: float, lon0: float, lat: float, lon: float) -> tuple[float, float]:
    """North/east metres of (lat, lon) from (lat0, lon0)."""
    north = math.radians(lat - lat0) * EARTH_R
    east = math.radians(lon - lon0) * EARTH_R * math.cos(math.radians(lat0))
    return north, east


def wrap_360(deg: float) -> float:
    return deg % 360.0


def wrap_pi(rad: float) -> float:
    return (rad + math.pi) % (2 * math.pi) - math.pi
