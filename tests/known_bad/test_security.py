"""Every data-security check can fail: against each named simulator fault, the security checks
that speak to it fail (the others in the same files still pass), saying why. Each fault runs
only the suite files concerned, to keep the whole proof near a minute on two workers.

accepts_unsigned in the simulator accepts whatever pymavlink's check refuses (pymavlink asks the
same "allow unsigned?" callback for a bad signature or an old timestamp, as ArduPilot's code
does), so it fails the replay, stream and bad-signature checks too: that is the fault, not noise.
"""

import json
from pathlib import Path

import pytest

from tests.known_bad.runner import assert_fails_exactly
from tests.run_pytest import Run, run_pytest, write_profile

SIGNING = "suites/security/test_signing.py"
SPOOFING = "suites/security/test_spoofing.py"
MALFORMED = "suites/security/test_malformed.py"
FLOOD = "suites/security/test_flood.py"
SECRECY = "suites/security/test_secrecy.py"


def each(check: str, *params: str) -> set[str]:
    return {f"{check}[{p}]" for p in params}


CHANNELS = ("channel0", "channel1")  # profiles/sim.yaml: signing required on both
SPOOFERS = each(
    "test_second_ground_station_is_refused",
    *(f"{c}-{who}" for c in CHANNELS for who in ("same_sysid", "other_sysid")),
)
BROKEN = ("bad_crc", "bit_flip_in_payload", "other_message_id", "truncated", "wrong_length")

# fault -> (suite files run, the checks that must fail there, a phrase of their failure)
EXPECTED: dict[str, tuple[tuple[str, ...], set[str], str]] = {
    "accepts_unsigned": (
        (SIGNING, SPOOFING),
        {
            *each("test_unsigned_command_is_refused", *CHANNELS),
            *each("test_setup_signing_from_an_unsigned_link_is_refused", *CHANNELS),
            *each("test_unsigned_exempt_messages_change_nothing", *CHANNELS),
            "test_one_flipped_signature_bit_is_refused",
            "test_exact_replay_is_refused",
            "test_new_stream_61s_old_is_refused_59s_old_accepted",
            "test_link_id_is_covered_and_is_its_own_stream",
            "test_stream_table_is_bounded",
            *SPOOFERS,
            "test_spoofed_heartbeats_do_not_hide_a_link_loss",
        },
        "requires signing, yet: RTL_ALT became",
    ),
    "accepts_replay": (
        (SIGNING,),
        {"test_exact_replay_is_refused", "test_new_stream_61s_old_is_refused_59s_old_accepted"},
        "a byte-exact replay of a signed PARAM_SET set RTL_ALT to",
    ),
    "accepts_bad_signature": (
        (SIGNING, SPOOFING),
        {
            "test_one_flipped_signature_bit_is_refused",
            "test_link_id_is_covered_and_is_its_own_stream",
            "test_forged_future_timestamp_does_not_lock_out_genuine_traffic",
            *SPOOFERS,
        },
        "a PARAM_SET with one signature bit flipped set RTL_ALT to",
    ),
    "signing_lockout": (
        (SIGNING,),
        {"test_forged_future_timestamp_does_not_lock_out_genuine_traffic"},
        "one forged frame locks a genuine stream out",
    ),
    "signing_streams_unbounded": (
        (SIGNING,),
        {"test_stream_table_is_bounded"},
        "the table has no limit of 16",
    ),
    "leaks_key": (
        (SIGNING, SECRECY),
        {"test_key_is_not_readable", "test_key_is_not_in_the_run_artefacts"},
        "the key is readable: STATUSTEXT 'Signing key <KEY>'",
    ),
    "crash_on_malformed": (
        (MALFORMED,),
        {"test_fuzzed_frames_change_nothing", *each("test_malformed_frame_is_dropped", *BROKEN)},
        "simulator exited with code 3",
    ),
    "accepts_unknown_incompat": (  # one header bit: the frame is otherwise perfect
        (MALFORMED,),
        {"test_fuzzed_frames_change_nothing",
         *each("test_malformed_frame_is_dropped", "unknown_incompat_flag")},
        "unknown_incompat_flag: RTL_ALT became",
    ),
    "param_range_unchecked": (
        (MALFORMED,),
        {"test_fuzzed_frames_change_nothing", "test_out_of_range_param_set_is_rejected_or_clamped"},
        "outside its range",
    ),
    "no_gcs_failsafe": (
        (FLOOD, SPOOFING),
        {
            "test_gcs_failsafe_fires_under_a_flood",
            "test_spoofed_heartbeats_do_not_hide_a_link_loss",
        },
        "kept the GCS failsafe from firing",
    ),
    "heartbeat_gaps": (  # a vehicle whose beats skip 3-5 s cannot be timed to its failsafe
        (FLOOD,),
        {"test_heartbeats_continue_under_a_flood", "test_gcs_failsafe_fires_under_a_flood"},
        "largest heartbeat gap under the flood = ",
    ),
    "param_service_stalls": (
        (FLOOD,),
        {"test_vehicle_answers_again_after_a_flood"},
        "the parameter service stayed silent after",
    ),
}


def run_fault(fault: str, files: tuple[str, ...], tmp_path: Path) -> Run:
    # the strict policy: every channel must refuse, so a fault shows on channel 0 too
    profile = write_profile(
        tmp_path / f"{fault}.yaml",
        f"name: known-bad {fault}\nvehicle:\n  faults: [{fault}]\n",
        base="sim-strict.yaml",
    )
    return run_pytest(*files, "--profile", str(profile), report_dir=tmp_path / "reports")


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_fault_fails_exactly_its_security_checks(fault, tmp_path):
    files, checks, says = EXPECTED[fault]
    # given the default profile with one simulator fault on, when the security files that
    # speak to it run, then exactly the intended checks fail, saying why
    run = run_fault(fault, files, tmp_path)
    assert_fails_exactly(run, checks, says)
    if fault == "crash_on_malformed":
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
