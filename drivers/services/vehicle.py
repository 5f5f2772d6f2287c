"""The Vehicle API: what a check asks of a vehicle, in MAVLink's own protocols.

Every wait is bounded in vehicle seconds and says what it waited for. Parameters a check
changes are journaled, so the fixture can put them back and prove it did.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.errors import ArmingForbidden, CommandRejected, VehicleLost, VehicleSilent, WaitTimeout
from drivers.link.connection import Link, Message, Timed
from drivers.mavlink import COPTER_MODES, mavlink
from drivers.services import flavour, params

RESULT_NAMES = {number: entry.name for number, entry in mavlink.enums["MAV_RESULT"].items()}
MODE_NAMES = {number: name for name, number in COPTER_MODES.items()}  # ArduPilot Copter
ARMED = mavlink.MAV_MODE_FLAG_SAFETY_ARMED
PREARM_OK = mavlink.MAV_SYS_STATUS_PREARM_CHECK

# What every check relies on, in Hz; ArduPilot streams nothing until a ground station asks.
DEFAULT_STREAMS = {
    "SYSTEM_TIME": 4,
    "ATTITUDE": 10,
    "GLOBAL_POSITION_INT": 5,
    "SYS_STATUS": 2,
    "EXTENDED_SYS_STATE": 2,
}


def result_name(result: int) -> str:
    return RESULT_NAMES.get(result, str(result)).removeprefix("MAV_RESULT_")


@dataclass
class ParamChange:
    name: str
    original: float
    param_type: int


class Vehicle:
    EXPLAIN_S = 0.5  # vehicle seconds to wait for the STATUSTEXT that explains a refusal

    def __init__(
        self, link: Link, sysid: int = 1, compid: int = 1, *, arming_allowed: bool = True
    ) -> None:
        self.link = link
        self.arming_allowed = arming_allowed  # False on hardware without the run's opt-in
        self.sysid, self.compid = sysid, compid
        self.bytewise_params = False
        self.autopilot = mavlink.MAV_AUTOPILOT_INVALID
        self.journal: dict[str, ParamChange] = {}
        self._param_types: dict[str, int] = {}

    # -- connection and state ------------------------------------------------------------------
    def connect(self, streams: dict[str, float] = DEFAULT_STREAMS) -> None:
        """Wait for the vehicle's heartbeat, start its clock, and ask for the streams we need."""
        hb = self.link.wait(
            f"a HEARTBEAT from system {self.sysid}",
            ["HEARTBEAT"],
            lambda m: m.get_srcSystem() == self.sysid and m.get_srcComponent() == self.compid,
            timeout_s=float("inf"),  # no vehicle clock yet: bounded by link.silence_s (wall)
        )
        self.autopilot = hb.msg.autopilot
        self.bytewise_params = params.is_bytewise(hb.msg.autopilot)  # until it says (below)
        for name, hz in streams.items():
            self._send_command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, _msg_id(name), 1e6 / hz)
        self.link.wait(
            "the first message carrying time_boot_ms (the vehicle clock)",
            ["SYSTEM_TIME", "ATTITUDE"],
            lambda m: m.get_srcSystem() == self.sysid,
            timeout_s=float("inf"),  # bounded by link.silence_s (wall), as above
        )
        for name, hz in {**streams, **flavour.extra_streams(self.autopilot)}.items():
            self.request_stream(name, hz)  # now confirmed, with retries, in vehicle time
        version = self._autopilot_version(1.0)  # how it encodes integer parameters, if it says
        self.bytewise_params = params.is_bytewise(
            self.autopilot, version.msg.capabilities if version else None
        )

    def request_stream(self, name: str, hz: float) -> None:
        """Ask for a message at `hz` (MAV_CMD_SET_MESSAGE_INTERVAL); raise if refused."""
        self.command_ok(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, _msg_id(name), 1e6 / hz)

    def latest(self, mtype: str) -> Message | None:
        got = self.link.latest(mtype)
        return got.msg if got else None

    @property
    def armed(self) -> bool:
        hb = self.latest("HEARTBEAT")
        return bool(hb and hb.base_mode & ARMED)

    @property
    def mode(self) -> str:
        hb = self.latest("HEARTBEAT")
        return flavour.mode_name(self.autopilot, hb.custom_mode) if hb else "unknown"

    @property
    def relative_alt_m(self) -> float:
        pos = self.latest("GLOBAL_POSITION_INT")
        return pos.relative_alt / 1000.0 if pos else float("nan")

    def recent_statustext(self, since: float) -> list[str]:
        return [t.msg.text for t in self.link.statustexts if t.t >= since]

    def _from_vehicle(self, msg: Message) -> bool:
        return msg.get_srcSystem() == self.sysid and msg.get_srcComponent() == self.compid

    def wait_heartbeat(
        self, what: str, match: Callable[[Message], object], timeout_s: float
    ) -> Timed:
        """Wait until the vehicle's HEARTBEAT satisfies `match` (its current one counts)."""
        return self.link.wait(
            what,
            ["HEARTBEAT"],
            lambda m: self._from_vehicle(m) and match(m),
            timeout_s=timeout_s,
            include_latest=True,
        )

    def identity(self, timeout_s: float = 2.0) -> dict[str, Any]:
        """Who the vehicle says it is (HEARTBEAT and AUTOPILOT_VERSION): the firmware a finding
        belongs to. Fields the vehicle does not report are left out, never guessed."""
        hb = self.latest("HEARTBEAT")
        ident: dict[str, Any] = {}
        if hb is not None:
            ident["autopilot"] = _enum_name("MAV_AUTOPILOT", hb.autopilot)
            ident["vehicle_type"] = _enum_name("MAV_TYPE", hb.type)
        got = self._autopilot_version(timeout_s)
        if got is None:
            return ident  # an autopilot that does not say: the heartbeat is all there is
        av = got.msg
        v = av.flight_sw_version
        ident["flight_sw_version"] = f"{v >> 24 & 0xFF}.{v >> 16 & 0xFF}.{v >> 8 & 0xFF}"
        ident["flight_sw_type"] = _FW_TYPES.get(v & 0xFF, str(v & 0xFF))
        githash = flavour.git_hash(self.autopilot, bytes(av.flight_custom_version))
        if githash:
            ident["git_hash"] = githash
        ident.update(board_version=av.board_version, vendor_id=av.vendor_id,
                     product_id=av.product_id, uid=av.uid)  # fmt: skip
        return ident

    def _autopilot_version(self, timeout_s: float) -> Timed | None:
        try:
            return self.link.request(
                self.link.mav.command_long_encode(
                    self.sysid, self.compid, mavlink.MAV_CMD_REQUEST_MESSAGE, 0,
                    mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION, 0, 0, 0, 0, 0, 0,
                ),
                "AUTOPILOT_VERSION", ["AUTOPILOT_VERSION"], self._from_vehicle,
                timeout_s=timeout_s,
            )  # fmt: skip
        except WaitTimeout:
            return None

    # -- parameters ----------------------------------------------------------------------------
    def remember_type(self, name: str, param_type: int) -> None:
        """A parameter's wire type, learnt from any PARAM_VALUE (needed to encode a PARAM_SET)."""
        self._param_types[name] = param_type

    def get_param(self, name: str, timeout_s: float = 1.0, retries: int = 3) -> float:
        msg = self._param_exchange(
            name,
            lambda: self.link.mav.param_request_read_encode(
                self.sysid, self.compid, name.encode(), -1
            ),
            timeout_s,
            retries,
        )
        return params.decode(msg.param_value, msg.param_type, self.bytewise_params)

    def set_param(self, name: str, value: float, timeout_s: float = 1.0, retries: int = 3) -> float:
        """Set a parameter and return the value the vehicle echoed (which a check compares)."""
        if name not in self.journal:
            original = self.get_param(name, timeout_s, retries)
            self.journal[name] = ParamChange(name, original, self._param_types[name])
        ptype = self._param_types[name]
        wire = params.encode(value, ptype, self.bytewise_params)
        msg = self._param_exchange(
            name,
            lambda: self.link.mav.param_set_encode(
                self.sysid, self.compid, name.encode(), wire, ptype
            ),
            timeout_s,
            retries,
        )
        return params.decode(msg.param_value, msg.param_type, self.bytewise_params)

    def answers_parameters(self, timeout_s: float = 1.0, retries: int = 2) -> bool:
        """Whether the parameter service still answers (a read by index 0): a cheap health
        probe after checks that stress the vehicle."""
        ask = self.link.mav.param_request_read_encode(self.sysid, self.compid, b"", 0)
        for _ in range(retries):
            try:
                self.link.request(
                    ask, "PARAM_VALUE index 0", ["PARAM_VALUE"],
                    lambda m: self._from_vehicle(m) and m.param_index == 0, timeout_s=timeout_s,
                )  # fmt: skip
                return True
            except WaitTimeout:
                continue
            except (VehicleSilent, VehicleLost):
                return False  # it hung or died: no further try can be answered
        return False

    def restore_params(self) -> list[str]:
        """Put back every journaled parameter; return what could not be restored."""
        problems = []
        for change in list(self.journal.values()):
            try:
                echoed = self.set_param(change.name, change.original)
            except WaitTimeout as exc:
                problems.append(f"{change.name}: no answer while restoring ({exc})")
                continue
            except (VehicleSilent, VehicleLost) as exc:  # hung or died: nothing more will answer
                left = ", ".join(self.journal)
                problems.append(f"{left}: not restored, the vehicle stopped answering ({exc})")
                break
            if not params.same(echoed, change.original):
                problems.append(f"{change.name}: is {echoed:g}, should be {change.original:g}")
            else:
                del self.journal[change.name]
        return problems

    def _param_exchange(
        self, name: str, build: Callable[[], Message], timeout_s: float, retries: int
    ) -> Message:
        last: WaitTimeout | None = None
        for _ in range(retries):
            try:
                got = self.link.request(
                    build(),
                    f"PARAM_VALUE {name}",
                    ["PARAM_VALUE"],
                    lambda m: self._from_vehicle(m) and params.name_of(m.param_id) == name,
                    timeout_s=timeout_s,
                )
            except WaitTimeout as exc:
                last = exc
                continue
            self._param_types[name] = got.msg.param_type
            return got.msg
        raise WaitTimeout(f"parameter {name}: no PARAM_VALUE after {retries} tries ({last})")

    # -- commands ------------------------------------------------------------------------------
    def _send_command(self, cmd: int, *args: float, confirmation: int = 0) -> None:
        if (
            cmd == mavlink.MAV_CMD_COMPONENT_ARM_DISARM
            and args
            and args[0]
            and not (self.arming_allowed)
        ):
            raise ArmingForbidden(
                "arming refused by skyproof: this is hardware and the run did not confirm "
                "propellers off (--props-off / SKYPROOF_PROPS_OFF=1) with `arming: allowed`"
            )
        p = [*args, *[0.0] * (7 - len(args))]
        self.link.send(
            self.link.mav.command_long_encode(self.sysid, self.compid, cmd, confirmation, *p)
        )

    def command(self, cmd: int, *args: float, ack_timeout_s: float = 1.0, retries: int = 3) -> int:
        """Send COMMAND_LONG until a final COMMAND_ACK comes back; return its MAV_RESULT."""
        return self._until_acked(
            cmd, lambda attempt: self._send_command(cmd, *args, confirmation=attempt),
            ack_timeout_s, retries,
        )  # fmt: skip

    def command_int(
        self, cmd: int, frame: int, params: tuple[float, float, float, float], x: int, y: int,
        z: float, *, ack_timeout_s: float = 1.0, retries: int = 3,
    ) -> int:  # fmt: skip
        """Send COMMAND_INT (positions as integers: lat/lon degE7 in x, y) until a final
        COMMAND_ACK comes back; return its MAV_RESULT."""
        msg = self.link.mav.command_int_encode(self.sysid, self.compid, frame, cmd, 0, 0,
                                               *params, x, y, z)  # fmt: skip
        return self._until_acked(cmd, lambda _attempt: self.link.send(msg), ack_timeout_s,
                                 retries)  # fmt: skip

    def _until_acked(
        self, cmd: int, send: Callable[[int], None], ack_timeout_s: float, retries: int
    ) -> int:
        gcs = self.link.mav.srcSystem

        def is_ack(m: Message) -> bool:
            return (
                self._from_vehicle(m)
                and m.command == cmd
                and getattr(m, "target_system", 0) in (0, gcs)
                and m.result != mavlink.MAV_RESULT_IN_PROGRESS
            )

        # One subscription for all attempts: a late ACK of an earlier attempt still counts,
        # and none can slip through a gap between two attempts.
        with self.link.subscribe(["COMMAND_ACK"]) as sub:
            for attempt in range(retries):
                send(attempt)
                deadline = self.link.clock.now() + ack_timeout_s
                while self.link.clock.now() < deadline:
                    got = sub.get(self.link.poll_s(deadline))
                    if got and is_ack(got.msg):
                        return got.msg.result
                    self.link.check_alive(f"COMMAND_ACK for {_cmd_name(cmd)}")
        raise WaitTimeout(
            f"no COMMAND_ACK for {_cmd_name(cmd)} after {retries} tries of "
            f"{ack_timeout_s:g} s vehicle time each"
        )

    def command_ok(self, cmd: int, *args: float, **kw: float) -> None:
        since = self.link.clock.now()
        result = self.command(cmd, *args, **kw)
        if result != mavlink.MAV_RESULT_ACCEPTED:
            # The explanation may follow the ACK: give it a moment of vehicle time to arrive.
            self.link.collect(["STATUSTEXT"], self.EXPLAIN_S)
            said = "; ".join(self.recent_statustext(since)) or "no STATUSTEXT"
            raise CommandRejected(f"{_cmd_name(cmd)} answered {result_name(result)} ({said})")

    def set_mode(self, name: str, timeout_s: float = 5.0) -> None:
        """DO_SET_MODE, confirmed by HEARTBEAT. An ACCEPTED may not be the last word (a MAVLink
        layer may accept before the mode logic decides): a refusal that follows it, before the
        mode shows, is the answer."""
        number = flavour.custom_mode(self.autopilot, name)
        cmd = mavlink.MAV_CMD_DO_SET_MODE

        def shown_or_refused(m: Message) -> bool:
            if m.get_type() == "HEARTBEAT":
                return m.custom_mode == number
            return m.command == cmd and m.result not in (
                mavlink.MAV_RESULT_ACCEPTED, mavlink.MAV_RESULT_IN_PROGRESS
            )

        since = self.link.clock.now()
        with self.link.subscribe(["HEARTBEAT", "COMMAND_ACK"]) as sub:
            self.command_ok(cmd, *flavour.set_mode_params(self.autopilot, name))
            got = self.link.wait(
                f"mode {name}", ["HEARTBEAT", "COMMAND_ACK"],
                lambda m: self._from_vehicle(m) and shown_or_refused(m),
                timeout_s=timeout_s, include_latest=True, sub=sub,
            )  # fmt: skip
        if got.msg.get_type() == "COMMAND_ACK":
            self.link.collect(["STATUSTEXT"], self.EXPLAIN_S)
            said = "; ".join(self.recent_statustext(since)) or "no STATUSTEXT"
            raise CommandRejected(
                f"{_cmd_name(cmd)} answered ACCEPTED, then {result_name(got.msg.result)} "
                f"({said})"
            )

    def wait_armable(self, timeout_s: float) -> Timed:
        """Wait for the pre-arm checks to pass (SYS_STATUS PREARM_CHECK health bit) and for the
        estimator to know where the vehicle is; both within `timeout_s` in all."""
        deadline = self.link.clock.now() + timeout_s
        self.link.wait(
            "pre-arm checks to pass (SYS_STATUS health bit PREARM_CHECK)",
            ["SYS_STATUS"],
            lambda m: self._from_vehicle(m) and m.onboard_control_sensors_health & PREARM_OK,
            timeout_s=timeout_s,
            include_latest=True,
        )
        what, mtype, ready = flavour.position_ready(self.autopilot)
        return self.link.wait(
            what,
            [mtype],
            lambda m: self._from_vehicle(m) and ready(m),
            timeout_s=max(0.0, deadline - self.link.clock.now()),
            include_latest=True,
        )

    def arm(self, timeout_s: float = 5.0) -> None:
        self.command_ok(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1)
        self.wait_heartbeat("the armed flag", lambda m: m.base_mode & ARMED, timeout_s)

    def disarm(self, force: bool = False, timeout_s: float = 5.0) -> None:
        self.command_ok(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, 21196 if force else 0)
        self.wait_heartbeat("the armed flag to clear", lambda m: not m.base_mode & ARMED, timeout_s)

    def takeoff(self, alt_m: float, tolerance_m: float, timeout_s: float) -> Timed:
        """GUIDED take-off to alt_m above home; returns the GLOBAL_POSITION_INT that reached the
        altitude, once the vehicle holds there in the mode it took off from (PX4 flies the
        climb in a take-off mode of its own, then goes back to holding)."""
        holding = self.latest("HEARTBEAT")
        start = self.link.clock.now()
        amsl = flavour.uses_amsl_altitude(self.autopilot)
        params = flavour.takeoff_params(self.autopilot, alt_m, self.home_amsl_m() if amsl else 0.0)
        self.command_ok(mavlink.MAV_CMD_NAV_TAKEOFF, *params)
        reached = self.link.wait(
            f"relative altitude {alt_m:g} m (± {tolerance_m:g} m)",
            ["GLOBAL_POSITION_INT"],
            lambda m: self._from_vehicle(m) and m.relative_alt / 1000 >= alt_m - tolerance_m,
            timeout_s=timeout_s,
        )
        if holding is not None:
            left = max(0.0, timeout_s - (self.link.clock.now() - start))
            mode = flavour.mode_name(self.autopilot, holding.custom_mode)
            self.wait_heartbeat(f"the end of the take-off (mode {mode} again)",
                                lambda m: m.custom_mode == holding.custom_mode, left)  # fmt: skip
        return reached

    HOME_WAIT_S = 5.0  # vehicle seconds for a first GLOBAL_POSITION_INT (streamed at >= 1 Hz)

    def home_amsl_m(self) -> float:
        """Home's altitude above mean sea level, from GLOBAL_POSITION_INT (alt - relative_alt):
        what an AMSL altitude in a command is counted from. Waits (bounded) for a first position
        rather than send NaN, which PX4 would read as "its default height"."""
        pos = self.link.wait("a GLOBAL_POSITION_INT (home's altitude above sea level)",
                             ["GLOBAL_POSITION_INT"], self._from_vehicle,
                             timeout_s=self.HOME_WAIT_S, include_latest=True).msg  # fmt: skip
        return (pos.alt - pos.relative_alt) / 1000.0

    def land(self, timeout_s: float) -> Timed:
        """LAND mode; returns the HEARTBEAT that showed the vehicle disarmed on the ground."""
        self.set_mode("LAND")
        self.link.wait(
            "landed state ON_GROUND",
            ["EXTENDED_SYS_STATE"],
            lambda m: (
                self._from_vehicle(m) and m.landed_state == mavlink.MAV_LANDED_STATE_ON_GROUND
            ),
            timeout_s=timeout_s,
            include_latest=False,
        )
        return self.wait_heartbeat("disarm after landing", lambda m: not m.base_mode & ARMED, 10.0)

    def goto(
        self,
        lat: float,
        lon: float,
        rel_alt_m: float,
        *,
        speed_m_s: float = -1,
        radius_m: float = 2.0,
        timeout_s: float = 60.0,
    ) -> Timed:
        """Fly to lat/lon (degrees) at rel_alt_m above home: MAV_CMD_DO_REPOSITION (acknowledged,
        unlike SET_POSITION_TARGET_GLOBAL_INT; switches to GUIDED), then wait until within
        radius_m horizontally. speed_m_s -1: the vehicle's default. Returns the position."""
        # COMMAND_INT: ArduPilot takes DO_REPOSITION only so (as COMMAND_LONG it answers
        # UNSUPPORTED), and lat/lon keep their 1e-7 degrees. The altitude frame: relative to
        # home where the autopilot reads it so, above mean sea level for PX4. Yaw NaN: its own.
        amsl = flavour.uses_amsl_altitude(self.autopilot)
        frame = mavlink.MAV_FRAME_GLOBAL_INT if amsl else mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
        alt = rel_alt_m + (self.home_amsl_m() if amsl else 0.0)
        since = self.link.clock.now()
        result = self.command_int(
            mavlink.MAV_CMD_DO_REPOSITION, frame,
            (speed_m_s, mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE, 0, math.nan),
            round(lat * 1e7), round(lon * 1e7), alt,
        )  # fmt: skip
        if result != mavlink.MAV_RESULT_ACCEPTED:
            self.link.collect(["STATUSTEXT"], self.EXPLAIN_S)
            said = "; ".join(self.recent_statustext(since)) or "no STATUSTEXT"
            raise CommandRejected(f"MAV_CMD_DO_REPOSITION answered {result_name(result)} ({said})")
        if speed_m_s > 0:  # ArduPilot Copter ignores DO_REPOSITION's speed: ask for it again
            self.command_ok(mavlink.MAV_CMD_DO_CHANGE_SPEED, 1, speed_m_s, -1)
        return self.link.wait(
            f"position within {radius_m:g} m of {lat:.7f}, {lon:.7f}",
            ["GLOBAL_POSITION_INT"],
            lambda m: (
                self._from_vehicle(m)
                and ground_distance_m(m.lat / 1e7, m.lon / 1e7, lat, lon) <= radius_m
            ),
            timeout_s=timeout_s,
        )


