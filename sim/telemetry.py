"""Per-link telemetry streams: which message at which interval, scheduled in vehicle time.

Unlike ArduPilot the defaults stream without being asked. SET_MESSAGE_INTERVAL,
REQUEST_DATA_STREAM and the SRn_* parameters change a link's rates.
"""

from __future__ import annotations

import random

from sim.mav import mavlink

M = mavlink
DEFAULT_HZ: dict[int, float] = {
    M.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
    M.MAVLINK_MSG_ID_SYS_STATUS: 1.0,
    M.MAVLINK_MSG_ID_SYSTEM_TIME: 2.0,
    M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 4.0,
    M.MAVLINK_MSG_ID_ATTITUDE: 4.0,
    M.MAVLINK_MSG_ID_GPS_RAW_INT: 2.0,
    M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0,
    M.MAVLINK_MSG_ID_HOME_POSITION: 0.5,
    M.MAVLINK_MSG_ID_VFR_HUD: 2.0,
    M.MAVLINK_MSG_ID_FENCE_STATUS: 1.0,  # only sent while FENCE_ENABLE=1
    M.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
}

# ArduPilot stream groups (REQUEST_DATA_STREAM ids and SRn_* parameter suffixes).
GROUPS: dict[str, tuple[int, ...]] = {
    "RAW_SENS": (),
    "EXT_STAT": (M.MAVLINK_MSG_ID_SYS_STATUS, M.MAVLINK_MSG_ID_GPS_RAW_INT,
                 M.MAVLINK_MSG_ID_MISSION_CURRENT, M.MAVLINK_MSG_ID_FENCE_STATUS),
    "RC_CHAN": (),
    "POSITION": (M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, M.MAVLINK_MSG_ID_LOCAL_POSITION_NED),
    "EXTRA1": (M.MAVLINK_MSG_ID_ATTITUDE, M.MAVLINK_MSG_ID_SIMSTATE),
    "EXTRA2": (M.MAVLINK_MSG_ID_VFR_HUD,),
    "EXTRA3": (M.MAVLINK_MSG_ID_SYSTEM_TIME, M.MAVLINK_MSG_ID_BATTERY_STATUS,
               M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE),
}
DATA_STREAM_IDS: dict[int, tuple[str, ...]] = {
    M.MAV_DATA_STREAM_ALL: tuple(GROUPS),
    M.MAV_DATA_STREAM_RAW_SENSORS: ("RAW_SENS",),
    M.MAV_DATA_STREAM_EXTENDED_STATUS: ("EXT_STAT",),
    M.MAV_DATA_STREAM_RC_CHANNELS: ("RC_CHAN",),
    M.MAV_DATA_STREAM_POSITION: ("POSITION",),
    M.MAV_DATA_STREAM_EXTRA1: ("EXTRA1",),
    M.MAV_DATA_STREAM_EXTRA2: ("EXTRA2",),
    M.MAV_DATA_STREAM_EXTRA3: ("EXTRA3",),
}


class Streams:
    """Intervals (vehicle seconds; None = off) and next due times for one link."""

    def __init__(self, rng: random.Random, heartbeat_gaps: bool = False) -> None:
        self.interval: dict[int, float | None] = {k: 1.0 / hz for k, hz in DEFAULT_HZ.items()}
        self.due: dict[int, float] = {}
        self.rng = rng
        self.heartbeat_gaps = heartbeat_gaps
        self._beats_until_gap = rng.randint(2, 4)

    def default_interval(self, msg_id: int) -> float | None:
        hz = DEFAULT_HZ.get(msg_id)
        return 1.0 / hz if hz else None

    def set_interval(self, msg_id: int, interval: float | None, now: float) -> None:
        self.interval[msg_id] = interval
        self.due[msg_id] = now  # a changed rate takes effect at once

    def set_default(self, msg_id: int, now: float) -> None:
        self.set_interval(msg_id, self.default_interval(msg_id), now)

    def set_group_rate(self, group: str, hz: float, now: float) -> None:
        for msg_id in GROUPS[group]:
            self.set_interval(msg_id, 1.0 / hz if hz > 0 else None, now)

    def reset_group(self, group: str, now: float) -> None:
        for msg_id in GROUPS[group]:
            self.set_default(msg_id, now)

    def due_now(self, now: float) -> list[int]:
        """Message ids due at vehicle time `now`; advances their schedules."""
        out: list[int] = []
        for msg_id, interval in self.interval.items():
            if interval is None:
                continue
            due = self.due.get(msg_id, now)
            if now + 1e-9 < due:
                continue
            out.append(msg_id)
            nxt = due + interval
            if msg_id == M.MAVLINK_MSG_ID_HEARTBEAT and self.heartbeat_gaps:
                nxt = self._gap(due, interval)
            # Never burst to catch up: a late message just restarts the schedule.
            self.due[msg_id] = nxt if nxt > now else now + interval
        return out

    def _gap(self, due: float, interval: float) -> float:
        # Fault heartbeat_gaps: after 2-4 regular beats, skip for 3-5 s.
        self._beats_until_gap -= 1
        if self._beats_until_gap > 0:
            return due + interval
        self._beats_until_gap = self.rng.randint(2, 4)
        return due + self.rng.uniform(3.0, 5.0)
