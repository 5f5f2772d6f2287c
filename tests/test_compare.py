"""Two runs compared: findings new, fixed and persisting by signature (a finding whose check B
did not run is not fixed), verdict flips, figures moved beyond a tolerance; compare.md; and
`python -m reports compare A B --fail-on new`, the firmware gate."""

import json
import math
import subprocess
import sys

import pytest

from reports.compare import compare
from tests.run_pytest import ROOT

HB = "suites/basic/test_heartbeat.py::test_heartbeat_rate"
FUZZ = "suites/security/test_fuzz.py::test_fuzzed_frames_change_nothing"
PARAMS = "suites/security/test_params.py::test_out_of_range_param_set_is_rejected_or_clamped"
FLIGHT = "suites/basic/test_flight.py::test_arm_takeoff_land"


def run(run_id, outcomes, findings=(), figures=None):
    """A results dict: `outcomes` {nodeid: outcome}, `findings` [(signature, nodeid, waived)],
    `figures` {(nodeid, name): value or (value, ok)}."""
    checks = {
        n: {"nodeid": n, "outcome": o, "message": "", "requirements": [], "measurements": []}
        for n, o in outcomes.items()
    }
    for (nodeid, name), fig in (figures or {}).items():
        value, ok = fig if isinstance(fig, tuple) else (fig, True)
        checks[nodeid]["measurements"].append(
            {"name": name, "value": value, "unit": "s", "threshold": "<= 2", "ok": ok}
        )
    return {
        "skyproof": 2,
        "run": {"id": run_id, "shard": None},
        "profile": {"name": "p", "path": "profiles/gate.yaml", "vehicle_hash": "v",
                    "verification_hash": "w"},
        "verdict": "FAIL" if "failed" in outcomes.values() else "PASS",
        "checks": list(checks.values()),
        "findings": [{"signature": s, "check": n, "kind": s.split(": ")[1], "origin": "vehicle",
                      "summary": f"summary of {s}", "evidence": {},
                      "waiver": {"pattern": s, "reason": "known"} if w else None}
                     for s, n, w in findings],
    }  # fmt: skip


NAN_CMD = "security/test_fuzzed_frames_change_nothing: vehicle-died: DO_SET_MODE custom mode NaN"
TRUNC = "security/test_fuzzed_frames_change_nothing: vehicle-died: PARAM_SET truncated"
FS = "security/test_out_of_range_param_set_is_rejected_or_clamped: stored-out-of-range: FS_GCS"
LAND = "security/test_out_of_range_param_set_is_rejected_or_clamped: stored-out-of-range: LAND"


def test_findings_are_new_fixed_or_persisting_by_signature():
    a = run("a", {FUZZ: "waived", PARAMS: "failed"},
            [(NAN_CMD, FUZZ, True), (FS, PARAMS, False), (LAND, PARAMS, False)])  # fmt: skip
    b = run("b", {FUZZ: "failed", PARAMS: "failed"},
            [(NAN_CMD, FUZZ, True), (TRUNC, FUZZ, False), (FS, PARAMS, False)])  # fmt: skip
    cmp = compare(a, b)
    assert (cmp.new, cmp.fixed, cmp.persisting) == ([TRUNC], [LAND], [NAN_CMD, FS])
    assert cmp.has_new and not compare(b, b).has_new
    back = compare(b, a)
    assert (back.new, back.fixed, back.has_new) == ([LAND], [TRUNC], True)


def test_a_finding_whose_check_b_did_not_run_is_not_called_fixed():
    a = run("a", {FUZZ: "failed", PARAMS: "failed"}, [(TRUNC, FUZZ, False), (FS, PARAMS, False)])
    b = run("b", {FUZZ: "skipped"})  # e.g. a shard, or `-k`, that left PARAMS out
    cmp = compare(a, b)
    assert cmp.fixed == [] and cmp.unchecked == [TRUNC, FS] and not cmp.has_new
    text = cmp.to_markdown()
    assert "## Not re-checked" in text and "1 checks ran in A only</summary>" in text


def test_verdict_flips_include_checks_in_one_run_only():
    a = run("a", {HB: "passed", FUZZ: "waived", FLIGHT: "passed"})
    b = run("b", {HB: "passed", FUZZ: "failed", PARAMS: "failed"})
    flips = [(f.nodeid, f.a, f.b) for f in compare(a, b).flips]
    assert flips == [(FLIGHT, "passed", None), (FUZZ, "waived", "failed"), (PARAMS, None, "failed")]


