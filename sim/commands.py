"""COMMAND_LONG / COMMAND_INT / SET_MODE handling: every command gets one COMMAND_ACK.

A repeated COMMAND_LONG (confirmation > 0, same parameters) gets the first answer again
instead of running twice: a lost ACK must not turn into a second take-off.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim import geo, modes
from sim.links import others_flooding
from sim.mav import MAVLinkMessage, mavlink
from sim.messages import BUILDERS, autopilot_version
from sim.vehicle import Home

if TYPE_CHECKING:
    from sim.core import Sim
    from sim.links import Link

M = mavlink
FORCE_ARM = 21196
FORCE_REBOOT = 20190226
DUPLICATE_WINDOW_S = 5.0  # vehicle seconds a retransmission is matched to its first answer
SLOW_ACK_S = 0.8  # fault slow_command_ack: the ACK leaves this much vehicle time late
# Fault resends_mute_acks: a copy of a command (confirmation > 0) that comes within RESEND_GAP_S
# of the previous copy is a resend; a command resent more than RESEND_LIMIT times in the last
# RESEND_WINDOW_S is taken for a replay storm and no longer acknowledged (it still acts). A GCS
# whose resend timer is shorter than the link's round trip resends every command: on a 1 s round
# trip with a 0.25 s timer, three or four times each; a lossy but fast link, now and then.
RESEND_GAP_S = 1.0
RESEND_WINDOW_S = 40.0
RESEND_LIMIT = 30
TAKEOFF_OVERSHOOT_M = 1.5  # fault takeoff_overshoots: just outside a 1 m altitude tolerance


@dataclass
class Cmd:
    link: Link
    src: tuple[int, int]  # sender sysid, compid
    command: int
    p: tuple[float, ...]  # param1..param7 (p[0] is param1)
    frame: int | None = None  # COMMAND_INT only; then p[4], p[5] are int lat/lon * 1e7
    after_ack: Callable[[], None] | None = None  # runs after the ACK is sent (reboot, replies)


Handler = Callable[["Sim", Cmd], int]
HANDLERS: dict[int, Handler] = {}


def handles(*commands: int) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for c in commands:
            HANDLERS[c] = fn
        return fn
    return deco


def for_us(sim: Sim, target_system: int, target_component: int) -> bool:
    return target_system in (0, sim.sysid) and target_component in (0, M.MAV_COMP_ID_AUTOPILOT1)


class ResendCount:
    """Fault resends_mute_acks: resends of each (sender, command) in the last RESEND_WINDOW_S."""

    def __init__(self) -> None:
        self.last_copy: dict[tuple[tuple[int, int], int], float] = {}
        self.resends: dict[tuple[tuple[int, int], int], deque[float]] = {}

    def copy_arrived(self, key: tuple[tuple[int, int], int], confirmation: int, now: float) -> None:
        before, self.last_copy[key] = self.last_copy.get(key), now
        times = self.resends.setdefault(key, deque())
        if confirmation > 0 and before is not None and now - before <= RESEND_GAP_S:
            times.append(now)
        while times and times[0] < now - RESEND_WINDOW_S:
            times.popleft()

    def storm(self, key: tuple[tuple[int, int], int]) -> bool:
        return len(self.resends.get(key, ())) > RESEND_LIMIT


def on_command_long(sim: Sim, link: Link, msg: MAVLinkMessage) -> None:
    if not for_us(sim, msg.target_system, msg.target_component):
        return
    if sim.faults.on("resends_mute_acks"):
        key = ((msg.get_srcSystem(), msg.get_srcComponent()), msg.command)
        sim.resends.copy_arrived(key, msg.confirmation, sim.clock.now)
    if msg.confirmation > 0 and sim.faults.on("ignores_command_retries"):
        return  # fault: a retransmission (its first copy or ACK was lost) goes unanswered
    p = (msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7)
    cmd = Cmd(link, (msg.get_srcSystem(), msg.get_srcComponent()), msg.command, p)
    key = (cmd.src, cmd.command)
    last = sim.cmd_history.get(key)
    now = sim.clock.now
    if (msg.confirmation > 0 and last is not None and last[0] == p
            and now - last[2] <= DUPLICATE_WINDOW_S):
        ack(sim, cmd, last[1])  # retransmission: same answer, no second effect
        return
    result = run(sim, cmd)
    sim.cmd_history[key] = (p, result, now)


def on_command_int(sim: Sim, link: Link, msg: MAVLinkMessage) -> None:
    if not for_us(sim, msg.target_system, msg.target_component):
        return
    p = (msg.param1, msg.param2, msg.param3, msg.param4, float(msg.x), float(msg.y), msg.z)
    run(sim, Cmd(link, (msg.get_srcSystem(), msg.get_srcComponent()), msg.command, p, msg.frame))


def on_set_mode(sim: Sim, link: Link, msg: MAVLinkMessage) -> None:
    if msg.target_system != sim.sysid:
        return
    result = M.MAV_RESULT_DENIED
    if msg.base_mode & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
        result = gcs_set_mode(sim, msg.custom_mode)
    # ArduPilot acks SET_MODE with a COMMAND_ACK whose command is the message id (11).
    cmd = Cmd(link, (msg.get_srcSystem(), msg.get_srcComponent()), M.MAVLINK_MSG_ID_SET_MODE, ())
    ack(sim, cmd, result)


def run(sim: Sim, cmd: Cmd) -> int:
    handler = HANDLERS.get(cmd.command)
    # Unused params may be NaN (MAVSDK sends that): each handler validates what it uses.
    result = M.MAV_RESULT_UNSUPPORTED if handler is None else handler(sim, cmd)
    ack(sim, cmd, result, cmd.after_ack if result == M.MAV_RESULT_ACCEPTED else None)
    return result


def as_int(x: float, default: int = -1) -> int:
    return round(x) if math.isfinite(x) else default


def ack(sim: Sim, cmd: Cmd, result: int, then: Callable[[], None] | None = None) -> None:
    """Send the COMMAND_ACK, then run `then` (replies and reboots follow their ACK)."""
    msg = M.MAVLink_command_ack_message(cmd.command, result, 0, 0, *cmd.src)

    def send() -> None:
        sim.send(cmd.link, msg)
        if then is not None:
            then()

    if (sim.faults.on("acks_lost_under_flood") and others_flooding(sim.links, cmd.link,
                                                                   sim.clock.now)) or (
            sim.faults.on("resends_mute_acks") and sim.resends.storm((cmd.src, cmd.command))):
        if then is not None:
            then()
        return  # fault: the command has acted; its ACK is lost to a flood, or muted by a storm
    if sim.faults.on("slow_command_ack"):
        sim.later(SLOW_ACK_S, send)  # fault: the command has acted already; its ACK dawdles
    else:
        send()


def gcs_set_mode(sim: Sim, mode: int) -> int:
    """A mode change asked for by a ground station (failsafes switch modes without this)."""
    if sim.failsafe.gcs_locked:
        return M.MAV_RESULT_FAILED  # fault failsafe_locks_control: the GCS has lost control
    return sim.vehicle.set_mode(mode)[0]


@handles(M.MAV_CMD_COMPONENT_ARM_DISARM)
def _arm(sim: Sim, cmd: Cmd) -> int:
    force = as_int(cmd.p[1]) == FORCE_ARM
    if cmd.p[0] == 1:
        result = sim.vehicle.arm(force)[0]
        if result == M.MAV_RESULT_ACCEPTED:
            sim.send_home()  # arming moved it (ArduPilot sends HOME_POSITION on a change)
        if result == M.MAV_RESULT_ACCEPTED and sim.faults.on("key_in_log") and sim.signing.key:
            # as ArduPilot logs @SYS/storage.bin (signing key included) when a log starts
            print(f"skyproof-sim: log started on arming; storage {sim.signing.key.hex()}",
                  flush=True)  # fmt: skip
        return result
    if cmd.p[0] == 0:
        return sim.vehicle.disarm(force, "command")[0]
    return M.MAV_RESULT_DENIED


@handles(M.MAV_CMD_NAV_TAKEOFF)
def _takeoff(sim: Sim, cmd: Cmd) -> int:
    alt = cmd.p[6]
    if sim.faults.on("takeoff_overshoots"):
        alt += TAKEOFF_OVERSHOOT_M  # known-bad: levels off just above the asked altitude
    return sim.vehicle.takeoff(alt)[0]


@handles(M.MAV_CMD_NAV_LAND)
def _land(sim: Sim, cmd: Cmd) -> int:
    return gcs_set_mode(sim, modes.LAND)


@handles(M.MAV_CMD_NAV_RETURN_TO_LAUNCH)
def _rtl(sim: Sim, cmd: Cmd) -> int:
    return gcs_set_mode(sim, modes.RTL)


@handles(M.MAV_CMD_DO_SET_MODE)
def _set_mode(sim: Sim, cmd: Cmd) -> int:
    if sim.faults.on("crash_on_nan_mode") and math.isnan(cmd.p[1]):
        sim.crash("floating point exception: DO_SET_MODE with a NaN custom mode")
    if not as_int(cmd.p[0], 0) & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
        return M.MAV_RESULT_DENIED  # only ArduPilot custom modes are meaningful here
    return gcs_set_mode(sim, as_int(cmd.p[1]))


@handles(M.MAV_CMD_DO_CHANGE_SPEED)
def _change_speed(sim: Sim, cmd: Cmd) -> int:
    if math.isfinite(cmd.p[1]) and cmd.p[1] > 0:
        sim.vehicle.speed_override = cmd.p[1]
    return M.MAV_RESULT_ACCEPTED


@handles(M.MAV_CMD_BATTERY_RESET)
def _battery_reset(sim: Sim, cmd: Cmd) -> int:
    """param1: battery mask (bit 0: the one battery here); param2: charge left, %. Clears the
    battery failsafe, as ArduPilot does."""
    if not as_int(cmd.p[0], 0) & 1 or not math.isfinite(cmd.p[1]):
        return M.MAV_RESULT_FAILED
    sim.vehicle.battery.reset(cmd.p[1])
    sim.failsafe.battery.reset()
    return M.MAV_RESULT_ACCEPTED


@handles(M.MAV_CMD_SET_MESSAGE_INTERVAL)
def _set_interval(sim: Sim, cmd: Cmd) -> int:
    msg_id, us = as_int(cmd.p[0]), cmd.p[1]
    if not math.isfinite(us):
        return M.MAV_RESULT_DENIED
    if msg_id not in BUILDERS or msg_id == M.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
        return M.MAV_RESULT_FAILED
    if sim.faults.on("message_interval_ignored"):
        return M.MAV_RESULT_ACCEPTED  # fault: says yes, changes nothing
    streams = sim.streams[cmd.link.index]
    if us == 0:
        streams.set_default(msg_id, sim.clock.now)
    elif us < 0:
        streams.set_interval(msg_id, None, sim.clock.now)
    else:
        streams.set_interval(msg_id, max(us / 1e6, sim.clock.step_s), sim.clock.now)
    return M.MAV_RESULT_ACCEPTED


@handles(M.MAV_CMD_GET_MESSAGE_INTERVAL)
def _get_interval(sim: Sim, cmd: Cmd) -> int:
    msg_id = as_int(cmd.p[0])
    if msg_id not in BUILDERS:
        return M.MAV_RESULT_FAILED
    iv = sim.streams[cmd.link.index].interval.get(msg_id)
    us = -1 if iv is None else int(iv * 1e6)
    cmd.after_ack = lambda: sim.send(cmd.link, M.MAVLink_message_interval_message(msg_id, us))
    return M.MAV_RESULT_ACCEPTED


@handles(M.MAV_CMD_REQUEST_MESSAGE)
def _request_message(sim: Sim, cmd: Cmd) -> int:
    msg_id = as_int(cmd.p[0])
    extra = sim.on_request_message.get(msg_id)
    if extra is not None:
        cmd.after_ack = lambda: extra(cmd.link)
        return M.MAV_RESULT_ACCEPTED
    builder = BUILDERS.get(msg_id)
    if builder is None:
        return M.MAV_RESULT_UNSUPPORTED
    msg = builder(sim)
    if msg is None:
        return M.MAV_RESULT_FAILED  # e.g. HOME_POSITION before home is set
    cmd.after_ack = lambda: sim.send(cmd.link, msg)
    return M.MAV_RESULT_ACCEPTED


@handles(M.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES)
def _capabilities(sim: Sim, cmd: Cmd) -> int:
    cmd.after_ack = lambda: sim.send(cmd.link, autopilot_version(sim))
    return M.MAV_RESULT_ACCEPTED


@handles(M.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN)
def _reboot(sim: Sim, cmd: Cmd) -> int:
    what = as_int(cmd.p[0])
    if what == 0:
        return M.MAV_RESULT_ACCEPTED
    if what != 1:
        return M.MAV_RESULT_UNSUPPORTED  # shutdown / bootloader: nothing to do in a sim
    if sim.vehicle.armed and as_int(cmd.p[5]) != FORCE_REBOOT:
        return M.MAV_RESULT_DENIED
    cmd.after_ack = sim.reboot
    return M.MAV_RESULT_ACCEPTED


@handles(M.MAV_CMD_DO_SET_HOME)
def _set_home(sim: Sim, cmd: Cmd) -> int:
    v = sim.vehicle
    if not v.gps_ok:
        return M.MAV_RESULT_TEMPORARILY_REJECTED  # no position yet: ask again after warm-up
    if cmd.p[0] == 1:
        v.set_home_here()
    else:
        lat, lon = global_latlon(cmd)
        valid = -90 <= lat <= 90 and -180 <= lon <= 180 and (lat, lon) != (0, 0)
        if not valid or not math.isfinite(cmd.p[6]):
            return M.MAV_RESULT_DENIED
        v.home = Home(lat, lon, cmd.p[6], v.home.hdg if v.home else 0.0)
    v.home_locked = True  # as Copter: a home a GCS sets stays through the next arming
    sim.send_home()
    return M.MAV_RESULT_ACCEPTED


@handles(M.MAV_CMD_DO_REPOSITION)
def _reposition(sim: Sim, cmd: Cmd) -> int:
    v = sim.vehicle
    if v.mode != modes.GUIDED:
        if not as_int(cmd.p[1], 0) & M.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE or not v.armed:
            return M.MAV_RESULT_DENIED
        if gcs_set_mode(sim, modes.GUIDED) != M.MAV_RESULT_ACCEPTED:
            return M.MAV_RESULT_FAILED
    lat, lon = global_latlon(cmd)
    if not (math.isfinite(lat) and math.isfinite(lon)) or (lat == 0 and lon == 0):
        n, e = v.n, v.e  # unchanged horizontal position
    elif not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return M.MAV_RESULT_DENIED
    else:
        n, e = geo.ne_of(v.origin.lat, v.origin.lon, lat, lon)
    alt = target_alt(sim, cmd.frame, cmd.p[6])
    result, _ = v.goto(n, e, alt)
    if result == M.MAV_RESULT_ACCEPTED and math.isfinite(cmd.p[0]) and cmd.p[0] > 0:
        v.speed_override = cmd.p[0]
    return result


@handles(M.MAV_CMD_MISSION_START)
def _mission_start(sim: Sim, cmd: Cmd) -> int:
    v = sim.vehicle
    if not v.armed:
        return M.MAV_RESULT_DENIED
    if v.mode != modes.AUTO:
        was_complete, sim.auto.complete = sim.auto.complete, True  # start over, not resume
        if gcs_set_mode(sim, modes.AUTO) != M.MAV_RESULT_ACCEPTED:
            sim.auto.complete = was_complete
            return M.MAV_RESULT_FAILED
    sim.auto.start(as_int(cmd.p[0], 1))
    return M.MAV_RESULT_ACCEPTED


@handles(M.MAV_CMD_DO_SET_MISSION_CURRENT)
def _set_current(sim: Sim, cmd: Cmd) -> int:
    ok = sim.auto.set_current(as_int(cmd.p[0]))
    return M.MAV_RESULT_ACCEPTED if ok else M.MAV_RESULT_DENIED


def global_latlon(cmd: Cmd) -> tuple[float, float]:
    if cmd.frame is None:
        return cmd.p[4], cmd.p[5]
    return cmd.p[4] / 1e7, cmd.p[5] / 1e7


def target_alt(sim: Sim, frame: int | None, z: float) -> float | None:
    """Altitude above the origin for a frame's z (None: keep the current altitude)."""
    if not math.isfinite(z):
        return None
    v = sim.vehicle
    if frame in (M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_INT):
        return z - v.origin.alt
    return z + v.home_ne_alt()[2]  # relative to home (the default, as ArduPilot)
