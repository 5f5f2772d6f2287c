"""Reports read results: a retried pass is FLAKY (never PASS), a waived failure is WAIVED, and the
summary and the requirements view are built from results.json alone."""

import json

from reports.summary import build_summary
from tests.run_pytest import ROOT, run_pytest, write_profile


def test_a_retried_pass_is_reported_flaky(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYPROOF_FLAKY_MARKER", str(tmp_path / "marker"))
    profile = write_profile(tmp_path / "p.yaml", "")
    run = run_pytest(
        str(ROOT / "tests" / "scenarios" / "flaky_check.py"), "--profile", str(profile),
        "--reruns", "1", report_dir=tmp_path / "r",
    )  # fmt: skip
    assert run.code == 0, run.output[-2000:]
    (check,) = run.results["checks"]
    assert check["outcome"] == "flaky" and "failed on attempt 1" in check["message"]
    assert [m["value"] for m in check["measurements"]] == [0]  # the last attempt's figures only
    assert "| FLAKY |" in (run.run_dir / "summary.md").read_text()


def test_a_waived_failure_is_reported_waived_and_an_expired_waiver_is_not(tmp_path):
    body = (
        "name: waived\nvehicle:\n  faults: [param_writes_ignored]\nwaivers:\n"
        "  - {finding: 'basic/test_param_round_trip: failed', reason: known finding,"
        " expires: 2099-01-01}\n"
    )
    check = "suites/basic/test_params.py::test_param_round_trip"
    waived = write_profile(tmp_path / "w.yaml", body)
    run = run_pytest(check, "--profile", str(waived), report_dir=tmp_path / "r")
    assert run.code == 0, run.output[-2000:]
    assert run.outcomes() == {"test_param_round_trip": "waived"}
    expired = write_profile(tmp_path / "x.yaml", body.replace("2099-01-01", "2020-01-01"))
    run = run_pytest(check, "--profile", str(expired), report_dir=tmp_path / "s")
    assert run.code == 1 and run.outcomes() == {"test_param_round_trip": "failed"}


def test_the_summary_is_built_from_results_alone():
    results = {
        "profile": {"name": "p", "path": "p.yaml", "vehicle_hash": "a", "verification_hash": "b"},
        "checks": [
            {"nodeid": "suites/x/test_a.py::test_a", "outcome": "failed", "message": "boom",
             "requirements": ["R1"], "measurements": [
                 {"name": "gap", "value": 3.0, "unit": "s", "threshold": "<= 2", "ok": False}]},
        ],
        "requirements": {
            "R1": {"title": "one", "verifiable": True},
            "R2": {"title": "two", "verifiable": True, "note": "interpretation: mapped to x"},
            "R3": {"title": "three", "verifiable": False, "reason": "a physical test"},
        },
    }  # fmt: skip
    text = build_summary(json.loads(json.dumps(results)))
    assert "verdict: FAIL" in text and "gap: 3 s (<= 2 s) ✗" in text
    assert "| R1 | one | FAILED | failed by test_a |" in text
    # the registry's note (here: the mapping is an interpretation) goes with the state
    assert ("| R2 | two | not tested | no check in this run verifies it; interpretation: mapped "
            "to x |") in text  # fmt: skip
    assert "not verifiable over MAVLink: a physical test" in text