def test_figures_moved_beyond_their_tolerance_are_reported():
    a = run("a", {HB: "passed"}, figures={
        (HB, "rate"): 1.0, (HB, "gap"): 1.0, (HB, "lost"): 0, (HB, "zero"): 0.0,
        (HB, "nan"): float("nan"), (HB, "text"): "MANUAL", (HB, "slow"): 10.0,
        (HB, "crossed"): (1.9, True), (HB, "only-a"): 5.0})  # fmt: skip
    b = run("b", {HB: "passed"}, figures={
        (HB, "rate"): 1.1, (HB, "gap"): 1.5, (HB, "lost"): 3, (HB, "zero"): 0.0,
        (HB, "nan"): "nan", (HB, "text"): "AUTO", (HB, "slow"): 14.0,
        (HB, "crossed"): (2.05, False)})  # fmt: skip
    moved = {m.name: m for m in compare(a, b, tolerances={"slow": 0.5}).moved}
    assert sorted(moved) == ["crossed", "gap", "lost", "text"]  # not: rate, zero, nan, only-a
    assert moved["gap"].change == pytest.approx(0.5) and moved["gap"].tolerance == 0.2
    assert moved["lost"].change == math.inf  # from zero: reported whatever the tolerance
    assert moved["text"].change is None  # not a number: reported because it changed
    assert moved["crossed"].change == pytest.approx(0.079, abs=1e-3)  # small, but now outside
    assert "slow" in {m.name for m in compare(a, b).moved}  # +40 % is beyond the default 20 %
    assert not {m.name for m in compare(a, b, default_tolerance=1.0).moved} & {"gap", "rate"}
    with pytest.raises(ValueError, match="tolerance"):
        compare(a, b, default_tolerance=-0.1)


def test_compare_md_is_short_tables_of_what_changed():
    a = run("run-a", {HB: "passed", PARAMS: "failed"}, [(FS, PARAMS, False)], {(HB, "gap"): 1.0})
    b = run("run-b", {HB: "failed", PARAMS: "failed"},
            [(FS, PARAMS, True), ("basic/test_heartbeat_rate: gap | over", HB, False)],
            {(HB, "gap"): (3.0, False)})  # fmt: skip
    text = compare(a, b).to_markdown()
    assert text.startswith("# skyproof compare: run-a → run-b\n")
    assert "**1 new**, 0 fixed, 1 persisting findings, 1 verdict flips, 1 figures moved" in text
    assert "| basic/test_heartbeat_rate: gap \\| over | summary of" in text  # | escaped
    assert f"| {FS} | no | waived |" in text  # the waiver state in each run
    assert "| basic/test_heartbeat_rate | PASS | FAIL |" in text
    assert "| basic/test_heartbeat_rate | gap | 1 s ✓ | 3 s ✗ | +200% | ±20% | <= 2 s |" in text
    assert "## Fixed" not in text  # empty sections are left out
    assert len(text.splitlines()) < 40


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "reports", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_python_m_reports_compare_fails_on_new_findings_only(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    for folder, results in [
        (good, run("good", {FUZZ: "waived"}, [(NAN_CMD, FUZZ, True)])),
        (bad, run("bad", {FUZZ: "failed"}, [(NAN_CMD, FUZZ, True), (TRUNC, FUZZ, False)])),
    ]:
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps(results))
    gate = cli("compare", good, bad, "--fail-on", "new")
    assert gate.returncode == 1, gate.stderr
    assert "## New findings" in gate.stdout and TRUNC in gate.stdout
    assert (bad / "compare.md").read_text() == gate.stdout  # written into B's folder
    assert cli("compare", bad, good, "--fail-on", "new").returncode == 0  # a fix passes
    assert cli("compare", good, bad).returncode == 0  # without --fail-on it only reports
    missing = cli("compare", good, tmp_path / "nope", "--fail-on", "new")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "neither a run folder" in missing.stderr


def test_python_m_reports_compare_takes_history_ids(tmp_path):
    from reports.history import record_run

    db, out = tmp_path / "h.sqlite", tmp_path / "out" / "c.md"
    out.parent.mkdir()
    first = record_run(db, run("one", {HB: "passed"}, figures={(HB, "gap"): 1.0}), tmp_path)
    second = record_run(db, run("two", {HB: "passed"}, figures={(HB, "gap"): 1.3}), tmp_path)
    args = ["compare", first, f"#{second}", "--history", db, "--out", out]
    moved = cli(*args)
    assert moved.returncode == 0, moved.stderr
    assert "# skyproof compare: #1 one → #2 two" in moved.stdout and "| gap |" in moved.stdout
    assert out.read_text() == moved.stdout
    assert "| gap |" not in cli(*args, "--tolerance-for", "gap=0.5").stdout
    assert cli(*args, "--tolerance", "1").stdout.count("| gap |") == 0
    unknown = cli("compare", first, 99, "--history", db)
    assert unknown.returncode == 2 and "no run with id 99" in unknown.stderr


def test_python_m_reports_run_dir_still_rebuilds_the_summary(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(run("r", {HB: "passed"})))
    done = cli(tmp_path)
    assert done.returncode == 0 and (tmp_path / "summary.md").exists(), done.stderr
