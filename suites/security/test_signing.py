"""MAVLink 2 signing (mavlink.io "Message Signing"; GB 42590-2023 4.11 data-link protection, to be
confirmed against the standard text): once the key is set, the vehicle refuses what is not
properly signed on the channels the profile says require it, keeps the replay and stream rules,
cannot be locked out by a forged timestamp, and never shows its key.

Refusal is judged by effect (drivers/attack/probes.py): the probe parameter reads back
unchanged over the harness's signed link, the mode did not change, no COMMAND_ACK ACCEPTED.
Each negative case follows a positive control (the same change, properly signed, takes effect
on that channel), so a refusal cannot be a broken probe. Channels the profile trusts (ArduPilot:
channel 0) run too; an acceptance there is reported as the profile's stated exception. Checks
of signed frames run on the first channel that requires signing (a trusted one takes anything).
"""

from __future__ import annotations

import itertools
import secrets
import struct
from typing import Any

import pytest

from drivers.attack.frames import FrameBuilder, Signature, flip_signature_bit, with_link_id
from drivers.attack.peer import Peer
from drivers.attack.probes import Probe, attempt
from drivers.errors import VehicleLost
from drivers.link.keys import TICKS_PER_S, SigningKey, frame_timestamp, is_signed
from drivers.mavlink import mavlink

MINUTE = 60 * TICKS_PER_S
_fresh_link_ids = itertools.cycle(range(150, 250))  # streams no other check of this run uses


def fresh_link_id() -> int:
    return next(_fresh_link_ids)


def controlled(peer: Peer, vehicle: Any, probe: Probe, link_id: int | None = None) -> bytes:
    """Positive control: a properly signed change takes effect on this channel. Returns it."""
    value = probe.value()
    frame = peer.builder.frame(probe.param_set(value), peer.signature(link_id))
    got = attempt(peer, vehicle, probe, frame)
    assert got.param == value, (
        f"positive control failed on channel {peer.channel}: a properly signed PARAM_SET "
        f"{probe.name}={value:g} read back {got.param:g}; refusals cannot be judged here"
    )
    probe.reset()
    return frame


def gcs_builder(profile: Any) -> FrameBuilder:
    """Frames that claim to be the harness's ground station, without its key."""
    gcs = profile.link["gcs"]
    return FrameBuilder(gcs["sysid"], gcs["compid"])


@pytest.mark.requirement("MAV-SIGN-UNSIGNED", "GB42590-4.11")
@pytest.mark.parametrize("message", ["PARAM_SET", "COMMAND_LONG"])
def test_unsigned_command_is_refused(
    channel, message, signing, peers, vehicle, probe, policy, profile, measure
):
    # given signing on, and a probe that a signed frame moves on this channel
    peer = peers(channel)
    controlled(peer, vehicle, probe)
    # when one unsigned message arrives from the ground station's identity: a PARAM_SET, or a
    # COMMAND_LONG (DO_SET_MODE); one type per check, so one accepted cannot hide the other
    mode_before, gcs = vehicle.mode, gcs_builder(profile)
    unsigned = (
        probe.param_set(probe.value())
        if message == "PARAM_SET"
        else probe.mode_command(mode_before)
    )
    got = attempt(peer, vehicle, probe, gcs.frame(unsigned))
    # then it does not take effect (the parameter, the mode and the ACK say so)
    effects = got.effects(probe, mode_before)
    m = measure.at_most(
        f"unsigned {message}s that took effect on channel {channel}", len(effects), "", 0
    )
    policy.report_trusted(channel, bool(effects), f"an unsigned {message}", "; ".join(effects))
    assert m.ok, (
        f"channel {channel} requires signing, yet an unsigned {message} took effect: "
        + "; ".join(effects)
    )


