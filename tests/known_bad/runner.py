"""Proof that checks can fail: run one suite against the simulator with one named fault on, and
require exactly the intended checks to FAIL (the suite's other checks still pass), the intended
checks saying why in their own messages."""

from pathlib import Path

from tests.run_pytest import Run, run_pytest, write_profile


def run_with_fault(fault: str, suite: str, tmp_path: Path, extra_yaml: str = "") -> Run:
    """The default profile with `fault` switched on (plus `extra_yaml`), run on `suite`."""
    profile = write_profile(
        tmp_path / f"{fault}.yaml",
        f"name: known-bad {fault}\nvehicle:\n  faults: [{fault}]\n{extra_yaml}",
    )
    return run_pytest(suite, "--profile", str(profile), report_dir=tmp_path / "reports")


def assert_fails_exactly(run: Run, checks: set[str], says: str) -> None:
    """The intended checks FAILED (not error, skip or waived), the suite's other checks passed
    (or skipped, as the profile makes them), and `says` is in an intended check's own message."""
    assert run.code == 1, run.output[-3000:]
    outcomes = run.outcomes()
    assert {c: outcomes.get(c) for c in checks} == dict.fromkeys(checks, "failed"), outcomes
    others = {c: o for c, o in outcomes.items() if c not in checks}
    assert set(others.values()) <= {"passed", "skipped"}, others
    own = [c["message"] for c in run.results["checks"] if c["nodeid"].split("::")[-1] in checks]
    assert any(says in m for m in own), own
    assert "verdict: FAIL" in (run.run_dir / "summary.md").read_text()
