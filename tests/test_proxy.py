"""The impairment proxy between a raw harness socket (or a Link) and a scripted vehicle.

Every wait is a bounded polling loop that names what it waited for; the fake vehicle's own
pacing (ClockFeed) is the only sleep, and it is the vehicle, not a wait for a condition."""

import itertools
import math
import random
import socket
import statistics
import threading
import time
from collections.abc import Callable

import pytest

from drivers.errors import VehicleLost
from drivers.impair.impairment import Channel, Counters, GilbertElliott, Impairment
from drivers.impair.proxy import ImpairmentProxy
from drivers.impair.proxy_time import VehicleTimeline
from drivers.link.clock import VehicleClock
from drivers.link.connection import Link
from drivers.mavlink import mavlink
from tests.fake_peer import FakePeer


# -- helpers ----------------------------------------------------------------------------------
def counted(proxy: ImpairmentProxy, direction: str, done: Callable[[Counters], bool],
            what: str, wall_s: float = 5.0) -> Counters:
    """The proxy's counters of `direction` once `done` holds of them (a fresh snapshot each poll;
    the last one in the failure message)."""
    deadline = time.monotonic() + wall_s
    while not done(c := proxy.counters[direction]):
        assert time.monotonic() < deadline, f"timed out after {wall_s:g} s waiting for {what}: {c}"
        time.sleep(0.002)
    return c


def until(predicate, what: str, wall_s: float = 5.0, poll_s: float = 0.002) -> None:
    deadline = time.monotonic() + wall_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {wall_s:g} s waiting for {what}"
        time.sleep(poll_s)


def parse(data: bytes | bytearray) -> list:
    mav = mavlink.MAVLink(None)
    mav.robust_parsing = True
    return mav.parse_buffer(bytes(data)) or []


class Harness:
    """The harness's end: a plain TCP client of the proxy that keeps every byte it receives."""

    def __init__(self, url: str) -> None:
        host, port = url.split(":")[1:]
        self.sock = socket.create_connection((host, int(port)), timeout=5.0)
        self.mav = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
        self.received = bytearray()
        self.closed_by_peer = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.closed_by_peer.set()
                return
            self.received += data

    def frame(self, msg, **pack) -> bytes:
        data = msg.pack(self.mav, **pack)
        self.mav.seq = (self.mav.seq + 1) % 256
        return data

    def ping(self, ident: int) -> bytes:
        return self.frame(self.mav.ping_encode(ident, ident, 0, 0))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Harness":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ClockFeed:
    """Plays the vehicle's clock: SYSTEM_TIME every `step_ms` vehicle ms, at `speedup`."""

    def __init__(self, peer: FakePeer, speedup: float = 20.0, step_ms: int = 100) -> None:
        self.peer, self.speedup, self.step_ms = peer, speedup, step_ms
        self.vt_ms = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start, k = time.monotonic(), 0
        while not self._stop.is_set():
            self.peer.system_time(k * self.step_ms)
            self.vt_ms = k * self.step_ms
            k += 1
            # keep to the schedule (not accumulated sleeps) so the speedup stays exact
            self._stop.wait(
                max(0.0, start + k * self.step_ms / 1000 / self.speedup - time.monotonic())
            )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


@pytest.fixture
def peer():
    p = FakePeer()
    yield p
    p.close()


@pytest.fixture
def proxy(peer):
    with ImpairmentProxy(peer.url, seed=1, vehicle_sysid=1) as p:
        yield p


@pytest.fixture
def harness(proxy):
    with Harness(proxy.url) as h:
        until(lambda: proxy.harness_connected, "the proxy to accept the harness")
        yield h


@pytest.fixture
def clock20(peer, proxy, harness):
    feed = ClockFeed(peer, speedup=20)
    until(lambda: proxy.pace > 15, "the proxy to measure the vehicle's 20x pace")
    yield feed
    feed.stop()


def relay_up(impairment: Impairment, n: int, seed: int = 0):
    """n PINGs (ids 0..n-1) from the harness through an impaired proxy: what the vehicle got."""
    peer = FakePeer()
    try:
        with ImpairmentProxy(peer.url, seed=seed) as proxy, Harness(proxy.url) as h:
            until(lambda: proxy.harness_connected, "the proxy to accept the harness")
            proxy.set("up", impairment)
            h.send(b"".join(h.ping(i) for i in range(n)))
            counted(proxy, "up", lambda c: c.frames == n, f"the proxy to read all {n} frames")
            proxy.clear()  # lets go of a frame still held back for reordering
            c = counted(proxy, "up", lambda c: c.forwarded + c.dropped - c.duplicated == n,
                        "every frame forwarded or dropped")  # fmt: skip
            until(lambda: len(peer.received) == c.forwarded_bytes, "the vehicle to get them all")
            return parse(peer.received), c
    finally:
        peer.close()


