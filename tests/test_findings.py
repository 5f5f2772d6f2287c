"""Findings are the unit of verdict: one per defect with a stable signature; waivers accept
findings one at a time, never a whole check; a WAIVED check keeps its whole failure text; a
stale or expired waiver says so; the vehicle's identity and own files travel with the run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from reports.findings import check_name, signature
from reports.results import ResultsCollector, verdict
from reports.summary import build_summary
from tests.run_pytest import ROOT, Run, run_pytest, write_profile

FUZZ = "suites/security/test_malformed.py::test_fuzzed_frames_change_nothing"
RANGES = "suites/security/test_malformed.py::test_out_of_range_param_set_is_rejected_or_clamped"
SECRECY = "suites/security/test_secrecy.py::test_key_is_not_in_the_run_artefacts"
NAN_MODE = "security/test_fuzzed_frames_change_nothing: vehicle-died: semantic: DO_SET_MODE custom mode nan"  # noqa: E501


# ---- signatures and outcomes, from reports alone ----------------------------------------------
def test_a_signature_names_the_check_and_the_defect_never_the_file_or_figures():
    nodeid = "suites/link/test_degraded.py::test_x[burst_loss]"
    assert check_name(nodeid) == "link/test_x[burst_loss]"
    assert signature(RANGES, "stored-out-of-range", "LAND_SPEED") == (
        "security/test_out_of_range_param_set_is_rejected_or_clamped: stored-out-of-range: "
        "LAND_SPEED")
    assert signature(FUZZ, "failed") == "security/test_fuzzed_frames_change_nothing: failed"


def _report(when: str, outcome: str, **extra: object) -> SimpleNamespace:
    return SimpleNamespace(nodeid="suites/x/test_a.py::test_a", when=when, outcome=outcome,
                           passed=outcome == "passed", skipped=outcome == "skipped",
                           failed=outcome == "failed", duration=0.1, user_properties=[],
                           longrepr=extra.pop("longrepr", "boom"), **extra)  # fmt: skip


@pytest.mark.parametrize(("phases", "outcome"), [
    ([("setup", "passed"), ("call", "skipped", {"wasxfail": "WAIVED ..."}),
      ("teardown", "failed")], "error"),  # a waived check whose teardown errs is never PASS
    ([("setup", "passed"), ("call", "failed"), ("teardown", "failed")], "failed"),
    ([("setup", "passed")], "interrupted"),  # cut off: never counted as passed
    ([("setup", "skipped", {"longrepr": ("f", 1, "Skipped: no radio")})], "skipped"),
    ([("setup", "passed"), ("call", "passed"), ("teardown", "passed")], "passed"),
])  # fmt: skip
def test_a_check_ends_with_the_outcome_of_its_worst_phase(phases, outcome):
    collector = ResultsCollector()
    for when, result, *extra in phases:
        collector.add(_report(when, result, **(extra[0] if extra else {})))
    (check,) = collector.to_dict({})["checks"]
    assert check["outcome"] == outcome


def test_a_collected_check_that_never_started_is_not_run_and_one_cut_off_in_setup_interrupted():
    collector = ResultsCollector()
    for nodeid in ("suites/x/test_a.py::test_a", "suites/x/test_b.py::test_b"):
        collector.expect(nodeid, ["R1"])
    collector.start("suites/x/test_a.py::test_a")  # and no report ever came
    results = collector.to_dict({"exit_status": 2})
    outcomes = {c["nodeid"]: (c["outcome"], c["requirements"]) for c in results["checks"]}
    assert outcomes == {"suites/x/test_a.py::test_a": ("interrupted", ["R1"]),
                        "suites/x/test_b.py::test_b": ("not_run", ["R1"])}  # fmt: skip
    assert results["verdict"] == "INCOMPLETE" and results["counts"]["not_run"] == 1
    summary = build_summary(results)
    assert "**verdict: INCOMPLETE** — 1 interrupted, 1 not run" in summary
    assert "| `suites/x/test_b.py::test_b` | NOT RUN |" in summary


@pytest.mark.parametrize(("counts", "exit_status", "word"), [
    ({"passed": 3}, 0, "PASS"),
    ({"passed": 3, "waived": 1}, 0, "PASS"),
    ({"passed": 3, "failed": 1}, 1, "FAIL"),
    ({"passed": 2, "error": 1}, 1, "ERROR"),
    ({"passed": 2, "interrupted": 1}, 2, "INCOMPLETE"),
    ({"passed": 9, "interrupted": 1, "not_run": 45}, 2, "INCOMPLETE"),
    ({"passed": 1, "not_run": 4}, 1, "INCOMPLETE"),  # e.g. pytest-timeout's --session-timeout
    ({"skipped": 5}, 0, "NO CHECKS"),  # every check skipped is not PASS
    ({}, 5, "NO CHECKS"),
    ({"passed": 3}, 1, "FAIL"),  # e.g. a stale waiver under strict_waivers
])  # fmt: skip
def test_the_run_verdict_is_never_pass_without_a_passing_check(counts, exit_status, word):
    assert verdict(counts, exit_status) == word


# ---- runs against the simulator ----------------------------------------------------------------
def _run(tmp_path, name: str, faults: list[str], *args: str, waivers=(), extra: str = "") -> Run:
    body = f"name: {name}\nvehicle:\n  faults: [{', '.join(faults)}]\n{extra}"
    if waivers:
        body += yaml.safe_dump({"waivers": list(waivers)}, sort_keys=False, width=200)
    profile = write_profile(tmp_path / f"{name}.yaml", body)
    return run_pytest(*args, "--profile", str(profile), report_dir=tmp_path / name)


def _gate_waivers() -> list[dict]:
    """The gate profile's own waivers: its signatures must be the ones the harness produces."""
    data = yaml.safe_load((ROOT / "profiles" / "gate.yaml").read_text())
    return [{**w, "expires": str(w["expires"])} for w in data["waivers"]]