@pytest.mark.requirement("MAV-SIGN-BADSIG", "GB42590-4.11")
def test_one_flipped_signature_bit_is_refused(
    required_channel, signing, peers, vehicle, probe, measure
):
    # given a channel that requires signing, where a properly signed change takes effect
    peer = peers(required_channel)
    controlled(peer, vehicle, probe)
    # when a PARAM_SET arrives whose signature has one bit flipped
    value = probe.value()
    frame = peer.builder.frame(probe.param_set(value), peer.signature())
    got = attempt(peer, vehicle, probe, flip_signature_bit(frame, bit=17))
    # then it does not take effect
    took = got.param != probe.base
    m = measure.at_most("badly signed PARAM_SETs that took effect", int(took), "", 0)
    assert m.ok, f"a PARAM_SET with one signature bit flipped set {probe.name} to {got.param:g}"


@pytest.mark.requirement("MAV-SIGN-REPLAY", "GB42590-4.11")
def test_exact_replay_is_refused(required_channel, signing, peers, vehicle, probe, measure):
    # given a signed PARAM_SET that was accepted once (and its change undone)
    peer = peers(required_channel)
    frame = controlled(peer, vehicle, probe)
    # when exactly the same bytes arrive again
    got = attempt(peer, vehicle, probe, frame)
    # then the replay does not take effect
    took = got.param != probe.base
    m = measure.at_most("replayed frames that took effect", int(took), "", 0)
    assert m.ok, (
        f"a byte-exact replay of a signed PARAM_SET set {probe.name} to {got.param:g} again"
    )


def reboot_and_wait(vehicle: Any, timeout_s: float) -> None:
    """MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN (1: autopilot), then wait in vehicle time until the
    harness's clock has seen the vehicle boot again."""
    link = vehicle.link
    reboots = link.clock.reboots
    result = vehicle.command(mavlink.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN, 1)
    assert result == mavlink.MAV_RESULT_ACCEPTED, f"the reboot was answered {result}"
    deadline = link.clock.now() + timeout_s
    while link.clock.reboots == reboots:
        assert link.clock.now() < deadline, f"the vehicle did not reboot within {timeout_s:g} s"
        link.elapse(0.1)


@pytest.mark.requirement("MAV-SIGN-REPLAY", "GB42590-4.11")
@pytest.mark.needs("reboot")
def test_replay_is_refused_after_a_reboot(
    fresh_vehicle, required_channel, signing, peers, vehicle, probe, settings, measure
):
    # given a signed PARAM_SET on a new stream, stamped 50 s behind the vehicle's signing clock,
    # that was accepted once (and its change undone)
    peer = peers(required_channel)
    assert peer.signer is not None
    age_s = settings["signing"]["replay_age_s"]
    value = probe.value()
    stamp = peer.signer.vehicle_clock() - 50 * TICKS_PER_S
    frame = peer.builder.frame(probe.param_set(value), peer.signature(fresh_link_id(), stamp))
    got = attempt(peer, vehicle, probe, frame)
    assert got.param == value, (
        f"positive control failed: a signed PARAM_SET 50 s old on a new stream read back "
        f"{got.param:g}; a replay cannot be judged here"
    )
    probe.reset()
    # when, replay_age_s after its timestamp (more than the 60 s a new stream may lag, plus the
    # interval at which a vehicle saves its signing clock), the vehicle reboots (its streams
    # are gone) and those bytes are the first signed frame it gets after booting
    link = vehicle.link
    link.elapse(max(0.0, age_s - 50))
    link.gcs_heartbeats = False  # our signed heartbeats would move its clock first
    try:
        reboot_and_wait(vehicle, settings["signing"]["reboot_timeout_s"])
        replay = attempt(peer, vehicle, probe, frame)
    except VehicleLost as exc:
        pytest.skip(
            f"the vehicle closed our connection as it rebooted ({exc}); the replay must be the "
            "first signed frame after the boot, which a new connection cannot promise yet"
        )
    finally:
        link.gcs_heartbeats = True
    # then it does not take effect: the vehicle still knows its signing clock
    measure.record_value("age of the replayed frame when sent", age_s, "s")
    took = replay.param != probe.base
    m = measure.at_most("replays after a reboot that took effect", int(took), "", 0)
    assert m.ok, (
        f"a signed PARAM_SET captured {age_s:g} s before a reboot, replayed as the first frame "
        f"after it, set {probe.name} to {replay.param:g}: the vehicle forgot its signing clock"
    )


