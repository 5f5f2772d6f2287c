"""No check lands unproven: every check the simulator profiles collect (every parametrization)
has a known-bad run (a PROOFS entry of tests/known_bad/test_*.py) in which it FAILS, or is
listed in matrix.UNPROVEN with why; every simulator fault is run by a proof or listed with why;
and docs/proof-matrix.md is what the tables say today."""

from tests.known_bad.matrix import (
    DOC,
    UNPROVEN,
    collected_checks,
    faults_run,
    markdown,
    proofs,
    unaccounted_faults,
)


def test_every_check_has_a_proof_or_a_stated_gap():
    checks, proven, used = collected_checks(), proofs(), faults_run()
    assert len(checks) > 50, checks  # the collection itself worked
    missing = sorted(c for c in checks if c not in proven and c not in UNPROVEN)
    assert not missing, f"checks with no known-bad proof (tests/known_bad PROOFS): {missing}"
    now_proven = sorted(c for c in UNPROVEN if c in proven)
    assert not now_proven, f"proven now: remove from UNPROVEN: {now_proven}"
    gone = sorted(c for c in proven if c not in checks)
    assert not gone, f"proofs of checks that no profile collects any more: {gone}"
    unaccounted = unaccounted_faults(used)
    assert not unaccounted, f"faults in no proof and not listed with why (matrix.py): {unaccounted}"
    assert DOC.read_text(encoding="utf-8") == markdown(checks, proven, used), (
        "docs/proof-matrix.md is out of date: python -m tests.known_bad.matrix --write"
    )
