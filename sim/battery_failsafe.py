"""The battery failsafe, as ArduPilot Copter has it (AP_BattMonitor, Copter's events.cpp), in
vehicle seconds.

Two stages: low (voltage under BATT_LOW_VOLT, or remaining mAh under BATT_LOW_MAH) and critical
(BATT_CRT_VOLT, BATT_CRT_MAH). A voltage stage fires once the voltage has stayed under its
threshold for more than BATT_LOW_TIMER s (0: never); a capacity stage at once. Only while armed.
A stage fires once (latched until a reboot or MAV_CMD_BATTERY_RESET), only upward (low, then
critical), says "Battery 1 is low|critical <V>V used <mAh> mAh" and "Battery Failsafe", and
takes its action (BATT_FS_LOW_ACT / BATT_FS_CRT_ACT) unless an action of higher priority was
already taken (terminate, then LAND, RTL, SmartRTL or LAND, SmartRTL, none). On the ground it
disarms instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim import modes
from sim.mav import mavlink
from sim.vehicle import SEV_WARNING

if TYPE_CHECKING:
    from sim.core import Sim

LOW, CRITICAL = 1, 2
STAGE_NAMES = {LOW: "low", CRITICAL: "critical"}
# BATT_FS_*_ACT (Copter): 1 LAND, 2 RTL, 3 SmartRTL or RTL, 4 SmartRTL or LAND, 5 terminate,
# 6 DO_LAND_START or RTL, 7 BRAKE or LAND. No SmartRTL or DO_LAND_START here: their fallbacks.
ACTIONS = {1: modes.LAND, 2: modes.RTL, 3: modes.RTL, 4: modes.LAND, 6: modes.RTL,
           7: modes.BRAKE}  # fmt: skip
TERMINATE = 5
PRIORITY = [5, 1, 2, 4, 3, 0]  # ArduPilot Copter's failsafe priorities, highest first
LATE_S = 3.0  # fault battery_failsafe_late


class BatteryFailsafe:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.reset()

    def reset(self) -> None:
        """Back to no failsafe (a reboot, or MAV_CMD_BATTERY_RESET)."""
        self.stage = 0
        self.priority = len(PRIORITY)  # of the last action taken; lower is higher
        self.below_since: dict[int, float | None] = {LOW: None, CRITICAL: None}
        self.sim.vehicle.failsafe.discard("battery")

    def _due(self, stage: int, now: float) -> bool:
        sim, p = self.sim, self.sim.params
        b = sim.vehicle.battery
        volt, mah = ("BATT_LOW_VOLT", "BATT_LOW_MAH") if stage == LOW else ("BATT_CRT_VOLT",
                                                                             "BATT_CRT_MAH")
        if p[mah] > 0 and b.capacity_mah - b.consumed_mah < p[mah]:
            return True  # a capacity stage: at once
        if not 0 < b.voltage < p[volt]:
            self.below_since[stage] = None
            return False
        since = self.below_since[stage]
        if since is None:  # the first reading under it starts the timer
            self.below_since[stage] = now
            return sim.faults.on("battery_timer_ignored")
        timer = p["BATT_LOW_TIMER"] + (LATE_S if sim.faults.on("battery_failsafe_late") else 0)
        return p["BATT_LOW_TIMER"] > 0 and (now - since > timer
                                            or sim.faults.on("battery_timer_ignored"))

    def tick(self) -> None:
        sim, v = self.sim, self.sim.vehicle
        if not v.armed or sim.faults.on("battery_failsafe_never"):
            return
        now = sim.clock.now
        due = [s for s in (CRITICAL, LOW) if self._due(s, now)]
        if due and due[0] == CRITICAL and sim.faults.on("battery_critical_ignored"):
            due.remove(CRITICAL)
        if not due or due[0] <= self.stage:
            return
        self.stage = due[0]
        v.failsafe.add("battery")
        self._fire(STAGE_NAMES[self.stage])

    def _fire(self, stage_name: str) -> None:
        sim, v = self.sim, self.sim.vehicle
        b = v.battery
        say = v.text if not sim.faults.on("battery_failsafe_silent") else lambda *_: None
        say(SEV_WARNING, f"Battery 1 is {stage_name} {b.voltage:.2f}V used "
                         f"{b.consumed_mah:.0f} mAh")  # fmt: skip
        p = sim.params
        action = p.get_int("BATT_FS_LOW_ACT" if self.stage == LOW else "BATT_FS_CRT_ACT")
        if self.stage == LOW and sim.faults.on("battery_low_wrong_action"):
            action = 1  # the known-bad vehicle lands, whatever BATT_FS_LOW_ACT says
        priority = PRIORITY.index(action) if action in PRIORITY else len(PRIORITY)
        if priority > self.priority:
            return  # a more urgent action was taken already
        self.priority = priority
        if v.landed:
            v.disarm(why="battery failsafe")
            say(SEV_WARNING, "Battery Failsafe - Disarming")
            return
        say(SEV_WARNING, "Battery Failsafe")
        if action == TERMINATE:
            v.disarm(force=True, why="battery failsafe")
            return
        mode = ACTIONS.get(action)
        # a mode that needs a position it cannot have: LAND, as ArduPilot falls back
        if mode is None or v.mode == mode:
            return
        if v.set_mode(mode)[0] != mavlink.MAV_RESULT_ACCEPTED:
            v.set_mode(modes.LAND)