def new_stream(peer: Peer, probe: Probe, age_s: float) -> tuple[bool, float, float]:
    """A PARAM_SET that opens a new stream stamped `age_s` behind the vehicle's signing clock:
    whether it took effect, and the bounds of its true age when the vehicle got it (from the
    newest vehicle timestamp seen before, and the barrier answer's timestamp after)."""
    assert peer.signer is not None
    lower_ts = peer.signer.newest_ts
    ts = peer.signer.vehicle_clock() - int(age_s * TICKS_PER_S)
    value = probe.value()
    peer.send(peer.builder.frame(probe.param_set(value), peer.signature(fresh_link_id(), ts)))
    answer = peer.barrier()
    upper_ts = frame_timestamp(answer.get_msgbuf()) if is_signed(answer) else lower_ts
    took = probe.read() == value
    if took:
        probe.reset()
    return took, (lower_ts - ts) / TICKS_PER_S, (upper_ts - ts) / TICKS_PER_S


@pytest.mark.requirement("MAV-SIGN-NEWSTREAM", "GB42590-4.11")
def test_new_stream_61s_old_is_refused_59s_old_accepted(
    required_channel, signing, peers, vehicle, probe, measure
):
    # given a channel that requires signing and the vehicle's signing clock, read from its frames
    peer = peers(required_channel)
    controlled(peer, vehicle, probe)
    # when new streams arrive stamped 61 s and 59 s behind that clock; the vehicle's clock
    # moves while a frame travels, so an attempt whose true age may straddle 60 s is repeated
    old = young = None
    for _ in range(3):
        took, low, high = new_stream(peer, probe, 61.0)
        old = (took, low, high)
        if not took or low > 60:
            break
    for _ in range(3):
        took, low, high = new_stream(peer, probe, 59.0)
        young = (took, low, high)
        if took or high < 60:
            break
    assert old is not None and young is not None
    # then the 61 s one is refused and the 59 s one accepted
    measure.record_value("age of the 61 s stream when received (at least)", old[1], "s")
    measure.record_value("age of the 59 s stream when received (at most)", young[2], "s")
    refused = measure.at_most("61 s old new streams that took effect", int(old[0]), "", 0)
    accepted = measure.at_least("59 s old new streams that took effect", int(young[0]), "", 1)
    assert refused.ok, f"a new stream {old[1]:.2f}..{old[2]:.2f} s old took effect (limit 60 s)"
    assert accepted.ok, (
        f"a new stream {young[1]:.2f}..{young[2]:.2f} s old was refused (limit 60 s)"
    )


@pytest.mark.requirement("MAV-SIGN-LINKID", "GB42590-4.11")
def test_link_id_is_covered_and_is_its_own_stream(
    required_channel, signing, peers, vehicle, probe, measure
):
    # given a signed PARAM_SET on link id A that was accepted (and its change undone)
    peer = peers(required_channel)
    link_a = fresh_link_id()
    original = controlled(peer, vehicle, probe, link_a)
    # when the same frame arrives relabelled with link id B (the signature left as it was)
    relabelled = attempt(peer, vehicle, probe, with_link_id(original, fresh_link_id()))
    # and a properly signed one arrives on link id C, stamped older than A's newest
    value = probe.value()
    older = frame_timestamp(original) - TICKS_PER_S
    frame = peer.builder.frame(probe.param_set(value), peer.signature(fresh_link_id(), older))
    own = attempt(peer, vehicle, probe, frame)
    # then the relabelled one is refused (the signature covers the link id) and C's is accepted
    # (each link id is a stream of its own)
    forged = measure.at_most(
        "relabelled frames that took effect", int(relabelled.param != probe.base), "", 0
    )
    separate = measure.at_least(
        "older frames on another link id that took effect", int(own.param == value), "", 1
    )
    assert forged.ok, (
        f"a frame relabelled with another link id set {probe.name} to {relabelled.param:g}"
    )
    assert separate.ok, (
        f"a properly signed frame on another link id, 1 s older than link {link_a}'s newest, was "
        f"refused ({probe.name} reads {own.param:g}): streams are not kept apart by link id"
    )