def missing_runs(ids: list[int], n: int) -> list[int]:
    """Lengths of the runs of consecutive ids that never arrived."""
    got, runs, run = set(ids), [], 0
    for i in range(n):
        if i in got:
            if run:
                runs.append(run)
            run = 0
        else:
            run += 1
    return [*runs, run] if run else runs


# -- transparency -----------------------------------------------------------------------------
def test_zero_impairment_relays_every_byte_in_order(peer, proxy, harness):
    # given MAVLink 2, MAVLink 1, a signed frame and garbage, with a frame split across writes
    signer = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    signer.signing.secret_key = bytes(range(32))
    signer.signing.sign_outgoing = True
    signed = signer.ping_encode(1, 1, 0, 0).pack(signer)
    hb = harness.mav.heartbeat_encode(6, 8, 0, 0, 4)
    up = [
        harness.frame(hb),
        harness.frame(hb, force_mavlink1=True),
        signed,
        b"\x01garbage",
        harness.ping(2),
    ]
    stream = b"".join(up)
    harness.send(stream[:30])
    harness.send(stream[30:])
    down = (
        peer.heartbeat()
        + peer.system_time(1234)
        + peer.send_raw(b"\x00\x01\x02")
        + peer.heartbeat()
    )
    # then both far sides got exactly those bytes, and the proxy counted what it could not frame
    until(lambda: len(peer.received) >= len(stream), "the harness's bytes at the vehicle")
    until(lambda: len(harness.received) >= len(down), "the vehicle's bytes at the harness")
    assert bytes(peer.received) == stream
    assert bytes(harness.received) == down
    assert (proxy.counters["up"].frames, proxy.counters["up"].unparsed) == (4, 1)
    assert (proxy.counters["down"].frames, proxy.counters["down"].unparsed) == (3, 1)
    assert proxy.counters["up"].forwarded_bytes == len(stream)


# -- loss -------------------------------------------------------------------------------------
def test_loss_ratio_is_within_bounds_and_repeats_with_the_seed():
    n, p = 2000, 0.2
    runs = [relay_up(Impairment(loss=p), n, seed) for seed in (7, 7, 8)]
    lost = [set(range(n)) - {m.seq for m in msgs} for msgs, _ in runs]
    bound = 5 * math.sqrt(p * (1 - p) / n)  # five standard deviations of a binomial ratio
    for (msgs, c), missing in zip(runs, lost, strict=True):
        assert abs(len(missing) / n - p) < bound, (
            f"loss {len(missing) / n:.3f}, wanted {p} ± {bound:.3f}: {c}, {len(msgs)}"
        )
        assert c.dropped == len(missing) and c.forwarded == len(msgs) == n - len(missing)
    assert lost[0] == lost[1], "the same seed must drop the same frames"
    assert lost[0] != lost[2], "another seed should drop other frames"


def test_gilbert_elliott_loss_comes_in_bursts():
    n = 2000
    burst = GilbertElliott(p=0.05, r=0.3)  # mean stay in the bad state: 1 / r = 3.3 frames
    bursty = missing_runs([m.seq for m in relay_up(Impairment(burst=burst), n, 3)[0]], n)
    rate = burst.p / (burst.p + burst.r)
    independent = missing_runs([m.seq for m in relay_up(Impairment(loss=rate), n, 3)[0]], n)
    mean_bursty = sum(bursty) / len(bursty)
    mean_independent = sum(independent) / len(independent)
    assert mean_bursty > 1.5, f"Gilbert-Elliott bursts average {mean_bursty:.2f} frames"
    assert mean_independent < 1.5 < mean_bursty, (mean_independent, mean_bursty)


# -- vehicle time -----------------------------------------------------------------------------
def test_latency_is_applied_in_vehicle_time(peer, proxy, harness, clock20):
    # given a vehicle at 20x, when a harness frame meets 1 s of (vehicle) latency
    proxy.set("up", Impairment(latency_s=1.0))
    marker = harness.ping(77)
    vt0, wall0 = clock20.vt_ms, time.monotonic()
    harness.send(marker)
    until(lambda: marker in peer.received, "the delayed PING at the vehicle", poll_s=0.0005)
    vehicle_ms, wall_s = clock20.vt_ms - vt0, time.monotonic() - wall0
    # then it arrived after ~1 s of the vehicle's time, which is ~50 ms of wall time
    assert 900 <= vehicle_ms <= 1600, f"delayed {vehicle_ms} vehicle ms, wanted ~1000"
    assert 0.03 <= wall_s <= 0.25, f"delayed {wall_s * 1000:.0f} wall ms, wanted ~50"
    assert proxy.counters["up"].delayed == 1


