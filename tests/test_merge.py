"""The shards of one run (pytest-split) merge into the run one unsplit run would have been: same
checks, outcomes, findings, counts and verdict; waivers and strict-waiver failures judged on the
whole; parts that cannot be one run refused with a message naming them. Synthetic results for
the rules; one end-to-end run (two real shards of suites/basic against an unsplit run)."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.merge import MergeError, gather_files, merge_results, run_verdict_and_counts
from reports.results import OUTCOMES, verdict
from tests.run_pytest import ROOT, run_pytest, write_profile

FLIGHT = "suites/basic/test_flight.py::test_arm_takeoff_land"
RATE = "suites/basic/test_heartbeat.py::test_heartbeat_rate"
FLOAT = "suites/basic/test_params.py::test_float_param_keeps_its_fraction"
TRIP = "suites/basic/test_params.py::test_param_round_trip"
PATTERN = "basic/test_float_param_keeps_its_fraction: *"


def part(run_id, outcomes, *, group=None, splits=2, exit_status=None, waivers=(), findings=(),
         started="2026-01-01T10:00:00+00:00", finished="2026-01-01T10:05:00+00:00",
         identity=None, vhash="v1"):  # fmt: skip
    """One shard's results.json: `outcomes` {nodeid: outcome}, `waivers` [(pattern, state,
    matched)], `findings` [(signature, nodeid)]."""
    checks = [
        {"nodeid": n, "outcome": o, "message": o, "measurements": [], "findings": [],
         "tlog": None, "plots": []}
        for n, o in outcomes.items()
    ]  # fmt: skip
    seen = Counter(outcomes.values())
    status = exit_status if exit_status is not None else int(bool(seen["failed"] + seen["error"]))
    return {
        "skyproof": 2,
        "run": {"id": run_id, "collected": len(checks),
                "shard": {"group": group, "splits": splits} if group else None},
        "profile": {"name": "p", "path": "profiles/sim.yaml", "vehicle": "{}",
                    "vehicle_hash": vhash, "verification_hash": "w1"},
        "vehicle_identity": identity or {},
        "exit_status": status,
        "verdict": verdict(seen, status),
        "counts": {k: seen[k] for k in OUTCOMES},
        "started": started,
        "finished": finished,
        "requirements": {"MAV-X": {"id": "MAV-X"}},
        "checks": checks,
        "findings": [{"signature": s, "check": n, "kind": "failed", "evidence": {}}
                     for s, n in findings],
        "waivers": [{"finding": p, "reason": "known", "expires": "2099-01-01", "state": s,
                     "matched": list(m)} for p, s, m in waivers],
        "vehicle_files": f"reports/runs/vehicle-files/{run_id}",
        "baseline": None,
    }  # fmt: skip


def test_checks_and_findings_are_concatenated_and_the_verdict_recomputed():
    # given two shards, one passing and one with a failed check and its finding
    a = part("a", {RATE: "passed", FLIGHT: "passed"}, group=1)
    b = part(
        "b", {TRIP: "failed"}, group=2, findings=[("basic/test_param_round_trip: failed", TRIP)]
    )
    # when they are merged
    m = merge_results([a, b])
    # then every check is there once, in nodeid order as one run lists them, and the run FAILS
    assert [c["nodeid"] for c in m["checks"]] == sorted([RATE, FLIGHT, TRIP])
    assert [f["check"] for f in m["findings"]] == [TRIP]
    assert (m["verdict"], m["exit_status"]) == ("FAIL", 1)
    assert m["counts"] == {**dict.fromkeys(OUTCOMES, 0), "passed": 2, "failed": 1}
    assert m["run"]["collected"] == 3 and m["run"]["shard"] is None
    assert [r["id"] for r in m["run"]["merged_from"]] == ["a", "b"]
    assert m["requirements"] == {"MAV-X": {"id": "MAV-X"}}


def test_a_check_in_two_parts_is_refused_naming_both():
    a = part("a", {RATE: "passed"}, group=1)
    b = part("b", {RATE: "failed"}, group=2)
    with pytest.raises(MergeError, match=r"test_heartbeat_rate is in two parts: a \(shard 1/2\) "
                       r"and b \(shard 2/2\)"):  # fmt: skip
        merge_results([a, b])


def test_the_same_run_given_twice_counts_once():
    # e.g. `shards/*/*/results.json` matches a run folder and the `latest` link to it
    a = part("a", {RATE: "passed"}, group=1)
    b = part("b", {TRIP: "passed"}, group=2)
    assert merge_results([a, json.loads(json.dumps(a)), b]) == merge_results([a, b])


def test_different_profiles_are_refused():
    a = part("a", {RATE: "passed"}, group=1)
    b = part("b", {TRIP: "passed"}, group=2, vhash="v2")
    with pytest.raises(MergeError, match=r"different profiles.*vehicle half v1.*vehicle half v2"):
        merge_results([a, b])


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"skyproof": 1}, "version 1; merge reads version 2"),
        ({"run": {"id": "b", "shard": {"group": 2, "splits": 3}}}, "different splits"),
        ({"run": {"id": "b", "shard": {"group": 1, "splits": 2}}}, "group 1 given twice"),
        ({"run": {"id": "b", "shard": None}}, r"b \(not a shard\)"),
    ],
)
def test_parts_that_are_not_shards_of_one_run_are_refused(bad, message):
    a = part("a", {RATE: "passed"}, group=1)
    b = part("b", {TRIP: "passed"}, group=2) | bad
    with pytest.raises(MergeError, match=message):
        merge_results([a, b])
    with pytest.raises(MergeError, match="nothing to merge"):
        merge_results([])


def test_a_missing_shard_makes_the_run_incomplete():
    # given shards 1 and 3 of 3 (shard 2's machine never reported), all passing
    a = part("a", {RATE: "passed"}, group=1, splits=3)
    c = part("c", {TRIP: "passed"}, group=3, splits=3)
    m = merge_results([a, c])
    # then the merged run does not PASS: it is INCOMPLETE, exit 2 (interrupted), and says which
    assert (m["verdict"], m["exit_status"], m["run"]["missing_shards"]) == ("INCOMPLETE", 2, [2])


@pytest.mark.parametrize(
    "statuses, merged",
    [((0, 1), 1), ((1, 2), 2), ((2, 1), 2), ((0, 5), 0), ((5, 5), 5), ((4, 0), 4), ((3, 2), 3)],
)
def test_the_exit_status_is_the_worst_shards(statuses, merged):
    # a shard that drew no checks (5) says nothing; interrupted (2) is worse than failed (1)
    a = part("a", {RATE: "passed"}, group=1, exit_status=statuses[0])
    b = part("b", {TRIP: "passed"}, group=2, exit_status=statuses[1])
    assert merge_results([a, b])["exit_status"] == merged


def test_a_waiver_is_stale_only_if_no_shard_applied_it_and_one_judged_its_check():
    sig = "basic/test_float_param_keeps_its_fraction: failed"
    gone, never = "basic/test_heartbeat_rate: *", "radio/*"
    # given shard 1 judged the heartbeat check (no finding), shard 2 the float check (waived)
    a = part(
        "a",
        {RATE: "passed"},
        group=1,
        waivers=[(PATTERN, "unchecked", []), (gone, "stale", []), (never, "unchecked", [])],
    )
    b = part("b", {FLOAT: "waived"}, group=2, findings=[(sig, FLOAT)],
             waivers=[(PATTERN, "applied", [sig]), (gone, "unchecked", []),
                      (never, "unchecked", [])])  # fmt: skip
    m = merge_results([a, b])
    states = {w["finding"]: (w["state"], w["matched"]) for w in m["waivers"]}
    assert states == {PATTERN: ("applied", [sig]), gone: ("stale", []), never: ("unchecked", [])}
    assert (m["verdict"], m["exit_status"]) == ("PASS", 0)


@pytest.mark.parametrize("stale_everywhere", [False, True])
def test_a_strict_waiver_failure_of_a_shard_is_judged_on_the_whole_run(stale_everywhere):
    # given strict waivers: shard 1 had no finding for the waiver, so it failed (exit 1, no
    # failed check); shard 2 had the finding the waiver accepts (or, too, none)
    sig = "basic/test_float_param_keeps_its_fraction: failed"
    a = part("a", {RATE: "passed"}, group=1, exit_status=1, waivers=[(PATTERN, "stale", [])])
    if stale_everywhere:
        b = part("b", {FLOAT: "passed"}, group=2, exit_status=1, waivers=[(PATTERN, "stale", [])])
    else:
        b = part("b", {FLOAT: "waived"}, group=2, findings=[(sig, FLOAT)],
                 waivers=[(PATTERN, "applied", [sig])])  # fmt: skip
    m = merge_results([a, b])
    # then the merged run fails only if no shard used the waiver, as one unsplit run would
    assert (m["verdict"], m["exit_status"]) == (("FAIL", 1) if stale_everywhere else ("PASS", 0))


def test_times_identity_and_run_id_come_from_the_parts():
    early, late = "2026-01-01T09:00:00+00:00", "2026-01-01T11:00:00+00:00"
    ident = {"autopilot": "ArduPilot", "git_hash": "90700977"}
    a = part("a", {RATE: "passed"}, group=1, started=early)
    b = part("b", {TRIP: "passed"}, group=2, finished=late, identity=ident)
    m, again = merge_results([a, b]), merge_results([b, a])
    assert (m["started"], m["finished"]) == (early, late)
    assert m["vehicle_identity"] == ident
    # the id is the earliest shard's, tagged by all: the same shards name the same merged run
    assert m["run"]["id"].startswith("a-merged-") and m["run"]["id"] == again["run"]["id"]
    assert m["run"]["id"] != merge_results([a, part("c", {TRIP: "passed"}, group=2)])["run"]["id"]


@given(st.lists(st.tuples(st.sampled_from(OUTCOMES), st.integers(0, 2)), min_size=1, max_size=12))
def test_any_split_of_a_run_merges_to_its_verdict(checks):
    # given a run's checks, each dealt to one of up to three shards, when they merge, then the
    # outcomes, counts and verdict are the unsplit run's
    outcomes = {f"suites/basic/test_x.py::test_{i}": o for i, (o, _) in enumerate(checks)}
    groups = sorted({g for _, g in checks})
    parts = [
        part(f"s{g}", {n: o for (n, o), (_, gg) in zip(outcomes.items(), checks, strict=True)
                       if gg == g}, group=i + 1, splits=len(groups))
        for i, g in enumerate(groups)
    ]  # fmt: skip
    whole = part("whole", outcomes)
    m = merge_results(parts)
    assert {c["nodeid"]: c["outcome"] for c in m["checks"]} == outcomes
    assert (m["verdict"], m["counts"], m["exit_status"]) == (
        whole["verdict"], whole["counts"], whole["exit_status"])  # fmt: skip
    assert run_verdict_and_counts(m["checks"], m["exit_status"]) == (m["verdict"], m["counts"])


def test_gather_files_copies_the_shards_files_and_points_at_the_copies(tmp_path):
    # given two shard folders with a tlog, a plot and a junit.xml each
    dirs = []
    for n, nodeid in ((1, RATE), (2, TRIP)):
        d = tmp_path / f"shard{n}" / "run"
        (d / "tlogs").mkdir(parents=True)
        (d / "plots").mkdir()
        (d / "tlogs" / f"t{n}.tlog").write_bytes(b"x")
        (d / "plots" / f"p{n}.png").write_bytes(b"png")
        (d / "junit.xml").write_text(
            f'<testsuites name="pytest tests"><testsuite name="pytest" tests="1">'
            f'<testcase name="{nodeid}"/></testsuite></testsuites>'
        )
        (d / "results.json").write_text("{}")
        (d.parent / "latest").symlink_to(d.name)
        dirs.append(d)
    a = part("a", {RATE: "passed"}, group=1)
    b = part("b", {TRIP: "passed"}, group=2)
    a["checks"][0] |= {"tlog": str(dirs[0] / "tlogs" / "t1.tlog"), "plots": ["x/plots/p1.png"]}
    b["checks"][0] |= {"tlog": "reports/runs/elsewhere/tlogs/t2.tlog"}  # a CI machine's path
    m = merge_results([a, b])
    out = tmp_path / "merged"
    # when the files are gathered into the merged folder
    gather_files([dirs[0], dirs[0].parent / "latest", dirs[1] / "results.json"], out, m)
    # then they are there, the results point at them, and one junit.xml holds both shards
    assert sorted(p.name for p in out.rglob("*.*")) == ["junit.xml", "p1.png", "p2.png",
                                                         "t1.tlog", "t2.tlog"]  # fmt: skip
    tlogs = {c["nodeid"]: c["tlog"] for c in m["checks"]}
    assert Path(tlogs[RATE]) == out / "tlogs" / "t1.tlog"
    assert Path(tlogs[TRIP]) == out / "tlogs" / "t2.tlog"
    assert Path(m["checks"][0]["plots"][0]) == out / "plots" / "p1.png"
    assert (out / "junit.xml").read_text().count("<testcase") == 2


def test_two_real_shards_merge_to_the_unsplit_run(tmp_path):
    # given the basic suite against a simulator whose float parameters are rounded, a profile
    # that waives that finding with a pattern over every basic check and is strict about
    # waivers, and .test_durations splitting the suite into the flight check (shard 1, where
    # the waiver matches nothing: stale) and the rest (shard 2, where it applies)
    profile = write_profile(
        tmp_path / "p.yaml",
        "vehicle:\n  faults: [param_float_rounded]\nstrict_waivers: true\n"
        'waivers:\n  - finding: "basic/test_*"\n    reason: rounded floats, known\n'
        "    expires: 2099-12-31\n",
    )
    args = ("suites/basic", "--profile", str(profile))
    whole = run_pytest(*args, report_dir=tmp_path / "whole")
    shards = [
        run_pytest(*args, "--splits", "2", "--group", str(g), report_dir=tmp_path / f"shard{g}")
        for g in (1, 2)
    ]
    assert whole.outcomes()[FLOAT.split("::")[1]] == "waived", whole.output[-3000:]
    assert all(s.results["run"]["shard"] for s in shards), "conftest records run.shard"
    assert [s.code for s in shards] == [1, 0], "shard 1's waiver is stale: strict fails it"
    assert [s.results["waivers"][0]["state"] for s in shards] == ["stale", "applied"]
    # when the shards are merged as README says
    out = tmp_path / "merged"
    proc = subprocess.run(
        [sys.executable, "-m", "reports", "merge", *(str(s.run_dir) for s in shards),
         "--out", str(out), "--history", str(tmp_path / "history.sqlite")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    merged = json.loads((out / "results.json").read_text())

    # then the merged run is the unsplit one: outcomes, findings, waivers, verdict, exit status
    def outcomes(results):
        return {c["nodeid"]: c["outcome"] for c in results["checks"]}

    unsplit = whole.results
    assert outcomes(merged) == outcomes(unsplit) and len(merged["checks"]) == 5
    assert [f["signature"] for f in merged["findings"]] == [
        f["signature"] for f in unsplit["findings"]
    ]
    assert [(w["state"], w["matched"]) for w in merged["waivers"]] == [
        (w["state"], w["matched"]) for w in unsplit["waivers"]
    ]
    assert (merged["verdict"], merged["counts"]) == (unsplit["verdict"], unsplit["counts"])
    assert (proc.returncode, merged["exit_status"]) == (whole.code, unsplit["exit_status"]) == (
        0, 0), proc.stderr  # fmt: skip
    assert (out / "report.html").is_file() and (out / "summary.md").is_file()
