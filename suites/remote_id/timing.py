"""Figures of the Remote ID checks, from messages stamped with the vehicle time they arrived at
(drivers.link.connection.Timed): intervals of a message stream, the age of a LOCATION timestamp
against the vehicle's own UTC, and the vehicle's state nearest in time to a LOCATION."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

from drivers.link.connection import Timed

UNKNOWN_TIME = 0xFFFF  # LOCATION.timestamp when unknown (common.xml)


def mean_interval(times: Sequence[float]) -> float:
    """The mean time between consecutive arrivals (inf with fewer than two)."""
    if len(times) < 2:
        return math.inf
    return (times[-1] - times[0]) / (len(times) - 1)


def longest_gap(times: Sequence[float], start: float, end: float) -> float:
    """The longest time in [start, end] without an arrival, edges included (a stream that
    never arrives has the whole window)."""
    edges = [start, *sorted(times), end]
    return max(b - a for a, b in itertools.pairwise(edges))


def nearest(stream: Sequence[Timed], t: float) -> Timed | None:
    """The message of `stream` (in arrival order) that arrived nearest to vehicle time t."""
    if not stream:
        return None
    i = bisect.bisect_left([x.t for x in stream], t)
    around = stream[max(0, i - 1): i + 1]
    return min(around, key=lambda x: abs(x.t - t))


def interpolate(stream: Sequence[Timed], t: float, value: Callable[[Any], float]) -> float:
    """`value` of the vehicle's messages at vehicle time t, linear between the two arrivals
    around it (the nearest one's beyond either end): a 5 Hz figure compared with another
    message's moment would otherwise be up to 0.1 s off."""
    times = [x.t for x in stream]
    i = bisect.bisect_left(times, t)
    if i == 0 or i == len(stream):
        return value(stream[min(i, len(stream) - 1)].msg)
    a, b = stream[i - 1], stream[i]
    va, vb = value(a.msg), value(b.msg)
    if b.t <= a.t:
        return vb
    return va + (vb - va) * (t - a.t) / (b.t - a.t)


def utc_at(system_times: Sequence[Timed], t: float) -> float | None:
    """The vehicle's UTC (Unix s) at vehicle time t, from its SYSTEM_TIME nearest in time."""
    got = nearest([x for x in system_times if x.msg.time_unix_usec], t)
    if got is None:
        return None
    return got.msg.time_unix_usec / 1e6 + (t - got.t)


def timestamp_age(timestamp: float, utc: float) -> float:
    """How old a LOCATION timestamp (UTC seconds after the full hour) is at `utc`; negative
    when it is ahead. Taken across the hour's turn the short way round."""
    return (utc % 3600 - timestamp + 1800) % 3600 - 1800


def angle_diff_deg(a: float, b: float) -> float:
    """The smaller angle between two directions, degrees."""
    return abs((a - b + 180) % 360 - 180)


def p95(values: Sequence[float]) -> float:
    """The 95th percentile (linear between ranks), as the FAA's accuracy figures are stated."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = 0.95 * (len(ordered) - 1)
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
