"""Signing in the simulator over raw pymavlink: SETUP_SIGNING, policy, replay, streams, faults.

The client signs with pymavlink's own signing. A frame the vehicle should drop is followed by
a signed probe (PARAM_REQUEST_READ): the vehicle handles one TCP stream in order, so when the
probe's answer arrives, the earlier frame has been dealt with. No sleeps, bounded waits only.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

os.environ.setdefault("MAVLINK20", "1")
from pymavlink import mavutil

from tests.sim_process import WALL_LIMIT_S, launch, stop

M = mavutil.mavlink
KEY = hashlib.sha256(b"skyproof signing test key").digest()
OTHER_KEY = hashlib.sha256(b"not the vehicle's key").digest()
CLIENT_LINK_ID = 7
TICKS_PER_S = 100_000  # signing timestamps count 10 us
SIGNED = 0x01  # MAVLINK_IFLAG_SIGNED
SENTINEL = "SYSID_MYGCS"  # read after a probe to know its answer is in


@dataclass
class Gcs:
    """One ground station on one link of the simulator (sysid 255, compid 190)."""

    conn: mavutil.mavfile
    texts: list[str] = field(default_factory=list)
    last_vehicle_ts: int = 0  # signing timestamp of the newest signed frame from the vehicle

    def wait(self, types: str | list[str], cond: Callable[[object], bool] = lambda m: True,
             limit: float = WALL_LIMIT_S):
        wanted = {types} if isinstance(types, str) else set(types)
        deadline = time.monotonic() + limit
        while (left := deadline - time.monotonic()) > 0:
            msg = self.conn.recv_match(blocking=True, timeout=min(left, 0.5))
            if msg is None or msg.get_type() == "BAD_DATA":
                continue
            if msg.get_header().incompat_flags & SIGNED:
                self.last_vehicle_ts = int.from_bytes(msg.get_msgbuf()[-12:-6], "little")
            if msg.get_type() == "STATUSTEXT":
                self.texts.append(msg.text)
            if msg.get_type() in wanted and cond(msg):
                return msg
        raise AssertionError(f"no {types} meeting the condition within {limit} s")

    def sign(self, key: bytes = KEY, link_id: int = CLIENT_LINK_ID) -> None:
        """Sign from now on; adopt the vehicle's clock from its next signed frame."""
        self.conn.setup_signing(key, sign_outgoing=True, link_id=link_id)
        self.wait("HEARTBEAT", lambda m: m.get_header().incompat_flags & SIGNED)

    def read(self, name: str) -> float:
        """The vehicle's value of `name` now (a probe: answered after earlier frames).

        Echoes of earlier PARAM_SETs and answers to earlier reads may still be on the way, so
        a second request for a sentinel follows: the last `name` before it is the answer.
        """
        self.conn.mav.param_request_read_send(1, 1, name.encode(), -1)
        self.conn.mav.param_request_read_send(1, 1, SENTINEL.encode(), -1)
        value = None
        while True:
            m = self.wait("PARAM_VALUE", lambda m: m.param_id in (name, SENTINEL))
            if m.param_id == SENTINEL and value is not None:
                return value
            if m.param_id == name:
                value = m.param_value

    def set_unanswered(self, name: str, value: float) -> bytes:
        """PARAM_SET through this client's MAVLink object; returns the bytes sent."""
        msg = M.MAVLink_param_set_message(1, 1, name.encode(), value, M.MAV_PARAM_TYPE_REAL32)
        buf = msg.pack(self.conn.mav)
        self.conn.mav.seq = (self.conn.mav.seq + 1) % 256
        self.conn.write(buf)
        return buf

    def setup_signing(self, key: bytes, initial_ts: int = 0) -> None:
        self.conn.mav.setup_signing_send(1, 1, list(key), initial_ts)

    def vehicle_signs(self) -> bool:
        """Whether the next HEARTBEAT from the vehicle is signed."""
        hb = self.wait("HEARTBEAT", lambda m: m.get_srcComponent() == 1)
        return bool(hb.get_header().incompat_flags & SIGNED)


def frame(msg, key: bytes, link_id: int, timestamp: int, src=(255, 190), seq: int = 0) -> bytes:
    """One signed frame built by a throw-away pymavlink MAVLink object."""
    mav = M.MAVLink(None, *src)
    mav.seq = seq
    mav.signing.secret_key, mav.signing.sign_outgoing = key, True
    mav.signing.link_id, mav.signing.timestamp = link_id, timestamp
    return msg.pack(mav)


