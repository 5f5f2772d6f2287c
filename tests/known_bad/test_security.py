"""Every data-security check can fail, each for its own reason: the security files run against
the simulator with named faults on (profiles/sim-strict.yaml: every channel must refuse, so a
fault shows on channel 0 too), and each check a fault speaks to FAILS with a fragment of its OWN
message while every other check of the files run passes (tests/known_bad/runner.py). Faults
that speak to different checks and do not interfere share a run.

accepts_unsigned in the simulator accepts whatever pymavlink's check refuses (pymavlink asks the
same "allow unsigned?" callback for a bad signature or an old timestamp, as ArduPilot's code
does), so it fails the replay, stream and bad-signature checks too: that is the fault, not noise.
The subtle ones accept one message type only, unsigned (never a badly signed frame of it), and
the unsigned-command check runs once per type, so one type accepted cannot hide behind the other.
"""

import json

import pytest

from tests.known_bad.runner import Proof, assert_fails_exactly, run_proof

SIGNING = "suites/security/test_signing.py"
SPOOFING = "suites/security/test_spoofing.py"
MALFORMED = "suites/security/test_malformed.py"
FLOOD = "suites/security/test_flood.py"
SECRECY = "suites/security/test_secrecy.py"
STRICT = "sim-strict.yaml"

CHANNELS = ("channel0", "channel1")  # sim-strict.yaml: signing required on both


def each(check: str, fragments: tuple, *params: str) -> dict:
    return {f"{check}[{p}]": fragments for p in params}


def spoofers(*fragments: str) -> dict:
    ids = [f"{c}-{who}" for c in CHANNELS for who in ("same_sysid", "other_sysid")]
    return each("test_second_ground_station_is_refused", fragments, *ids)


def unsigned(message: str, fragment: str) -> dict:
    return each(
        "test_unsigned_command_is_refused",
        (f"an unsigned {message} took effect: {fragment}",),
        *(f"{c}-{message}" for c in CHANNELS),
    )


def malformed(fault: str, *kinds: str, both: bool = False) -> Proof:
    """The malformed-frame check alone with `fault` on: the parametrizations `kinds` fail, each
    naming its kind and what took effect (the PARAM_SET, and with `both` the DO_SET_MODE too:
    where a frame runs into the next, the next one's start is lost with it)."""
    mode = ("mode became", "COMMAND_ACK ACCEPTED for DO_SET_MODE") if both else ()
    return Proof(
        (f"{MALFORMED}::test_malformed_frame_is_dropped",),
        (fault,),
        {f"test_malformed_frame_is_dropped[{k}]": (f"{k}: RTL_ALT became", *mode) for k in kinds},
        base=STRICT,
    )


PARAM_CHANGED = "RTL_ALT became"
MODE_CHANGED = ("mode became", "COMMAND_ACK ACCEPTED for DO_SET_MODE")

