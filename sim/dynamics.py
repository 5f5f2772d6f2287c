"""Motion of the multicopter for one physics step: per-mode guidance -> velocity with
acceleration limits -> position, plus wind, landing detection and auto-disarm."""

from __future__ import annotations

import math

from sim import geo, modes
from sim.vehicle import LAND_DETECT_S, Vehicle

G = 9.81
V_ACCEL = 2.5  # m/s^2, vertical
DRAG = 0.02  # 1/m: horizontal drag acceleration = DRAG * airspeed^2
YAW_RATE_MAX = math.radians(90)
ARRIVE_M = 0.5


def wind(v: Vehicle) -> tuple[float, float]:
    """Wind velocity (north, east) m/s; SIM_WIND_DIR is where it blows FROM."""
    spd = v.params["SIM_WIND_SPD"]
    d = math.radians(v.params["SIM_WIND_DIR"])
    return -spd * math.cos(d), -spd * math.sin(d)


def _toward(dist: float, speed: float, accel: float) -> float:
    # Fastest speed from which we can still stop at the target; linear near it.
    return min(speed, math.sqrt(2 * accel * dist), 1.5 * dist)


OVERSHOOT = 1.2  # fault speed_overshoot: this share of the speed asked


def horizontal_speed(v: Vehicle) -> float:
    k = OVERSHOOT if v.faults.on("speed_overshoot") else 1.0
    if v.speed_override:
        return k * v.speed_override
    if v.mode == modes.RTL and v.params["RTL_SPEED"] > 0:
        return k * v.params["RTL_SPEED"] / 100
    return k * v.params["WPNAV_SPEED"] / 100


def desired(v: Vehicle, tn: float, te: float, talt: float) -> tuple[float, float, float]:
    accel = v.params["WPNAV_ACCEL"] / 100
    dn, de = tn - v.n, te - v.e
    dist = math.hypot(dn, de)
    s = _toward(dist, horizontal_speed(v), accel) if dist > 1e-3 else 0.0
    vn, ve = (s * dn / dist, s * de / dist) if dist > 1e-3 else (0.0, 0.0)
    dz = talt - v.alt
    up = v.params["WPNAV_SPEED_UP"] / 100
    dn_spd = v.params["WPNAV_SPEED_DN"] / 100
    vz = _toward(abs(dz), up if dz > 0 else dn_spd, V_ACCEL)
    return vn, ve, math.copysign(vz, dz)


def land_rate(v: Vehicle) -> float:
    above = v.alt_above_home() if v.home else v.alt
    if above > v.params["LAND_ALT_LOW"] / 100:
        return -v.params["WPNAV_SPEED_DN"] / 100
    return -v.params["LAND_SPEED"] / 100


def _rtl(v: Vehicle) -> tuple[float, float, float]:
    hn, he, halt = v.home_ne_alt()
    rtl_alt = halt + v.params["RTL_ALT"] / 100
    now = v.now()
    if v.rtl_phase == "climb":
        climb_to = max(rtl_alt, v.alt)
        v.target = (v.n, v.e, climb_to) if v.target is None else (*v.target[:2], climb_to)
        if v.alt >= climb_to - ARRIVE_M:
            v.rtl_phase, v.rtl_phase_t = "return", now
            v.target = (hn, he, v.alt)
    elif v.rtl_phase == "return":
        v.target = (hn, he, v.target[2] if v.target else v.alt)
        if math.hypot(hn - v.n, he - v.e) < ARRIVE_M * 2 and math.hypot(v.vn, v.ve) < 0.5:
            v.rtl_phase, v.rtl_phase_t = "loiter", now
    elif v.rtl_phase == "loiter" and now - v.rtl_phase_t >= v.params["RTL_LOIT_TIME"] / 1000:
        v.rtl_phase, v.rtl_phase_t = "land", now
    assert v.target is not None
    tn, te, talt = v.target
    d = desired(v, tn, te, talt)
    if v.rtl_phase == "land":
        return d[0], d[1], land_rate(v)
    return d


