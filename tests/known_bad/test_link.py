"""Every link check can fail, each for its own reason: the link suite (nominal and degraded)
runs against the simulator with named faults on, and each check a fault speaks to FAILS with a
fragment of its OWN message while every other check passes (see test_basic_and_failsafe.py).

A degraded check runs once per profile scenario, so the failing set names the scenarios (a
fault that only shows when frames are lost does not fail the latency-only scenario)."""

import pytest

from tests.known_bad.test_basic_and_failsafe import Proof, assert_fails_each, run_proof

LINK = "suites/link"
SCENARIOS = ("loss10", "loss30", "latency500")  # the default profile's (verify/link.yaml)


def each(check: str, fragments: tuple[str, ...], scenarios=SCENARIOS) -> dict:
    return {f"{check}[{s}]": fragments for s in scenarios}


PROOFS = {
    # faults on different messages: streams, TIMESYNC (late; tc1 in µs), COMMAND_ACK (late;
    # resends ignored), MISSION_ACK (not repeated)
    "protocols": Proof(
        (LINK,),
        (
            "message_interval_ignored",
            "slow_timesync",
            "timesync_tc1_in_us",
            "slow_command_ack",
            "ignores_command_retries",
            "mission_ack_not_repeated",
        ),
        {
            "test_streams_arrive_at_the_rates_asked": ("ATTITUDE rate = ", "OUTSIDE 8..12 Hz"),
            "test_timesync_round_trip": ("TIMESYNC round trip p95 = ", "OUTSIDE <= 250 ms"),
            "test_timesync_answer_carries_the_vehicle_clock": (
                "TIMESYNC tc1 away from the vehicle time that passed = ",
                "OUTSIDE <= 250 ms",
            ),
            "test_command_round_trip": ("command round trip p95 = ", "OUTSIDE <= 500 ms"),
            # only a lost first copy or ACK makes a resend matter: not the latency-only scenario
            **each(
                "test_commands_are_acknowledged_on_a_degraded_link",
                ("commands not acknowledged within 5 s = ",),
                ("loss10", "loss30"),
            ),
            # the resent last item goes unanswered: on purpose after the upload, or (when the
            # link lost the upload's own final MISSION_ACK) as the upload's last step
            **each(
                "test_a_mission_upload_arrives_intact_on_a_degraded_link",
                (("no MISSION_ACK for the resent last item", "resends of MISSION_ITEM_INT"),),
            ),
            **each("test_telemetry_degrades_no_more_than_the_link", ("ATTITUDE rate = ",)),
        },
    ),
    # a command resent more than 30 times in 40 s no longer ACKed: only a link slower than the
    # resend timer (0.25 s against a 1 s round trip) makes that many resends, so only the
    # latency scenario fails (muted per command: the other checks' commands are answered)
    "resend_storm": Proof(
        (LINK,),
        ("resends_mute_acks",),
        each(
            "test_commands_are_acknowledged_on_a_degraded_link",
            ("commands not acknowledged within 5 s = ", "OUTSIDE <= 0"),
            ("latency500",),
        ),
    ),
    # frames skipped after taking a sequence number: the loss a receiver cannot blame on the link
    "sequence": Proof(
        (LINK,),
        ("drops_frames",),
        {
            "test_nothing_is_lost_on_a_nominal_link": ("frames lost (from seq) = ", "OUTSIDE"),
            **each(
                "test_telemetry_degrades_no_more_than_the_link",
                ("frames lost beyond what the proxy dropped = ",),
            ),
        },
    ),
}


@pytest.mark.parametrize("name", sorted(PROOFS))
def test_faults_fail_exactly_their_link_checks(name, tmp_path):
    proof = PROOFS[name]
    # given the default profile with these simulator faults on, when the link suite runs,
    # then exactly the checks that speak to the faults fail, each saying why in its own message
    assert_fails_each(run_proof(proof, tmp_path), proof.fails)
