"""Every geofence check can fail, each for its own reason: the geofence suite runs against the
simulator (profiles/gb42590.yaml) with named fence faults on, and each check a fault speaks to
FAILS with a fragment of its OWN message while every other check of the run passes
(tests/known_bad/runner.py). The faults: fence points stored as float32 (about a metre off), the
action taken 3 s late, LAND whatever FENCE_ACTION says, FENCE_STATUS that never says breached,
and the blatant one the simulator had (breaches ignored)."""

import pytest

from tests.known_bad.runner import Proof, assert_fails_exactly, run_proof

FENCE = "suites/geofence"
BASE = "gb42590.yaml"
READBACK = "test_fence_reads_back_intact"
POLYGON = "test_polygon_breach_is_acted_on"
CEILING = "test_altitude_ceiling_is_enforced"

PROOFS = {
    # points read back moved; the action LAND where RTL is configured
    "stored_and_wrong_action": Proof(
        (FENCE,),
        ("fence_points_float32", "fence_wrong_action"),
        {
            READBACK: ("moved by", "(1e-7 degrees)"),
            POLYGON: ("the fence action was LAND, FENCE_ACTION asks for RTL",),
            CEILING: ("the fence action was LAND, FENCE_ACTION asks for RTL",),
        },
        base=BASE,
    ),
    # the action 3 s after the breach; FENCE_STATUS silent about it
    "late_and_unreported": Proof(
        (FENCE,),
        ("fence_late", "fence_status_not_reported"),
        {
            POLYGON: (("fence action after the breach = 3", "fence action after the breach = 2.9"),
                      "OUTSIDE <= 2 s",
                      "no FENCE_STATUS breach_status 1 after the breach"),
            CEILING: (("fence action after the breach = 3", "fence action after the breach = 2.9"),
                      "OUTSIDE <= 2 s",
                      "no FENCE_STATUS breach_status 1 after the breach"),
        },
        base=BASE,
    ),
    # breaches not acted on at all
    "ignored": Proof(
        (FENCE,),
        ("fence_ignored",),
        {
            POLYGON: ("no action: the vehicle stayed in AUTO after breaching the inclusion "
                      "polygon",),
            CEILING: ("no action: the vehicle stayed in AUTO after breaching the altitude "
                      "ceiling",),
        },
        base=BASE,
    ),
}


@pytest.mark.parametrize("name", sorted(PROOFS))
def test_faults_fail_exactly_their_geofence_checks(name, tmp_path):
    proof = PROOFS[name]
    # given the simulator with these fence faults on, when the geofence suite runs, then
    # exactly the checks that speak to them fail, each saying why
    assert_fails_exactly(run_proof(proof, tmp_path), proof)
