"""Vehicle state and the actions one may ask of it (arm, mode, take-off, go-to, land).

Motion lives in sim/dynamics.py; this file owns the rules (what is allowed, when).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from sim import geo, modes
from sim.battery import Battery
from sim.faults import Faults
from sim.mav import mavlink
from sim.params import ParamStore

WARMUP_S = 8.0  # vehicle seconds from boot to GPS fix + EKF ready
LAND_DETECT_S = 1.0  # on the ground this long in LAND/RTL -> disarm

SEV_INFO = mavlink.MAV_SEVERITY_INFO
SEV_WARNING = mavlink.MAV_SEVERITY_WARNING
SEV_CRITICAL = mavlink.MAV_SEVERITY_CRITICAL

ON_GROUND = mavlink.MAV_LANDED_STATE_ON_GROUND
IN_AIR = mavlink.MAV_LANDED_STATE_IN_AIR
TAKEOFF = mavlink.MAV_LANDED_STATE_TAKEOFF
LANDING = mavlink.MAV_LANDED_STATE_LANDING


@dataclass
class Home:
    lat: float
    lon: float
    alt: float  # metres AMSL
    hdg: float = 0.0


class Vehicle:
    """Position is north/east/up metres from the origin (where the process started)."""

    def __init__(self, params: ParamStore, faults: Faults, origin: Home, seed: int,
                 now: Callable[[], float]) -> None:
        self.params = params
        self.faults = faults
        self.origin = origin
        self.rng = random.Random(seed)
        self.now = now
        self.outbox: list[tuple[int, str]] = []  # STATUSTEXT to broadcast
        self.n = self.e = self.alt = 0.0
        self.vn = self.ve = self.vu = 0.0
        self.yaw = math.radians(origin.hdg)
        self.roll = self.pitch = 0.0
        self.yaw_rate = 0.0
        # Hooks other modules fill in (mission runner, failsafe flags).
        # Why AUTO cannot start now ("" = it can); the mission runner replaces this.
        self.auto_refusal: Callable[[], str] = lambda: "no mission"
        self.auto_guidance: Callable[[Vehicle], tuple[float, float, float]] | None = None
        self.auto_landing = False  # the mission runner sets it while a LAND item runs
        self.gust_n = self.gust_e = 0.0
        self.noise_n = self.noise_e = self.noise_u = 0.0  # reported-position error, metres
        # sim/gnss.py: whether the receiver has a fix and the estimator a position, and how far
        # the believed position (n, e) lies from the truth
        self.gps_fix = self.nav_ok = True
        self.nav_err_n = self.nav_err_e = 0.0
        self.on_mode_change: list[Callable[[int, int], None]] = []
        # Pre-arm checks that ARMING_CHECK=0 does not skip (ArduPilot's mandatory checks,
        # e.g. Remote ID); only a forced arm does. Each returns its failures.
        self.mandatory_checks: list[Callable[[], list[str]]] = []
        self.reboot()

    # ---- lifecycle ----
    def reboot(self) -> None:
        self.boot_t = self.now()
        self.armed = False
        self.mode = modes.STABILIZE
        self.landed = self.alt <= 0.01
        self.landed_since = self.now()
        self.takeoff_alt: float | None = None
        self.target: tuple[float, float, float] | None = None  # n, e, alt
        self.rtl_phase = ""
        self.rtl_phase_t = 0.0
        self.home: Home | None = None
        self.home_locked = False  # set by MAV_CMD_DO_SET_HOME: arming then keeps it
        self.warm_announced = False
        self.battery = Battery(self.params)  # a reboot restarts the simulated pack too
        self.failsafe: set[str] = set()  # active failsafes: "gcs", "battery", "gps", "fence"
        self.speed_override: float | None = None  # DO_CHANGE_SPEED, m/s
        self.vel_cmd: tuple[float, float, float, float] | None = None  # vn, ve, vu, until

    @property
    def time_boot(self) -> float:
        return self.now() - self.boot_t

    @property
    def warm(self) -> bool:
        return self.time_boot >= WARMUP_S

    @property
    def gps_ok(self) -> bool:
        return self.warm and self.gps_fix

    @property
    def position_ok(self) -> bool:
        return self.warm and self.nav_ok

    def text(self, severity: int, msg: str) -> None:
        self.outbox.append((severity, msg[:50]))

    # ---- where we are ----
    def latlon(self) -> tuple[float, float]:
        return geo.offset(self.origin.lat, self.origin.lon, self.n, self.e)

    def true_latlon(self) -> tuple[float, float]:
        """Where the vehicle really is (SIMSTATE), not where it believes it is."""
        return geo.offset(self.origin.lat, self.origin.lon, self.n - self.nav_err_n,
                          self.e - self.nav_err_e)

    def nav_err_u(self) -> float:
        return 0.0  # the estimator's height error (the barometer keeps it small)

    def noisy_latlon(self) -> tuple[float, float]:
        return geo.offset(self.origin.lat, self.origin.lon, self.n + self.noise_n,
                          self.e + self.noise_e)

    def alt_amsl(self) -> float:
        return self.origin.alt + self.alt

    def home_ne_alt(self) -> tuple[float, float, float]:
        """Home as north/east/up metres from the origin."""
        h = self.home or self.origin
        hn, he = geo.ne_of(self.origin.lat, self.origin.lon, h.lat, h.lon)
        return hn, he, h.alt - self.origin.alt

    def alt_above_home(self) -> float:
        return self.alt - self.home_ne_alt()[2]

    def set_home_here(self) -> None:
        lat, lon = self.latlon()
        self.home = Home(lat, lon, self.alt_amsl(), math.degrees(self.yaw) % 360)

    @property
    def landed_state(self) -> int:
        if self.landed:
            return ON_GROUND
        if self.takeoff_alt is not None:
            return TAKEOFF
        if self.mode == modes.LAND or (self.mode == modes.RTL and self.rtl_phase == "land"):
            return LANDING
        return IN_AIR

    # ---- pre-arm ----
    def prearm_failures(self) -> list[str]:
        fails: list[str] = []
        if not self.warm:
            fails.append("Need Position Estimate")
        elif not self.gps_ok:
            fails.append("GPS 1: Bad fix")
        if "battery" in self.failsafe:  # latched until a reboot or MAV_CMD_BATTERY_RESET
            fails.append("Battery failsafe")
        fails += self.battery.prearm_failures()
        if "fence" in self.failsafe:
            fails.append("Vehicle breaching fence")
        return fails + self.mandatory_failures()

    def mandatory_failures(self) -> list[str]:
        return [f for check in self.mandatory_checks for f in check()]

    # ---- actions; each returns (MAV_RESULT, reason) ----
    def arm(self, force: bool = False) -> tuple[int, str]:
        if self.armed:
            return mavlink.MAV_RESULT_ACCEPTED, ""
        if self.mode not in modes.ARMABLE:
            self.text(SEV_CRITICAL, "Arm: Mode not armable")
            return mavlink.MAV_RESULT_DENIED, "mode not armable"
        fails = [] if force else (self.prearm_failures() if self.params.get_int("ARMING_CHECK")
                                  else self.mandatory_failures())
        if self.mode in modes.NEEDS_POSITION and not self.position_ok and not fails:
            fails = ["Need Position Estimate"]
        if fails:
            for f in fails:
                self.text(SEV_CRITICAL, f"PreArm: {f}")
            return mavlink.MAV_RESULT_DENIED, fails[0]
        self.armed = True
        self.landed_since = self.now()  # DISARM_DELAY counts from arming
        if self.gps_ok and (self.home is None or not self.home_locked):
            self.set_home_here()  # as Copter: home is where it arms, unless a GCS locked it
        return mavlink.MAV_RESULT_ACCEPTED, ""

    def disarm(self, force: bool = False, why: str = "") -> tuple[int, str]:
        if not self.armed:
            return mavlink.MAV_RESULT_ACCEPTED, ""
        if not self.landed and not force:
            self.text(SEV_CRITICAL, "Disarm: vehicle not landed")
            return mavlink.MAV_RESULT_DENIED, "not landed"
        self.armed = False
        self.takeoff_alt = None
        if why:
            self.text(SEV_INFO, f"Disarming: {why}")
        return mavlink.MAV_RESULT_ACCEPTED, ""

    def set_mode(self, mode: int, reason: str = "") -> tuple[int, str]:
        if mode not in modes.NAMES:
            return mavlink.MAV_RESULT_FAILED, "unknown mode"
        if self.armed and mode in modes.NEEDS_POSITION and not self.position_ok:
            self.text(SEV_WARNING, f"Mode change to {modes.name(mode)} failed: requires position")
            return mavlink.MAV_RESULT_FAILED, "requires position"
        if self.armed and mode == modes.AUTO and (why := self.auto_refusal()):
            self.text(SEV_WARNING, f"Mode change to AUTO failed: {why}")
            return mavlink.MAV_RESULT_FAILED, why
        old = self.mode
        self.mode = mode
        self._enter(mode)
        if reason:
            self.text(SEV_WARNING, f"{reason}: {modes.name(mode)}")
        for cb in self.on_mode_change:
            cb(old, mode)
        return mavlink.MAV_RESULT_ACCEPTED, ""

    def _enter(self, mode: int) -> None:
        if mode != modes.GUIDED:
            self.takeoff_alt = None
        self.speed_override = None
        self.vel_cmd = None
        self.auto_landing = False
        self.target = (self.n, self.e, self.alt)  # every mode starts by holding here
        if mode == modes.RTL:
            self.rtl_phase, self.rtl_phase_t = "climb", self.now()

    def takeoff(self, alt: float) -> tuple[int, str]:
        if not math.isfinite(alt):
            return mavlink.MAV_RESULT_DENIED, "bad altitude"
        if not self.armed:
            return mavlink.MAV_RESULT_DENIED, "not armed"
        if self.mode != modes.GUIDED:
            return mavlink.MAV_RESULT_DENIED, "not in GUIDED"
        if not self.landed:
            return mavlink.MAV_RESULT_FAILED, "already flying"
        if alt <= 0:
            return mavlink.MAV_RESULT_DENIED, "altitude must be > 0"
        if self.faults.on("takeoff_stalls"):
            alt /= 2  # the known-bad vehicle: believes it took off, holds half-way
        ground = self.home_ne_alt()[2]
        self.takeoff_alt = ground + alt
        self.target = (self.n, self.e, self.takeoff_alt)
        self.landed = False
        return mavlink.MAV_RESULT_ACCEPTED, ""

    def goto(self, n: float, e: float, alt: float | None) -> tuple[int, str]:
        """Guided go-to (alt: metres above origin; None keeps the current altitude)."""
        if self.mode != modes.GUIDED:
            return mavlink.MAV_RESULT_DENIED, "not in GUIDED"
        if not self.armed or self.landed:
            return mavlink.MAV_RESULT_DENIED, "not flying"
        alt = self.alt if alt is None else max(alt, 0.0)
        ceiling = self.alt_fence()
        if ceiling is not None and alt - self.home_ne_alt()[2] > ceiling:
            # ArduPilot refuses a GUIDED destination outside the fence (mode_guided.cpp)
            if self.faults.on("guided_alt_limit_plus_3m"):
                alt = min(alt, self.home_ne_alt()[2] + ceiling + 3.0)
            elif not self.faults.on("guided_alt_limit_ignored"):
                return mavlink.MAV_RESULT_FAILED, "destination outside the fence"
        if self.takeoff_alt is not None:
            self.takeoff_alt = None  # a new target ends the take-off, as in ArduPilot
        self.vel_cmd = None
        self.target = (n, e, alt)
        return mavlink.MAV_RESULT_ACCEPTED, ""

    def alt_fence(self) -> float | None:
        """The altitude fence above home (FENCE_ALT_MAX) when enabled, else None."""
        p = self.params
        if p.get_int("FENCE_ENABLE") and p.get_int("FENCE_TYPE") & 1:
            return p["FENCE_ALT_MAX"]
        return None

    def velocity(self, vn: float, ve: float, vu: float, hold_s: float = 3.0) -> bool:
        """Guided velocity command, valid hold_s vehicle seconds (ArduPilot's timeout is 3 s)."""
        if self.mode != modes.GUIDED or not self.armed or self.landed:
            return False
        self.takeoff_alt = None
        self.vel_cmd = (vn, ve, vu, self.now() + hold_s)
        return True
