"""The harness's parts in Open Drone ID over MAVLink (mavlink.io "Open Drone ID"):

- the Remote ID transponder (MAV_COMP_ID_ODID_TXRX_1 of the vehicle's system, HEARTBEAT type
  ODID) on the channel the autopilot feeds it on (ArduPilot: DID_MAVPORT): it beats and sends
  OPEN_DRONE_ID_ARM_STATUS once a second of vehicle time, healthy, failing or silent as a check
  makes it, and hears what the autopilot sends it;
- the ground station's Open Drone ID data (the operator's input: BASIC_ID, OPERATOR_ID,
  SELF_ID, and SYSTEM with the operator's location, then SYSTEM_UPDATE once a second), sent to
  the autopilot on the ground station's link, which relays it to the transponder.

Both are paced by the ground station's link (`Link.every`): the transponder's channel may carry
no time of its own, so its link reads the ground station link's vehicle clock.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drivers.link.connection import Link, Message, Timed
from drivers.mavlink import mavlink

M = mavlink
TRANSPONDER = M.MAV_COMP_ID_ODID_TXRX_1
BEAT_S = 1.0  # ARM_STATUS and HEARTBEAT period (mavlink.io: ARM_STATUS once per second)
ODID_EPOCH = 1546300800  # SYSTEM.timestamp: seconds since 2019-01-01 00:00 UTC
NO_MAC = [0] * 20  # id_or_mac: empty for the system's own data (mavlink.io)
# What the autopilot sends its transponder
LOCATION = "OPEN_DRONE_ID_LOCATION"
STATIC = ("OPEN_DRONE_ID_BASIC_ID", "OPEN_DRONE_ID_SYSTEM", "OPEN_DRONE_ID_OPERATOR_ID",
          "OPEN_DRONE_ID_SELF_ID")  # fmt: skip
FEED = (LOCATION, *STATIC, "OPEN_DRONE_ID_SYSTEM_UPDATE")
STATUS_NAMES = {n: e.name.removeprefix("MAV_ODID_STATUS_")
                for n, e in M.enums["MAV_ODID_STATUS"].items()}  # fmt: skip


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, str(status))


class Transponder:
    """The Remote ID transponder on its own channel to the vehicle (see the module doc)."""

    def __init__(
        self,
        url: str,
        gcs: Link,
        vehicle_sysid: int,
        *,
        tlog: Path | None = None,
        liveness: Callable[[], str | None] | None = None,
    ) -> None:
        self.gcs = gcs
        self.link = Link(
            url, vehicle_sysid=vehicle_sysid, gcs_sysid=vehicle_sysid, gcs_compid=TRANSPONDER,
            silence_s=gcs.silence_s, tlog=tlog, liveness=liveness, clock=gcs.clock,
            heartbeat_type=M.MAV_TYPE_ODID,
        )  # fmt: skip
        self.link.gcs_heartbeats = False  # it beats with its ARM_STATUS, below
        self.status = M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM
        self.error = ""
        self.silent = False
        self.last_beat_t: float | None = None  # vehicle time of the newest beat sent
        self._stop = gcs.every(BEAT_S, self._beat)

    # -- what the transponder says -------------------------------------------------------------
    def healthy(self) -> None:
        self.status, self.error, self.silent = M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM, "", False

    def failing(self, error: str) -> None:
        """ARM_STATUS PRE_ARM_FAIL_GENERIC with this error text (at most 50 characters)."""
        self.status, self.error = M.MAV_ODID_ARM_STATUS_PRE_ARM_FAIL_GENERIC, error
        self.silent = False

    def go_silent(self) -> float:
        """No more HEARTBEAT or ARM_STATUS; returns the vehicle time of the last beat sent."""
        self.silent = True
        return self.last_beat_t if self.last_beat_t is not None else self.gcs.clock.now()

    def _beat(self) -> None:
        if self.silent:
            return
        self.link.send_heartbeat()
        self.link.send(M.MAVLink_open_drone_id_arm_status_message(self.status,
                                                                  self.error.encode()[:50]))
        self.last_beat_t = self.gcs.clock.now()

    # -- what it hears -------------------------------------------------------------------------
    def from_autopilot(self, msg: Message) -> bool:
        """Sent by the vehicle's autopilot (a router may pass the ground station's copies on)."""
        return (msg.get_srcSystem() == self.link.vehicle_sysid
                and msg.get_srcComponent() == M.MAV_COMP_ID_AUTOPILOT1)  # fmt: skip

    def collect(self, duration_s: float, types: tuple[str, ...] = FEED) -> list[Timed]:
        """What the autopilot sends the transponder over the next `duration_s` vehicle s."""
        return self.link.collect(types, duration_s, self.from_autopilot)

    def close(self) -> None:
        self._stop()
        self.link.close()


@dataclass(frozen=True)
class OperatorData:
    """What the operator gives through the ground station (F3411 Basic ID, Operator ID,
    Self-ID, System)."""

    uas_id: str  # BASIC_ID serial number (ANSI/CTA-2063-A)
    operator_id: str
    self_id: str  # the flight's purpose, free text
    lat: float  # the operator's location, degrees
    lon: float
    alt_m: float  # WGS-84 altitude of the operator


class OperatorFeed:
    """The ground station's Open Drone ID data, sent to the autopilot on the ground station's
    link: the full set once, then the operator's location once a second (SYSTEM_UPDATE)."""

    def __init__(self, gcs: Link, data: OperatorData, utc: Callable[[], float]) -> None:
        self.gcs, self.data, self.utc = gcs, data, utc
        self.lat_e7, self.lon_e7 = round(data.lat * 1e7), round(data.lon * 1e7)
        self._stop: Callable[[], None] | None = None

    def start(self) -> None:
        d = self.data
        self.gcs.send(M.MAVLink_open_drone_id_basic_id_message(
            0, 0, NO_MAC, M.MAV_ODID_ID_TYPE_SERIAL_NUMBER,
            M.MAV_ODID_UA_TYPE_HELICOPTER_OR_MULTIROTOR, _chars(d.uas_id, 20)))
        self.gcs.send(M.MAVLink_open_drone_id_operator_id_message(
            0, 0, NO_MAC, M.MAV_ODID_OPERATOR_ID_TYPE_CAA, d.operator_id.encode()[:20]))
        self.gcs.send(M.MAVLink_open_drone_id_self_id_message(
            0, 0, NO_MAC, M.MAV_ODID_DESC_TYPE_TEXT, d.self_id.encode()[:23]))
        self.gcs.send(M.MAVLink_open_drone_id_system_message(
            0, 0, NO_MAC, M.MAV_ODID_OPERATOR_LOCATION_TYPE_LIVE_GNSS,
            M.MAV_ODID_CLASSIFICATION_TYPE_UNDECLARED, self.lat_e7, self.lon_e7, 1, 0,
            -1000, -1000, M.MAV_ODID_CATEGORY_EU_UNDECLARED, M.MAV_ODID_CLASS_EU_UNDECLARED,
            d.alt_m, self._timestamp()))  # fmt: skip
        self._stop = self.gcs.every(BEAT_S, self._update)

    def _timestamp(self) -> int:
        return max(0, int(self.utc()) - ODID_EPOCH)

    def _update(self) -> None:
        self.gcs.send(M.MAVLink_open_drone_id_system_update_message(
            0, 0, self.lat_e7, self.lon_e7, self.data.alt_m, self._timestamp()))  # fmt: skip

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()


def vehicle_utc(gcs: Link) -> float | None:
    """The vehicle's UTC now (Unix seconds), from its newest SYSTEM_TIME moved on by the vehicle
    time since it arrived; None before one has (or while the vehicle does not know the time)."""
    got = gcs.latest("SYSTEM_TIME")
    if got is None or got.msg.time_unix_usec == 0:
        return None
    return got.msg.time_unix_usec / 1e6 + (gcs.clock.now() - got.t)


def _chars(text: str, size: int) -> list[int]:
    return list(text.encode()[:size].ljust(size, b"\0"))
