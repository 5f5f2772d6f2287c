"""Failsafes, ArduPilot Copter style, all timed in vehicle seconds.

GCS: as ArduPilot (GCS_MAVLINK::handle_heartbeat), only a HEARTBEAT from system SYSID_MYGCS
counts as the ground station's; other systems' heartbeats do not hold the failsafe off. The
failsafe clears on the GCS's next heartbeat ("GCS Failsafe Cleared"). FS_GCS_ENABLE: 0 off;
1 RTL; 2 RTL (keeps flying AUTO); 3 RTL (no SmartRTL here); 4 LAND; 5 LAND; 6 RTL; 7 BRAKE.
Landed and armed: disarm. Fires only once a GCS was seen.
Battery: sim/battery_failsafe.py (low and critical stages, BATT_FS_LOW_ACT / BATT_FS_CRT_ACT).
Fence: FENCE_ACTION 0 report, 1 RTL (LAND if RTL impossible), 2 LAND, 3 RTL, 4 BRAKE, 5 RTL.
GPS: the EKF failsafe (FS_EKF_ACTION), as ArduPilot Copter has no GPS failsafe: sim/gnss.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim import fence, modes
from sim.battery_failsafe import BatteryFailsafe
from sim.links import Link
from sim.mav import MAVLinkMessage, mavlink
from sim.vehicle import SEV_CRITICAL, SEV_INFO

if TYPE_CHECKING:
    from sim.core import Sim

M = mavlink
GCS_ACTIONS = {1: modes.RTL, 2: modes.RTL, 3: modes.RTL, 4: modes.LAND, 5: modes.LAND,
               6: modes.RTL, 7: modes.BRAKE}
LATE_S = 5.0  # fault gcs_failsafe_late: this much later than FS_GCS_TIMEOUT
# faults gcs_failsafe_early / _slightly_late: the timeout used, as a share of FS_GCS_TIMEOUT.
# A skyproof profile accepts FS_GCS_TIMEOUT +- 1 s (20 % of the default 5 s); these are 1.8 s
# off at 5 s: outside that by more than the half heartbeat a check can resolve.
EARLY_SHARE = 0.64
SLIGHTLY_LATE_SHARE = 1.36
FENCE_ACTIONS = {1: modes.RTL, 2: modes.LAND, 3: modes.RTL, 4: modes.BRAKE, 5: modes.RTL}
FENCE_LATE_S = 3.0  # fault fence_late: the action waits this long after the breach


class Failsafes:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.last_gcs: float | None = None
        self.zones = fence.Zones()
        self.battery = BatteryFailsafe(sim)
        self.reset()

    def reset(self) -> None:
        self.last_gcs = None
        self.gcs_locked = False  # fault failsafe_locks_control: GCS mode changes refused
        self.battery.reset()
        self.fence_breach = fence.BREACH_NONE
        self.fence_breach_count = 0
        self.fence_breach_time = 0

    def on_heartbeat(self, link: Link, msg: MAVLinkMessage) -> None:
        if self.sim.faults.on("gcs_failsafe_any_heartbeat"):
            # known-bad: any ground station (or anything that claims to be one) feeds the timer
            ours = (
                msg.type == M.MAV_TYPE_GCS
                or msg.get_srcComponent() == M.MAV_COMP_ID_MISSIONPLANNER
            )
        else:
            ours = msg.get_srcSystem() == self.sim.params.get_int("SYSID_MYGCS")
        if ours:
            self.last_gcs = self.sim.clock.now

    def tick(self) -> None:
        self._gcs()
        self.battery.tick()
        self._fence()

    def _action(self, mode: int, why: str, say: bool = True) -> None:
        """Switch mode for a failsafe; falls back to LAND when the mode needs a position."""
        v = self.sim.vehicle
        # Already landing, or already doing it: keep going (no restart of the manoeuvre).
        if v.mode not in (modes.LAND, mode) and v.set_mode(mode)[0] != M.MAV_RESULT_ACCEPTED:
            v.set_mode(modes.LAND)
        if say:
            v.text(SEV_CRITICAL, f"Failsafe: {why}, {modes.name(v.mode)}")

    def _gcs(self) -> None:
        sim, v = self.sim, self.sim.vehicle
        if not v.armed:
            self.gcs_locked = False  # the lock-out of failsafe_locks_control ends on the ground
        enable = sim.params.get_int("FS_GCS_ENABLE")
        active = "gcs" in v.failsafe
        if self.last_gcs is None or sim.faults.on("no_gcs_failsafe") or enable == 0:
            if active:
                v.failsafe.discard("gcs")
            return
        timeout = sim.params["FS_GCS_TIMEOUT"]
        if sim.faults.on("gcs_failsafe_late"):
            timeout += LATE_S
        if sim.faults.on("gcs_failsafe_early"):
            timeout *= EARLY_SHARE
        if sim.faults.on("gcs_failsafe_slightly_late"):
            timeout *= SLIGHTLY_LATE_SHARE
        lost = sim.clock.now - self.last_gcs > timeout
        silent = sim.faults.on("failsafe_silent")  # fault: acts, never says so
        if active and not lost and sim.faults.on("gcs_failsafe_never_clears"):
            return  # known-bad: the failsafe stays latched, so the next loss is not handled
        if active and not lost:
            v.failsafe.discard("gcs")
            if not silent:
                v.text(SEV_INFO, "GCS Failsafe Cleared")
        elif lost and not active and v.armed:
            v.failsafe.add("gcs")
            if v.landed:
                v.disarm(why="GCS failsafe")
                return
            if v.mode == modes.AUTO and enable == 2:
                if not silent:
                    v.text(SEV_CRITICAL, "Failsafe: GCS lost, continuing AUTO")
                return
            mode = GCS_ACTIONS.get(enable, modes.RTL)
            if sim.faults.on("gcs_failsafe_wrong_action"):
                mode = modes.LAND  # the known-bad vehicle lands whatever was configured
            self._action(mode, "GCS lost", say=not silent)
            # fault: the vehicle keeps the ground station locked out until it is disarmed
            self.gcs_locked = sim.faults.on("failsafe_locks_control")
        elif active and not v.armed:
            v.failsafe.discard("gcs")


    def _late_fence_action(self, mode: int, name: str) -> None:
        v = self.sim.vehicle
        if "fence" in v.failsafe and v.armed and not v.landed:  # still out: act, late
            self._action(mode, f"Fence {name}")

    def _fence(self) -> None:
        sim, v = self.sim, self.sim.vehicle
        if not sim.params.get_int("FENCE_ENABLE") or sim.faults.on("fence_ignored"):
            self.fence_breach = fence.BREACH_NONE
            v.failsafe.discard("fence")
            return
        kind, name = fence.breach(v, self.zones)
        if kind == fence.BREACH_NONE:
            if "fence" in v.failsafe:
                v.failsafe.discard("fence")
                v.text(SEV_INFO, "Fence breach cleared")
            self.fence_breach = kind
            return
        if self.fence_breach != fence.BREACH_NONE:
            return  # same breach still going: act once
        self.fence_breach = kind
        self.fence_breach_count += 1
        self.fence_breach_time = int(v.time_boot * 1000)
        v.failsafe.add("fence")
        if not v.armed or v.landed:
            return  # stops arming (prearm) but there is nothing to fly
        v.text(SEV_CRITICAL, f"Fence Breach: {name}")
        mode = FENCE_ACTIONS.get(sim.params.get_int("FENCE_ACTION"))
        if mode is not None and sim.faults.on("fence_wrong_action"):
            mode = modes.LAND  # known-bad: lands where it is, whatever FENCE_ACTION says
        if mode is not None and sim.faults.on("fence_late"):
            sim.later(FENCE_LATE_S, lambda: self._late_fence_action(mode, name))
        elif mode is not None:
            self._action(mode, f"Fence {name}")
