"""Every emergency-handling and controllability check can fail, each for its own reason: the
emergency (battery failsafe) and controllability (altitude limit, commanded speed) suites run
against the simulator (profiles/gb42590.yaml) with named faults on, and each check a fault speaks
to FAILS with a fragment of its OWN message while every other check of the run passes
(tests/known_bad/runner.py). The faults: a battery failsafe that never fires; one that fires 3 s
late, or at once (BATT_LOW_TIMER ignored); a low stage that LANDs where RTL is set; a critical
stage that never comes; a silent one; a GUIDED climb above the altitude limit accepted, or capped
3 m too high; a velocity climb not stopped at the limit; a ground speed 20 % over the one
commanded."""

import pytest

from tests.known_bad.runner import Proof, assert_fails_exactly, run_proof

BATTERY = "suites/emergency"
CONTROL = "suites/controllability"
BASE = "gb42590.yaml"
LOW = "test_low_battery_is_announced_and_acted_on"
CRITICAL = "test_critical_battery_escalates"
ALT = "test_climb_above_the_altitude_limit_is_refused_or_capped"
VELOCITY = "test_velocity_climb_stops_at_the_altitude_limit"
SPEED = "test_commanded_ground_speed_is_held"



def _about_6s(stage: str) -> tuple[str, ...]:
    """BATT_LOW_TIMER 3 s + 3 s late, seen at the next 1 Hz HEARTBEAT (from ~5.8 s)."""
    return tuple(f"{stage}-battery action after the crossing = {s}" for s in ("5.", "6", "7"))


def _about(figure: str, metres: int) -> tuple[str, ...]:
    """The figure within a metre of `metres` (the climb flown to the destination asked)."""
    return tuple(f"{figure} = {m}" for m in (metres - 1, metres))


PROOFS = {
    # no failsafe at all; a climb above the limit flown; the speed 20 % over
    "never_and_limits_ignored": Proof(
        (BATTERY, CONTROL),
        ("battery_failsafe_never", "guided_alt_limit_ignored", "speed_overshoot"),
        {
            LOW: ("no action: the mode did not change", "no STATUSTEXT matching"),
            CRITICAL: ("no action: the mode did not change", "no STATUSTEXT matching"),
            ALT: (_about("highest altitude above home", 30), "OUTSIDE <= 21 m",
                  "was accepted with the altitude limit at 20 m"),
            SPEED: (("mean ground speed over the leg's middle half = 5.9",
                     "mean ground speed over the leg's middle half = 6"), "OUTSIDE 4.5..5.5",
                    "OUTSIDE <= 5.5"),
        },
        base=BASE,
    ),
    # the low stage LANDs where RTL is set; the critical stage never comes; the limit 3 m high;
    # a velocity climb not stopped
    "wrong_action_no_critical": Proof(
        (BATTERY, CONTROL),
        ("battery_low_wrong_action", "battery_critical_ignored", "guided_alt_limit_plus_3m",
         "velocity_climb_ignores_alt_limit"),
        {
            LOW: ("the low-battery action was LAND, BATT_FS_LOW_ACT asks for RTL",),
            CRITICAL: ("no action: the mode did not change", "no STATUSTEXT matching"),
            ALT: (_about("highest altitude above home", 23), "OUTSIDE <= 21 m"),
            VELOCITY: (_about("highest altitude above home", 30), "OUTSIDE <= 21 m",
                       "told to climb at 2 m/s"),
        },
        base=BASE,
    ),
    # each stage 3 s after its timer, and silent
    "late_and_silent": Proof(
        (BATTERY,),
        ("battery_failsafe_late", "battery_failsafe_silent"),
        {
            LOW: (_about_6s("low"), "OUTSIDE 2..4.5", "no STATUSTEXT matching"),
            CRITICAL: (_about_6s("critical"), "OUTSIDE 2..4.5", "no STATUSTEXT matching"),
        },
        base=BASE,
    ),
    # each stage at the first reading under its voltage
    "timer_ignored": Proof(
        (BATTERY,),
        ("battery_timer_ignored",),
        {
            LOW: ("low-battery action after the crossing = ", "OUTSIDE 2..4.5"),
            CRITICAL: ("critical-battery action after the crossing = ", "OUTSIDE 2..4.5"),
        },
        base=BASE,
    ),
}


@pytest.mark.parametrize("name", sorted(PROOFS))
def test_faults_fail_exactly_their_emergency_and_controllability_checks(name, tmp_path):
    proof = PROOFS[name]
    # given the simulator with these faults on, when the suites run, then exactly the checks
    # that speak to them fail, each saying why
    assert_fails_exactly(run_proof(proof, tmp_path), proof)