def test_bandwidth_cap_holds_throughput_near_the_cap_in_vehicle_time(peer, proxy, harness, clock20):
    cap_bps = 57600  # 5760 bytes a vehicle second
    proxy.set("up", Impairment(bandwidth_bps=cap_bps))
    data = b"".join(harness.ping(i) for i in range(1200))  # ~5 vehicle seconds at the cap
    harness.send(data)
    samples = []  # (wall s, vehicle s, bytes the vehicle has), as the bytes trickle in
    until(
        lambda: (
            samples.append((time.monotonic(), clock20.vt_ms / 1000, len(peer.received)))
            or samples[-1][2] == len(data)
        ),
        "all the PINGs at the vehicle",
        poll_s=0.0005,
    )
    # the slope of bytes over vehicle time, away from the ends, is the link's throughput
    middle = [(t, b) for _, t, b in samples if 0.1 * len(data) <= b <= 0.9 * len(data)]
    rate = statistics.linear_regression([t for t, _ in middle], [b for _, b in middle]).slope
    # 20 %: scheduling noise on a loaded 2-core machine; without the cap it is ~100x more
    assert rate == pytest.approx(cap_bps / 10, rel=0.2), f"{rate:.0f} B per vehicle s"
    wall_s = samples[-1][0] - samples[0][0]
    assert wall_s < 1.5, f"took {wall_s:.2f} wall s: the cap must be in vehicle time (~0.25 s)"


