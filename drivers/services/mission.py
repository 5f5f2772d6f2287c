"""Mission transfer (mavlink.io "Mission Protocol"): upload and download of MISSION_ITEM_INT
lists, each step bounded in vehicle time and retried, so a lossy link slows a transfer down
but cannot corrupt or hang it."""

from dataclasses import dataclass

from drivers.errors import VehicleError, WaitTimeout
from drivers.link.connection import Message, Subscription
from drivers.mavlink import mavlink
from drivers.services.vehicle import Vehicle

MISSION = mavlink.MAV_MISSION_TYPE_MISSION
# The _INT frames mean the same as their float twins; ArduPilot reports items back in the latter.
_FRAME_OF = {
    mavlink.MAV_FRAME_GLOBAL_INT: mavlink.MAV_FRAME_GLOBAL,
    mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT: mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT,
    mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT: mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT,
}


@dataclass(frozen=True)
class Item:
    """One mission item; lat/lon in degrees, alt in metres relative to home by default."""

    lat: float
    lon: float
    alt: float
    command: int = mavlink.MAV_CMD_NAV_WAYPOINT
    frame: int = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    params: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def encode(self, vehicle: Vehicle, seq: int, mission_type: int) -> Message:
        return vehicle.link.mav.mission_item_int_encode(
            vehicle.sysid, vehicle.compid, seq, self.frame, self.command, 0, 1, *self.params,
            round(self.lat * 1e7), round(self.lon * 1e7), self.alt, mission_type,
        )  # fmt: skip

    def same_place(self, other: "Item") -> bool:
        """Equal as the wire carries it (1e-7 degrees, float32 altitude)."""
        return (
            round(self.lat * 1e7) == round(other.lat * 1e7)
            and round(self.lon * 1e7) == round(other.lon * 1e7)
            and abs(self.alt - other.alt) < 1e-3
            and (self.command, _FRAME_OF.get(self.frame, self.frame))
            == (other.command, _FRAME_OF.get(other.frame, other.frame))
        )

    @classmethod
    def decode(cls, m: Message) -> "Item":
        params = (m.param1, m.param2, m.param3, m.param4)
        return cls(m.x / 1e7, m.y / 1e7, m.z, m.command, m.frame, params)


@dataclass
class TransferStats:
    retries: int = 0
    duration_s: float = 0.0  # vehicle seconds
    final_ack_lost: bool = False  # the vehicle answered our resent last item with an error


def upload(
    vehicle: Vehicle,
    items: list[Item],
    *,
    mission_type: int = MISSION,
    step_timeout_s: float = 1.5,
    retries: int = 5,
) -> TransferStats:
    """Upload `items` (seq 0 is home for ArduPilot missions); raise unless MISSION_ACK ACCEPTED."""
    link, stats = vehicle.link, TransferStats()
    start = link.clock.now()
    count_msg = link.mav.mission_count_encode(
        vehicle.sysid, vehicle.compid, len(items), mission_type
    )
    wanted = ["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"]
    with link.subscribe(wanted) as sub:
        last_sent = count_msg
        link.send(count_msg)
        tries = 0
        final, resent_final = None, False
        while True:
            got = _next(vehicle, sub, wanted, step_timeout_s, mission_type)
            if got is None:  # nothing asked for in time: say the last thing again
                tries += 1
                stats.retries += 1
                if tries > retries:
                    # let the vehicle know, or it keeps waiting (ArduPilot slows its streams)
                    link.send(
                        link.mav.mission_ack_encode(
                            vehicle.sysid, vehicle.compid,
                            mavlink.MAV_MISSION_OPERATION_CANCELLED, mission_type,
                        )
                    )  # fmt: skip
                    raise WaitTimeout(
                        f"mission upload stalled: no request after {retries} resends of "
                        f"{last_sent.get_type()} ({step_timeout_s:g} s vehicle time each)"
                    )
                link.send(last_sent)
                resent_final = last_sent is final
                continue
            tries = 0
            if got.get_type() == "MISSION_ACK" and got.type == mavlink.MAV_MISSION_INVALID_SEQUENCE:
                continue  # ArduPilot's answer to a duplicate item: not final, it asks again
            if got.get_type() == "MISSION_ACK":
                stats.duration_s = link.clock.now() - start
                if got.type == mavlink.MAV_MISSION_ACCEPTED:
                    return stats
                if resent_final:  # the final ACK was lost; ArduPilot answers the resend so
                    stats.final_ack_lost = True  # the caller must confirm by downloading
                    return stats
                raise VehicleError(f"mission upload refused: MISSION_ACK {_ack_name(got.type)}")
            if not 0 <= got.seq < len(items):
                raise VehicleError(f"vehicle asked for item {got.seq} of {len(items)}")
            last_sent = items[got.seq].encode(vehicle, got.seq, mission_type)
            if got.seq == len(items) - 1:
                final = last_sent
            link.send(last_sent)


