"""MAVLink mission protocol (mavlink.io "Mission Protocol") for mission, fence and rally.

Upload: MISSION_COUNT -> we MISSION_REQUEST_INT each seq -> MISSION_ITEM_INT -> MISSION_ACK.
A missing item is requested again every REREQUEST_S; no progress for UPLOAD_TIMEOUT_S cancels.
Download: MISSION_REQUEST_LIST -> MISSION_COUNT; MISSION_REQUEST_INT(seq) -> MISSION_ITEM_INT.
All timing is vehicle time. Legacy MISSION_ITEM / MISSION_REQUEST are accepted too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sim import fence
from sim.links import Link
from sim.mav import MAVLinkMessage, mavlink
from sim.mission_store import TYPES, Item, MissionStore

if TYPE_CHECKING:
    from sim.core import Sim

M = mavlink
REREQUEST_S = 1.0
UPLOAD_TIMEOUT_S = 8.0  # ArduPilot's figure
MAX_ITEMS = 700
KNOWN_COMMANDS = frozenset(M.enums["MAV_CMD"])
GLOBAL_FRAMES = frozenset({
    M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_RELATIVE_ALT, M.MAV_FRAME_GLOBAL_INT,
    M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, M.MAV_FRAME_GLOBAL_TERRAIN_ALT,
    M.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT,
})
FRAMES = GLOBAL_FRAMES | {M.MAV_FRAME_MISSION}


@dataclass
class Upload:
    link: Link
    peer: tuple[int, int]
    mission_type: int
    count: int
    items: list[Item] = field(default_factory=list)
    last_request: float = 0.0
    last_progress: float = 0.0


def validate(item: Item) -> int:
    """MAV_MISSION_RESULT for one item (ACCEPTED if fine)."""
    if item.command not in KNOWN_COMMANDS:
        return M.MAV_MISSION_UNSUPPORTED
    if item.frame not in FRAMES:
        return M.MAV_MISSION_UNSUPPORTED_FRAME
    for name in ("param1", "param2", "param3", "param4", "z"):
        if math.isinf(getattr(item, name)):  # NaN means "unused"; infinity means nothing
            return M.MAV_MISSION_INVALID
    if item.frame in GLOBAL_FRAMES:
        if not -900_000_000 <= item.x <= 900_000_000:
            return M.MAV_MISSION_INVALID_PARAM5_X
        if not -1_800_000_000 <= item.y <= 1_800_000_000:
            return M.MAV_MISSION_INVALID_PARAM6_Y
    return M.MAV_MISSION_ACCEPTED


class MissionProtocol:
    def __init__(self, sim: Sim, store: MissionStore) -> None:
        self.sim = sim
        self.store = store
        self.upload: Upload | None = None
        # (link, peer, count, mission_type, result) of the last completed upload, so a resent
        # last item (its ACK was lost) gets the ACK again, as the mission protocol expects
        self.finished: tuple[Link, tuple[int, int], int, int, int] | None = None

    def _for_us(self, msg: MAVLinkMessage) -> bool:
        return msg.target_system == self.sim.sysid and msg.target_component in (0, 1)

    def _ack(self, link: Link, peer: tuple[int, int], result: int, mission_type: int) -> None:
        self.sim.send(link, M.MAVLink_mission_ack_message(*peer, result, mission_type))

    def _type(self, link: Link, msg: MAVLinkMessage) -> int | None:
        t = getattr(msg, "mission_type", 0)
        if t not in TYPES:
            self._ack(link, _peer(msg), M.MAV_MISSION_UNSUPPORTED, t)
            return None
        return t

    # ---- upload ----
    def on_count(self, link: Link, msg: MAVLinkMessage) -> None:
        if not self._for_us(msg) or (t := self._type(link, msg)) is None:
            return
        peer = _peer(msg)
        if self.upload is not None and (self.upload.link, self.upload.peer) != (link, peer):
            self._ack(link, peer, M.MAV_MISSION_DENIED, t)  # someone else is uploading
            return
        if msg.count > MAX_ITEMS:
            self._ack(link, peer, M.MAV_MISSION_NO_SPACE, t)
            return
        if msg.count == 0:
            self.upload = None
            self.store.replace(t, [])
            self._ack(link, peer, M.MAV_MISSION_ACCEPTED, t)
            return
        now = self.sim.clock.now
        self.finished = None
        self.upload = Upload(link, peer, t, msg.count, last_progress=now)
        self._request_next(now)

    def _request_next(self, now: float) -> None:
        up = self.upload
        assert up is not None
        up.last_request = now
        self.sim.send(up.link, M.MAVLink_mission_request_int_message(
            *up.peer, len(up.items), up.mission_type))

    def on_item(self, link: Link, msg: MAVLinkMessage) -> None:
        up = self.upload
        done = self.finished
        if up is None and done is not None and self._for_us(msg):
            # The final MISSION_ACK was lost and the GCS resent the last item: say it again.
            last_seq = done[2] - 1
            if (link, _peer(msg), getattr(msg, "mission_type", 0), msg.seq) == (
                done[0], done[1], done[3], last_seq
            ) and not self.sim.faults.on("mission_ack_not_repeated"):  # fault: the old way
                self._ack(link, done[1], done[4], done[3])
            return
        if up is None or not self._for_us(msg) or (link, _peer(msg)) != (up.link, up.peer):
            return
        if getattr(msg, "mission_type", 0) != up.mission_type or msg.seq != len(up.items):
            return  # a duplicate or out of order: the next request says what we need
        item = Item.from_msg(msg, msg.get_type() == "MISSION_ITEM_INT")
        result = validate(item)
        if result == M.MAV_MISSION_ACCEPTED and up.mission_type == M.MAV_MISSION_TYPE_FENCE:
            result = fence.check_item(item)
        if result != M.MAV_MISSION_ACCEPTED:
            self.upload = None
            self._ack(link, up.peer, result, up.mission_type)
            return
        up.items.append(item)
        now = self.sim.clock.now
        up.last_progress = now
        if len(up.items) < up.count:
            self._request_next(now)
            return
        self.upload = None
        if up.mission_type == M.MAV_MISSION_TYPE_FENCE:
            result = fence.check_list(up.items)
        if result == M.MAV_MISSION_ACCEPTED:
            if (up.mission_type == M.MAV_MISSION_TYPE_FENCE
                    and self.sim.faults.on("fence_points_float32")):
                up.items = [fence.as_float32(it) for it in up.items]
            self.store.replace(up.mission_type, up.items)
        self.finished = (link, up.peer, up.count, up.mission_type, result)
        self._ack(link, up.peer, result, up.mission_type)

    def tick(self) -> None:
        up = self.upload
        if up is None:
            return
        now = self.sim.clock.now
        if now - up.last_progress >= UPLOAD_TIMEOUT_S:
            self.upload = None
            self._ack(up.link, up.peer, M.MAV_MISSION_OPERATION_CANCELLED, up.mission_type)
            self.sim.vehicle.text(M.MAV_SEVERITY_WARNING, "Mission upload timeout")
        elif now - up.last_request >= REREQUEST_S:
            self._request_next(now)

    # ---- download ----
    def on_request_list(self, link: Link, msg: MAVLinkMessage) -> None:
        if not self._for_us(msg) or (t := self._type(link, msg)) is None:
            return
        count = len(self.store.get(t))
        self.sim.send(link, M.MAVLink_mission_count_message(*_peer(msg), count, t))

    def on_request(self, link: Link, msg: MAVLinkMessage) -> None:
        if not self._for_us(msg) or (t := self._type(link, msg)) is None:
            return
        items = self.store.get(t)
        if not 0 <= msg.seq < len(items):
            self._ack(link, _peer(msg), M.MAV_MISSION_INVALID_SEQUENCE, t)
            return
        item = items[msg.seq]
        if t == M.MAV_MISSION_TYPE_MISSION and msg.seq == 0:
            item = self.sim.home_item(item)  # ArduPilot: item 0 is home
        current = int(t == M.MAV_MISSION_TYPE_MISSION and msg.seq == self.sim.auto.current)
        peer = _peer(msg)
        if msg.get_type() == "MISSION_REQUEST_INT":
            out: MAVLinkMessage = M.MAVLink_mission_item_int_message(
                *peer, item.seq, item.frame, item.command, current, item.autocontinue,
                item.param1, item.param2, item.param3, item.param4, item.x, item.y, item.z, t)
        else:
            out = M.MAVLink_mission_item_message(
                *peer, item.seq, item.frame, item.command, current, item.autocontinue,
                item.param1, item.param2, item.param3, item.param4, item.x / 1e7, item.y / 1e7,
                item.z, t)
        self.sim.send(link, out)

    def on_ack(self, link: Link, msg: MAVLinkMessage) -> None:
        pass  # end of a download: nothing to release

    # ---- clear / set current ----
    def on_clear_all(self, link: Link, msg: MAVLinkMessage) -> None:
        if not self._for_us(msg):
            return
        t = getattr(msg, "mission_type", 0)
        targets = TYPES if t == M.MAV_MISSION_TYPE_ALL else (t,) if t in TYPES else ()
        for each in targets:
            self.store.replace(each, [])
        result = M.MAV_MISSION_ACCEPTED if targets else M.MAV_MISSION_UNSUPPORTED
        self._ack(link, _peer(msg), result, t)

    def on_set_current(self, link: Link, msg: MAVLinkMessage) -> None:
        if self._for_us(msg):
            self.sim.auto.set_current(msg.seq)


def _peer(msg: MAVLinkMessage) -> tuple[int, int]:
    return msg.get_srcSystem(), msg.get_srcComponent()
