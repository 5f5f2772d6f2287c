"""Every GNSS check can fail, each for its own reason: the GNSS suite runs against the simulator
(profiles/gb42590.yaml) with named GNSS faults on, and each check a fault speaks to FAILS with a
fragment of its OWN message while every other check of the run passes
(tests/known_bad/runner.py). The faults: the EKF failsafe 5 s late, the wrong action, no
announcement at all; a jam never reported; a vehicle that follows a spoofed position; a glitch
rejected but never reported; a slow drift followed (what ArduPilot SITL does)."""

import pytest

from tests.known_bad.runner import Proof, assert_fails_exactly, run_proof

GNSS = "suites/gnss"
BASE = "gb42590.yaml"
LOSS = "test_gnss_loss_is_warned_and_acted_on"
JAM = "test_jamming_is_detected_and_acted_on"
JUMP = "test_spoofed_position_is_detected_and_not_followed[jump]"
DRIFT = "test_spoofed_position_is_detected_and_not_followed[drift]"

PROOFS = {
    # the failsafe acts 5 s late (loss and jamming alike); a slow drift slips under the gate
    "late_and_drift_followed": Proof(
        (GNSS,),
        ("gnss_failsafe_late", "gnss_drift_followed"),
        {
            LOSS: ("GNSS loss: the action came late", "OUTSIDE <= 10 s (LAND)",
                   "GNSS loss not announced in time"),
            JAM: ("GNSS jamming: the action came late", "OUTSIDE <= 10 s (LAND)"),
            DRIFT: ("spoofing (drift) not detected in time",
                    "the vehicle followed the false position"),
        },
        base=BASE,
    ),
    # ALT_HOLD where FS_EKF_ACTION asks for LAND; a glitch rejected but never flagged
    "wrong_action_and_glitch_unreported": Proof(
        (GNSS,),
        ("gnss_failsafe_wrong_action", "gnss_glitch_unreported"),
        {
            LOSS: ("GNSS loss: the failsafe action was ALT_HOLD, FS_EKF_ACTION asks for LAND",),
            JAM: ("GNSS jamming: the failsafe action was ALT_HOLD, FS_EKF_ACTION asks for LAND",),
            JUMP: ("spoofing (jump) not detected in time",),
            DRIFT: ("spoofing (drift) not detected in time",),
        },
        base=BASE,
    ),
    # the failsafe acts in silence; a jam the vehicle never reports; every fix fused
    "silent_unreported_jam_follows_spoof": Proof(
        (GNSS,),
        ("gnss_failsafe_silent", "gnss_jam_unreported", "gnss_follows_spoof"),
        {
            LOSS: ("GNSS loss not announced in time",),
            JAM: ("GNSS jamming not flagged in time", "GNSS jamming not announced in time",
                  "no action on the GNSS jamming"),
            JUMP: ("spoofing (jump) not detected in time",
                   "the vehicle followed the false position"),
            DRIFT: ("spoofing (drift) not detected in time",
                    "the vehicle followed the false position"),
        },
        base=BASE,
    ),
}


@pytest.mark.parametrize("name", sorted(PROOFS))
def test_faults_fail_exactly_their_gnss_checks(name, tmp_path):
    proof = PROOFS[name]
    # given the simulator with these GNSS faults on, when the GNSS suite runs, then exactly
    # the checks that speak to them fail, each saying why
    assert_fails_exactly(run_proof(proof, tmp_path), proof)