def test_the_gate_waives_one_crash_and_still_fails_on_another(tmp_path):
    # given the gate profile's waivers on a simulator that crashes on two different inputs
    run = _run(tmp_path, "two-crashes", ["crash_on_nan_mode", "crash_on_nan_param_set"], FUZZ,
               waivers=_gate_waivers())  # fmt: skip
    # then the run fails: one finding is waived, the other is new and open
    assert run.code == 1, run.output[-3000:]
    results = run.results
    assert run.outcomes() == {"test_fuzzed_frames_change_nothing": "failed"}
    by_sig = {f["signature"]: f for f in results["findings"]}
    assert by_sig[NAN_MODE]["waiver"]["reason"].startswith("ArduPilot SITL aborts")
    (other,) = [f for s, f in by_sig.items() if s != NAN_MODE]
    assert other["waiver"] is None and "PARAM_SET FS_GCS_TIMEOUT=nan" in other["signature"]
    assert other["kind"] == "vehicle-died" and other["evidence"]["reproducer"].endswith(".json")
    assert other["evidence"]["vehicle"]["autopilot"] == "ARDUPILOTMEGA"
    assert "flight_sw_version" in results["vehicle_identity"]
    # and the vehicle's own files (its logs) live apart from the shareable run folder
    assert not (run.run_dir / "vehicles").exists()
    assert list((run.report_dir / "vehicle-files" / run.run_dir.name).glob("*/sim-*.log"))