def guidance(v: Vehicle) -> tuple[float, float, float]:
    """Desired ground velocity (north, east, up) for the current mode."""
    if v.target is None:
        v.target = (v.n, v.e, v.alt)
    tn, te, talt = v.target
    if v.mode == modes.RTL:
        return _rtl(v)
    if v.mode == modes.LAND:
        vn, ve, _ = desired(v, tn, te, v.alt)
        return vn, ve, land_rate(v)
    if v.mode in (modes.STABILIZE, modes.ALT_HOLD):
        # No pilot here: level attitude, so the vehicle drifts with the wind.
        wn, we = wind(v)
        return wn, we, desired(v, v.n, v.e, talt)[2]
    if v.mode == modes.AUTO and v.auto_guidance is not None:
        return v.auto_guidance(v)
    if v.vel_cmd is not None:
        return _velocity_cmd(v)
    return desired(v, tn, te, talt)


def _velocity_cmd(v: Vehicle) -> tuple[float, float, float]:
    assert v.vel_cmd is not None
    vn, ve, vu, until = v.vel_cmd
    if v.now() >= until:
        # Commands stopped coming: stop and hold, as ArduPilot does after 3 s.
        v.vel_cmd = None
        v.target = (v.n, v.e, v.alt)
        return 0.0, 0.0, 0.0
    spd, lim = math.hypot(vn, ve), horizontal_speed(v)
    if spd > lim:
        vn, ve = vn * lim / spd, ve * lim / spd
    vu = max(-v.params["WPNAV_SPEED_DN"] / 100, min(v.params["WPNAV_SPEED_UP"] / 100, vu))
    ceiling = v.alt_fence()
    if vu > 0 and ceiling is not None and not v.faults.on("velocity_climb_ignores_alt_limit"):
        # as ArduPilot's fence avoidance (AC_Avoid::adjust_velocity_z): brake to a stop
        # FENCE_MARGIN under the ceiling
        room = ceiling - v.params["FENCE_MARGIN"] - v.alt_above_home()
        vu = min(vu, _toward(max(room, 0.0), vu, V_ACCEL))
    v.target = (v.n, v.e, v.alt)  # where to hold once the command ends
    return vn, ve, vu


def _approach(cur: float, want: float, max_step: float) -> float:
    return cur + max(-max_step, min(max_step, want - cur))


def _gust(v: Vehicle, dt: float) -> tuple[float, float]:
    turb = v.params["SIM_WIND_TURB"]
    # Ornstein-Uhlenbeck gusts: seeded, so a run is repeatable for a seed.
    k = math.exp(-dt / 2.0)
    s = turb * math.sqrt(1 - k * k)
    v.gust_n = v.gust_n * k + s * v.rng.gauss(0, 1)
    v.gust_e = v.gust_e * k + s * v.rng.gauss(0, 1)
    return v.gust_n, v.gust_e


def _current(v: Vehicle) -> float:
    if not v.armed:
        return 0.3
    if v.landed:
        return 2.0
    return 12.0 + 4.0 * max(0.0, v.vu) + 0.3 * math.hypot(v.vn, v.ve)


def step(v: Vehicle, dt: float) -> None:
    now = v.now()
    if v.armed and not v.landed:
        _fly(v, dt)
    elif not v.landed:
        # Disarmed in the air (forced): it falls.
        v.vn *= 0.98
        v.ve *= 0.98
        v.vu -= G * dt
        _integrate(v, dt)
    else:
        v.vn = v.ve = v.vu = 0.0
        v.roll = v.pitch = v.yaw_rate = 0.0
    _touchdown(v, now)
    if v.armed and v.landed:
        _auto_disarm(v, now)
    v.battery.step(dt, _current(v))
    _noise(v, dt)


POS_NOISE_M = 0.05  # steady-state std-dev of the reported position error


