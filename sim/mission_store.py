"""Stored plans: mission, fence and rally lists of MISSION_ITEM_INT-shaped items.

Like ArduPilot's storage they survive a reboot; with --state-dir, a restart too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from sim.mav import mavlink

M = mavlink
TYPES = (M.MAV_MISSION_TYPE_MISSION, M.MAV_MISSION_TYPE_FENCE, M.MAV_MISSION_TYPE_RALLY)


@dataclass
class Item:
    seq: int
    frame: int
    command: int
    current: int
    autocontinue: int
    param1: float
    param2: float
    param3: float
    param4: float
    x: int  # latitude * 1e7 (or local x)
    y: int  # longitude * 1e7 (or local y)
    z: float

    @staticmethod
    def from_msg(msg: object, is_int: bool) -> Item:
        get = msg.__getattribute__
        x, y = get("x"), get("y")
        if not is_int:  # MISSION_ITEM carries degrees as float
            x, y = round(x * 1e7), round(y * 1e7)
        return Item(get("seq"), get("frame"), get("command"), get("current"),
                    get("autocontinue"), get("param1"), get("param2"), get("param3"),
                    get("param4"), int(x), int(y), get("z"))


class MissionStore:
    def __init__(self, state_file: Path | None = None) -> None:
        self.lists: dict[int, list[Item]] = {t: [] for t in TYPES}
        self.state_file = state_file
        self.listeners: list[Callable[[int], None]] = []
        if state_file is not None and state_file.exists():
            try:
                stored = json.loads(state_file.read_text())
                for t in TYPES:
                    self.lists[t] = [Item(**d) for d in stored.get(str(t), [])]
            except (OSError, ValueError, TypeError):
                pass  # unreadable storage: start empty, as after a wipe

    def get(self, mission_type: int) -> list[Item]:
        return self.lists[mission_type]

    def replace(self, mission_type: int, items: list[Item]) -> None:
        self.lists[mission_type] = items
        self._save()
        for cb in self.listeners:
            cb(mission_type)

    def _save(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        data = {str(t): [asdict(i) for i in items] for t, items in self.lists.items()}
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.state_file)