def test_a_check_whose_findings_are_all_waived_is_waived_and_keeps_its_evidence(tmp_path):
    # given only the waived crash
    run = _run(tmp_path, "one-crash", ["crash_on_nan_mode"], FUZZ, waivers=_gate_waivers())
    # then the gate passes, and every report still says what was found and measured
    assert run.code == 0, run.output[-3000:]
    (check,) = run.results["checks"]
    assert check["outcome"] == "waived"
    assert "until 2027-03-31" in check["message"]
    assert "vehicle-died after semantic: DO_SET_MODE custom mode nan" in check["message"]
    assert any(m["name"] == "defects found (distinct inputs)" and m["value"] == 1
               for m in check["measurements"])  # fmt: skip
    summary = (run.run_dir / "summary.md").read_text()
    assert "verdict: PASS" in summary and "| WAIVED |" in summary
    assert "DO_SET_MODE custom mode nan" in summary and "defects found" in summary
    junit = (run.run_dir / "junit.xml").read_text()
    assert "vehicle-died after semantic: DO_SET_MODE custom mode nan" in junit
    allure = [json.loads(p.read_text()) for p in
              (run.run_dir / "allure-results").glob("*-result.json")]  # fmt: skip
    (result,) = [r for r in allure if r["name"] == "test_fuzzed_frames_change_nothing"]
    assert "DO_SET_MODE custom mode nan" in result["statusDetails"]["message"]
    # and the gate's other waivers matched nothing here: stale where their check ran (the
    # fuzzer's other crashes), unchecked where it did not (the other checks)
    states = {w["finding"]: w["state"] for w in run.results["waivers"]}
    assert states.pop(NAN_MODE) == "applied"
    for finding, state in states.items():
        ran = finding.startswith("security/test_fuzzed_frames_change_nothing:")
        assert state == ("stale" if ran else "unchecked"), (finding, state)


def test_each_parameter_stored_out_of_range_is_its_own_finding(tmp_path):
    waiver = {"finding": "security/test_out_of_range_param_set_is_rejected_or_clamped: "
              "stored-out-of-range: FS_GCS_TIMEOUT", "reason": "known", "expires": "2099-01-01"}
    expired = {**waiver, "finding": waiver["finding"].replace("FS_GCS_TIMEOUT", "LAND_SPEED"),
               "expires": "2020-01-01"}
    run = _run(tmp_path, "ranges", ["param_range_unchecked"], RANGES, waivers=[waiver, expired])
    assert run.code == 1, run.output[-3000:]
    found = {f["signature"].rsplit(": ", 1)[1]: f for f in run.results["findings"]}
    assert set(found) == {"FS_GCS_TIMEOUT", "WPNAV_SPEED", "LAND_SPEED"}
    assert found["FS_GCS_TIMEOUT"]["waiver"] and not found["WPNAV_SPEED"]["waiver"]
    assert found["LAND_SPEED"]["waiver"] is None  # expired: no longer applies, and says so
    assert found["LAND_SPEED"]["expired_waiver"]["expires"] == "2020-01-01"
    states = {w["finding"].rsplit(": ", 1)[1]: w["state"] for w in run.results["waivers"]}
    assert states == {"FS_GCS_TIMEOUT": "applied", "LAND_SPEED": "expired"}
    assert "waiver for" in run.output and "expired 2020-01-01: not applied" in run.output


def test_a_stale_waiver_fails_the_run_when_waivers_are_strict(tmp_path):
    stale = {"finding": "basic/test_heartbeat_rate: failed", "reason": "fixed long ago",
             "expires": "2099-01-01"}
    check = "suites/basic/test_heartbeat.py::test_heartbeat_rate"
    lenient = _run(tmp_path, "lenient", [], check, waivers=[stale])
    assert lenient.code == 0, lenient.output[-3000:]
    assert lenient.results["waivers"][0]["state"] == "stale"
    assert "matched no finding (stale): basic/test_heartbeat_rate: failed" in lenient.output
    strict = _run(tmp_path, "strict", [], check, "--strict-waivers", waivers=[stale])
    assert strict.code == 1 and strict.results["verdict"] == "FAIL", strict.output[-3000:]
    assert "| `basic/test_heartbeat_rate: failed` | stale |" in (
        strict.run_dir / "summary.md").read_text()