def _noise(v: Vehicle, dt: float) -> None:
    # Slow random walk (seeded): an estimator's error wanders, it does not jump.
    k = math.exp(-dt / 5.0)
    s = POS_NOISE_M * math.sqrt(1 - k * k)
    v.noise_n = v.noise_n * k + s * v.rng.gauss(0, 1)
    v.noise_e = v.noise_e * k + s * v.rng.gauss(0, 1)
    v.noise_u = v.noise_u * k + 2 * s * v.rng.gauss(0, 1)


def _fly(v: Vehicle, dt: float) -> None:
    wvn, wve, wvu = guidance(v)
    accel = v.params["WPNAV_ACCEL"] / 100
    vn0, ve0 = v.vn, v.ve
    dv = math.hypot(wvn - v.vn, wve - v.ve)
    if dv > 1e-9:
        f = min(1.0, accel * dt / dv)
        v.vn += (wvn - v.vn) * f
        v.ve += (wve - v.ve) * f
    v.vu = _approach(v.vu, wvu, V_ACCEL * dt)
    gn, ge = _gust(v, dt)
    # The position controller rejects most of a gust; a fifth of it shows as motion.
    v.n += 0.2 * gn * dt
    v.e += 0.2 * ge * dt
    _integrate(v, dt)
    _attitude(v, dt, (v.vn - vn0) / dt, (v.ve - ve0) / dt, gn, ge)
    if v.takeoff_alt is not None and v.alt >= v.takeoff_alt - 0.1:
        v.takeoff_alt = None  # take-off complete


def _integrate(v: Vehicle, dt: float) -> None:
    v.n += v.vn * dt
    v.e += v.ve * dt
    v.alt += v.vu * dt


def _attitude(v: Vehicle, dt: float, an: float, ae: float, gn: float, ge: float) -> None:
    wn, we = wind(v)
    airn, aire = v.vn - wn - gn, v.ve - we - ge
    air = math.hypot(airn, aire)
    # Thrust must supply the acceleration and cancel drag: tilt into it.
    tn, te = an + DRAG * air * airn, ae + DRAG * air * aire
    cy, sy = math.cos(v.yaw), math.sin(v.yaw)
    fwd, right = tn * cy + te * sy, -tn * sy + te * cy
    # Small seeded jitter: a real attitude estimate is never perfectly still.
    v.pitch = -math.atan2(fwd, G) + v.rng.gauss(0, 0.002)
    v.roll = math.atan2(right, G) + v.rng.gauss(0, 0.002)
    spd = math.hypot(v.vn, v.ve)
    want = math.atan2(v.ve, v.vn) if spd > 1.0 and v.mode in modes.AUTONOMOUS else v.yaw
    err = geo.wrap_pi(want - v.yaw)
    rate = max(-YAW_RATE_MAX, min(YAW_RATE_MAX, 2.0 * err))
    v.yaw = geo.wrap_pi(v.yaw + rate * dt)
    v.yaw_rate = rate


def _touchdown(v: Vehicle, now: float) -> None:
    ground = 0.0  # flat world at the origin's height
    if v.landed or v.alt > ground:
        return
    if v.vu > 0 and v.armed:
        return  # lifting off
    v.alt = ground
    v.vn = v.ve = v.vu = 0.0
    v.landed = True
    v.landed_since = now
    v.takeoff_alt = None
    v.target = (v.n, v.e, ground)
    v.rtl_phase = "landed" if v.mode == modes.RTL else v.rtl_phase


def _auto_disarm(v: Vehicle, now: float) -> None:
    on_ground = now - v.landed_since
    if v.takeoff_alt is not None:
        return
    if v.mode in (modes.LAND, modes.RTL) or (v.mode == modes.AUTO and v.auto_landing):
        if on_ground >= LAND_DETECT_S:
            v.disarm(why="landed")
        return
    delay = v.params.get_int("DISARM_DELAY")
    if delay > 0 and on_ground >= delay:
        v.disarm(why="disarm delay")
