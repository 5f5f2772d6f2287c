"""Link-quality figures, all in vehicle time: TIMESYNC round trips, command round trips,
telemetry stream rates and loss from sequence numbers (mavlink.io: "Timesync", "Packet loss")."""

import math
from dataclasses import dataclass

import numpy as np

from drivers.errors import WaitTimeout
from drivers.link.connection import Link
from drivers.link.stats import Tally
from drivers.mavlink import mavlink
from drivers.services.vehicle import Vehicle


@dataclass(frozen=True)
class Probe:
    t: float  # vehicle time the probe was sent
    rtt_s: float | None  # None: no answer within the timeout
    tc1_ns: int | None = None  # TIMESYNC only: the clock the vehicle answered with


class Timesyncs(list[Probe]):
    """TIMESYNC probes, and how many vehicle answers echoed none of their ts1 values."""

    unechoed: int = 0


def timesync(vehicle: Vehicle, count: int, interval_s: float, timeout_s: float) -> Timesyncs:
    """TIMESYNC requests (tc1 = 0, ts1 = our send time); the answer echoes ts1 and fills tc1
    with the vehicle's own clock (ns). A vehicle answer (tc1 != 0) that echoes none of our
    ts1 values is counted in `unechoed`."""
    link, out = vehicle.link, Timesyncs()
    sent_ts1: set[int] = set()
    with link.subscribe(["TIMESYNC"]) as answers:
        for _ in range(count):
            sent = link.clock.now()
            ts1 = int(sent * 1e9) + len(out) + 1  # unique per probe, ns as the spec has it
            sent_ts1.add(ts1)
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
                out.append(Probe(sent, got.t - sent, got.msg.tc1))
            except WaitTimeout:
                out.append(Probe(sent, None))
            link.elapse(max(0.0, interval_s - (link.clock.now() - sent)))
        while (got := answers.get(0.0)) is not None:
            m = got.msg
            if m.get_srcSystem() == vehicle.sysid and m.tc1 != 0 and m.ts1 not in sent_ts1:
                out.unechoed += 1
    return out


def clock_disagreement_s(probes: list[Probe]) -> float:
    """How far the vehicle's TIMESYNC clock (tc1) strays from the vehicle time that passed.

    Between the first answered probe and each later one, the vehicle's clock moved on by at
    least (sent_i - answered_0) and at most (answered_i - sent_0) vehicle seconds; tc1 must
    have moved on by as much. Returns the worst distance outside that window (0.0: every
    answer agrees; inf: fewer than two answers to compare)."""
    answered = [p for p in probes if p.rtt_s is not None and p.tc1_ns is not None]
    if len(answered) < 2:
        return float("inf")
    first = answered[0]
    worst = 0.0
    for p in answered[1:]:
        moved = (p.tc1_ns - first.tc1_ns) / 1e9
        low = p.t - (first.t + first.rtt_s)
        high = p.t + p.rtt_s - first.t
        worst = max(worst, low - moved, moved - high)
    return worst


# Harmless commands a probe takes in turn, each answered by one COMMAND_ACK (ArduPilot and PX4
# support all three; an UNSUPPORTED answer is an answer all the same). A COMMAND_ACK names only
# its command, so on a link slower than the resend timer the answers to one probe's resends
# still arrive during the next: were every probe the same command, a probe would take one of
# them for its own (on a 1 s round trip, round trips of 0.6 s were measured). Three in turn keep
# those stale answers from matching: each probe is timed by its own.
PROBE_COMMANDS: tuple[tuple[int, float], ...] = (
    (mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION),
    (mavlink.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES, 1),
    (mavlink.MAV_CMD_GET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_ATTITUDE),
)


def command_round_trips(
    vehicle: Vehicle,
    count: int,
    interval_s: float,
    *,
    ack_timeout_s: float = 1.0,
    within_s: float = 3.0,
) -> list[Probe]:
    """Round trips of harmless commands (PROBE_COMMANDS in turn) to their COMMAND_ACK, each
    resent every ack_timeout_s for up to within_s: what an operator waits for on this link."""
    link, probes = vehicle.link, []
    retries = max(1, math.ceil(within_s / ack_timeout_s))
    for n in range(count):
        command, param1 = PROBE_COMMANDS[n % len(PROBE_COMMANDS)]
        sent = link.clock.now()
        try:
            vehicle.command(command, param1, ack_timeout_s=ack_timeout_s, retries=retries)
            probes.append(Probe(sent, link.clock.now() - sent))
        except WaitTimeout:
            probes.append(Probe(sent, None))
        link.elapse(max(0.0, interval_s - (link.clock.now() - sent)))
    return probes


@dataclass(frozen=True)
class Window(Tally):
    duration_s: float
    by_type: dict[str, int]  # messages per type from the sender, in the window
    received: int
    lost: int

    def rate(self, mtype: str) -> float:
        return self.by_type.get(mtype, 0) / self.duration_s

    def describe_outside_dialect(self) -> str:
        """e.g. "479 frames of 3 message types outside the dialect (UNKNOWN_290 ...)"."""
        unknown = self.outside_dialect
        if not unknown:
            return "no frames outside the dialect"
        names = " ".join(sorted(unknown, key=lambda t: -unknown[t]))
        return (f"{sum(unknown.values())} frames of {len(unknown)} message types outside the "
                f"dialect ({names}), counted as received")  # fmt: skip


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


def percentile_figure(values: list[float], q: float) -> tuple[str, float]:
    """(label, value) of the q-th percentile, named for what it is: with method "higher" the
    q-th percentile of fewer than 1 / (1 - q/100) + 1 values is the largest of them (20 probes
    make a "p95" that is the maximum), so then the label says "max"."""
    n = len(values)
    if n and math.ceil(q / 100 * (n - 1)) >= n - 1:
        return "max", percentile(values, q)
    return f"p{q:g}", percentile(values, q)


def settle(link: Link, timeout_s: float) -> None:
    """Wait until every sender seen on `link` has sent one more frame (at most `timeout_s`
    vehicle seconds): a frame lost on the way is only counted, from the gap in `seq`, when
    its sender's next frame arrives, so a figure of loss taken at once misses the latest
    losses of slow senders (a 1 Hz radio, the Remote ID component)."""
    before = {key: s.received for key, s in list(link.stats.streams.items())}
    end = link.clock.now() + timeout_s
    while link.clock.now() < end:
        if all(link.stats.streams[k].received > n for k, n in before.items()):
            return
        link.elapse(min(0.1, max(0.0, end - link.clock.now())))