def test_a_waiver_that_speaks_to_no_check_of_the_run_says_so(tmp_path):
    # given waivers for a check that does not exist and one written as a path, not a finding
    typo = {"finding": "basic/test_heartbeat_rat: failed", "reason": "typo",
            "expires": "2099-01-01"}
    path = {**typo, "finding": "suites/basic/"}
    check = "suites/basic/test_heartbeat.py::test_heartbeat_rate"
    run = _run(tmp_path, "typos", [], check, waivers=[typo, path])
    # then the run passes, and each is reported as speaking to no check, in the terminal, in
    # results.json and in summary.md
    assert run.code == 0, run.output[-3000:]
    assert all(w["state"] == "unchecked" and w["no_check"] for w in run.results["waivers"])
    assert "waiver 'suites/basic/' speaks to no check of this run" in run.output
    summary = (run.run_dir / "summary.md").read_text()
    row = "| `basic/test_heartbeat_rat: failed` | unchecked (speaks to no check of this run) |"
    assert row in summary


def test_a_batch_that_changed_the_vehicle_is_not_blamed_on_the_batches_after_it(tmp_path):
    # given a vehicle that takes a frame whose CRC is one bit off (its mode and a parameter move)
    run = _run(tmp_path, "crc", ["crc_one_bit_off_accepted"], FUZZ)
    # then the fuzzer finds exactly those two defects: after each, the vehicle is put back (mode,
    # probe parameter), so no later batch (garbage, say) is blamed for what it left behind
    assert run.code == 1, run.output[-3000:]
    found = sorted(f["signature"].split(": ", 1)[1] for f in run.results["findings"])
    assert found == ["frame-taken: malformed: PARAM_SET RTL_ALT, CRC bit # flipped",
                     "state-changed: malformed: DO_SET_MODE, CRC bit # flipped"], found


def test_the_key_in_the_vehicles_own_log_is_a_vehicle_finding(tmp_path):
    # given a vehicle that writes its key into its own log when it arms (as ArduPilot does)
    run = _run(tmp_path, "key-in-log", ["key_in_log"], SECRECY)
    assert run.code == 1, run.output[-3000:]
    (finding,) = run.results["findings"]
    assert finding["signature"] == (
        "security/test_key_is_not_in_the_run_artefacts: key-in-vehicle-files: sim-#.log")
    assert finding["origin"] == "vehicle"
    assert "the signing key is in:" in finding["evidence"]["message"]


def test_a_finding_new_since_the_baseline_is_named_and_fails_compare(tmp_path):
    # given a good run recorded in a history, then the same profile on a vehicle that ignores
    # parameter writes, run with --baseline against that history
    history = tmp_path / "history.sqlite"
    check = "suites/basic/test_params.py::test_param_round_trip"
    profile = write_profile(tmp_path / "p.yaml", "name: baseline\n")
    good = run_pytest(check, "--profile", str(profile), "--history", str(history),
                      report_dir=tmp_path / "good")  # fmt: skip
    assert good.code == 0, good.output[-3000:]
    write_profile(profile, "name: baseline\nvehicle:\n  faults: [param_writes_ignored]\n")
    bad = run_pytest(check, "--profile", str(profile), "--history", str(history), "--baseline",
                     report_dir=tmp_path / "bad")  # fmt: skip
    # then the run names the finding as new, in results.json, summary.md and compare.md
    assert bad.code == 1, bad.output[-3000:]
    new = "basic/test_param_round_trip: failed"
    assert bad.results["baseline"]["new"] == [new] and "1 new, 0 fixed" in bad.output
    assert f"| `{new}` | vehicle | open (new) |" in (bad.run_dir / "summary.md").read_text()
    assert new in (bad.run_dir / "compare.md").read_text()
    # and the gate command fails on it, but not on a run compared with itself
    def gate(a: Path, b: Path) -> int:
        cmd = [sys.executable, "-m", "reports", "compare", str(a), str(b), "--fail-on", "new",
               "--history", str(history), "--out", str(tmp_path / "c.md")]  # fmt: skip
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True).returncode

    assert gate(good.run_dir, bad.run_dir) == 1
    assert gate(bad.run_dir, bad.run_dir) == 0
    assert gate(bad.run_dir, good.run_dir) == 0  # a fixed finding is no reason to fail
