"""AUTO mode: flies the stored mission item by item (ArduPilot: item 0 is home, start at 1).

Waypoints are stop-at (reached within WPNAV_RADIUS), so arrival is easy to judge.
Sends MISSION_CURRENT on every change and MISSION_ITEM_REACHED on each arrival.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim import dynamics, geo, modes
from sim.mav import mavlink
from sim.mission_store import Item
from sim.vehicle import SEV_INFO, Home, Vehicle

if TYPE_CHECKING:
    from sim.core import Sim

M = mavlink
MISSION = M.MAV_MISSION_TYPE_MISSION
NAV_NAMES = {
    M.MAV_CMD_NAV_WAYPOINT: "WP", M.MAV_CMD_NAV_TAKEOFF: "Takeoff", M.MAV_CMD_NAV_LAND: "Land",
    M.MAV_CMD_NAV_RETURN_TO_LAUNCH: "RTL", M.MAV_CMD_NAV_LOITER_TIME: "LoitTime",
    M.MAV_CMD_NAV_LOITER_UNLIM: "LoitUnlim", M.MAV_CMD_DO_JUMP: "Jump",
    M.MAV_CMD_DO_CHANGE_SPEED: "ChangeSpeed", M.MAV_CMD_DO_SET_HOME: "SetHome",
}
NAV_CMDS = frozenset({
    M.MAV_CMD_NAV_WAYPOINT, M.MAV_CMD_NAV_TAKEOFF, M.MAV_CMD_NAV_LAND,
    M.MAV_CMD_NAV_RETURN_TO_LAUNCH, M.MAV_CMD_NAV_LOITER_TIME, M.MAV_CMD_NAV_LOITER_UNLIM,
})
ALT_TOL_M = 1.0
MAX_DO_PER_STEP = 50  # bound the DO-command chain run in one step (DO_JUMP loops)


class AutoMission:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.current = 0  # seq being flown; 0 = not started
        self.started: int | None = None  # seq whose start actions ran
        self.phase = ""
        self.hold_until: float | None = None
        self.reached = False
        self.complete = False
        self.jumps: dict[int, int] = {}
        v = sim.vehicle
        v.auto_refusal = self.refusal
        v.auto_guidance = self.guidance
        v.on_mode_change.append(self._mode_changed)
        sim.missions.listeners.append(self._changed)

    @property
    def items(self) -> list[Item]:
        return self.sim.missions.get(MISSION)

    @property
    def total(self) -> int:
        return max(0, len(self.items) - 1)  # home (item 0) is not counted

    # ---- control ----
    def refusal(self) -> str:
        if len(self.items) < 2:
            return "no mission"
        v = self.sim.vehicle
        seq = self._resume_seq()
        first_nav = next((i for i in self.items[seq:] if i.command in NAV_CMDS), None)
        if v.landed and (first_nav is None or first_nav.command != M.MAV_CMD_NAV_TAKEOFF):
            return "missing takeoff"
        return ""

    def _resume_seq(self) -> int:
        return 1 if self.complete or not 1 <= self.current < len(self.items) else self.current

    def _mode_changed(self, old: int, new: int) -> None:
        if new == modes.AUTO:
            self._goto(self._resume_seq(), fresh=self.complete)
        elif old == modes.AUTO:
            self.started = None  # resuming later restarts the current item

    def _changed(self, mission_type: int) -> None:
        v = self.sim.vehicle
        if mission_type != MISSION:
            return
        if v.mode == modes.AUTO and v.armed:
            self.current = min(self.current, len(self.items))
            self.started = None
        else:
            self.current, self.complete, self.jumps = 0, False, {}
        self.sim.send_mission_current()

    def set_current(self, seq: int) -> bool:
        if not 0 <= seq < len(self.items):
            return False
        self._goto(max(seq, 1), fresh=True)
        return True

    def start(self, first: int) -> None:
        self._goto(max(first, 1), fresh=True)

    def _goto(self, seq: int, fresh: bool) -> None:
        if fresh:
            self.complete, self.jumps = False, {}
        self.current, self.started = seq, None
        self.sim.send_mission_current()

    # ---- per step ----
    def tick(self) -> None:
        v = self.sim.vehicle
        if v.mode != modes.AUTO or not v.armed or self.complete:
            return
        for _ in range(MAX_DO_PER_STEP):
            if self.current >= len(self.items) or self.current < 1:
                self._finish()
                return
            item = self.items[self.current]
            if self.started != self.current:
                self._start(item)
            if item.command in NAV_CMDS:
                if not self._nav_done(item):
                    return
                self._advance()
            else:
                self._do(item)

    def _advance(self) -> None:
        self.current += 1
        self.started = None
        self.sim.send_mission_current()

    def _finish(self) -> None:
        v = self.sim.vehicle
        self.complete = True
        self.phase = "done"
        if not v.landed:
            v.target = (v.n, v.e, v.alt)  # mission over in the air: hold here
        v.text(SEV_INFO, "Mission complete")
        self.sim.send_mission_current()

    def _position(self, item: Item) -> tuple[float, float, float]:
        """Target north/east/alt (origin metres); lat/lon 0 means 'here', as ArduPilot."""
        v = self.sim.vehicle
        if item.x == 0 and item.y == 0:
            n, e = v.n, v.e
        else:
            n, e = geo.ne_of(v.origin.lat, v.origin.lon, item.x / 1e7, item.y / 1e7)
        if item.frame in (M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_INT):
            alt = item.z - v.origin.alt
        else:
            alt = item.z + v.home_ne_alt()[2]
        return n, e, alt

    def _start(self, item: Item) -> None:
        v = self.sim.vehicle
        self.started = self.current
        self.phase, self.hold_until, self.reached = "fly", None, False
        name = NAV_NAMES.get(item.command, f"cmd {item.command}")
        v.text(SEV_INFO, f"Mission: {self.current} {name}")
        if item.command not in NAV_CMDS:
            return
        n, e, alt = self._position(item)
        if item.command == M.MAV_CMD_NAV_TAKEOFF:
            alt = max(alt, v.alt if not v.landed else alt)
            v.target = (v.n, v.e, alt)
            if v.landed:
                v.landed = False
                v.takeoff_alt = alt
            self.phase = "takeoff"
        elif item.command == M.MAV_CMD_NAV_LAND:
            here = item.x == 0 and item.y == 0
            v.target = (n, e, v.alt)
            self.phase = "descend" if here else "approach"
            v.auto_landing = here
        elif item.command == M.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            _, _, halt = v.home_ne_alt()
            v.target = (v.n, v.e, max(v.alt, halt + v.params["RTL_ALT"] / 100))
            self.phase = "climb"
        else:
            v.target = (n, e, alt)

    def _arrived(self, v: Vehicle, vertical: bool = True) -> bool:
        assert v.target is not None
        tn, te, talt = v.target
        radius = max(0.5, v.params["WPNAV_RADIUS"] / 100)
        close = math.hypot(tn - v.n, te - v.e) <= radius
        return close and (not vertical or abs(talt - v.alt) <= ALT_TOL_M)

    def _reach(self) -> None:
        if not self.reached:
            self.reached = True
            self.sim.broadcast(M.MAVLink_mission_item_reached_message(self.current))

    def _nav_done(self, item: Item) -> bool:
        v = self.sim.vehicle
        now = self.sim.clock.now
        if self.phase == "takeoff":
            if v.takeoff_alt is None and not v.landed and v.target and v.alt >= v.target[2] - 0.5:
                self._reach()
                return True
            return False
        if self.phase == "climb":  # RTL item
            if v.target and v.alt >= v.target[2] - 0.5:
                hn, he, _ = v.home_ne_alt()
                v.target = (hn, he, v.alt)
                self.phase = "approach"
            return False
        if self.phase == "approach":  # LAND / RTL: get over the spot first
            if self._arrived(v, vertical=False):
                self.phase = "descend"
                v.auto_landing = True
            return False
        if self.phase == "descend":
            if v.landed:
                self._reach()
                return True
            return False
        # WAYPOINT / LOITER_TIME / LOITER_UNLIM
        if not self.reached:
            if not self._arrived(v):
                return False
            self._reach()
            hold = item.param1 if item.command in (
                M.MAV_CMD_NAV_WAYPOINT, M.MAV_CMD_NAV_LOITER_TIME) else math.inf
            self.hold_until = now + (hold if math.isfinite(hold) and hold > 0 else 0.0)
            if item.command == M.MAV_CMD_NAV_LOITER_UNLIM:
                self.hold_until = math.inf
        return self.hold_until is not None and now >= self.hold_until

    def _do(self, item: Item) -> None:
        v = self.sim.vehicle
        if item.command == M.MAV_CMD_DO_JUMP:
            left = self.jumps.setdefault(self.current, int(item.param2))
            target = int(item.param1)
            if left != 0 and 1 <= target < len(self.items):
                if left > 0:
                    self.jumps[self.current] = left - 1
                self.current, self.started = target, None
                self.sim.send_mission_current()
                return
        elif item.command == M.MAV_CMD_DO_CHANGE_SPEED and item.param2 > 0:
            v.speed_override = item.param2
        elif item.command == M.MAV_CMD_DO_SET_HOME:
            if item.param1 == 1:
                v.set_home_here()
            elif item.x or item.y:
                v.home = Home(item.x / 1e7, item.y / 1e7, item.z, v.home.hdg if v.home else 0)
            self.sim.send_home()
        self._advance()  # other DO/CONDITION commands: accepted, nothing to simulate

    # ---- motion ----
    def guidance(self, v: Vehicle) -> tuple[float, float, float]:
        if v.target is None:
            v.target = (v.n, v.e, v.alt)
        tn, te, talt = v.target
        vn, ve, vu = dynamics.desired(v, tn, te, talt)
        if self.phase == "descend" and not self.complete:
            return vn, ve, dynamics.land_rate(v)
        return vn, ve, vu

    def mission_state(self) -> int:
        v = self.sim.vehicle
        if len(self.items) < 2:
            return M.MISSION_STATE_NO_MISSION
        if self.complete:
            return M.MISSION_STATE_COMPLETE
        if v.mode == modes.AUTO and v.armed:
            return M.MISSION_STATE_ACTIVE
        return M.MISSION_STATE_PAUSED if self.current > 1 else M.MISSION_STATE_NOT_STARTED