def resend_last_item(
    vehicle: Vehicle,
    items: list[Item],
    *,
    mission_type: int = MISSION,
    step_timeout_s: float = 1.5,
    retries: int = 5,
) -> int:
    """After a completed upload, send its last item again, as a ground station does when the
    final MISSION_ACK was lost, and return the MISSION_ACK result the vehicle answers with
    (ArduPilot answers MAV_MISSION_ERROR, having finished; others repeat ACCEPTED). Raise
    WaitTimeout if it never answers: such a ground station could not finish its upload."""
    last = items[-1].encode(vehicle, len(items) - 1, mission_type)
    with vehicle.link.subscribe(["MISSION_ACK"]) as sub:
        for _ in range(retries + 1):
            vehicle.link.send(last)
            got = _next(vehicle, sub, ["MISSION_ACK"], step_timeout_s, mission_type)
            if got is not None:
                return int(got.type)
    raise WaitTimeout(
        f"no MISSION_ACK for the resent last item (seq {len(items) - 1}) after {retries + 1} "
        f"tries of {step_timeout_s:g} s vehicle time each"
    )


def download(
    vehicle: Vehicle,
    *,
    mission_type: int = MISSION,
    step_timeout_s: float = 1.5,
    retries: int = 5,
) -> list[Item]:
    link = vehicle.link
    mav = link.mav
    with link.subscribe(["MISSION_COUNT", "MISSION_ITEM_INT"]) as sub:
        ask = mav.mission_request_list_encode(vehicle.sysid, vehicle.compid, mission_type)
        count = _ask(vehicle, sub, ask, "MISSION_COUNT", None, step_timeout_s, retries).count
        items = []
        for seq in range(count):
            ask = mav.mission_request_int_encode(vehicle.sysid, vehicle.compid, seq, mission_type)
            got = _ask(vehicle, sub, ask, "MISSION_ITEM_INT", seq, step_timeout_s, retries)
            items.append(Item.decode(got))
    link.send(
        mav.mission_ack_encode(
            vehicle.sysid, vehicle.compid, mavlink.MAV_MISSION_ACCEPTED, mission_type
        )
    )
    return items


def _ask(
    vehicle: Vehicle, sub: Subscription, ask: Message, mtype: str, seq: int | None,
    timeout_s: float, retries: int,
) -> Message:  # fmt: skip
    for _ in range(retries + 1):
        vehicle.link.send(ask)
        got = _next(vehicle, sub, [mtype], timeout_s, None, seq)
        if got is not None:
            return got
    raise WaitTimeout(f"mission download: no {mtype} after {retries + 1} requests")


def _next(
    vehicle: Vehicle, sub: Subscription, types: list[str], timeout_s: float,
    mission_type: int | None, seq: int | None = None,
) -> Message | None:  # fmt: skip
    """The next message of `types` from the vehicle for this transfer, or None after timeout_s."""
    link = vehicle.link
    deadline = link.clock.now() + timeout_s
    while link.clock.now() < deadline:
        got = sub.get(link.poll_s(deadline))
        if got is None:
            link.check_alive(f"mission transfer ({'/'.join(types)})")
            continue
        m = got.msg
        if m.get_type() not in types or m.get_srcSystem() != vehicle.sysid:
            continue
        if mission_type is not None and getattr(m, "mission_type", mission_type) != mission_type:
            continue
        if seq is not None and m.seq != seq:
            continue
        return m
    return None


def _ack_name(result: int) -> str:
    entry = mavlink.enums["MAV_MISSION_RESULT"].get(result)
    return entry.name if entry else str(result)


def clear(vehicle: Vehicle, *, mission_type: int = MISSION, timeout_s: float = 1.5) -> None:
    """MISSION_CLEAR_ALL, confirmed by MISSION_ACK ACCEPTED, so the next check starts empty."""
    link = vehicle.link
    msg = link.mav.mission_clear_all_encode(vehicle.sysid, vehicle.compid, mission_type)
    with link.subscribe(["MISSION_ACK"]) as sub:
        for _ in range(3):
            link.send(msg)
            got = _next(vehicle, sub, ["MISSION_ACK"], timeout_s, mission_type)
            if got is not None:
                if got.type != mavlink.MAV_MISSION_ACCEPTED:
                    raise VehicleError(f"mission clear refused: MISSION_ACK {_ack_name(got.type)}")
                return
    raise WaitTimeout("mission clear: no MISSION_ACK after 3 tries")
