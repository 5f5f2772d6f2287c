"""Proof that checks can fail: run one suite against the simulator with one named fault on, and
require exactly the intended checks to fail (the suite's other checks still pass), saying why."""

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
    assert run.code == 1, run.output[-3000:]
    failed = {name for name, outcome in run.outcomes().items() if outcome != "passed"}
    assert failed == checks, run.output[-3000:]
    messages = " ".join(c["message"] for c in run.results["checks"])
    assert says in messages, messages
    assert "verdict: FAIL" in (run.run_dir / "summary.md").read_text()
