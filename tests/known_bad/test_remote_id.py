"""Every Remote ID check can fail, each for its own reason: the Remote ID suite runs against the
simulator booted as ArduPilot with Open Drone ID (profiles/gb42590.yaml) with named faults on,
and each check a fault speaks to FAILS with a fragment of its OWN message while every other
check of the run passes (tests/known_bad/runner.py).

The faults are mostly subtle: LOCATION at 0.5 Hz, one static message (SELF_ID) a turn late, a
position 50 m off, a timestamp in GPS time (18 s ahead of UTC), the operator's location
dropped, an arming gate that ignores the transponder or listens on the wrong channel, a loss
warned at 9 s instead of within 6, a LOCATION status that never says the system failed (as
ArduPilot's) or stays AIRBORNE after landing; and the blatant ones the simulator had (silent,
stale, 500 m off)."""

import pytest

from tests.known_bad.runner import Proof, assert_fails_exactly, run_proof


def about(label: str, value: int) -> tuple[str, str]:
    """`label` followed by a figure near `value` (timed in vehicle time, so a little either
    side): "label = 4..." or "label = 3.9..."."""
    return f"{label}{value}", f"{label}{value - 1}.9"

RID = "suites/remote_id"
BASE = "gb42590.yaml"
LOCATION_RATE = "test_location_is_sent_at_least_once_a_second"
STATIC_RATE = "test_static_messages_are_sent_at_least_every_3s"
OPERATOR = "test_operator_data_reaches_the_transponder_intact"
FRESH = "test_location_timestamp_is_fresh"
CONTENT = "test_location_matches_the_vehicle_in_flight"
STATUS = "test_location_status_follows_ground_and_air"
ARM_FAILING = "test_arming_is_refused_while_the_transponder_reports_a_failure"
ARM_SILENT = "test_arming_is_refused_while_the_transponder_is_silent"
ARM_HEALTHY = "test_arming_is_allowed_with_a_healthy_transponder"
LOSS_WARNED = "test_transponder_lost_in_flight_is_reported"
LOSS_STATUS = "test_transponder_lost_in_flight_sets_location_status_failure"

PROOFS = {
    # LOCATION every 2 s; SELF_ID every other turn (4 s); operator location 0, 0; the LOCATION
    # frozen at the first fix (its timestamp ages, its position stays behind as the vehicle flies)
    "feed": Proof(
        (RID,),
        ("remote_id_location_0_5hz", "remote_id_self_id_slow",
         "remote_id_operator_location_dropped", "remote_id_stale"),
        {
            LOCATION_RATE: (about("LOCATION mean interval = ", 2), "OUTSIDE <= 1.05 s"),
            STATIC_RATE: (about("SELF_ID longest gap = ", 4), "OUTSIDE <= 3.05 s"),
            OPERATOR: ("SYSTEM has no operator location (0, 0)",),
            FRESH: ("LOCATION timestamp age, oldest = ", "OUTSIDE <= 1.05 s"),
            CONTENT: ("LOCATION position error, 95th percentile = ",),
        },
        base=BASE,
    ),
    # the gate ignores the transponder; status AIRBORNE after landing; no failure status on a
    # lost transponder (ArduPilot's behaviour); the position ~500 m off
    "gate_and_status": Proof(
        (RID,),
        ("remote_id_arming_ignores_transponder", "remote_id_status_stuck_airborne",
         "remote_id_loss_status_unchanged", "remote_id_wrong_position"),
        {
            ARM_FAILING: ("armed although the transponder reported ARM_STATUS "
                          "PRE_ARM_FAIL_GENERIC",),
            ARM_SILENT: ("armed although the transponder had been silent for 5 s",),
            STATUS: ("LOCATION status not GROUND on the ground after landing = ",),
            LOSS_STATUS: ("LOCATION status never REMOTE_ID_SYSTEM_FAILURE",),
            CONTENT: ("LOCATION position error, 95th percentile = ",),
        },
        base=BASE,
    ),
    # 50 m north; timestamp in GPS time; ARM_STATUS heard on channel 0 only; loss warned at 9 s
    "subtle": Proof(
        (RID,),
        ("remote_id_position_50m", "remote_id_timestamp_gps_time",
         "remote_id_arm_status_wrong_channel", "remote_id_loss_reported_late"),
        {
            CONTENT: (about("LOCATION position error, 95th percentile = ", 50),
                      "OUTSIDE <= 30.48 m"),
            FRESH: (about("LOCATION timestamp ahead of the vehicle's UTC, most = ", 18),),
            ARM_HEALTHY: ("refused to arm with a healthy transponder",
                          "no ARM_STATUS from transponder"),
            LOSS_WARNED: (about("transponder loss warned after = ", 9), "OUTSIDE <= 6.05 s"),
        },
        base=BASE,
    ),
    # the autopilot sends its transponder nothing at all (its gate and warning still work)
    "silent": Proof(
        (RID,),
        ("remote_id_silent",),
        {
            LOCATION_RATE: ("LOCATION mean interval = inf",),
            STATIC_RATE: ("BASIC_ID longest gap = 20",),
            OPERATOR: ("no OPEN_DRONE_ID_BASIC_ID in",),
            FRESH: ("LOCATION messages with a known timestamp = 0",),
            CONTENT: ("LOCATION messages in flight = 0",),
            STATUS: ("no LOCATION on the ground before the flight",),
            LOSS_STATUS: ("LOCATION status never REMOTE_ID_SYSTEM_FAILURE",),
        },
        base=BASE,
    ),
}


@pytest.mark.parametrize("name", sorted(PROOFS))
def test_faults_fail_exactly_their_remote_id_checks(name, tmp_path):
    proof = PROOFS[name]
    # given the simulator as ArduPilot with Open Drone ID, with these faults on, when the
    # Remote ID suite runs, then exactly the checks that speak to them fail, each saying why
    assert_fails_exactly(run_proof(proof, tmp_path), proof)
