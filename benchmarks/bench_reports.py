"""The run history and the comparison of runs, timed on a synthetic run the size of the default
profile's (55 checks, with findings and measurements): recording it in the history, and
comparing two such runs (compare.md included).

    .venv/bin/python -m benchmarks.bench_reports     (from the repository root)

Both are on the path of every run that keeps a history or asks for a baseline, so both must
stay well under a second (issue 10). The history is a fresh file in a temporary folder, as on a
CI runner; the first record also creates the schema, so it is reported apart.
"""

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from reports.compare import compare
from reports.history import latest_results, record_run

CHECKS = 55
TARGET_S = 1.0


def synthetic_run(run_id: str, seed: int, checks: int = CHECKS) -> dict[str, Any]:
    """A results dict (contract version 2): `checks` checks in five suites, about 2.5 figures
    each, every seventh check failed with one to three findings (some waived)."""
    rng = random.Random(seed)
    rows, findings = [], []
    for i in range(checks):
        suite = ("basic", "link", "failsafe", "radio", "security")[i % 5]
        nodeid = f"suites/{suite}/test_{suite}.py::test_check_{i:02d}"
        failed = i % 7 == 3
        sigs = [f"{suite}/test_check_{i:02d}: kind-{k}: subject {k}" for k in range(1 + i % 3)]
        sigs = sigs if failed else []
        for k, sig in enumerate(sigs):
            waiver = {"pattern": sig, "reason": "known", "expires": "2099-01-01"} if k else None
            findings.append({
                "signature": sig, "check": nodeid, "kind": f"kind-{k}", "origin": "vehicle",
                "summary": f"subject {k} misbehaved", "waiver": waiver,
                "evidence": {"message": "x" * 400, "measurements": [], "tlog": f"/t/{i}.tlog"},
            })  # fmt: skip
        rows.append({
            "nodeid": nodeid, "suite": suite, "outcome": "failed" if failed else "passed",
            "duration_s": rng.uniform(0.1, 5), "message": "assert 3.2 <= 2\n" * 20 * failed,
            "requirements": ["MAV-HEARTBEAT", "GB42590-4.11"], "tlog": f"/t/{i}.tlog",
            "plots": [], "reruns": 0, "findings": sigs,
            "measurements": [
                {"name": f"figure {j}", "value": rng.uniform(0.5, 2.0) * (j + 1), "unit": "s",
                 "threshold": f"<= {2 * (j + 1)}", "ok": True}
                for j in range(2 + i % 2)
            ],
        })  # fmt: skip
    return {
        "skyproof": 2,
        "run": {"id": run_id, "shard": None},
        "profile": {"name": "synthetic", "path": "profiles/sim.yaml", "vehicle": "{}",
                    "vehicle_hash": "876d12fbca95", "verification_hash": "d7a7ac706795"},
        "vehicle_identity": {"autopilot": "ArduPilot", "flight_sw_version": "4.7.0-dev"},
        "exit_status": 1, "verdict": "FAIL", "counts": {"passed": checks - 8, "failed": 8},
        "started": "2026-12-05T10:00:00+00:00", "finished": "2026-12-05T10:01:00+00:00",
        "requirements": {}, "checks": rows, "findings": findings, "waivers": [], "baseline": None,
    }  # fmt: skip


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="records and compares to time")
    args = parser.parse_args()
    a, b = synthetic_run("run-a", 1), synthetic_run("run-b", 1)
    b["run"]["id"] = "run-b"
    b["findings"].pop(0)  # one fixed, one new, the rest persisting
    b["findings"].append({**a["findings"][0], "signature": "radio/test_check_99: new: one"})
    rng = random.Random(2)
    for m in (m for c in b["checks"] for m in c["measurements"]):
        m["value"] *= rng.choice([1.3, 0.97, 1.0, 1.02, 1.05])  # about a fifth beyond 20 %
    figures = sum(len(c["measurements"]) for c in a["checks"])
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ci-cache" / "history.sqlite"
        first, _ = timed(record_run, db, a, Path(tmp))
        later = [timed(record_run, db, b, Path(tmp))[0] for _ in range(args.repeat)]
        lookup, _ = timed(latest_results, db, "profiles/sim.yaml")
        size = db.stat().st_size + sum(p.stat().st_size for p in db.parent.glob("*-wal"))
    comparing = [timed(lambda: compare(a, b).to_markdown())[0] for _ in range(args.repeat)]
    cmp = compare(a, b)
    print(f"synthetic run: {CHECKS} checks, {figures} figures, {len(a['findings'])} findings")
    print(f"history: first record (creates the schema)  : {first * 1e3:7.1f} ms  (target <= 1 s)")
    print(
        f"history: record a run, worst of {args.repeat:<3}        : {max(later) * 1e3:7.1f} ms"
        f"  (target <= 1 s; median {sorted(later)[len(later) // 2] * 1e3:.1f} ms)"
    )
    print(f"history: latest run of the profile          : {lookup * 1e3:7.1f} ms")
    print(f"history: file size after {args.repeat + 1} runs            : {size / 1e6:7.2f} MB")
    print(f"compare two runs + compare.md, worst of {args.repeat:<3}: {max(comparing) * 1e3:7.1f}"
          f" ms  (target <= 1 s; {len(cmp.new)} new, {len(cmp.fixed)} fixed,"
          f" {len(cmp.persisting)} persisting, {len(cmp.moved)} figures moved)")  # fmt: skip


if __name__ == "__main__":
    main()
