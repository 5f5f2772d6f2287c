"""Remote ID: Open Drone ID over MAVLink, the autopilot's side, as ArduPilot does it with
DID_ENABLE=1 (AP_OpenDroneID; learnt from its behaviour, not copied).

The autopilot does not broadcast Remote ID itself: it feeds a transponder, a separate device
(component MAV_COMP_ID_ODID_TXRX_1, HEARTBEAT type ODID) on channel DID_MAVPORT, which puts on
the air what it is sent. Messages flow so:
- autopilot (component 1) -> transponder, on channel DID_MAVPORT only, in vehicle time:
  OPEN_DRONE_ID_LOCATION and OPEN_DRONE_ID_SYSTEM_UPDATE every second (built when sent), and
  BASIC_ID, SYSTEM, SELF_ID, OPERATOR_ID in turn, one every STATIC_SPACING_S, so each every
  4 x STATIC_SPACING_S (2 s; ArduPilot spaces them 0.75 s, each every 3 s or a little more);
- ground station -> autopilot, on any channel: BASIC_ID, SELF_ID, OPERATOR_ID, SYSTEM and
  SYSTEM_UPDATE (the operator's data and location): kept and relayed as given;
- transponder -> autopilot, on its own channel only: OPEN_DRONE_ID_ARM_STATUS (about 1 Hz).
Arming (DID_OPTIONS bit 0 "enforce arming"; a mandatory check, which ARMING_CHECK=0 does not
skip): refused, saying why, without a BASIC_ID naming a UA type, an operator location, a SYSTEM
and an ARM_STATUS each no older than FRESH_S, or while the ARM_STATUS is not GOOD_TO_ARM (its
error text is passed on).
Transponder lost (no ARM_STATUS for LOST_S): "ODID: lost transmitter" (WARNING, again every
LOST_S while it lasts) and LOCATION status REMOTE_ID_SYSTEM_FAILURE, as mavlink.io's Open Drone
ID service asks (ArduPilot only warns), until it reports again.
LOCATION encodings (MAVLink common.xml): direction over ground 0..35999 cdeg (36100 unknown),
horizontal speed cm/s up to 25425 (25500 unknown), vertical speed +-6200 cm/s (6300 unknown),
lat/lon degE7 (0 unknown), altitudes m (-1000 unknown), timestamp = UTC seconds after the full
hour (0xFFFF unknown); status GROUND (disarmed or landed) / AIRBORNE / EMERGENCY (a failsafe in
flight). Before the GPS fix everything positional is "unknown".
DID_ENABLE and DID_MAVPORT are read at boot (start or reboot), as ArduPilot reads them: give
them with `python -m sim --param DID_ENABLE=1 --param DID_MAVPORT=1`.
Faults: the remote_id_* entries of sim/faults.py.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim import geo
from sim.mav import MAVLinkMessage, mavlink
from sim.vehicle import SEV_WARNING

if TYPE_CHECKING:
    from sim.core import Sim
    from sim.links import Link

M = mavlink
ODID_EPOCH = 1546300800  # SYSTEM.timestamp counts seconds from 2019-01-01 00:00 UTC
LOCATION_S = 1.0  # LOCATION and SYSTEM_UPDATE period
SLOW_LOCATION_S = 2.0  # fault remote_id_location_0_5hz
STATIC_SPACING_S = 0.5  # one static message every this long, in turn
STATIC_ORDER = ("basic_id", "system", "self_id", "operator_id")
FRESH_S = 3.0  # pre-arm: ARM_STATUS and SYSTEM no older than this
LOST_S = 4.0  # no ARM_STATUS this long: the transponder is lost
LATE_LOST_S = 9.0  # fault remote_id_loss_reported_late: the warning waits this long
SHORT_OFFSET_M = 50.0  # fault remote_id_position_50m: this far north of the truth
WRONG_POSITION_M = 500.0  # fault remote_id_wrong_position: this far north-east of the truth
GPS_LEAP_S = 18.0  # fault remote_id_timestamp_gps_time: GPS time runs this far ahead of UTC
UNKNOWN_DIRECTION, UNKNOWN_HSPEED, UNKNOWN_VSPEED = 36100, 25500, 6300
MAX_HSPEED, MAX_VSPEED = 25425, 6200
UNKNOWN_ALT, UNKNOWN_TIME = -1000.0, 0xFFFF
NO_MAC = [0] * 20  # id_or_mac: zero for the vehicle's own data
ENFORCE_ARMING = 1  # DID_OPTIONS bit 0


class RemoteId:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.enabled = False  # DID_ENABLE at boot
        self.port = -1  # DID_MAVPORT at boot: the transponder's channel
        # What the ground station gave (relayed as given; zeroed until it does).
        self.basic_id = M.MAVLink_open_drone_id_basic_id_message(0, 0, NO_MAC, 0, 0, [0] * 20)
        self.self_id = M.MAVLink_open_drone_id_self_id_message(0, 0, NO_MAC, 0, b"")
        self.operator_id = M.MAVLink_open_drone_id_operator_id_message(0, 0, NO_MAC, 0, b"")
        self.system = M.MAVLink_open_drone_id_system_message(
            0, 0, NO_MAC, 0, 0, 0, 0, 0, 0, UNKNOWN_ALT, UNKNOWN_ALT, 0, 0, UNKNOWN_ALT, 0)
        self.system_t: float | None = None  # vehicle time of the newest SYSTEM / SYSTEM_UPDATE
        self.arm_status: MAVLinkMessage | None = None  # the transponder's newest
        self.arm_status_t: float | None = None
        self.arm_status_ch0_t: float | None = None  # fault remote_id_arm_status_wrong_channel
        self.lost_warned_t: float | None = None  # while lost: when we last warned
        self.due: dict[str, float] = {}
        self.next_static = 0
        self.self_id_turn = False  # fault remote_id_self_id_slow: every other turn only
        self.frozen: MAVLinkMessage | None = None  # fault remote_id_stale: the first fix
        self.has_flown = False  # fault remote_id_status_stuck_airborne
        sim.vehicle.mandatory_checks.append(self.prearm_failures)
        for name in ("BASIC_ID", "SELF_ID", "OPERATOR_ID", "SYSTEM", "SYSTEM_UPDATE",
                     "ARM_STATUS"):
            sim.handlers[f"OPEN_DRONE_ID_{name}"] = getattr(self, f"on_{name.lower()}")
        self.boot()

    def boot(self) -> None:
        """Read DID_ENABLE and DID_MAVPORT, as ArduPilot does once at start-up."""
        p = self.sim.params
        self.enabled = p.get_int("DID_ENABLE") == 1
        self.port = p.get_int("DID_MAVPORT")
        self.due.clear()

    # ---- add-on interface ----
    def attach(self, link: Link) -> None:
        pass  # the autopilot speaks for itself (component 1) on the transponder's channel

    def reboot(self) -> None:
        self.arm_status = self.arm_status_t = self.arm_status_ch0_t = None
        self.system_t = self.lost_warned_t = None
        self.boot()

    @property
    def link(self) -> Link | None:
        links = self.sim.links
        return links[self.port] if self.enabled and 0 <= self.port < len(links) else None

    # ---- from the ground station and the transponder ----
    def on_basic_id(self, link: Link, msg: MAVLinkMessage) -> None:
        self.basic_id = msg

    def on_self_id(self, link: Link, msg: MAVLinkMessage) -> None:
        self.self_id = msg

    def on_operator_id(self, link: Link, msg: MAVLinkMessage) -> None:
        self.operator_id = msg

    def on_system(self, link: Link, msg: MAVLinkMessage) -> None:
        self.system = msg
        self.system_t = self.sim.clock.now

    def on_system_update(self, link: Link, msg: MAVLinkMessage) -> None:
        s = self.system
        s.operator_latitude, s.operator_longitude = msg.operator_latitude, msg.operator_longitude
        s.operator_altitude_geo, s.timestamp = msg.operator_altitude_geo, msg.timestamp
        if self.system_t is not None:  # a full SYSTEM first: the rest of it must be known
            self.system_t = self.sim.clock.now

    def on_arm_status(self, link: Link, msg: MAVLinkMessage) -> None:
        if link.index == 0:
            self.arm_status_ch0_t = self.sim.clock.now
        if self.link is None or link is not self.link:
            return  # only the transponder, on its own channel, speaks for it
        self.arm_status, self.arm_status_t = msg, self.sim.clock.now

    # ---- state ----
    def _age(self, t: float | None) -> float:
        return math.inf if t is None else self.sim.clock.now - t

    @property
    def transponder_lost(self) -> bool:
        return self._age(self.arm_status_t) > LOST_S

    def prearm_failures(self) -> list[str]:
        if not self.enabled or not self.sim.params.get_int("DID_OPTIONS") & ENFORCE_ARMING:
            return []
        if self.basic_id.ua_type == 0:
            return ["Remote ID: no UA type in BASIC_ID"]
        if self.system.operator_latitude == 0 and self.system.operator_longitude == 0:
            return ["Remote ID: no operator location"]
        if self.sim.faults.on("remote_id_arming_ignores_transponder"):
            return []  # known-bad: whatever the transponder says (or does not)
        heard_t = self.arm_status_t
        if self.sim.faults.on("remote_id_arm_status_wrong_channel"):
            heard_t = self.arm_status_ch0_t  # known-bad: listens on channel 0 for it
        if self._age(heard_t) > FRESH_S:
            return ["Remote ID: no ARM_STATUS from transponder"]
        if self._age(self.system_t) > FRESH_S:
            return ["Remote ID: no SYSTEM from the GCS"]
        if self.arm_status is None:
            return ["Remote ID: no ARM_STATUS from transponder"]
        if self.arm_status.status != M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM:
            error = self.arm_status.error
            text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
            return [f"Remote ID: {text.rstrip(chr(0)) or 'transponder not ready'}"]
        return []

    # ---- each physics step ----
    def tick(self) -> None:
        if not self.enabled:
            return
        v, now = self.sim.vehicle, self.sim.clock.now
        if v.armed and not v.landed:
            self.has_flown = True
        self._warn_if_lost(now)
        link = self.link
        if link is None or self.sim.faults.on("remote_id_silent"):
            return
        loc_s = SLOW_LOCATION_S if self.sim.faults.on("remote_id_location_0_5hz") else LOCATION_S
        if self._due("location", loc_s, now):
            link.send(self.location())
        if self._due("system_update", LOCATION_S, now):
            link.send(self._system_update())
        if self._due("static", STATIC_SPACING_S, now):
            name = STATIC_ORDER[self.next_static]
            self.next_static = (self.next_static + 1) % len(STATIC_ORDER)
            if name == "self_id" and self.sim.faults.on("remote_id_self_id_slow"):
                self.self_id_turn = not self.self_id_turn
                if not self.self_id_turn:
                    return  # known-bad: this turn's SELF_ID is skipped
            link.send(getattr(self, f"_{name}")())

    def _due(self, name: str, interval: float, now: float) -> bool:
        due = self.due.get(name, now)
        if now + 1e-9 < due:
            return False
        nxt = due + interval
        self.due[name] = nxt if nxt > now else now + interval  # never burst to catch up
        return True

    def _warn_if_lost(self, now: float) -> None:
        late = self.sim.faults.on("remote_id_loss_reported_late")
        if self._age(self.arm_status_t) <= (LATE_LOST_S if late else LOST_S):
            self.lost_warned_t = None
            return
        if self.lost_warned_t is None or now - self.lost_warned_t >= LOST_S:
            self.lost_warned_t = now
            self.sim.vehicle.text(SEV_WARNING, "ODID: lost transmitter")

    # ---- what the transponder is sent ----
    def _status(self) -> int:
        v = self.sim.vehicle
        if self.transponder_lost and not self.sim.faults.on("remote_id_loss_status_unchanged"):
            return M.MAV_ODID_STATUS_REMOTE_ID_SYSTEM_FAILURE
        on_ground = not v.armed or v.landed
        if on_ground and not (self.has_flown and
                              self.sim.faults.on("remote_id_status_stuck_airborne")):
            return M.MAV_ODID_STATUS_GROUND
        return M.MAV_ODID_STATUS_EMERGENCY if v.failsafe else M.MAV_ODID_STATUS_AIRBORNE

    def location(self) -> MAVLinkMessage:
        sim, v = self.sim, self.sim.vehicle
        faults = sim.faults
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
        lat, lon = v.noisy_latlon()  # the position the autopilot reports everywhere
        if faults.on("remote_id_wrong_position"):
            d = WRONG_POSITION_M / math.sqrt(2)
            lat, lon = geo.offset(lat, lon, d, d)
        if faults.on("remote_id_position_50m"):
            lat, lon = geo.offset(lat, lon, SHORT_OFFSET_M, 0.0)
        spd = math.hypot(v.vn, v.ve)
        # Direction over ground (not heading) while moving; the heading when (nearly) still.
        course = math.atan2(v.ve, v.vn) if spd > 0.3 else v.yaw
        direction = round(math.degrees(course) % 360 * 100) % 36000
        alt = v.alt_amsl() + v.noise_u
        utc = sim.unix0 + sim.clock.now
        if faults.on("remote_id_timestamp_gps_time"):
            utc += GPS_LEAP_S  # known-bad: GPS time of week used as if it were UTC
        seconds_after_hour = round(utc % 3600, 1) % 3600
        msg = M.MAVLink_open_drone_id_location_message(
            0, 0, NO_MAC, status, direction, min(round(spd * 100), MAX_HSPEED),
            max(-MAX_VSPEED, min(MAX_VSPEED, round(v.vu * 100))),
            round(lat * 1e7), round(lon * 1e7), alt, alt,
            M.MAV_ODID_HEIGHT_REF_OVER_TAKEOFF, v.alt_above_home() + v.noise_u,
            M.MAV_ODID_HOR_ACC_1_METER, M.MAV_ODID_VER_ACC_3_METER, M.MAV_ODID_VER_ACC_3_METER,
            M.MAV_ODID_SPEED_ACC_0_3_METERS_PER_SECOND, seconds_after_hour,
            M.MAV_ODID_TIME_ACC_0_1_SECOND)
        if faults.on("remote_id_stale"):
            self.frozen = msg  # from now on the same position and timestamp, forever
        return msg

    def _operator_latlon(self) -> tuple[int, int]:
        if self.sim.faults.on("remote_id_operator_location_dropped"):
            return 0, 0  # known-bad: the ground station's location never reaches the air
        return self.system.operator_latitude, self.system.operator_longitude

    def _system(self) -> MAVLinkMessage:
        s = self.system
        lat, lon = self._operator_latlon()
        return M.MAVLink_open_drone_id_system_message(
            s.target_system, s.target_component, NO_MAC, s.operator_location_type,
            s.classification_type, lat, lon, s.area_count, s.area_radius, s.area_ceiling,
            s.area_floor, s.category_eu, s.class_eu, s.operator_altitude_geo, s.timestamp)

    def _system_update(self) -> MAVLinkMessage:
        s = self.system
        lat, lon = self._operator_latlon()
        return M.MAVLink_open_drone_id_system_update_message(
            s.target_system, s.target_component, lat, lon, s.operator_altitude_geo, s.timestamp)

    def _basic_id(self) -> MAVLinkMessage:
        return self.basic_id

    def _self_id(self) -> MAVLinkMessage:
        return self.self_id

    def _operator_id(self) -> MAVLinkMessage:
        return self.operator_id
