"""The GNSS receiver and the position estimator, ArduPilot Copter style, in vehicle seconds.

Receiver faults take ArduPilot SITL's parameter names (libraries/SITL/SIM_GPS.cpp), so one check
drives both: SIM_GPS1_ENABLE 0 = no fix; SIM_GPS1_JAM 1 = jammed (a total loss for the first
1-6 s, then a fix that comes and goes, 2-16 satellites, accuracy up to 300 m, a position that
wanders by up to 200 m a step); SIM_GPS1_GLTCH_X / _Y = degrees of latitude / longitude and
_Z = metres added to what the receiver reports (a spoofed position).

The estimator (as EKF3 behaves in ArduPilot SITL, seen with bare pymavlink probes): the
vehicle's own position is what it believes (Vehicle.n/e); Vehicle.nav_err_n/e is how far that
lies from the truth, which SIMSTATE reports. A fix within EK3_GLITCH_RAD of the estimate is fused
(the estimate moves to it; the vehicle, holding its believed position, is carried the other
way). A fix farther off is rejected as a glitch ("GPS Glitch or Compass error", EKF_STATUS_REPORT
GPS_GLITCHING), and so is one that has moved DRIFT_GATE_M further than the receiver's velocity
says (a slow drift: SITL's offsets leave the velocity alone; ArduPilot has no such check and
follows a slow drift). After RESET_S of rejections (and once the fix has stopped drifting) the
estimate is reset onto the fix with the position target moved along, so the vehicle does not
move. Without a usable fix it dead-reckons,
and after DEAD_RECKON_S it has no position.

EKF failsafe as ArduPilot Copter's ekf_check.cpp: checked at 10 Hz; a second of failed checks
(here: no position; the simulated variances stay low) fires it ("EKF variance"); FS_EKF_THRESH
<= 0 turns it off; FS_EKF_ACTION 0 report only, 1 LAND, 2 ALT_HOLD (both only in modes that need
a position), 3 LAND from any mode ("EKF Failsafe: changed to LAND Mode").
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim import modes
from sim.vehicle import SEV_CRITICAL

if TYPE_CHECKING:
    from sim.core import Sim

M_PER_DEG = math.radians(1.0) * 6_378_137.0
CHECK_S = 0.1  # the EKF check's period (10 Hz)
FAILS_TO_TRIGGER = 10  # failed checks in a row (a second) before the failsafe
DEAD_RECKON_S = 7.0  # without a usable fix this long, no position (ArduPilot SITL: 7.2 s)
RESET_S = 10.0  # a glitch rejected this long: the estimate is reset onto the fix (SITL: ~10 s)
FUSE_TAU_S = 0.5  # how fast a fused fix pulls the estimate
DRIFT_GATE_M = 5.0  # fix moved this far more than its velocity says: a glitch
DRIFT_TAU_S = 30.0  # ... within about this long
USABLE_ACC_M = 10.0  # a fix reporting a worse horizontal accuracy is not fused
EKF_ACTIONS = {1: modes.LAND, 2: modes.ALT_HOLD, 3: modes.LAND}
LATE_S = 5.0  # fault gnss_failsafe_late: the EKF failsafe acts this much later


@dataclass
class Fix:
    """What the receiver reports: fix type, north/east/up metres from the origin, accuracy."""

    fix_type: int  # GPS_FIX_TYPE: 1 no fix, 3 3D
    n: float
    e: float
    up_offset: float
    sats: int
    h_acc_m: float
    velocity_ok: bool = True  # a jammed receiver's velocity is as wrong as its position


class Gnss:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.rng = random.Random(sim.seed * 31 + 7)
        self.reboot()

    def attach(self, link: object) -> None:
        pass

    def reboot(self) -> None:
        v = self.sim.vehicle
        v.n, v.e = v.n - v.nav_err_n, v.e - v.nav_err_e  # a fresh estimator starts on the truth
        v.nav_err_n = v.nav_err_e = 0.0
        self.fix: Fix | None = None
        self.last_good: Fix | None = None
        self.jam_since: float | None = None
        self.jam_n = self.jam_e = 0.0
        self.jam_outage_s = 0.0
        self.jam_sats, self.jam_lock, self.jam_acc = 0, False, 300.0
        self.jam_next = 0.0
        self.aided_t = 0.0  # last time a fix was fused
        self.glitch_since: float | None = None
        self.dr_speed_n = self.dr_speed_e = 0.0
        self.prev_err: tuple[float, float] | None = None
        self.incons_n = self.incons_e = 0.0
        self.drifting_t = 0.0  # when the fix last moved against its velocity
        self.next_check = 0.0
        self.fails = 0
        self.failsafe = False

    # ---- the receiver ----
    def _receive(self, now: float) -> Fix | None:
        v, p = self.sim.vehicle, self.sim.params
        if not v.warm or not p.get_int("SIM_GPS1_ENABLE"):
            self.jam_since = None
            return None
        tn, te = v.n - v.nav_err_n, v.e - v.nav_err_e  # the truth
        gn = tn + p["SIM_GPS1_GLTCH_X"] * M_PER_DEG
        ge = te + p["SIM_GPS1_GLTCH_Y"] * M_PER_DEG * math.cos(math.radians(v.origin.lat))
        fix = Fix(3, gn, ge, p["SIM_GPS1_GLTCH_Z"], 12, 0.3)
        if not p.get_int("SIM_GPS1_JAM"):
            self.jam_since = None
            return fix
        if self.jam_since is None:
            self.jam_since, self.jam_n, self.jam_e = now, gn, ge
            self.jam_outage_s = self.rng.uniform(1.0, 6.0)
        if now - self.jam_since < self.jam_outage_s:
            return None
        if now >= self.jam_next:  # the jammed receiver's state changes a few times a second
            self.jam_next = now + self.rng.uniform(0.1, 0.6)
            self.jam_sats = self.rng.randint(2, 16)
            self.jam_lock = self.jam_sats >= 4 and self.rng.random() < 0.5
            self.jam_acc = self.rng.uniform(0.0, 300.0)
            if self.rng.random() < 0.4:
                self.jam_n += self.rng.uniform(-200.0, 200.0)
                self.jam_e += self.rng.uniform(-200.0, 200.0)
        if not self.jam_lock:
            return None
        return Fix(3, self.jam_n, self.jam_e, 0.0, self.jam_sats, self.jam_acc, False)

    # ---- the estimator ----
    def tick(self) -> None:
        sim, v = self.sim, self.sim.vehicle
        now, dt = sim.clock.now, sim.clock.step_s
        jammed = sim.params.get_int("SIM_GPS1_JAM") and v.warm
        if jammed and sim.faults.on("gnss_jam_unreported"):
            # known-bad: the receiver hides the jam (the last good fix, repeated) and the
            # estimator trusts its inertial navigation silently: nothing is reported
            self.fix = self.last_good
            v.gps_fix = self.fix is not None
            v.nav_ok = True
            return
        self.fix = self._receive(now)
        if self.fix is not None and not jammed:
            self.last_good = self.fix
        v.gps_fix = self.fix is not None
        if not v.warm:
            self.aided_t = now
            v.nav_ok = False
            return
        # a fix is fused only if it claims a good accuracy and its velocity agrees with the
        # inertial one (a jammed receiver's does not)
        usable = (self.fix is not None and self.fix.h_acc_m <= USABLE_ACC_M
                  and self.fix.velocity_ok)
        if usable:
            assert self.fix is not None
            self._fuse(self.fix, now, dt)
        else:
            self._dead_reckon(now, dt)
        v.nav_ok = now - self.aided_t < DEAD_RECKON_S
        if now + 1e-9 >= self.next_check:
            self.next_check = now + CHECK_S
            self._ekf_check()

    def _move_estimate(self, dn: float, de: float, carry_target: bool) -> None:
        """The estimate moves by (dn, de): the vehicle believes it is there. With carry_target
        the position target moves along (an EKF reset), so the vehicle stays where it is."""
        v = self.sim.vehicle
        v.nav_err_n += dn
        v.nav_err_e += de
        v.n += dn
        v.e += de
        if carry_target and v.target is not None:
            v.target = (v.target[0] + dn, v.target[1] + de, v.target[2])

    def _inconsistent(self, fix: Fix, dt: float) -> bool:
        """Whether the fix has moved away from where the receiver's own velocity (which a
        position offset does not change) says it should be: DRIFT_GATE_M, leaking over
        DRIFT_TAU_S, so a slow drift is caught as well as a jump."""
        v = self.sim.vehicle
        err_n, err_e = fix.n - (v.n - v.nav_err_n), fix.e - (v.e - v.nav_err_e)
        if self.prev_err is not None:
            if math.hypot(err_n - self.prev_err[0], err_e - self.prev_err[1]) > 1e-3:
                self.drifting_t = self.sim.clock.now
            k = math.exp(-dt / DRIFT_TAU_S)
            self.incons_n = self.incons_n * k + err_n - self.prev_err[0]
            self.incons_e = self.incons_e * k + err_e - self.prev_err[1]
        self.prev_err = (err_n, err_e)
        if self.sim.faults.on("gnss_drift_followed"):
            return False  # known-bad: only the innovation gate, which a slow drift slips under
        return math.hypot(self.incons_n, self.incons_e) > DRIFT_GATE_M

    def _fuse(self, fix: Fix, now: float, dt: float) -> None:
        v = self.sim.vehicle
        inn_n, inn_e = fix.n - v.n, fix.e - v.e
        gate = self.sim.params["EK3_GLITCH_RAD"]
        inconsistent = self._inconsistent(fix, dt)
        follows = self.sim.faults.on("gnss_follows_spoof")  # known-bad: no innovation gate
        if (math.hypot(inn_n, inn_e) > gate or inconsistent) and not follows:
            if self.glitch_since is None:
                self.glitch_since = now
                if not self.sim.faults.on("gnss_glitch_unreported"):
                    v.text(SEV_CRITICAL, "GPS Glitch or Compass error")
            self.aided_t = now  # its velocity still aids: the estimate does not wander
            # reset onto the fix once it has been rejected RESET_S, and has stopped moving
            # against its velocity for half that (a reset during a drift would follow it)
            if now - self.glitch_since >= RESET_S and now - self.drifting_t >= RESET_S / 2:
                self._move_estimate(inn_n, inn_e, carry_target=True)
                self.incons_n = self.incons_e = 0.0  # the estimate now agrees with the fix
            return
        if self.glitch_since is not None:
            self.glitch_since = None
            v.text(SEV_CRITICAL, "Glitch cleared")
        k = 1.0 - math.exp(-dt / FUSE_TAU_S)
        self._move_estimate(k * inn_n, k * inn_e, carry_target=False)
        self.aided_t = now
        self.dr_speed_n = self.dr_speed_e = 0.0

    def _dead_reckon(self, now: float, dt: float) -> None:
        # the inertial estimate's error grows: a seeded, slowly growing velocity error
        grow = 0.03 * dt
        self.dr_speed_n += grow * self.rng.choice((-1.0, 1.0)) + 0.5 * grow
        self.dr_speed_e += grow * self.rng.choice((-1.0, 1.0))
        self._move_estimate(self.dr_speed_n * dt, self.dr_speed_e * dt, carry_target=False)

    @property
    def glitching(self) -> bool:
        """EKF_STATUS_REPORT's GPS_GLITCHING (never set under fault gnss_glitch_unreported)."""
        return self.glitch_since is not None and not self.sim.faults.on("gnss_glitch_unreported")

    # ---- the EKF failsafe ----
    def _ekf_check(self) -> None:
        sim, v = self.sim, self.sim.vehicle
        if sim.params["FS_EKF_THRESH"] <= 0:
            self.fails = 0
            self._clear()
            return
        if v.nav_ok:
            if self.fails > 0:
                self.fails -= 1
                if self.fails == 0:
                    self._clear()
            return
        if self.failsafe:
            return
        self.fails = min(FAILS_TO_TRIGGER, self.fails + 1)
        if self.fails < FAILS_TO_TRIGGER:
            return
        self.failsafe = True
        v.failsafe.add("ekf")
        if sim.faults.on("gnss_failsafe_late"):
            sim.later(LATE_S, self._act)
        else:
            self._act()

    def _say(self, text: str) -> None:
        if not self.sim.faults.on("gnss_failsafe_silent"):
            self.sim.vehicle.text(SEV_CRITICAL, text)

    def _act(self) -> None:
        sim, v = self.sim, self.sim.vehicle
        if not self.failsafe or not v.armed:
            return
        self._say("EKF variance")
        action = sim.params.get_int("FS_EKF_ACTION")
        mode = EKF_ACTIONS.get(action)
        if mode is not None and sim.faults.on("gnss_failsafe_wrong_action"):
            mode = modes.ALT_HOLD if mode == modes.LAND else modes.LAND
        if mode is None or (v.mode not in modes.NEEDS_POSITION and action != 3):
            self._say("EKF Failsafe")
            return
        if v.mode != mode and v.set_mode(mode)[0] != 0:
            v.set_mode(modes.LAND)
        self._say(f"EKF Failsafe: changed to {modes.name(v.mode)} Mode")

    def _clear(self) -> None:
        v = self.sim.vehicle
        if self.failsafe:
            self.failsafe = False
            v.failsafe.discard("ekf")
            self._say("EKF Failsafe Cleared")
