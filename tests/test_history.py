"""The run history: every run recorded in one SQLite file (runs, checks, findings, measurements,
the exact results.json), found again by profile, safe with two writers at once, and a clear
error, not a traceback, when its path cannot be used."""

import json
import sqlite3
import subprocess
import sys

import pytest

from reports.history import (
    SCHEMA_VERSION,
    HistoryError,
    latest_results,
    list_runs,
    load_results,
    record_run,
)
from tests.run_pytest import ROOT

HEARTBEAT = "suites/basic/test_heartbeat.py::test_heartbeat_rate"
PARAMS = "suites/security/test_params.py::test_out_of_range_param_set_is_rejected_or_clamped"


def results(run_id: str, profile: str = "profiles/sim.yaml", rate: float = 1.0) -> dict:
    """A results.json (version 2) of two checks: one passed, one failed with two findings of
    which one is waived."""
    sigs = [f"security/{PARAMS.split('::')[1]}: stored-out-of-range: {p}"
            for p in ("FS_GCS_TIMEOUT", "LAND_SPEED")]  # fmt: skip
    waiver = {"pattern": sigs[0], "reason": "known", "expires": "2099-01-01"}
    return {
        "skyproof": 2,
        "run": {"id": run_id, "shard": None},
        "profile": {"name": "sim", "path": profile, "vehicle": "{}", "vehicle_hash": "v1",
                    "verification_hash": "w1"},
        "vehicle_identity": {"autopilot": "ArduPilot", "flight_sw_version": "4.7.0-dev"},
        "exit_status": 1,
        "verdict": "FAIL",
        "counts": {"passed": 1, "failed": 1},
        "started": "2026-12-05T10:00:00+00:00",
        "finished": "2026-12-05T10:01:00+00:00",
        "requirements": {},
        "checks": [
            {"nodeid": HEARTBEAT, "suite": "basic", "outcome": "passed", "duration_s": 1.5,
             "message": "", "requirements": ["MAV-HEARTBEAT"], "findings": [], "reruns": 0,
             "measurements": [{"name": "heartbeat rate", "value": rate, "unit": "Hz",
                               "threshold": "0.8..1.2", "ok": True},
                              {"name": "largest gap", "value": float("inf"), "unit": "s",
                               "threshold": "<= 2", "ok": False}]},
            {"nodeid": PARAMS, "suite": "security", "outcome": "failed", "duration_s": 2.0,
             "message": "LAND_SPEED stored out of range", "requirements": [], "reruns": 0,
             "measurements": [], "findings": sigs},
        ],
        "findings": [
            {"signature": sigs[0], "check": PARAMS, "kind": "stored-out-of-range",
             "origin": "vehicle", "summary": "FS_GCS_TIMEOUT", "evidence": {}, "waiver": waiver},
            {"signature": sigs[1], "check": PARAMS, "kind": "stored-out-of-range",
             "origin": "vehicle", "summary": "LAND_SPEED", "evidence": {}, "waiver": None},
        ],
        "waivers": [],
        "baseline": None,
    }  # fmt: skip


def test_a_run_is_recorded_in_tables_and_read_back_exactly(tmp_path):
    db = tmp_path / "history.sqlite"
    run = results("20261205-100000-sim-1")
    rid = record_run(db, run, tmp_path / "run")
    assert load_results(db, rid) == run  # the full results.json, inf included
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = "run_id, profile_path, vehicle_hash, verification_hash, verdict, exit_status"
    row = con.execute(f"SELECT {columns}, vehicle_identity, shard FROM runs WHERE id = ?", (rid,))
    (run_id, path, vh, wh, verdict, status, identity, shard) = row.fetchone()
    assert (run_id, path, vh, wh, verdict, status, shard) == (
        "20261205-100000-sim-1", "profiles/sim.yaml", "v1", "w1", "FAIL", 1, None)  # fmt: skip
    assert json.loads(identity)["flight_sw_version"] == "4.7.0-dev"
    checks = con.execute("SELECT nodeid, outcome FROM checks WHERE run = ? ORDER BY nodeid", (rid,))
    assert checks.fetchall() == [(HEARTBEAT, "passed"), (PARAMS, "failed")]
    findings = con.execute("SELECT summary, waived, origin FROM findings ORDER BY summary")
    assert findings.fetchall() == [("FS_GCS_TIMEOUT", 1, "vehicle"), ("LAND_SPEED", 0, "vehicle")]
    figures = con.execute("SELECT name, value, unit, threshold, ok FROM measurements ORDER BY name")
    assert figures.fetchall() == [("heartbeat rate", 1.0, "Hz", "0.8..1.2", 1),
                                  ("largest gap", "inf", "s", "<= 2", 0)]  # fmt: skip


