"""Remote ID: an ASTM F3411 transmitter seen over MAVLink ("Open Drone ID" messages).

Component MAV_COMP_ID_ODID_TXRX_1 (236) of the vehicle's system, with its own HEARTBEAT
(type ODID), sends on every link in vehicle time:
- OPEN_DRONE_ID_LOCATION every 1/SIM_RID_LOC_HZ s (default 1 Hz), built from the vehicle's
  state at the moment it is sent (so never older than one physics step);
- OPEN_DRONE_ID_BASIC_ID, SYSTEM, OPERATOR_ID, SELF_ID every SIM_RID_STATIC_S s (default 3;
  some regions want 1 s for BASIC_ID and SYSTEM);
- OPEN_DRONE_ID_ARM_STATUS and the HEARTBEAT at 1 Hz (as transmitters such as ArduRemoteID do).
Encodings (F3411 via the MAVLink message definitions): direction 0..35999 cdeg (36100
unknown), horizontal speed cm/s up to 25425 (25500 unknown), vertical speed +-6200 cm/s (6300
unknown), lat/lon degE7 (0 unknown), altitudes m (-1000 unknown), timestamp = seconds after
the full hour, 0.1 s resolution (0xFFFF unknown); status GROUND / AIRBORNE / EMERGENCY (a
failsafe in flight), REMOTE_ID_SYSTEM_FAILURE until the self-test passes. Before the GPS
fix everything positional is "unknown".

Arming: the transmitter's self-test passes SELFTEST_S vehicle seconds after start (or after
SIM_RID_ENABLE goes to 1); until then ARM_STATUS says PRE_ARM_FAIL_GENERIC and arming is
refused with "PreArm: Remote ID not ready", even with ARMING_CHECK=0 (ArduPilot's mandatory
checks); only a forced arm skips it. SIM_RID_ENABLE=0: no transmitter, no requirement.
Faults: remote_id_silent, remote_id_stale, remote_id_wrong_position (see sim/faults.py).
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

from sim import geo
from sim.mav import MAVLink, MAVLinkMessage, mavlink

if TYPE_CHECKING:
    from sim.core import Sim
    from sim.links import Link

M = mavlink
COMP = M.MAV_COMP_ID_ODID_TXRX_1
SELFTEST_S = 5.0  # vehicle seconds from transmitter start to good-to-arm
ODID_EPOCH = 1546300800  # SYSTEM.timestamp counts seconds from 2019-01-01 00:00 UTC
WRONG_POSITION_M = 500.0  # fault remote_id_wrong_position: this far north-east of the truth
NO_MAC = [0] * 20  # id_or_mac: zero for MAVLink-only use
UNKNOWN_DIRECTION, UNKNOWN_HSPEED, UNKNOWN_VSPEED = 36100, 25500, 6300
MAX_HSPEED, MAX_VSPEED = 25425, 6200
UNKNOWN_ALT, UNKNOWN_TIME = -1000.0, 0xFFFF


class RemoteId:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.senders: list[MAVLink] = []  # component 236's sender on each link
        self.started_at = 0.0  # vehicle time the transmitter (re)started its self-test
        self.due: dict[str, float] = {}
        self.frozen: MAVLinkMessage | None = None  # fault remote_id_stale: the first fix
        digest = hashlib.sha256(f"skyproof-rid:{sim.seed}".encode()).hexdigest().upper()
        # ANSI/CTA-2063-A serial: 4-char manufacturer code, length code (A = 10), serial.
        self.serial = f"SKYPA{digest[:10]}"
        self.operator = f"SKY-OP-{digest[10:18]}"
        sim.vehicle.mandatory_checks.append(self.prearm_failures)
        sim.params.listeners.append(self._on_param)

    # ---- state ----
    @property
    def transmitting(self) -> bool:
        return self.sim.params.get_int("SIM_RID_ENABLE") == 1 and not self.sim.faults.on(
            "remote_id_silent")

    @property
    def ready(self) -> bool:
        return self.sim.clock.now - self.started_at >= SELFTEST_S

    def prearm_failures(self) -> list[str]:
        if not self.transmitting or self.ready:
            return []  # fault remote_id_silent: no transmitter and nobody minds
        return ["Remote ID not ready"]

    def _on_param(self, name: str, value: float) -> None:
        if name == "SIM_RID_ENABLE" and value == 1:
            self.started_at = self.sim.clock.now  # switched on: self-test again
            self.due.clear()
        elif name in ("SIM_RID_LOC_HZ", "SIM_RID_STATIC_S"):
            self.due.clear()  # new rates take effect at once

    # ---- add-on interface ----
    def attach(self, link: Link) -> None:
        mav = MAVLink(link, self.sim.sysid, COMP)  # same link file: radio loss applies too
        self.senders.append(mav)
        self.sim.signing.enroll(mav, link.index)

    def reboot(self) -> None:
        # The transmitter is a separate device: it keeps running through an autopilot reboot.
        for mav in self.senders:
            mav.srcSystem = self.sim.sysid

    def tick(self) -> None:
        if not self.transmitting:
            return
        p = self.sim.params
        static = p["SIM_RID_STATIC_S"]
        schedule = (
            ("heartbeat", 1.0, self._heartbeat),
            ("arm_status", 1.0, self._arm_status),
            ("location", 1.0 / p["SIM_RID_LOC_HZ"], self.location),
            ("basic_id", static, self._basic_id),
            ("system", static, self._system),
            ("operator_id", static, self._operator_id),
            ("self_id", static, self._self_id),
        )
        now = self.sim.clock.now
        for name, interval, build in schedule:
            due = self.due.get(name, now)
            if now + 1e-9 < due:
                continue
            nxt = due + interval
            self.due[name] = nxt if nxt > now else now + interval  # never burst to catch up
            msg = build()
            for mav in self.senders:
                mav.send(msg)

    # ---- messages ----
    def _heartbeat(self) -> MAVLinkMessage:
        return M.MAVLink_heartbeat_message(M.MAV_TYPE_ODID, M.MAV_AUTOPILOT_INVALID, 0, 0,
                                           M.MAV_STATE_ACTIVE, 3)

    def _arm_status(self) -> MAVLinkMessage:
        if self.ready:
            return M.MAVLink_open_drone_id_arm_status_message(
                M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM, b"")
        return M.MAVLink_open_drone_id_arm_status_message(
            M.MAV_ODID_ARM_STATUS_PRE_ARM_FAIL_GENERIC, b"self-test running")

    def _status(self) -> int:
        v = self.sim.vehicle
        if not self.ready:
            return M.MAV_ODID_STATUS_REMOTE_ID_SYSTEM_FAILURE  # self-test not passed yet
        if not v.armed or v.landed:
            return M.MAV_ODID_STATUS_GROUND
        return M.MAV_ODID_STATUS_EMERGENCY if v.failsafe else M.MAV_ODID_STATUS_AIRBORNE

    def location(self) -> MAVLinkMessage:
        sim, v = self.sim, self.sim.vehicle
        status = self._status()
        if not v.gps_ok:
            return M.MAVLink_open_drone_id_location_message(
                0, 0, NO_MAC, status, UNKNOWN_DIRECTION, UNKNOWN_HSPEED, UNKNOWN_VSPEED, 0, 0,
                UNKNOWN_ALT, UNKNOWN_ALT, M.MAV_ODID_HEIGHT_REF_OVER_TAKEOFF, UNKNOWN_ALT,
                M.MAV_ODID_HOR_ACC_UNKNOWN, M.MAV_ODID_VER_ACC_UNKNOWN,
                M.MAV_ODID_VER_ACC_UNKNOWN, M.MAV_ODID_SPEED_ACC_UNKNOWN, UNKNOWN_TIME,
                M.MAV_ODID_TIME_ACC_UNKNOWN)
        if self.frozen is not None:
            self.frozen.status = status  # fault remote_id_stale: only the status is live
            return self.frozen
        lat, lon = v.noisy_latlon()
        if sim.faults.on("remote_id_wrong_position"):
            d = WRONG_POSITION_M / math.sqrt(2)
            lat, lon = geo.offset(lat, lon, d, d)
        spd = math.hypot(v.vn, v.ve)
        # Track over ground while moving; the heading when (nearly) still.
        course = math.atan2(v.ve, v.vn) if spd > 0.3 else v.yaw
        direction = round(math.degrees(course) % 360 * 100) % 36000
        alt = v.alt_amsl() + v.noise_u
        seconds_after_hour = round((sim.unix0 + sim.clock.now) % 3600, 1) % 3600
        msg = M.MAVLink_open_drone_id_location_message(
            0, 0, NO_MAC, status, direction, min(round(spd * 100), MAX_HSPEED),
            max(-MAX_VSPEED, min(MAX_VSPEED, round(v.vu * 100))),
            round(lat * 1e7), round(lon * 1e7), alt, alt,
            M.MAV_ODID_HEIGHT_REF_OVER_TAKEOFF, v.alt_above_home() + v.noise_u,
            M.MAV_ODID_HOR_ACC_1_METER, M.MAV_ODID_VER_ACC_3_METER, M.MAV_ODID_VER_ACC_3_METER,
            M.MAV_ODID_SPEED_ACC_0_3_METERS_PER_SECOND, seconds_after_hour,
            M.MAV_ODID_TIME_ACC_0_1_SECOND)
        if sim.faults.on("remote_id_stale"):
            self.frozen = msg  # from now on the same position and timestamp, forever
        return msg

    def _basic_id(self) -> MAVLinkMessage:
        uas_id = list(self.serial.encode().ljust(20, b"\0"))
        return M.MAVLink_open_drone_id_basic_id_message(
            0, 0, NO_MAC, M.MAV_ODID_ID_TYPE_SERIAL_NUMBER,
            M.MAV_ODID_UA_TYPE_HELICOPTER_OR_MULTIROTOR, uas_id)

    def _system(self) -> MAVLinkMessage:
        sim, h = self.sim, self.sim.vehicle.home  # the operator stands at the take-off point
        lat, lon, alt = 0, 0, UNKNOWN_ALT
        if h is not None:
            lat, lon, alt = round(h.lat * 1e7), round(h.lon * 1e7), h.alt
        stamp = max(0, int(sim.unix0 + sim.clock.now) - ODID_EPOCH)
        return M.MAVLink_open_drone_id_system_message(
            0, 0, NO_MAC, M.MAV_ODID_OPERATOR_LOCATION_TYPE_TAKEOFF,
            M.MAV_ODID_CLASSIFICATION_TYPE_UNDECLARED, lat, lon, 1, 0, UNKNOWN_ALT, UNKNOWN_ALT,
            M.MAV_ODID_CATEGORY_EU_UNDECLARED, M.MAV_ODID_CLASS_EU_UNDECLARED, alt, stamp)

    def _operator_id(self) -> MAVLinkMessage:
        return M.MAVLink_open_drone_id_operator_id_message(
            0, 0, NO_MAC, M.MAV_ODID_OPERATOR_ID_TYPE_CAA, self.operator.encode())

    def _self_id(self) -> MAVLinkMessage:
        return M.MAVLink_open_drone_id_self_id_message(
            0, 0, NO_MAC, M.MAV_ODID_DESC_TYPE_TEXT, b"skyproof-sim copter")
