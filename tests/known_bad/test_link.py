"""Every link check can fail: against each named simulator fault, the link suite (nominal and
degraded) fails exactly the checks that speak to the fault, and the failure names the figure.

A degraded check runs once per profile scenario, so its failing set names the scenarios (a fault
that only shows when frames are lost does not fail the latency-only scenario)."""

import pytest

from tests.known_bad.runner import assert_fails_exactly, run_with_fault

SCENARIOS = ("loss10", "loss30", "latency500")  # the default profile's (verify/link.yaml)
NOMINAL_STREAMS = "test_streams_arrive_at_the_rates_asked"
TELEMETRY = {f"test_telemetry_degrades_no_more_than_the_link[{s}]" for s in SCENARIOS}


def _each(check: str, scenarios: tuple[str, ...] = SCENARIOS) -> set[str]:
    return {f"{check}[{s}]" for s in scenarios}


# fault -> (the checks that must fail, a phrase of their failure, extra profile YAML)
EXPECTED = {
    "message_interval_ignored": ({NOMINAL_STREAMS, *TELEMETRY}, "ATTITUDE rate = ", ""),
    "drops_frames": (
        {"test_nothing_is_lost_on_a_nominal_link", *TELEMETRY},
        "frames lost beyond what the proxy dropped = ",
        "",
    ),
    "slow_timesync": ({"test_timesync_round_trip"}, "TIMESYNC round trip p95 = ", ""),
    "slow_command_ack": ({"test_command_round_trip"}, "command round trip p95 = ", ""),
    # Only a lost first copy or ACK makes a retry matter, so the latency-only scenario passes;
    # 40 probes make "no loss at all in loss10" (0.81^40) a practical impossibility.
    "ignores_command_retries": (
        _each("test_commands_are_acknowledged_on_a_degraded_link", ("loss10", "loss30")),
        "commands not acknowledged within 5 s = ",
        "suites:\n  link:\n    probes: 40\n",
    ),
    "mission_ack_not_repeated": (
        _each("test_a_mission_upload_arrives_intact_on_a_degraded_link"),
        "no MISSION_ACK for the resent last item",
        "",
    ),
}


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_fault_fails_exactly_its_link_checks(fault, tmp_path):
    checks, says, extra = EXPECTED[fault]
    # given the default profile with one simulator fault switched on, when the link suite runs,
    # then exactly the checks that should catch the fault fail, with the figure in the message
    run = run_with_fault(fault, "suites/link", tmp_path, extra)
    assert_fails_exactly(run, checks, says)
