"""Spoofing (GB 42590-2023 4.11, to be confirmed against the standard text; 4.3 emergency
handling): a second "ground station" without the key, with the harness's system id or another,
injects heartbeats and commands. With signing on they are refused (judged by effect), and its
heartbeats do not hide a real loss of the harness's link from the GCS failsafe: the uplink is
cut in the impairment proxy while the spoofer keeps beating on another channel, and the
failsafe must still fire on time."""

from __future__ import annotations

import secrets

import pytest

from drivers.attack.frames import FrameBuilder, Signature
from drivers.attack.probes import attempt
from drivers.impair.uplink import cut_uplink
from drivers.link.keys import SigningKey
from drivers.mavlink import mavlink
from drivers.services.flight import fly, wait_landed


@pytest.mark.requirement("MAV-SIGN-UNSIGNED", "MAV-SIGN-BADSIG", "GB42590-4.11")
@pytest.mark.parametrize("identity", ["same_sysid", "other_sysid"])
def test_second_ground_station_is_refused(
    channel, identity, signing, peers, vehicle, probe, policy, settings, profile, measure
):
    # given signing on, and a probe that a signed frame moves on this channel
    peer = peers(channel)
    value = probe.value()
    control = attempt(
        peer, vehicle, probe, peer.builder.frame(probe.param_set(value), peer.signature())
    )
    assert control.param == value, f"positive control failed on channel {channel}"
    probe.reset()
    # when a ground station without our key (our sysid, or another) sends heartbeats and
    # commands, unsigned and signed with a key of its own
    gcs = profile.link["gcs"]
    sysid = gcs["sysid"] if identity == "same_sysid" else settings["spoofer"]["other_sysid"]
    spoofer, own_key = (
        FrameBuilder(sysid, gcs["compid"]),
        SigningKey(secrets.token_bytes(32), "a spoofer's"),
    )
    assert peer.signer is not None
    heartbeat = mavlink.MAVLink_heartbeat_message(
        mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, mavlink.MAV_STATE_ACTIVE, 3
    )
    mode_before = vehicle.mode
    ts = peer.signer.vehicle_clock()
    messages = (heartbeat, probe.param_set(probe.value()), probe.mode_command(mode_before))
    frames = [spoofer.frame(m) for m in messages]  # unsigned
    frames += [spoofer.frame(m, Signature(own_key, 0, ts + i)) for i, m in enumerate(messages)]
    got = attempt(peer, vehicle, probe, *frames)
    # then nothing it sent takes effect
    effects = got.effects(probe, mode_before)
    m = measure.at_most("spoofed frames that took effect", len(effects), "", 0)
    policy.report_trusted(
        channel, bool(effects), "a spoofing ground station's frames", "; ".join(effects)
    )
    assert m.ok, f"channel {channel}, spoofer sysid {sysid}: {'; '.join(effects)}"


@pytest.mark.requirement("MAV-SIGN-UNSIGNED", "GB42590-4.3", "GB42590-4.11", ardupilot="AP-FS-GCS",
                         px4="PX4-DL-LOSS")  # fmt: skip
@pytest.mark.needs("flight")
def test_spoofed_heartbeats_do_not_hide_a_link_loss(
    proxy, signing, peers, vehicle, policy, settings, profile, measure
):
    # given a flying vehicle with the GCS failsafe configured, signing on, and a spoofer on a
    # channel that requires signing and is not the harness's (the proxy cuts only ours)
    channels = [c for c in policy.required_links if c != 0]
    if not channels:
        pytest.skip(
            "no channel besides the harness's (0) requires signing: no place for the spoofer"
        )
    fs = settings["failsafe"]
    peer = peers(channels[0])
    fly(vehicle, fs)
    gcs = profile.link["gcs"]
    spoofer = FrameBuilder(gcs["sysid"], gcs["compid"])
    # when our uplink is lost while the spoofer sends unsigned GCS heartbeats at 1 Hz
    with peer.heartbeats(spoofer, hz=1.0) as beats:
        cut = cut_uplink(vehicle, proxy, fs, outage_s=fs["gcs_timeout_s"] + fs["tolerance_s"] + 60)
    measure.record_value("spoofed heartbeats sent during the outage", len(beats), "")
    # then the failsafe fires gcs_timeout_s after our last heartbeat, as if no one were there
    timeout, tol = fs["gcs_timeout_s"], fs["tolerance_s"]
    fired = cut.after_t is not None
    in_time = measure.at_most(
        "failsafe no later than (last old-mode beat)",
        cut.before_t - cut.last_heartbeat_t, "s", timeout + tol,
    )  # fmt: skip
    assert fired, (
        f"the mode never changed: {len(beats)} unsigned spoofed heartbeats on channel "
        f"{channels[0]} kept the GCS failsafe from firing"
    )
    assert in_time.ok and cut.mode == fs["action"], f"{in_time}; mode {cut.mode} ({fs['action']})"
    # and the vehicle comes down on its own
    wait_landed(vehicle, fs["land_timeout_s"])
