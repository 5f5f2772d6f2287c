"""No check lands unproven: every check the simulator profiles collect (every
parametrization) has a known-bad run in which it FAILS, or is listed in UNPROVEN with why; and
docs/proof-matrix.md is what the known-bad tables say today."""

from tests.known_bad.matrix import DOC, UNPROVEN, collected_checks, markdown, proofs


def test_every_check_has_a_proof_or_a_stated_gap():
    checks, proven = collected_checks(), proofs()
    assert len(checks) > 50, checks  # the collection itself worked
    missing = sorted(c for c in checks if c not in proven and c not in UNPROVEN)
    assert not missing, f"checks with no known-bad proof (tests/known_bad): {missing}"
    now_proven = sorted(c for c in UNPROVEN if c in proven)
    assert not now_proven, f"proven now: remove from UNPROVEN: {now_proven}"
    gone = sorted(c for c in proven if c not in checks)
    assert not gone, f"proofs of checks that no profile collects any more: {gone}"
    assert DOC.read_text(encoding="utf-8") == markdown(checks, proven), (
        "docs/proof-matrix.md is out of date: python -m tests.known_bad.matrix --write")
