"""Every basic and failsafe check can fail, each for its own reason: the suites run against the
simulator with named faults on, and each check a fault speaks to FAILS (outcome "failed", not
error, skipped or waived) with a fragment of its OWN message, while every other check of the
suites passes. Faults that speak to different checks and do not interfere share one run (so
the proofs stay cheap); the faults are the subtle ones, close to correct behaviour."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.run_pytest import Run, run_pytest, write_profile


@dataclass(frozen=True)
class Proof:
    """One run: `suites` with `faults` on; `fails` maps each check that must fail to fragments
    of its own failure message (each must appear; a tuple among them: one of its alternatives,
    where a fault can show in two ways); every other check must pass."""

    suites: tuple[str, ...]
    faults: tuple[str, ...]
    fails: dict[str, tuple[str | tuple[str, ...], ...]]
    extra_yaml: str = ""


def run_proof(proof: Proof, tmp_path: Path) -> Run:
    faults = ", ".join(proof.faults)
    profile = write_profile(
        tmp_path / "known-bad.yaml",
        f"name: known-bad {faults}\nvehicle:\n  faults: [{faults}]\n{proof.extra_yaml}",
    )
    return run_pytest(*proof.suites, "--profile", str(profile), report_dir=tmp_path / "reports")


def assert_fails_each(run: Run, fails: dict[str, tuple[str | tuple[str, ...], ...]]) -> None:
    """Stricter than runner.assert_fails_exactly: each intended check's outcome is "failed"
    and its own message holds its fragments; every other check "passed"."""
    checks = {c["nodeid"].split("::")[-1]: c for c in run.results["checks"]}
    missing = set(fails) - set(checks)
    assert not missing, f"checks not run: {missing}\n{run.output[-3000:]}"
    wrong = {
        name: c["outcome"]
        for name, c in checks.items()
        if c["outcome"] != ("failed" if name in fails else "passed")
    }
    assert not wrong, f"unexpected outcomes {wrong}\n{run.output[-3000:]}"
    for name, fragments in fails.items():
        message = checks[name]["message"]
        absent = [
            f
            for f in fragments
            if not any(a in message for a in ((f,) if isinstance(f, str) else f))
        ]
        assert not absent, f"{name}: {absent} not in its message: {message}"
    assert run.code == 1, run.output[-3000:]
    assert "verdict: FAIL" in (run.run_dir / "summary.md").read_text()


BASIC, FAILSAFE = "suites/basic", "suites/failsafe"
FLIGHT = "test_arm_takeoff_land"
ROUND_TRIP, FLOAT = "test_param_round_trip", "test_float_param_keeps_its_fraction"
RATE, GAP = "test_heartbeat_rate", "test_heartbeat_largest_gap"
ON_TIME = "test_failsafe_fires_on_time"
ACTION = "test_failsafe_takes_the_configured_action_and_says_so"
CONTROL = "test_control_returns_with_the_link"
CLEARS = "test_failsafe_clears_with_the_link_and_fires_again"
OTHER = "test_another_systems_heartbeat_does_not_hold_off_the_failsafe"

PROOFS = {
    # seven subtle faults, seven checks, one run of both suites
    "subtle": Proof(
        (BASIC, FAILSAFE),
        (
            "takeoff_overshoots",
            "param_echo_wrong_type",
            "param_float_rounded",
            "gcs_failsafe_early",
            "gcs_failsafe_wrong_action",
            "gcs_failsafe_never_clears",
            "gcs_failsafe_any_heartbeat",
        ),
        {
            FLIGHT: ("altitude error while holding = 1.", "OUTSIDE <= 1 m"),
            ROUND_TRIP: ("RTL_ALT echoed as REAL32, read as INT32",),
            FLOAT: ("WPNAV_SPEED read back = 123, OUTSIDE 123.45",),
            ON_TIME: ("failsafe no earlier than: first beat in the new mode = 3.", "OUTSIDE >= 4"),
            ACTION: ("the vehicle went to LAND, the profile expects RTL",),
            CLEARS: ("time from the link's return to the failsafe cleared = inf s, OUTSIDE <= 5",),
            OTHER: ("the mode never changed while system 254 sent GCS heartbeats",),
        },
    ),
    # a heartbeat with gaps: rate and largest gap (kept apart: the failsafe times on beats)
    "heartbeat": Proof(
        (BASIC,),
        ("heartbeat_gaps",),
        {
            RATE: ("heartbeat rate = ", "OUTSIDE 0.8..1.2 Hz"),
            GAP: ("largest heartbeat gap = ", "OUTSIDE <= 2 s"),
        },
    ),
    # a failsafe a little late, a silent one, and one that keeps the ground station locked out
    "failsafe": Proof(
        (FAILSAFE,),
        ("gcs_failsafe_slightly_late", "failsafe_silent", "failsafe_locks_control"),
        {
            ON_TIME: ("failsafe no later than: last beat in the old mode = 6.", "OUTSIDE <= 6 s"),
            ACTION: ("no STATUSTEXT announced the failsafe",),
            CONTROL: ("DO_SET_MODE answered FAILED",),
            CLEARS: ("DO_SET_MODE answered FAILED",),
        },
    ),
}


@pytest.mark.parametrize("name", sorted(PROOFS))
def test_faults_fail_exactly_their_checks(name, tmp_path):
    proof = PROOFS[name]
    # given the default profile with these simulator faults on, when the suites run, then
    # exactly the checks that speak to the faults fail, each saying why in its own message
    assert_fails_each(run_proof(proof, tmp_path), proof.fails)