@pytest.mark.requirement("MAV-SIGN-STREAMS", "GB42590-4.11")
def test_stream_table_is_bounded(
    fresh_vehicle, required_channel, signing, peers, vehicle, probe, policy, measure
):
    # given a freshly started vehicle and a channel that requires signing; the vehicle knows
    # our link's stream (and the second station's, when it has a connection of its own)
    peer = peers(required_channel)
    known = 1 + int(peer.owned)
    limit = policy.max_streams
    # when new signed streams arrive one by one, each moving the probe parameter
    accepted, refused_at = 0, None
    for i in range(1, limit + 2):
        value = probe.value()
        peer.send(peer.builder.frame(probe.param_set(value), peer.signature(fresh_link_id())))
        peer.barrier()
        if probe.read() != value:
            refused_at = i
            break
        accepted += 1
    # then, once the table is full (max_streams), a further new stream is refused, not before
    first = limit - known + 1
    measure.record_value("new streams accepted before the first refusal", accepted, "")
    bounded = measure.at_most(
        f"new streams accepted beyond {limit} in all", max(0, accepted + known - limit), "", 0
    )
    early = measure.at_least(
        "new streams accepted before the table was full", accepted, "", first - 1
    )
    assert bounded.ok, (
        f"{accepted} new streams accepted after {known} known: the table has no limit of {limit}"
    )
    assert early.ok, (
        f"new stream {refused_at} refused with only {known + accepted} of {limit} in the table"
    )


@pytest.mark.requirement("MAV-SIGN-FUTURE", "GB42590-4.11")
def test_forged_future_timestamp_does_not_lock_out_genuine_traffic(
    required_channel, signing, peers, vehicle, probe, measure
):
    # given a stream that carried an accepted signed PARAM_SET (and its change undone)
    peer = peers(required_channel)
    assert peer.signer is not None
    stream = fresh_link_id()
    controlled(peer, vehicle, probe, stream)
    # when a forged frame on that stream claims a timestamp an hour ahead (signed with another
    # key), and then the next genuine frame of the stream arrives
    forger = SigningKey(secrets.token_bytes(32), "a forger's key")
    future = peer.signer.vehicle_clock() + 60 * MINUTE
    forged = peer.builder.frame(probe.param_set(probe.value()), Signature(forger, stream, future))
    value = probe.value()
    genuine = peer.builder.frame(probe.param_set(value), peer.signature(stream))
    got = attempt(peer, vehicle, probe, forged, genuine)
    # then the genuine frame takes effect: the forged one moved nothing
    ok = measure.at_least(
        "genuine frames accepted after the forged one", int(got.param == value), "", 1
    )
    assert ok.ok, (
        f"after a badly signed frame stamped 1 h ahead, the stream's next genuine frame was "
        f"refused ({probe.name} reads {got.param:g}, expected {value:g}): one forged frame locks "
        f"a genuine stream out (pymavlink's timestamp-before-signature flaw)"
    )


def heartbeat_keys(
    vehicle: Any, since: float, beats: int = 2, bound_s: float = 10.0
) -> dict[str, int]:
    """How the vehicle's next `beats` HEARTBEATs from `since` on were signed, by kind."""
    kinds = {"our key": 0, "another key": 0, "unsigned": 0}
    link = vehicle.link
    with link.subscribe(["HEARTBEAT"]) as sub:
        deadline = link.clock.now() + bound_s
        while sum(kinds.values()) < beats and link.clock.now() < deadline:
            got = sub.get(link.poll_s(deadline))
            link.check_alive("the vehicle's HEARTBEATs after a SETUP_SIGNING")
            if got is None or got.t < since or got.msg.get_srcSystem() != vehicle.sysid:
                continue
            if got.msg.get_srcComponent() != vehicle.compid:
                continue
            if not is_signed(got.msg):
                kinds["unsigned"] += 1
            else:
                kinds["our key" if got.msg._signed else "another key"] += 1
    return kinds