def unsigned(msg, src=(255, 190)) -> bytes:
    """One unsigned frame (written on a signing client's socket: same order as its probes)."""
    return msg.pack(M.MAVLink(None, *src))


def param_set(name: str, value: float):
    return M.MAVLink_param_set_message(1, 1, name.encode(), value, M.MAV_PARAM_TYPE_REAL32)


def param_read(name: str):
    return M.MAVLink_param_request_read_message(1, 1, name.encode(), -1)


@dataclass
class SimProc:
    proc: subprocess.Popen[bytes]
    ports: list[int]
    gcs_list: list[Gcs] = field(default_factory=list)

    def gcs(self, channel: int) -> Gcs:
        conn = mavutil.mavlink_connection(f"tcp:127.0.0.1:{self.ports[channel]}",
                                          source_system=255, source_component=190,
                                          dialect="ardupilotmega")
        g = Gcs(conn)
        self.gcs_list.append(g)
        return g


@pytest.fixture
def sim() -> Iterator[Callable[..., SimProc]]:
    started: list[SimProc] = []

    def start(*args: str, speedup: float = 50) -> SimProc:
        # Two links: channel 0 (trusted, like ArduPilot's USB) and channel 1 (must sign).
        proc, ports = launch(*args, speedup=speedup, listens=2)
        s = SimProc(proc, ports)
        started.append(s)
        return s

    yield start
    for s in started:
        for g in s.gcs_list:
            g.conn.close()
        stop(s.proc)


def keyed(sim: Callable[..., SimProc], *args: str, speedup: float = 50) -> tuple[SimProc, Gcs]:
    """A vehicle whose key was set (unsigned, no key yet) over link 1, and a signing GCS there."""
    s = sim(*args, speedup=speedup)
    g = s.gcs(1)
    g.wait("HEARTBEAT")
    g.setup_signing(KEY)
    g.wait("STATUSTEXT", lambda m: m.text == "Signing: key installed")
    g.sign()
    return s, g


# ---------------------------------------------------------------- the normal vehicle

def test_setup_signing_makes_the_vehicle_sign_on_every_link(sim):
    s, g1 = keyed(sim)
    g0 = s.gcs(0)
    g0.conn.setup_signing(KEY, sign_outgoing=False, link_id=3)  # verify only
    for g in (g0, g1):
        msg = g.wait("HEARTBEAT", lambda m: m.get_srcComponent() == 1)
        assert msg.get_header().incompat_flags & SIGNED
        assert msg._signed, "the vehicle's signature does not verify with the installed key"
    # The vehicle's link id is its channel number.
    buf = g0.wait("SYS_STATUS").get_msgbuf()
    assert buf[-13] == 0
    assert g1.wait("SYS_STATUS").get_msgbuf()[-13] == 1


def test_signing_clock_runs_at_simulation_speed(sim):
    _s, g = keyed(sim, speedup=50)
    g.wait("SYSTEM_TIME")
    wall0, ts0 = time.time(), g.last_vehicle_ts
    while time.time() - wall0 < 0.5:
        g.wait("SYSTEM_TIME")
    vehicle_s = (g.last_vehicle_ts - ts0) / TICKS_PER_S
    wall_s = time.time() - wall0
    assert vehicle_s > 10 * wall_s, f"signing clock advanced {vehicle_s:.1f} s in {wall_s:.2f} s"


def test_unsigned_frames_are_dropped_on_link_1_but_not_on_trusted_channel_0(sim):
    s, g1 = keyed(sim)
    g1.conn.write(unsigned(param_set("SIM_WIND_DIR", 90)))
    assert g1.read("SIM_WIND_DIR") == 180, "unsigned PARAM_SET was accepted on link 1"
    g0 = s.gcs(0)  # no key: everything it sends is unsigned
    g0.set_unanswered("SIM_WIND_DIR", 45)
    assert g0.read("SIM_WIND_DIR") == 45, "unsigned PARAM_SET refused on trusted channel 0"


def test_channel_0_trust_can_be_switched_off(sim):
    s, g1 = keyed(sim)
    g1.conn.mav.param_set_send(1, 1, b"SIM_SIGN_TRUST0", 0, M.MAV_PARAM_TYPE_INT8)
    g1.wait("PARAM_VALUE", lambda m: m.param_id == "SIM_SIGN_TRUST0")
    g0 = s.gcs(0)
    g0.sign(link_id=3)
    g0.conn.write(unsigned(param_set("SIM_WIND_DIR", 45)))
    assert g0.read("SIM_WIND_DIR") == 180