def test_outage_drops_everything_for_its_vehicle_time_then_traffic_resumes(
    peer, proxy, harness, clock20
):
    proxy.outage(4.0)  # ~0.2 s of wall time at 20x
    lost_ping = harness.ping(1)
    harness.send(lost_ping)
    until(lambda: not proxy.in_outage(), "the end of the outage")
    after = len(harness.received)
    until(lambda: len(harness.received) > after + 100, "the vehicle's frames after the outage")
    kept_ping = harness.ping(2)
    harness.send(kept_ping)
    until(lambda: kept_ping in peer.received, "a PING sent after the outage")
    clock20.stop()
    times = [m.time_boot_ms for m in parse(harness.received) if m.get_type() == "SYSTEM_TIME"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 3900 <= max(gaps) <= 4300, f"the harness heard nothing for {max(gaps)} vehicle ms"
    assert sorted(gaps)[-2] == 100, "only the outage should leave a gap"
    assert lost_ping not in peer.received
    assert proxy.counters["up"].dropped == 1
    assert proxy.counters["down"].dropped == (max(gaps) - 100) // 100


# -- duplication, reordering, corruption ------------------------------------------------------
def test_duplicates_and_reordering_show_in_sequence_numbers():
    n = 1000
    msgs, c = relay_up(Impairment(duplicate=0.1, reorder=0.1), n, seed=5)
    ids = [m.seq for m in msgs]
    seqs = [m.get_seq() for m in msgs]  # the MAVLink header's sequence number, as a GCS sees it
    repeats = sum(a == b for a, b in itertools.pairwise(seqs))
    backwards = sum(((b - a) & 0xFF) > 128 for a, b in itertools.pairwise(seqs))
    assert sorted(set(ids)) == list(range(n)), "nothing may be lost"
    assert c.duplicated > 50 and c.reordered > 50, c
    assert repeats == c.duplicated == len(ids) - n
    assert backwards == c.reordered
    assert c.forwarded == len(msgs)


def test_corruption_makes_pymavlink_see_bad_data(peer, proxy):
    with Link(proxy.url, vehicle_sysid=1, silence_s=5.0) as link:
        until(lambda: proxy.harness_connected, "the proxy to accept the link")
        proxy.set("down", Impairment(corrupt=0.3))
        for _ in range(200):
            peer.heartbeat()
        stats = link.stats
        until(
            lambda: stats.bad_frames + stats.stream(1, 1).received == 200, "200 frames at the link"
        )
        c = proxy.counters["down"]
        assert link.stats.bad_frames == c.corrupted, (link.stats.bad_frames, c)
        assert 30 <= c.corrupted <= 90


def test_counters_match_what_the_far_side_saw(peer, proxy, harness):
    proxy.set("down", Impairment(loss=0.1, duplicate=0.1, reorder=0.1))
    n = 500
    sent = sum(len(peer.heartbeat()) for _ in range(n))
    counted(proxy, "down", lambda c: c.frames == n, "the proxy to read every heartbeat")
    proxy.clear()
    c = counted(proxy, "down", lambda c: c.forwarded + c.dropped - c.duplicated == n,
                "everything accounted for")  # fmt: skip
    until(lambda: len(harness.received) == c.forwarded_bytes, "the harness to get it all")
    got = parse(harness.received)
    assert len(got) == c.forwarded and c.bytes == sent
    assert len(got) == n - c.dropped + c.duplicated
    assert min(c.dropped, c.duplicated, c.reordered) > 0, c


# -- connections and lifetime -----------------------------------------------------------------
def test_the_harness_may_reconnect_and_the_newest_connection_wins(peer, proxy):
    first = Harness(proxy.url)
    until(lambda: proxy.harness_connected, "the first harness connection")
    hb = peer.heartbeat()
    until(lambda: first.received == hb, "the heartbeat at the first connection")
    with Harness(proxy.url) as second:
        until(first.closed_by_peer.is_set, "the proxy to close the older connection")
        hb = peer.heartbeat()
        until(lambda: second.received == hb, "the heartbeat at the second connection")
        ping = second.ping(9)
        second.send(ping)
        until(lambda: ping in peer.received, "the second connection's PING at the vehicle")
    first.close()


def test_a_vehicle_closing_its_connection_is_seen_by_the_link(peer, proxy):
    with Link(proxy.url, vehicle_sysid=1, silence_s=5.0) as link:
        peer.system_time(1000)
        until(lambda: link.clock.started, "the first clock sample through the proxy")
        peer.close()
        with pytest.raises(VehicleLost, match="connection closed"):
            link.wait("a HEARTBEAT", ["HEARTBEAT"], timeout_s=60)


def test_close_stops_everything_promptly_and_frees_the_port(peer):
    proxy = ImpairmentProxy(peer.url)
    port = int(proxy.url.rsplit(":", 1)[1])
    harness = Harness(proxy.url)
    until(lambda: proxy.harness_connected, "the harness connection")
    proxy.set("up", Impairment(latency_s=60.0))
    harness.send(harness.ping(1))
    until(lambda: proxy.counters["up"].delayed == 1, "a frame waiting in the proxy")
    start = time.monotonic()
    proxy.close()
    assert time.monotonic() - start < 1.0
    proxy.close()  # idempotent
    assert not [t for t in threading.enumerate() if t.name.startswith("impairment proxy")]
    until(harness.closed_by_peer.is_set, "the harness to see the proxy close")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1.0)
    socket.create_server(("127.0.0.1", port)).close()
    harness.close()


@pytest.mark.parametrize("kind", ["udpout", "udpin"])
def test_udp_vehicles_are_relayed_both_ways(kind):
    vehicle = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    vehicle.bind(("127.0.0.1", 0))
    vehicle.settimeout(5.0)
    url = (
        f"udpout:127.0.0.1:{vehicle.getsockname()[1]}" if kind == "udpout" else "udpin:127.0.0.1:0"
    )
    sim = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
    hb = sim.heartbeat_encode(2, 3, 0, 0, 4).pack(sim)
    try:
        with ImpairmentProxy(url) as proxy, Harness(proxy.url) as harness:
            until(lambda: proxy.harness_connected, "the harness connection")
            proxy_addr = ("127.0.0.1", proxy.vehicle_side_port)
            if kind == "udpin":  # a listening proxy learns the vehicle's address from it
                vehicle.sendto(hb, proxy_addr)
                until(lambda: harness.received == hb, "the vehicle's heartbeat at the harness")
            ping = harness.ping(3)
            harness.send(ping)
            data, addr = vehicle.recvfrom(65536)
            assert data == ping and addr == proxy_addr
            vehicle.sendto(hb, addr)
            until(lambda: harness.received.endswith(hb), "the vehicle's reply at the harness")
    finally:
        vehicle.close()


@pytest.mark.parametrize(
    "url",
    [
        "tcp:10.0.0.1:5760",
        "udpin:0.0.0.0:14550",
        "udpout:192.168.1.2:14550",
        "/dev/ttyACM0",
        "tcp:localhost:5760",
        "tcp:127.0.0.1:0",
    ],
)
def test_only_loopback_vehicle_urls_are_accepted(url):
    with pytest.raises(ValueError, match=url.split(":")[0] if ":" in url else "expected"):
        ImpairmentProxy(url)