def test_the_latest_run_is_the_newest_of_the_same_profile(tmp_path):
    db = tmp_path / "h.sqlite"
    assert latest_results(db, "profiles/sim.yaml") is None and not db.exists()  # reads create none
    first = record_run(db, results("one"), tmp_path)
    record_run(db, results("other", profile="profiles/gate.yaml"), tmp_path)
    third = record_run(db, results("three"), tmp_path)
    assert latest_results(db, "profiles/sim.yaml")["run"]["id"] == "three"
    assert latest_results(db, "profiles/sim.yaml", before_id=third)["run"]["id"] == "one"
    assert latest_results(db, "profiles/sim.yaml", before_id=first) is None
    assert latest_results(db, "profiles/nothing.yaml") is None


def test_list_runs_gives_each_run_with_its_finding_counts(tmp_path):
    db = tmp_path / "h.sqlite"
    assert list_runs(db) == []
    ids = [record_run(db, results(f"run-{i}"), tmp_path / f"run-{i}") for i in range(3)]
    runs = list_runs(db)
    assert [r["id"] for r in runs] == ids and ids == sorted(ids)
    assert runs[0]["run_id"] == "run-0" and runs[0]["run_dir"] == str(tmp_path / "run-0")
    assert (runs[0]["checks"], runs[0]["findings"], runs[0]["waived"]) == (2, 2, 1)
    assert runs[0]["counts"] == {"passed": 1, "failed": 1} and runs[0]["verdict"] == "FAIL"


def test_its_folder_is_created_and_an_unusable_path_is_one_clear_error(tmp_path):
    nested = tmp_path / "ci-cache" / "skyproof" / "history.sqlite"
    assert record_run(nested, results("a"), tmp_path) == 1
    (tmp_path / "not-a-db").write_text("hello")
    (tmp_path / "file").write_text("")
    for bad, why in [
        (tmp_path / "not-a-db", "not an SQLite database"),
        (tmp_path, "is a folder"),
        (tmp_path / "file" / "history.sqlite", "cannot create the folder"),
    ]:
        with pytest.raises(HistoryError, match=why) as err:
            record_run(bad, results("a"), tmp_path)
        assert str(bad.parent if "folder" in why else bad) in str(err.value)
    with pytest.raises(HistoryError, match="no run with id 7"):
        load_results(nested, 7)


def test_two_processes_recording_at_once_lose_nothing(tmp_path):
    db, source = tmp_path / "shared" / "h.sqlite", tmp_path / "results.json"
    source.write_text(json.dumps(results("concurrent")))
    code = (
        "import json, sys; from pathlib import Path; from reports.history import record_run\n"
        "r = json.loads(Path(sys.argv[1]).read_text())\n"
        "for _ in range(15): record_run(Path(sys.argv[2]), r, Path('.'))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(source), str(db)], cwd=ROOT,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]  # fmt: skip
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    runs = list_runs(db)
    assert len(runs) == 45 and len({r["id"] for r in runs}) == 45
    assert all((r["checks"], r["findings"]) == (2, 2) for r in runs)  # no half-written run


def test_python_m_reports_history_lists_the_runs(tmp_path):
    db = tmp_path / "h.sqlite"
    record_run(db, results("20261205-100000-sim-1"), tmp_path)
    record_run(db, results("20261205-110000-gate-2", profile="profiles/gate.yaml"), tmp_path)
    cli = [sys.executable, "-m", "reports", "history", "--history"]
    out = subprocess.run([*cli, str(db)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "started", "profile", "verdict"]
    assert lines[1].split()[:5] == ["1", "2026-12-05", "10:00", "profiles/sim.yaml", "FAIL"]
    assert "2 (1 waived)" in lines[2] and "20261205-110000-gate-2" in lines[2]
    bad = subprocess.run([*cli, str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "is a folder" in bad.stderr