def test_unsigned_radio_status_passes_but_changes_nothing(sim):
    _s, g1 = keyed(sim)
    before = [g1.read(n) for n in ("SIM_WIND_DIR", "FS_GCS_ENABLE")]
    for msg in (M.MAVLink_radio_status_message(0, 0, 0, 0, 0, 0, 0),
                M.MAVLink_radio_message(0, 0, 0, 0, 0, 0, 0)):
        g1.conn.write(unsigned(msg, src=(51, 68)))
    assert [g1.read(n) for n in ("SIM_WIND_DIR", "FS_GCS_ENABLE")] == before
    assert g1.vehicle_signs()


def test_flipped_signature_bit_is_dropped_and_good_signature_accepted(sim):
    _s, g = keyed(sim)
    ts = g.last_vehicle_ts + 1000
    bad = bytearray(frame(param_set("SIM_WIND_DIR", 90), KEY, 9, ts))
    bad[-1] ^= 0x01
    g.conn.write(bytes(bad))
    assert g.read("SIM_WIND_DIR") == 180, "a frame with a flipped signature bit was accepted"
    g.conn.write(frame(param_set("SIM_WIND_DIR", 91), KEY, 9, ts + 1))
    assert g.read("SIM_WIND_DIR") == 91


def test_exact_replay_is_rejected(sim):
    _s, g = keyed(sim)
    first = g.set_unanswered("SIM_WIND_DIR", 90)
    assert g.read("SIM_WIND_DIR") == 90
    g.set_unanswered("SIM_WIND_DIR", 100)
    assert g.read("SIM_WIND_DIR") == 100
    g.conn.write(first)  # the same bytes again
    assert g.read("SIM_WIND_DIR") == 100, "a replayed frame changed a parameter"


def test_forged_future_timestamp_does_not_lock_out_the_genuine_stream(sim):
    # pymavlink's own check_signature would store the forged timestamp before comparing.
    _s, g = keyed(sim)
    g.read("SIM_WIND_DIR")  # the stream exists and has a timestamp
    mav = g.conn.mav
    forged = frame(param_set("SIM_WIND_DIR", 10), OTHER_KEY, CLIENT_LINK_ID,
                   mav.signing.timestamp + 3600 * TICKS_PER_S, seq=mav.seq)
    g.conn.write(forged)
    g.set_unanswered("SIM_WIND_DIR", 120)  # genuine, same stream, normal timestamp
    assert g.read("SIM_WIND_DIR") == 120, "one forged frame locked out the genuine stream"


def test_new_stream_61_s_behind_is_refused_59_s_accepted(sim):
    _s, g = keyed(sim, speedup=1)  # at 1x the vehicle clock moves ~nothing during the test
    g.read("SIM_WIND_DIR")
    now = g.last_vehicle_ts
    g.conn.write(frame(param_set("SIM_WIND_DIR", 61), KEY, 20, now - 61 * TICKS_PER_S))
    assert g.read("SIM_WIND_DIR") == 180, "a new stream 61 s old was accepted"
    g.conn.write(frame(param_set("SIM_WIND_DIR", 59), KEY, 21, now - 59 * TICKS_PER_S))
    assert g.read("SIM_WIND_DIR") == 59, "a new stream 59 s old was refused"


def test_another_link_id_is_its_own_stream(sim):
    _s, g = keyed(sim)
    ts = g.conn.mav.signing.timestamp
    g.conn.write(frame(param_set("SIM_WIND_DIR", 30), KEY, 40, ts + 500))
    assert g.read("SIM_WIND_DIR") == 30
    # Older than stream 40's last, but stream 41 is new and within 60 s: accepted.
    g.conn.write(frame(param_set("SIM_WIND_DIR", 31), KEY, 41, ts + 100))
    assert g.read("SIM_WIND_DIR") == 31


def test_seventeenth_stream_is_refused(sim):
    _s, g = keyed(sim)
    g.read("SIM_WIND_DIR")  # the client's own stream is number 1
    ts = g.conn.mav.signing.timestamp + 1000
    for link_id in range(100, 115):  # streams 2..16
        g.conn.write(frame(param_read("FS_GCS_TIMEOUT"), KEY, link_id, ts))
        g.wait("PARAM_VALUE", lambda m: m.param_id == "FS_GCS_TIMEOUT")
    g.conn.write(frame(param_set("SIM_WIND_DIR", 17), KEY, 115, ts))  # stream 17
    assert g.read("SIM_WIND_DIR") == 180, "a 17th signing stream was accepted"