# -- the schedule clock and the channel on their own (no sockets) ------------------------------
def test_the_schedule_clock_follows_the_vehicle_and_never_stalls():
    timeline = VehicleTimeline(VehicleClock())
    w0 = time.monotonic()
    for k in range(101):  # 10 vehicle seconds in 0.5 wall seconds: 20x
        timeline.observe(k * 100, w0 + k * 0.005)
    last = w0 + 0.5
    assert timeline.pace == pytest.approx(20, rel=0.05)
    base = timeline.now(last)
    # a silent vehicle: the observed pace for GRACE_S vehicle seconds, then real time
    assert timeline.now(last + 0.05) - base == pytest.approx(1.0, abs=0.01)
    assert timeline.now(last + 1.05) - base == pytest.approx(2.0, abs=0.01)
    # a reboot (time_boot_ms starts again) does not take the schedule back
    timeline.observe(0, last + 1.1)
    timeline.observe(100, last + 1.105)
    assert timeline.now(last + 1.105) - base == pytest.approx(2.15, abs=0.01)
    assert timeline.clock.reboots == 1


# -- the channel on its own (no sockets) ------------------------------------------------------
def release_times(ch: Channel, pushes: list[float], until_s: float, step: float = 0.001):
    """Push one 20-byte frame at each time in `pushes`; return each frame's delay."""
    frames = [bytes([0xFD, 8]) + i.to_bytes(2, "big") + bytes(16) for i in range(len(pushes))]
    delays, pending, t = [], list(zip(pushes, frames, strict=True)), 0.0
    while t <= until_s:
        while pending and pending[0][0] <= t:
            ch.push_frame(pending.pop(0)[1], t)
        for data, _ in ch.ready(t):
            ident = int.from_bytes(data[2:4], "big")
            delays.append((ident, t - pushes[ident]))
        t = round(t + step, 6)
    return delays


def test_jitter_never_makes_a_negative_delay_nor_reorders():
    ch = Channel(random.Random(1))
    ch.impairment = Impairment(latency_s=0.05, jitter_s=0.2)
    delays = release_times(ch, [i * 0.01 for i in range(300)], until_s=4.0)
    assert [i for i, _ in delays] == list(range(300)), "jitter must keep the order"
    assert min(d for _, d in delays) >= 0.0 and max(d for _, d in delays) <= 0.25 + 0.002


def test_a_full_radio_buffer_drops_frames():
    ch = Channel(random.Random(1))
    ch.impairment = Impairment(bandwidth_bps=1000, queue_bytes=70)  # 100 B/s, 70 B of buffer
    for _ in range(10):
        ch.push_frame(bytes([0xFD, 8]) + bytes(18), 0.0)
    assert (ch.counters.dropped, len(ch.ready(10.0))) == (7, 3)


def test_a_held_frame_leaves_anyway_when_nothing_follows():
    ch = Channel(random.Random(1))
    ch.impairment = Impairment(reorder=1.0)
    ch.push_frame(bytes([0xFD, 8]) + bytes(18), 0.0)
    assert ch.ready(Channel.REORDER_HOLD_S - 0.01) == []
    assert len(ch.ready(Channel.REORDER_HOLD_S)) == 1 and ch.counters.reordered == 0


def test_turning_on_duplication_does_not_move_the_losses():
    def lost(imp: Impairment) -> list[int]:
        ch = Channel(random.Random("same"))
        ch.impairment = imp
        out = []
        for i in range(500):
            before = ch.counters.dropped
            ch.push_frame(bytes([0xFD, 8]) + bytes(18), float(i))
            if ch.counters.dropped > before:
                out.append(i)
        return out

    assert lost(Impairment(loss=0.2)) == lost(Impairment(loss=0.2, duplicate=0.5, corrupt=0.1))


@pytest.mark.parametrize(
    "make",
    [
        lambda: Impairment(loss=1.5),
        lambda: Impairment(latency_s=-1),
        lambda: Impairment(bandwidth_bps=0),
        lambda: GilbertElliott(p=2.0, r=0.1),
    ],
)
def test_nonsense_impairments_are_refused(make):
    with pytest.raises(ValueError):
        make()


def test_directions_are_checked(proxy):
    with pytest.raises(ValueError, match="direction"):
        proxy.set("sideways", Impairment())
