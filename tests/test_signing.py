"""The harness's own signing and attack tooling: signature checks without pymavlink's flaw, the
vehicle's clock adopted before signing, the key hidden everywhere (repr, logs, tlogs, every
artefact of a run), key sources, the frame builder and its mutations, fuzz strategies that
really are malformed, and reproducer files that replay."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import pickle
import re
import socket
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest
from hypothesis import given, settings

from drivers.attack import frames
from drivers.attack.flooder import Flooder
from drivers.attack.frames import FrameBuilder, Reproducer, Signature, replay
from drivers.attack.strategies import Target, malformed
from drivers.link.clock import VehicleClock
from drivers.link.connection import Link
from drivers.link.keys import (
    TICKS_PER_S,
    SigningKey,
    SigningKeyError,
    load_key,
    redact_secrets,
    wall_timestamp,
)
from drivers.link.signer import Signer
from drivers.mavlink import mavlink, mavutil
from drivers.services.signing import SigningSession
from drivers.vehicles.sim_driver import SimDriver
from suites.security.test_signing import exempt_message
from tests.fake_peer import FakePeer
from tests.run_pytest import ROOT, run_pytest

KEY = SigningKey(hashlib.sha256(b"skyproof test key").digest(), "a test")
OTHER = SigningKey(hashlib.sha256(b"someone else").digest(), "another test")
M = mavlink


def vehicle_frame(msg, ts: int, key: SigningKey = KEY, link_id: int = 1) -> bytes:
    return FrameBuilder(1, 1).frame(msg, Signature(key, link_id, ts))


def heartbeat():
    return M.MAVLink_heartbeat_message(2, 3, 0, 0, 3, 3)


def harness(key: SigningKey = KEY) -> tuple[SimpleNamespace, Signer]:
    """What Signer needs of a link: a pymavlink MAVLink and a vehicle clock."""
    link = SimpleNamespace(mav=M.MAVLink(None, 255, 190), clock=VehicleClock())
    link.mav.robust_parsing = True
    signer = Signer(key, 0)
    signer.attach(link)  # type: ignore[arg-type]
    return link, signer


def accepted(link, frame: bytes) -> bool:
    got = link.mav.parse_buffer(frame) or []
    return [m.get_type() for m in got] == ["HEARTBEAT"]


# -- verification without pymavlink's flaw ---------------------------------------------------
def test_pymavlink_alone_has_the_flaw():
    # given pymavlink's own signing state, a genuine stream, then one forged future frame
    mav = M.MAVLink(None)
    mav.robust_parsing = True
    mav.signing.secret_key = KEY.reveal()
    t = wall_timestamp()
    assert [m.get_type() for m in mav.parse_buffer(vehicle_frame(heartbeat(), t))] == ["HEARTBEAT"]
    mav.parse_buffer(vehicle_frame(heartbeat(), t + 3600 * TICKS_PER_S, OTHER))
    # then the next genuine frame is refused as old: the flaw the harness must not share
    assert mav.parse_buffer(vehicle_frame(heartbeat(), t + 1))[0].get_type() == "BAD_DATA"


def test_signer_keeps_a_stream_after_a_forged_future_frame():
    link, signer = harness()
    t = wall_timestamp()
    assert accepted(link, vehicle_frame(heartbeat(), t))
    assert not accepted(link, vehicle_frame(heartbeat(), t + 3600 * TICKS_PER_S, OTHER))
    assert accepted(link, vehicle_frame(heartbeat(), t + 1))  # genuine traffic goes on
    assert (signer.good, signer.bad) == (2, 1)


def test_signer_refuses_a_new_forged_stream_without_keeping_it():
    link, _ = harness()
    t = wall_timestamp()
    assert not accepted(link, vehicle_frame(heartbeat(), t + 3600 * TICKS_PER_S, OTHER, link_id=9))
    assert accepted(link, vehicle_frame(heartbeat(), t, link_id=9))  # the stream starts clean
    assert not accepted(link, vehicle_frame(heartbeat(), t, link_id=9))  # a replay still is one


def test_signer_refuses_unsigned_except_what_is_allowed():
    link, signer = harness()
    plain = FrameBuilder(1, 1)
    assert not accepted(link, plain.frame(heartbeat()))
    radio = plain.frame(M.MAVLink_radio_status_message(1, 2, 3, 4, 5, 6, 7))
    assert [m.get_type() for m in link.mav.parse_buffer(radio)] == ["RADIO_STATUS"]
    assert signer.unsigned_rejected == 1


def test_signer_adopts_the_vehicle_clock_before_signing():
    # given a vehicle whose signing clock runs an hour ahead (SITL at speedup)
    link, signer = harness()
    ahead = wall_timestamp() + 3600 * TICKS_PER_S
    assert accepted(link, vehicle_frame(heartbeat(), ahead))
    # when the harness signs its next frame
    signer.signing_state.sign_outgoing = True
    out = heartbeat().pack(link.mav)
    # then its timestamp follows the vehicle's, so a new stream is not "too old" there
    assert frames.signing_timestamp(out) >= ahead
    assert signer.vehicle_clock() >= ahead


def test_detach_leaves_plain_pymavlink():
    link, signer = harness()
    signer.detach()
    assert "check_signature" not in link.mav.__dict__ and link.mav.signing.secret_key is None
    assert accepted(link, FrameBuilder(1, 1).frame(heartbeat()))


# -- the key stays hidden --------------------------------------------------------------------
def test_key_never_shows_in_repr_str_logs_or_pickles(caplog):
    link, signer = harness()
    session = SigningSession(SimpleNamespace(link=link, sysid=1, compid=1), KEY)
    sig = Signature(KEY, 3, 7)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("skyproof.test").info("key %s %r %s %s", KEY, KEY, signer, session)
    shown = " ".join(
        [repr(KEY), str(KEY), f"{KEY}", repr(signer), repr(session), repr(sig), caplog.text]
    )
    assert not KEY.found_in(shown), shown
    assert "hidden" in repr(KEY) and KEY.fingerprint in repr(KEY)
    with pytest.raises(TypeError):
        pickle.dumps(KEY)


def test_key_forms_are_found_and_redacted():
    text = f"x {KEY.reveal().hex().upper()[:40]} y"
    assert KEY.found_in(text) == ["hex, first half"]  # 40 of 64 digits: half is a leak too
    assert KEY.found_in(KEY.reveal()) and not OTHER.found_in(KEY.reveal())
    assert not KEY.found_in(KEY.redact(f"a {KEY.reveal().hex()} b"))


def test_setup_signing_is_recorded_redacted_and_still_parses():
    msg = M.MAVLink_setup_signing_message(1, 1, list(KEY.reveal()), 12345)
    for sign in (None, Signature(KEY, 0, 99)):
        frame = FrameBuilder(255, 190).frame(msg, sign)
        kept = redact_secrets(frame)
        assert KEY.found_in(frame) and not KEY.found_in(kept)
        mav = M.MAVLink(None)  # no key: the signature is not checked, the CRC is
        (parsed,) = mav.parse_buffer(kept)
        assert parsed.get_type() == "SETUP_SIGNING" and parsed.initial_timestamp == 12345
    other = FrameBuilder(255, 190).frame(heartbeat())
    assert redact_secrets(other) == other


def test_a_link_tlog_never_holds_the_key(tmp_path):
    peer = FakePeer()
    tlog = tmp_path / "t.tlog"
    try:
        with Link(peer.url, tlog=tlog, silence_s=2) as link:
            link.send(M.MAVLink_setup_signing_message(1, 1, list(KEY.reveal()), 1))
            link.send_raw(b"\x00")
    finally:
        peer.close()
    assert tlog.stat().st_size > 0 and not KEY.found_in(tlog.read_bytes())


# -- key sources -------------------------------------------------------------------------------
def test_key_from_env_hex_or_passphrase(monkeypatch):
    monkeypatch.setenv("SKYPROOF_TEST_KEY", KEY.reveal().hex())
    assert load_key({"env": "SKYPROOF_TEST_KEY"}).reveal() == KEY.reveal()
    monkeypatch.setenv("SKYPROOF_TEST_KEY", "correct horse battery staple")
    key = load_key({"env": "SKYPROOF_TEST_KEY"})
    assert key.reveal() == hashlib.sha256(b"correct horse battery staple").digest()  # as MAVProxy
    assert key.found_in("... correct horse battery staple ...") == ["passphrase"]
    monkeypatch.delenv("SKYPROOF_TEST_KEY")
    with pytest.raises(SigningKeyError, match=r"SKYPROOF_TEST_KEY .* is not set"):
        load_key({"env": "SKYPROOF_TEST_KEY"})


def test_key_from_a_file_relative_to_the_profile(tmp_path):
    (tmp_path / "key.txt").write_text(KEY.reveal().hex() + "\n")
    assert load_key({"file": "key.txt"}, base_dir=tmp_path).reveal() == KEY.reveal()
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(SigningKeyError, match="empty"):
        load_key({"file": "empty.txt"}, base_dir=tmp_path)
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_key({"file": "missing.txt"}, base_dir=tmp_path)


def test_generated_keys_are_random_and_the_text_itself_is_refused():
    a, b = load_key("generate"), load_key("generate")
    assert len(a.reveal()) == 32 and a.reveal() != b.reveal()
    with pytest.raises(SigningKeyError):
        load_key({"key": KEY.reveal().hex()})


# -- frames and mutations ----------------------------------------------------------------------
def test_builder_and_mutations():
    frame = FrameBuilder(7, 8).frame(heartbeat(), Signature(KEY, 5, 1000))
    assert frames.parses(frame) and frames.link_id(frame) == 5
    assert frames.signing_timestamp(frame) == 1000
    flipped = frames.flip_signature_bit(frame, 3)
    assert flipped[:-6] == frame[:-6] and flipped != frame
    assert frames.with_link_id(frame, 6)[:-13] == frame[:-13]
    plain = FrameBuilder(7, 8).frame(heartbeat())
    assert frames.reseal(plain) == plain  # pymavlink's CRC, recomputed, is the same
    for broken in (
        frames.bad_crc(plain),
        frames.truncate(plain, 5) + bytes(40),
        frames.with_length(plain, 3) + bytes(40),
        frames.with_incompat(plain, 0x02),
        frames.with_msg_id(plain, 1),
    ):
        assert not frames.parses(broken), broken.hex()


TARGET = Target(1, 1, "RTL_ALT", 1700.0, (1, 2, 0), {"FS_GCS_TIMEOUT": (2.0, 120.0)})


@settings(max_examples=150, database=None, deadline=None)
@given(case=malformed(TARGET))
def test_every_malformed_case_is_refused_by_pymavlink(case):
    # the strategy's promise: a frame it calls malformed is one a correct parser drops
    # (padding completes a truncated or lengthened frame, as the fuzzer does)
    mav = M.MAVLink(None)
    mav.robust_parsing = True
    got = mav.parse_buffer(case.frame + bytes(300)) or []
    assert all(m.get_type() == "BAD_DATA" or m.get_type().startswith("UNKNOWN") for m in got), (
        case,
        [m.get_type() for m in got],
    )


# -- reproducers -------------------------------------------------------------------------------
def test_a_reproducer_round_trips_and_replays_a_crash(tmp_path):
    frame = frames.bad_crc(FrameBuilder(240, 190).frame(heartbeat()))
    rep = Reproducer("crash", [frame.hex()], ["malformed: bad CRC"], seed=0, pad_zeros=300)
    path = rep.save(tmp_path / "r.json")
    assert Reproducer.load(path) == rep and json.loads(path.read_text())["replay"]
    # against a simulator with the crash fault, the saved bytes take it down (exit code 3)
    sim = SimDriver({"speedup": 20, "faults": ["crash_on_malformed"]}, tmp_path / "sim")
    sim.start()
    try:
        assert sim.process is not None
        for _ in range(3):  # a loaded machine may lose the race with the sim's accept(): resend
            replay(Reproducer.load(path), sim.urls[0])
            with contextlib.suppress(subprocess.TimeoutExpired):
                sim.process.proc.wait(timeout=5)
            if sim.process.exit_code() is not None:
                break
        assert sim.process.exit_code() == 3
    finally:
        sim.stop()
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        replay(rep, "tcp:10.0.0.1:5760")


# -- a whole run: ArduPilot's channel 0 reported as trusted, and no artefact holds the key -----
PASSPHRASE = "skyproof whole-run secrecy test passphrase"


def test_a_run_reports_the_trusted_channel_and_keeps_the_key_out_of_every_artefact(
    tmp_path, monkeypatch
):
    # given the ArduPilot-like policy (channel 0 trusted) and a key from the environment
    monkeypatch.setenv("SKYPROOF_TEST_SIGNING_KEY", PASSPHRASE)
    profile = tmp_path / "p.yaml"
    profile.write_text(
        f"skyproof: 1\nname: secrecy\nextends: {ROOT / 'profiles' / 'sim.yaml'}\n"
        "suites:\n  security:\n    signing:\n      key: {env: SKYPROOF_TEST_SIGNING_KEY}\n"
    )
    run = run_pytest(
        "suites/security/test_signing.py",
        "suites/security/test_secrecy.py",
        "--profile",
        str(profile),
        report_dir=tmp_path / "reports",
    )
    # then channel 0's acceptances are reported as the profile's exception, all else passes
    assert run.code == 0, run.output[-3000:]
    outcomes = run.outcomes()
    waived = {n for n, o in outcomes.items() if o == "waived"}
    on_channel0 = re.compile(r"\[channel0[\]-]")  # [channel0] or [channel0-PARAM_SET]
    assert waived and all(on_channel0.search(n) for n in waived), outcomes
    assert {o for n, o in outcomes.items() if n not in waived} == {"passed"}, outcomes
    reasons = [c["message"] for c in run.results["checks"] if c["outcome"] == "waived"]
    assert all("trusted by this profile" in r for r in reasons), reasons
    # and no file of the run (JUnit, results, summary, Allure, tlogs, vehicle logs) holds
    # the key or the passphrase, in any form; the SETUP_SIGNINGs in the tlogs are redacted
    key = load_key({"env": "SKYPROOF_TEST_SIGNING_KEY"})
    files = [p for p in run.run_dir.rglob("*") if p.is_file()]
    assert {"junit.xml", "results.json", "summary.md"} <= {p.name for p in files}
    leaks = {str(p): key.found_in(p.read_bytes()) for p in files}
    assert not any(leaks.values()), {p: f for p, f in leaks.items() if f}
    setups = redacted = 0
    for tlog in run.run_dir.glob("tlogs/*.tlog"):
        log = mavutil.mavlink_connection(str(tlog))
        while (msg := log.recv_match(type="SETUP_SIGNING")) is not None:
            setups += 1
            redacted += bytes(msg.secret_key) != bytes(32)
            # installed (redacted) or removed (an all-zero key carries no secret)
            assert bytes(msg.secret_key) in (b"<skyproof: signing key redacted>", bytes(32))
    assert setups > 0 and redacted > 0


@pytest.mark.parametrize(
    "name", ["HEARTBEAT", "RADIO_STATUS", "RADIO", "ADSB_VEHICLE", "COLLISION"]
)
def test_every_exempt_message_a_profile_may_list_is_built(name):
    # PX4 takes HEARTBEAT, RADIO_STATUS, ADSB_VEHICLE and COLLISION unsigned; ADSB_VEHICLE's
    # wire order differs from its field order (callsign is an array), which broke its build
    msg = exempt_message(name)
    frame = FrameBuilder(51, 68).frame(msg)
    (back,) = mavlink.MAVLink(None).parse_buffer(frame)
    assert back.get_type() == name
    if name == "ADSB_VEHICLE":
        assert back.callsign == "SKYPROOF" and back.squawk == 1



def test_the_flooder_speaks_udp_one_frame_a_datagram():
    # given a "vehicle" that sends to the client's port first, as PX4's UDP links do
    vehicle = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    vehicle.bind(("127.0.0.1", 0))
    vehicle.settimeout(2.0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.02):
            vehicle.sendto(b"beat", ("127.0.0.1", port))

    beating = threading.Thread(target=beat)
    beating.start()
    burst = [FrameBuilder(200, 191).frame(M.MAVLink_param_request_read_message(1, 1, b"", i))
             for i in range(3)]  # fmt: skip
    clock = SimpleNamespace(now=time.monotonic, pace=1.0)
    try:
        with Flooder(f"udpin:127.0.0.1:{port}", burst, 100.0) as f:
            # when it writes a burst
            f.send_paced(burst, 1000.0, clock, lambda m: False)
            # then each frame arrived as a datagram of its own, from the port it bound
            got = [vehicle.recvfrom(65536) for _ in burst]
            assert [d for d, _ in got] == burst
            assert {a for _, a in got} == {("127.0.0.1", port)}
            assert f.leave(clock, 1.0) is not None  # no connection: gone at once
    finally:
        stop.set()
        beating.join()
        vehicle.close()
