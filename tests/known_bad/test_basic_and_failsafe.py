"""Every check can fail: against each named simulator fault, the suite that speaks to it fails
exactly the checks that should catch the fault (the suite's other checks still pass), and the
failure says why with the measured figure."""

import pytest

from tests.known_bad.runner import assert_fails_exactly, run_with_fault

# fault -> (the suite folder it is run against, the checks that must fail there, a phrase of
# their failure: the figure and its bound, or what was waited for)
EXPECTED = {
    "heartbeat_gaps": (
        "suites/basic",
        {"test_heartbeat_rate", "test_heartbeat_largest_gap"},
        "largest heartbeat gap = ",
    ),
    "param_writes_ignored": ("suites/basic", {"test_param_round_trip"}, "read back = "),
    "takeoff_stalls": ("suites/basic", {"test_arm_takeoff_land"}, "for relative altitude 10 m"),
    "no_gcs_failsafe": (
        "suites/failsafe",
        {"test_failsafe_fires_on_time", "test_failsafe_takes_the_configured_action_and_says_so"},
        "the mode never changed",
    ),
    "gcs_failsafe_late": (
        "suites/failsafe",
        {"test_failsafe_fires_on_time"},
        "failsafe no earlier than (last old-mode beat) = ",
    ),
    "gcs_failsafe_wrong_action": (
        "suites/failsafe",
        {"test_failsafe_takes_the_configured_action_and_says_so"},
        "the vehicle went to LAND, the profile expects RTL",
    ),
    "failsafe_silent": (
        "suites/failsafe",
        {"test_failsafe_takes_the_configured_action_and_says_so"},
        "no STATUSTEXT announced the failsafe",
    ),
    "failsafe_locks_control": (
        "suites/failsafe",
        {"test_control_returns_with_the_link"},
        "DO_SET_MODE answered FAILED",
    ),
}


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_fault_fails_exactly_its_checks(fault, tmp_path):
    suite, checks, says = EXPECTED[fault]
    # given the default profile with one simulator fault switched on, when its suite runs,
    # then exactly the checks that should catch the fault fail, with the figure in the message
    assert_fails_exactly(run_with_fault(fault, suite, tmp_path), checks, says)
