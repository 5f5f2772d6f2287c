"""Link-quality figures, all in vehicle time: TIMESYNC round trips, command round trips,
telemetry stream rates and loss from sequence numbers (mavlink.io: "Timesync", "Packet loss")."""

import math
from dataclasses import dataclass

import numpy as np

from drivers.errors import WaitTimeout
from drivers.link import Link
from drivers.mavlink import mavlink
from drivers.vehicle import Vehicle


@dataclass(frozen=True)
class Probe:
    t: float  # vehicle time the probe was sent
    rtt_s: float | None  # None: no answer within the timeout


def timesync(vehicle: Vehicle, count: int, interval_s: float, timeout_s: float) -> list[Probe]:
    """TIMESYNC requests (tc1 = 0, ts1 = our send time); the answer echoes ts1 and fills tc1."""
    link, probes = vehicle.link, []
    for _ in range(count):
        sent = link.clock.now()
        ts1 = int(sent * 1e9) + len(probes) + 1  # unique per probe, nanoseconds as the spec has it
        try:
            got = link.request(
                link.mav.timesync_encode(0, ts1),
                "a TIMESYNC answer",
                ["TIMESYNC"],
                lambda m, ts1=ts1: (
                    m.tc1 != 0 and m.ts1 == ts1 and m.get_srcSystem() == vehicle.sysid
                ),
                timeout_s=timeout_s,
            )
            probes.append(Probe(sent, got.t - sent))
        except WaitTimeout:
            probes.append(Probe(sent, None))
        link.elapse(max(0.0, interval_s - (link.clock.now() - sent)))
    return probes


def command_round_trips(
    vehicle: Vehicle,
    count: int,
    interval_s: float,
    *,
    ack_timeout_s: float = 1.0,
    within_s: float = 3.0,
) -> list[Probe]:
    """Round trips of a harmless command (REQUEST_MESSAGE AUTOPILOT_VERSION) to its COMMAND_ACK,
    resent every ack_timeout_s for up to within_s: what an operator waits for on this link."""
    link, probes = vehicle.link, []
    retries = max(1, math.ceil(within_s / ack_timeout_s))
    for _ in range(count):
        sent = link.clock.now()
        try:
            vehicle.command(
                mavlink.MAV_CMD_REQUEST_MESSAGE,
                mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION,
                ack_timeout_s=ack_timeout_s,
                retries=retries,
            )
            probes.append(Probe(sent, link.clock.now() - sent))
        except WaitTimeout:
            probes.append(Probe(sent, None))
        link.elapse(max(0.0, interval_s - (link.clock.now() - sent)))
    return probes


@dataclass(frozen=True)
class Window:
    duration_s: float
    counts: dict[str, int]  # messages per type from the sender, in the window
    received: int
    lost: int

    def rate(self, mtype: str) -> float:
        return self.counts.get(mtype, 0) / self.duration_s

    @property
    def loss_ratio(self) -> float:
        total = self.received + self.lost
        return self.lost / total if total else 0.0


def observe(link: Link, sysid: int, compid: int, duration_s: float) -> Window:
    """What one sender's stream delivered during `duration_s` vehicle seconds."""
    stream = link.stats.stream(sysid, compid)
    before, received, lost = dict(stream.by_type), stream.received, stream.lost
    start = link.clock.now()
    link.elapse(duration_s)
    stream = link.stats.stream(sysid, compid)
    counts = {k: v - before.get(k, 0) for k, v in stream.by_type.items() if v > before.get(k, 0)}
    return Window(link.clock.now() - start, counts, stream.received - received, stream.lost - lost)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of what was measured; inf when nothing answered."""
    return float(np.percentile(values, q, method="higher")) if values else float("inf")