EARTH_RADIUS_M = 6_378_137.0  # WGS-84 equatorial: the scale ArduPilot and sim/ use for lat/lon


def ground_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Horizontal distance between two points in degrees (equirectangular: exact to well under
    a metre over the few kilometres a check flies)."""
    dn = math.radians(lat2 - lat1)
    de = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return EARTH_RADIUS_M * math.hypot(dn, de)


def offset(lat: float, lon: float, distance_m: float, bearing_deg: float) -> tuple[float, float]:
    """The point distance_m from lat/lon (degrees) on bearing_deg (0 north, 90 east)."""
    b = math.radians(bearing_deg)
    dlat = math.degrees(distance_m * math.cos(b) / EARTH_RADIUS_M)
    dlon = math.degrees(distance_m * math.sin(b) / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


def _msg_id(name: str) -> int:
    return getattr(mavlink, f"MAVLINK_MSG_ID_{name}")


def _cmd_name(cmd: int) -> str:
    entry = mavlink.enums["MAV_CMD"].get(cmd)
    return entry.name if entry else f"command {cmd}"


# FIRMWARE_VERSION_TYPE_*, the low byte of flight_sw_version
_FW_TYPES = {0: "dev", 64: "alpha", 128: "beta", 192: "rc", 255: "official"}


def _enum_name(enum: str, value: int) -> str:
    entry = mavlink.enums[enum].get(value)
    return entry.name.removeprefix(f"{enum}_") if entry else str(value)