def undo_forged_key(peer: Peer, gcs: FrameBuilder, forger: SigningKey, vehicle: Any) -> None:
    """Take a forger's key off again (signed with it), so the check's teardown finds ours gone."""
    assert peer.signer is not None
    msg = mavlink.MAVLink_setup_signing_message(vehicle.sysid, vehicle.compid, [0] * 32, 0)
    ts = peer.signer.vehicle_clock() + TICKS_PER_S
    peer.send(gcs.frame(msg, Signature(forger, 0, ts)))


@pytest.mark.requirement("MAV-SIGN-SETUP", "GB42590-4.11")
def test_setup_signing_from_an_unsigned_link_is_refused(
    channel, signing, peers, vehicle, policy, profile, measure
):
    # given signing on with our key; the harness's link shows every vehicle frame for a while,
    # verified or not, so a changed key shows (a vehicle signing with another key, or none)
    peer = peers(channel)
    gcs = gcs_builder(profile)
    forger = SigningKey(secrets.token_bytes(32), "an attacker's key")
    assert peer.signer is not None
    start_ts = peer.signer.vehicle_clock()
    signing.signer.accept_unsigned = True
    try:
        # when an unsigned SETUP_SIGNING with another key arrives, then one with an all-zero key
        results = {}
        for label, key in (("another key", forger.reveal()), ("an all-zero key", bytes(32))):
            msg = mavlink.MAVLink_setup_signing_message(
                vehicle.sysid, vehicle.compid, list(key), start_ts
            )
            sent = vehicle.link.clock.now()
            peer.send(gcs.frame(msg))
            results[label] = kinds = heartbeat_keys(vehicle, since=sent + 1.0)
            if kinds["our key"] == 0 or kinds["another key"] or kinds["unsigned"]:
                undo_forged_key(peer, gcs, forger, vehicle)
                break
    finally:
        signing.signer.accept_unsigned = False
    # then the vehicle still signs with our key, and only with it
    changed = [
        f"after {label}: {k}"
        for label, k in results.items()
        if k["our key"] == 0 or k["another key"] or k["unsigned"]
    ]
    m = measure.at_most("unsigned SETUP_SIGNINGs that changed the key", len(changed), "", 0)
    policy.report_trusted(channel, bool(changed), "an unsigned SETUP_SIGNING", "; ".join(changed))
    changes = "; ".join(changed)
    assert m.ok, f"channel {channel}: an unsigned SETUP_SIGNING changed its signing: {changes}"


def exempt_message(name: str) -> Any:
    """A message of type `name` with hostile-looking values: counters and levels at extremes."""
    cls = mavlink.mavlink_map[getattr(mavlink, f"MAVLINK_MSG_ID_{name}")]
    values = []
    lengths = dict(zip(cls.ordered_fieldnames, cls.array_lengths, strict=True))  # wire order
    for fname, ftype in zip(cls.fieldnames, cls.fieldtypes, strict=True):
        alen = lengths[fname]
        if ftype == "char":
            values.append(b"SKYPROOF")
        elif alen:
            values.append([0] * alen)
        elif ftype.startswith(("uint", "int")):
            values.append(0 if fname in ("txbuf", "rssi", "remrssi") else 1)
        else:
            values.append(0.0)
    return cls(*values)


