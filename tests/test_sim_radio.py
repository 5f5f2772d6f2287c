"""The simulated SiK radio over raw pymavlink: RADIO_STATUS, path loss, frame loss, faults, CLI.

Link 0 (no radio) is the control link; link 1 has the radio. Loss is measured in vehicle time
from ATTITUDE's time_boot_ms (4 Hz): received / expected. Bounded waits only.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

os.environ.setdefault("MAVLINK20", "1")
from pymavlink import mavutil

from tests.sim_process import REPO, WALL_LIMIT_S, launch, read_ready, stop

M = mavutil.mavlink
ATTITUDE_PERIOD_MS = 250


@dataclass
class Peer:
    conn: mavutil.mavfile

    def wait(self, types: str | list[str], cond: Callable[[object], bool] = lambda m: True,
             limit: float = WALL_LIMIT_S):
        wanted = {types} if isinstance(types, str) else set(types)
        deadline = time.monotonic() + limit
        while (left := deadline - time.monotonic()) > 0:
            msg = self.conn.recv_match(blocking=True, timeout=min(left, 0.5))
            if msg is not None and msg.get_type() in wanted and cond(msg):
                return msg
        raise AssertionError(f"no {types} meeting the condition within {limit} s")

    def statuses(self, n: int) -> list:
        return [self.wait("RADIO_STATUS") for _ in range(n)]

    def set_param(self, name: str, value: float) -> float:
        self.conn.mav.param_set_send(1, 1, name.encode(), value, M.MAV_PARAM_TYPE_REAL32)
        return self.wait("PARAM_VALUE", lambda m: m.param_id == name).param_value

    def attitude_share(self, vehicle_s: float) -> float:
        """Share of the 4 Hz ATTITUDE stream that arrives over `vehicle_s` s of vehicle time."""
        first = self.wait("ATTITUDE").time_boot_ms
        got, last = 1, first
        while last - first < vehicle_s * 1000:
            last = self.wait("ATTITUDE").time_boot_ms
            got += 1
        return got / ((last - first) / ATTITUDE_PERIOD_MS + 1)


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    ports: list[int]
    peers: list[Peer] = field(default_factory=list)

    def peer(self, channel: int) -> Peer:
        p = Peer(mavutil.mavlink_connection(f"tcp:127.0.0.1:{self.ports[channel]}",
                                            source_system=255, source_component=190,
                                            dialect="ardupilotmega"))
        self.peers.append(p)
        return p


@pytest.fixture
def sim() -> Iterator[Callable[..., Proc]]:
    started: list[Proc] = []

    def start(*args: str, links: int = 2, speedup: float = 50) -> Proc:
        proc, ports = launch(*args, speedup=speedup, listens=links)
        s = Proc(proc, ports)
        started.append(s)
        return s

    yield start
    for s in started:
        for p in s.peers:
            p.conn.close()
        stop(s.proc)


def radio_traffic(peer: Peer, vehicle_s: float) -> list:
    """RADIO_STATUS messages seen during `vehicle_s` seconds of vehicle time."""
    first = peer.wait("SYSTEM_TIME").time_boot_ms
    seen: list = []
    while True:
        m = peer.wait(["SYSTEM_TIME", "RADIO_STATUS"])
        if m.get_type() == "RADIO_STATUS":
            seen.append(m)
        elif m.time_boot_ms - first >= vehicle_s * 1000:
            return seen


# ---------------------------------------------------------------- RADIO_STATUS

def test_no_radio_unless_asked(sim):
    s = sim(links=1)
    assert radio_traffic(s.peer(0), 4.0) == []


def test_radio_status_comes_from_sik_ids_at_1_hz_only_on_radio_links(sim):
    s = sim("--radio", "1")
    control, radio = s.peer(0), s.peer(1)
    seen = radio_traffic(radio, 10.0)
    assert 9 <= len(seen) <= 11, f"{len(seen)} RADIO_STATUS in 10 s of vehicle time"
    for m in seen:
        assert (m.get_srcSystem(), m.get_srcComponent()) == (51, 68)
        assert not m.get_header().incompat_flags & 1, "a SiK radio does not sign"
        assert 0 <= m.rssi <= 254 and 0 <= m.remrssi <= 254 and 0 <= m.txbuf <= 100
    # At home (1 m): about -16 dBm with the defaults -> raw ~210; noise floor ~ -118 dBm.
    assert all(190 <= m.rssi <= 230 and 10 <= m.noise <= 25 for m in seen), seen
    assert len({m.rssi for m in seen}) > 1, "rssi should fade (SIM_RADIO_FADE)"
    assert radio_traffic(control, 3.0) == []


def test_rssi_falls_with_distance(sim):
    s = sim("--radio", "all", links=1)
    p = s.peer(0)
    ground = [m.rssi for m in p.statuses(3)]
    p.set_param("DISARM_DELAY", 0)
    p.wait("GPS_RAW_INT", lambda m: m.fix_type >= 3)
    p.conn.mav.command_long_send(1, 1, M.MAV_CMD_DO_SET_MODE, 0, 1, 4, 0, 0, 0, 0, 0)
    p.wait("HEARTBEAT", lambda m: m.get_srcComponent() == 1 and m.custom_mode == 4)
    deadline = time.monotonic() + WALL_LIMIT_S  # the EKF may not be ready to arm yet
    while time.monotonic() < deadline:
        p.conn.mav.command_long_send(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0,
                                     0)
        if p.wait("COMMAND_ACK").result == M.MAV_RESULT_ACCEPTED:
            break
    p.conn.mav.command_long_send(1, 1, M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 0, 50)
    p.wait("GLOBAL_POSITION_INT", lambda m: m.relative_alt > 49_000, limit=20)
    high = [m.rssi for m in p.statuses(3)]
    # Free space: 1 m -> 50 m is 34 dB, ~65 raw units.
    drop = sum(ground) / 3 - sum(high) / 3
    assert 45 <= drop <= 85, f"rssi {ground} on the ground, {high} at 50 m"


def test_counters_are_monotonic(sim):
    s = sim("--radio", "1")
    s.peer(0).set_param("SIM_RADIO_SENS", -24)  # ~4 dB margin: some loss, some FEC fixes
    seen = s.peer(1).statuses(12)  # fades come and go: over 6 reports one may see no loss
    for a, b in itertools.pairwise(seen):
        assert b.rxerrors >= a.rxerrors and b.fixed >= a.fixed
    assert seen[-1].rxerrors > seen[0].rxerrors and seen[-1].fixed > seen[0].fixed


# ---------------------------------------------------------------- the link

def test_loss_rises_as_the_margin_falls(sim):
    s = sim("--radio", "1")
    control, radio = s.peer(0), s.peer(1)
    assert radio.attitude_share(8.0) > 0.97, "no loss expected with ~130 dB of margin"
    control.set_param("SIM_RADIO_GAIN", 0)
    control.set_param("SIM_RADIO_SENS", -20)  # 20 dBm - 40.2 dB at 1 m: margin ~ 0 dB
    radio.wait("ATTITUDE")
    share = radio.attitude_share(12.0)
    assert 0.2 < share < 0.8, f"{share:.0%} of ATTITUDE arrived at ~0 dB margin"
    assert control.attitude_share(2.0) > 0.97, "the link without a radio lost frames"


def test_out_of_range_nothing_passes_either_way(sim):
    s = sim("--radio", "1")
    control, radio = s.peer(0), s.peer(1)
    radio.wait("HEARTBEAT")
    control.set_param("SIM_RADIO_PWR", -30)  # -30 + 4 - 40.2 = -66 dBm vs -20: margin -46 dB
    control.set_param("SIM_RADIO_SENS", -20)
    radio.wait("RADIO_STATUS", lambda m: m.remrssi == 0)  # the ground radio still reports
    # Uplink: a PARAM_SET sent now never arrives.
    radio.conn.mav.param_set_send(1, 1, b"SIM_WIND_DIR", 90, M.MAV_PARAM_TYPE_REAL32)
    # Downlink: 5 s of vehicle time (read on the control link) and nothing from the vehicle.
    got: list = []
    first = control.wait("SYSTEM_TIME").time_boot_ms
    while control.wait("SYSTEM_TIME").time_boot_ms - first < 5000:
        while (m := radio.conn.recv_match(blocking=False)) is not None:
            got.append(m)
    assert [m.get_type() for m in got if m.get_srcSystem() == 1] == []
    assert any(m.get_type() == "RADIO_STATUS" for m in got)
    control.set_param("SIM_RADIO_PWR", 20)  # back in range
    control.set_param("SIM_RADIO_SENS", -110)
    radio.wait("HEARTBEAT", lambda m: m.get_srcSystem() == 1)
    radio.conn.mav.param_request_read_send(1, 1, b"SIM_WIND_DIR", -1)
    assert radio.wait("PARAM_VALUE", lambda m: m.param_id == "SIM_WIND_DIR").param_value == 180


def reports_by_second(peer: Peer, n: int) -> dict[int, tuple[int, int, int]]:
    """n RADIO_STATUS keyed by the vehicle second they were sent in (1 Hz from t = 0)."""
    out: dict[int, tuple[int, int, int]] = {}
    last_ms = None
    while len(out) < n:
        m = peer.wait(["ATTITUDE", "RADIO_STATUS"])  # ATTITUDE: 4 Hz, sent after the status
        if m.get_type() == "ATTITUDE":
            last_ms = m.time_boot_ms
        elif last_ms is not None:
            out[last_ms // 1000 + 1] = (m.rssi, m.remrssi, m.noise)
    return out


def test_same_seed_same_radio_reports(sim):
    # Connect as each starts (TCP queues what follows), then read: the windows overlap.
    peers = [sim("--radio", "all", "--seed", seed, links=1, speedup=10).peer(0)
             for seed in ("7", "7", "8")]
    seen = [reports_by_second(p, 8) for p in peers]
    common = sorted(set(seen[0]) & set(seen[1]) & set(seen[2]))
    assert len(common) >= 3, seen
    assert [seen[0][k] for k in common] == [seen[1][k] for k in common]
    assert [seen[0][k] for k in common] != [seen[2][k] for k in common]


# ---------------------------------------------------------------- faults

def test_fault_radio_status_missing(sim):
    s = sim("--radio", "all", "--fault", "radio_status_missing", links=1)
    assert radio_traffic(s.peer(0), 4.0) == []


def test_fault_radio_status_frozen(sim):
    s = sim("--radio", "1", "--fault", "radio_status_frozen")
    s.peer(0).set_param("SIM_RADIO_SENS", -24)  # counters would climb and rssi would fade
    seen = s.peer(1).statuses(5)
    fields = {(m.rssi, m.remrssi, m.noise, m.remnoise, m.txbuf, m.rxerrors, m.fixed)
              for m in seen}
    assert len(fields) == 1, fields


# ---------------------------------------------------------------- CLI

@pytest.mark.parametrize("value", ["2", "x", "0,5"])
def test_radio_flag_refuses_unknown_links(value):
    p = subprocess.run([sys.executable, "-m", "sim", "--listen", "tcp:127.0.0.1:0", "--listen",
                        "tcp:127.0.0.1:0", "--radio", value], cwd=REPO, capture_output=True,
                       timeout=WALL_LIMIT_S)
    assert p.returncode == 2
    assert b"--radio" in p.stderr and b"Traceback" not in p.stderr


def test_stop_with_a_closed_stdout_is_clean():
    # A parent that closed its end of the pipe must not turn the shutdown into a traceback.
    proc = subprocess.Popen([sys.executable, "-m", "sim", "--listen", "tcp:127.0.0.1:0",
                             "--speedup", "20"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert "ready" in read_ready(proc)
        assert proc.stdout is not None
        proc.stdout.close()
        proc.terminate()
        assert proc.wait(5) == 0
        assert proc.stderr is not None
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.stderr is not None:
            proc.stderr.close()
        stop(proc)