def test_setup_signing_over_an_unsigned_link_is_refused_once_a_key_is_set(sim):
    s, g1 = keyed(sim)
    # Try to switch signing off without the key.
    g1.conn.write(unsigned(M.MAVLink_setup_signing_message(1, 1, [0] * 32, 0)))
    g1.read("SIM_WIND_DIR")
    assert g1.vehicle_signs(), "an unsigned SETUP_SIGNING turned signing off"
    # The trusted channel 0 may (as on ArduPilot's USB); an all-zero key turns signing off.
    g0 = s.gcs(0)
    g0.setup_signing(bytes(32))
    g0.wait("STATUSTEXT", lambda m: m.text == "Signing: disabled")
    assert not g0.vehicle_signs()


def test_setup_signing_is_refused_while_armed(sim):
    s = sim()
    g = s.gcs(1)
    g.conn.mav.param_set_send(1, 1, b"DISARM_DELAY", 0, M.MAV_PARAM_TYPE_INT8)
    g.wait("PARAM_VALUE", lambda m: m.param_id == "DISARM_DELAY")
    g.wait("GPS_RAW_INT", lambda m: m.fix_type >= 3)
    g.conn.mav.command_long_send(1, 1, M.MAV_CMD_DO_SET_MODE, 0, 1, 4, 0, 0, 0, 0, 0)
    g.wait("HEARTBEAT", lambda m: m.get_srcComponent() == 1 and m.custom_mode == 4)
    deadline = time.monotonic() + WALL_LIMIT_S  # the EKF may not be ready to arm yet
    while time.monotonic() < deadline:
        g.conn.mav.command_long_send(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0,
                                     0, 0)
        ack = g.wait("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_COMPONENT_ARM_DISARM)
        if ack.result == M.MAV_RESULT_ACCEPTED:
            break
    g.setup_signing(KEY)
    g.wait("STATUSTEXT", lambda m: m.text == "Signing: setup refused while armed")
    assert not g.vehicle_signs()


def test_key_persists_in_state_dir_and_is_never_readable(sim, tmp_path):
    s, g = keyed(sim, "--state-dir", str(tmp_path))
    # Not in any parameter, not in any STATUSTEXT.
    g.conn.mav.param_request_list_send(1, 1)
    first = g.wait("PARAM_VALUE")
    names = {first.param_id}
    while len(names) < first.param_count:
        names.add(g.wait("PARAM_VALUE").param_id)
    assert not [n for n in names if "KEY" in n]
    assert not [t for t in g.texts if KEY.hex()[:8] in t.lower()]
    f = tmp_path / "signing.json"
    assert f.exists() and stat.S_IMODE(f.stat().st_mode) == 0o600
    s.proc.terminate()
    assert s.proc.wait(5) == 0
    # A restarted vehicle signs from the start with the stored key.
    s2 = sim("--state-dir", str(tmp_path))
    g2 = s2.gcs(1)
    g2.conn.setup_signing(KEY, sign_outgoing=True, link_id=CLIENT_LINK_ID)
    assert g2.vehicle_signs()
    hb = g2.wait("HEARTBEAT", lambda m: m.get_srcComponent() == 1)
    assert hb._signed


# ---------------------------------------------------------------- the known-bad vehicles

def test_fault_accepts_unsigned(sim):
    _s, g = keyed(sim, "--fault", "accepts_unsigned")
    g.conn.write(unsigned(param_set("SIM_WIND_DIR", 90)))
    assert g.read("SIM_WIND_DIR") == 90


def test_fault_accepts_replay(sim):
    _s, g = keyed(sim, "--fault", "accepts_replay")
    first = g.set_unanswered("SIM_WIND_DIR", 90)
    g.set_unanswered("SIM_WIND_DIR", 100)
    assert g.read("SIM_WIND_DIR") == 100
    g.conn.write(first)
    assert g.read("SIM_WIND_DIR") == 90


def test_fault_accepts_bad_signature(sim):
    _s, g = keyed(sim, "--fault", "accepts_bad_signature")
    g.conn.write(frame(param_set("SIM_WIND_DIR", 90), OTHER_KEY, 9, g.last_vehicle_ts + 1000))
    assert g.read("SIM_WIND_DIR") == 90


def test_fault_leaks_key(sim):
    s = sim("--fault", "leaks_key")
    g = s.gcs(1)
    g.wait("HEARTBEAT")
    g.setup_signing(KEY)
    chunks: dict[int, str] = {}
    while KEY.hex() not in "".join(chunks[i] for i in sorted(chunks)):
        m = g.wait("STATUSTEXT", lambda m: m.id != 0)
        chunks[m.chunk_seq] = m.text