@pytest.mark.requirement("MAV-SIGN-EXEMPT", "GB42590-4.11")
def test_unsigned_exempt_messages_change_nothing(
    channel, signing, peers, vehicle, probe, policy, profile, measure
):
    # given signing on, and a probe that a signed frame moves on this channel
    peer = peers(channel)
    controlled(peer, vehicle, probe)
    # when the messages the vehicle may take unsigned (RADIO_STATUS, RADIO, ...) arrive unsigned
    # from a radio's identity and from the ground station's, each followed by an unsigned
    # PARAM_SET and DO_SET_MODE riding on the exemption
    mode_before, gcs, radio = vehicle.mode, gcs_builder(profile), FrameBuilder(51, 68)
    frames = []
    for name in policy.unsigned_allowed:
        for sender in (radio, gcs):
            frames.append(sender.frame(exempt_message(name)))
            frames.append(gcs.frame(probe.param_set(probe.value())))
            frames.append(gcs.frame(probe.mode_command(mode_before)))
    got = attempt(peer, vehicle, probe, *frames)
    # then nothing changed
    effects = got.effects(probe, mode_before)
    m = measure.at_most("state changes after unsigned exempt messages", len(effects), "", 0)
    policy.report_trusted(
        channel, bool(effects), "unsigned frames beside exempt ones", "; ".join(effects)
    )
    exempt = ", ".join(policy.unsigned_allowed)
    assert m.ok, f"channel {channel}: after unsigned {exempt}: {'; '.join(effects)}"


def statustexts(vehicle: Any, since: float) -> list[str]:
    """STATUSTEXTs from `since` on, chunks of one id (MAVLink 2) joined in order."""
    vehicle.link.collect(["STATUSTEXT"], 2.0)  # what follows the key's installation
    chunks: dict[int, list[tuple[int, str]]] = {}
    texts = []
    for t in vehicle.link.statustexts:
        if t.t < since:
            continue
        msg = t.msg
        if getattr(msg, "id", 0):
            chunks.setdefault(msg.id, []).append((msg.chunk_seq, msg.text))
        else:
            texts.append(msg.text)
    texts += ["".join(text for _, text in sorted(parts)) for parts in chunks.values()]
    return texts


def all_params(vehicle: Any) -> list[Any]:
    """Every PARAM_VALUE of a full PARAM_REQUEST_LIST (bounded in vehicle time)."""
    link = vehicle.link
    got: dict[int, Any] = {}
    with link.subscribe(["PARAM_VALUE"]) as sub:
        link.send(link.mav.param_request_list_encode(vehicle.sysid, vehicle.compid))
        deadline = link.clock.now() + 30.0
        while link.clock.now() < deadline:
            item = sub.get(link.poll_s(deadline))
            link.check_alive("the parameter list")
            if item is not None and item.msg.get_srcSystem() == vehicle.sysid:
                got[item.msg.param_index] = item.msg
                if len(got) >= item.msg.param_count:
                    break
    return list(got.values())


@pytest.mark.requirement("MAV-SIGN-KEY-SECRET", "GB42590-4.11")
def test_key_is_not_readable(signing, vehicle, signing_key, measure):
    # given the key installed (or in use) at the start of this check
    since = signing.started_t or 0.0
    # when we read what the vehicle says (STATUSTEXT) and every parameter it has
    texts = statustexts(vehicle, since)
    params = all_params(vehicle)
    # then no form of the key (hex, base64, raw, half of it) is in any of them
    said = [
        f"{signing_key.redact(t)!r} ({', '.join(f)})"
        for t in texts
        if (f := signing_key.found_in(t))
    ]
    names = " ".join(str(p.param_id) for p in params).encode()
    values = b"".join(struct.pack("<f", p.param_value) for p in params)
    in_params = signing_key.found_in(names) + signing_key.found_in(values)
    measure.record_value("STATUSTEXTs read", len(texts), "")
    measure.record_value("parameters read", len(params), "")
    m = measure.at_most("places the key was readable", len(said) + len(in_params), "", 0)
    assert params, "the vehicle listed no parameters"
    assert m.ok, "the key is readable: " + "; ".join(
        [f"STATUSTEXT {s}" for s in said] + [f"parameters ({f})" for f in in_params]
    )