PROOFS = {
    # one message type taken unsigned: only that type's parametrization fails (and what sends
    # that type unsigned beside it: the exempt-message and spoofing checks)
    "unsigned_param_set": Proof(
        (SIGNING, SPOOFING),
        ("accepts_unsigned_param_set",),
        {
            **unsigned("PARAM_SET", PARAM_CHANGED),
            **each("test_unsigned_exempt_messages_change_nothing", (PARAM_CHANGED,), *CHANNELS),
            **spoofers(PARAM_CHANGED),
        },
        base=STRICT,
    ),
    "unsigned_command_long": Proof(
        (SIGNING, SPOOFING),
        ("accepts_unsigned_command_long",),
        {
            **unsigned("COMMAND_LONG", "mode became"),
            **each("test_unsigned_exempt_messages_change_nothing", (MODE_CHANGED,), *CHANNELS),
            **spoofers(MODE_CHANGED),
        },
        base=STRICT,
    ),
    # everything taken unsigned (and so anything that fails its signature check, too)
    "unsigned": Proof(
        (SIGNING, SPOOFING),
        ("accepts_unsigned",),
        {
            **unsigned("PARAM_SET", PARAM_CHANGED),
            **unsigned("COMMAND_LONG", "mode became"),
            **each(
                "test_setup_signing_from_an_unsigned_link_is_refused",
                ("an unsigned SETUP_SIGNING changed its signing",),
                *CHANNELS,
            ),
            **each("test_unsigned_exempt_messages_change_nothing", (PARAM_CHANGED,), *CHANNELS),
            "test_one_flipped_signature_bit_is_refused": ("one signature bit flipped set RTL_ALT",),
            "test_exact_replay_is_refused": ("a byte-exact replay of a signed PARAM_SET set",),
            "test_new_stream_61s_old_is_refused_59s_old_accepted": ("took effect (limit 60 s)",),
            "test_link_id_is_covered_and_is_its_own_stream": ("relabelled with another link id",),
            "test_stream_table_is_bounded": ("the table has no limit of 16",),
            "test_replay_is_refused_after_a_reboot": ("the vehicle forgot its signing clock",),
            **spoofers(PARAM_CHANGED),
            "test_spoofed_heartbeats_do_not_hide_a_link_loss": (
                "unsigned spoofed heartbeats on channel 1 kept the GCS failsafe from firing",
            ),
        },
        base=STRICT,
    ),
    # replays pass (no timestamp rule), and the stream table has no bound
    "replay_and_streams": Proof(
        (SIGNING,),
        ("accepts_replay", "signing_streams_unbounded"),
        {
            "test_exact_replay_is_refused": ("a byte-exact replay of a signed PARAM_SET set",),
            "test_new_stream_61s_old_is_refused_59s_old_accepted": ("took effect (limit 60 s)",),
            "test_replay_is_refused_after_a_reboot": ("the vehicle forgot its signing clock",),
            "test_stream_table_is_bounded": ("the table has no limit of 16",),
        },
        base=STRICT,
    ),
    # pymavlink's lockout flaw; the signing clock forgotten on reboot; the key in a STATUSTEXT
    "lockout_reboot_key": Proof(
        (SIGNING, SECRECY),
        ("signing_lockout", "signing_clock_reset_on_reboot", "leaks_key"),
        {
            "test_forged_future_timestamp_does_not_lock_out_genuine_traffic": (
                "one forged frame locks a genuine stream out",
            ),
            "test_replay_is_refused_after_a_reboot": (
                "captured 100 s before a reboot, replayed as the first frame after it, set RTL_ALT",
            ),
            "test_key_is_not_readable": ("the key is readable: STATUSTEXT 'Signing key <KEY>'",),
            "test_key_is_not_in_the_run_artefacts": ("the signing key is in: ", "tlogs/"),
        },
        base=STRICT,
    ),
    "bad_signature": Proof(
        (SIGNING, SPOOFING),
        ("accepts_bad_signature",),
        {
            "test_one_flipped_signature_bit_is_refused": ("one signature bit flipped set RTL_ALT",),
            "test_link_id_is_covered_and_is_its_own_stream": ("relabelled with another link id",),
            "test_forged_future_timestamp_does_not_lock_out_genuine_traffic": (
                "one forged frame locks a genuine stream out",
            ),
            # the spoofer's frames signed with its own key are taken; with our system id on our
            # link id they also move our stream's timestamp past our next frames
            **spoofers((PARAM_CHANGED, "waited 3 s of vehicle time for the answer to a barrier")),
        },
        base=STRICT,
    ),
    # a frame whose CRC failed, believed anyway, one way per fault (sim/lenient_frames.py): each
    # way fails the kind of broken frame it forgives, and only that kind (a frame cut short
    # and one whose length byte is too big both run into the next frame's start: the zero-fill
    # takes both)
    "crc_one_bit_off": malformed("crc_one_bit_off_accepted", "bad_crc", both=True),
    "flipped_bit": malformed("flipped_bit_repaired", "bit_flip_in_payload", both=True),
    "msg_id": malformed("msg_id_repaired", "other_message_id", both=True),
    "length_byte": malformed("length_byte_repaired", "wrong_length"),
    "cut_frame": malformed("cut_frame_zero_filled", "truncated", "wrong_length"),
    # the process exits on a bad CRC (blatant; the malformed-frame check is proven by the faults
    # above): run for the fuzzer's own machinery, which finds a crash on each corpus frame with
    # a bad CRC, restarts the vehicle and keeps a single-frame reproducer per kind of input
    "crash": Proof(
        (f"{MALFORMED}::test_fuzzed_frames_change_nothing",),
        ("crash_on_malformed",),
        {"test_fuzzed_frames_change_nothing": ("code 3",)},
        base=STRICT,
    ),
    # one unknown header bit obeyed (the frame otherwise perfect); values stored unclamped
    "incompat_and_range": Proof(
        (MALFORMED,),
        ("accepts_unknown_incompat", "param_range_unchecked"),
        {
            "test_fuzzed_frames_change_nothing": ("incompat flags 0x04 (CRC valid)",),
            **each(
                "test_malformed_frame_is_dropped",
                ("unknown_incompat_flag: RTL_ALT became",),
                "unknown_incompat_flag",
            ),
            "test_out_of_range_param_set_is_rejected_or_clamped": (
                "FS_GCS_TIMEOUT (range 2..120): set 1 -> 1",
            ),
        },
        base=STRICT,
    ),
    # under a flood: ACKs lost while another channel floods; the parameter service silent 8 s
    # when the flooder leaves with answers to its reads still queued (the check allows 5 s);
    # the failsafe 0.8 s late (the profile: 1 s)
    "flood": Proof(
        (FLOOD,),
        ("acks_lost_under_flood", "param_service_stalls", "gcs_failsafe_slightly_late"),
        {
            "test_commands_are_acknowledged_under_a_flood": (
                "commands not acknowledged within 1.5 s = ",
            ),
            "test_vehicle_answers_again_after_a_flood": (
                "stayed silent longer than 5 s after the flood in 3 of 3 attempts",
            ),
            "test_gcs_failsafe_fires_under_a_flood": (
                "failsafe no later than: last beat in the old mode = 6.",
                "OUTSIDE <= 6 s",
            ),
        },
        base=STRICT,
    ),
    # beats with gaps of 3-5 s under the flood (not with the failsafe check: its timing on such
    # beats would be a matter of chance)
    "flood_gaps": Proof(
        (
            f"{FLOOD}::test_heartbeats_continue_under_a_flood",
            f"{FLOOD}::test_commands_are_acknowledged_under_a_flood",
        ),
        ("heartbeat_gaps",),
        {
            "test_heartbeats_continue_under_a_flood": (
                "largest heartbeat gap under the flood = ",
                "OUTSIDE <= 2 s",
            ),
        },
        base=STRICT,
    ),
}


@pytest.mark.parametrize("name", sorted(PROOFS))
def test_faults_fail_exactly_their_security_checks(name, tmp_path):
    proof = PROOFS[name]
    # given the strict profile with these simulator faults on, when the security files that
    # speak to them run, then exactly the intended checks fail, each saying why in its own message
    run = run_proof(proof, tmp_path)
    assert_fails_exactly(run, proof)
    if name == "crash":
        # and the fuzzer's corpus found the crash on each frame with a bad CRC, leaving one
        # single-frame reproducer per kind of input, with the seed
        reproducers = sorted((run.run_dir / "reproducers").glob("*fuzzed*.json"))
        assert reproducers, run.output[-3000:]
        for reproducer in reproducers:
            data = json.loads(reproducer.read_text())
            assert data["seed"] == 0 and "code 3" in data["problem"], data
            assert len(data["frames_hex"]) == 1, data
        crashes = [f for f in run.results["findings"] if f["kind"] == "vehicle-died"]
        assert any("CRC bit # flipped" in f["signature"] for f in crashes), crashes
