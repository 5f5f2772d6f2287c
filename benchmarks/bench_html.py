"""report.html for a 55-check run: its size and the time to write it (targets <= 2 MB, <= 2 s).

    .venv/bin/python -m benchmarks.bench_html     (from the repository root)

The run is synthetic but heavier than a real one: every check has figures, a tlog and a plot
(a real default-profile run has 8 plots), some checks fail with findings and long messages,
and plots are made with the harness's own plot_series, so their size is what a run embeds.
The time is build_html plus writing the file: what a run adds at its end.
"""

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from reports.html import build_html
from reports.measurement import Series
from reports.plots import plot_series

MAX_BYTES, MAX_S = 2_000_000, 2.0


def synthetic_run(run_dir: Path, checks: int, plots_per_check: int) -> dict[str, Any]:
    """results.json (version 2) of a run of `checks` checks; every 7th fails with 2 findings."""
    rows, findings = [], []
    for i in range(checks):
        nodeid = f"suites/s{i % 5}/test_m{i % 11}.py::test_check_{i}[param-{i}]"
        plots = []
        for j in range(plots_per_check):
            pts = [(t / 10, 50 + 10 * math.sin(t / (5 + i + j))) for t in range(300)]
            png = plot_series(Series(f"figure {j}", "dB", pts, (40, None)),
                              run_dir / "plots" / f"check{i}-{j}.png", nodeid)  # fmt: skip
            plots.append(str(png))
        tlog = run_dir / "tlogs" / f"check{i}.tlog"
        tlog.parent.mkdir(parents=True, exist_ok=True)
        tlog.write_bytes(b"")
        failed = i % 7 == 3
        sigs = [f"s{i % 5}/test_check_{i}: stored-out-of-range: P{k}" for k in range(2)] * failed
        rows.append({
            "nodeid": nodeid, "suite": f"s{i % 5}", "outcome": "failed" if failed else "passed",
            "duration_s": 1.5, "message": ("AssertionError: figure outside\n" * 40) * failed,
            "requirements": [f"REQ-{i % 9}"], "reruns": 0, "tlog": str(tlog), "plots": plots,
            "measurements": [{"name": f"m{k}", "value": 1.0 + k, "unit": "s",
                              "threshold": "<= 2", "ok": not failed} for k in range(3)],
            "findings": sigs,
        })  # fmt: skip
        findings += [{"signature": s, "check": nodeid, "kind": "stored-out-of-range",
                      "origin": "vehicle", "summary": s, "waiver": None,
                      "evidence": {"message": "...", "tlog": str(tlog)}} for s in sigs]  # fmt: skip
    return {
        "skyproof": 2, "run": {"id": run_dir.name, "shard": None}, "verdict": "FAIL",
        "profile": {"name": "bench", "path": "profiles/sim.yaml", "vehicle_hash": "a",
                    "verification_hash": "b"},
        "vehicle_identity": {"autopilot": "ArduPilot", "flight_sw_version": "4.7.0-dev"},
        "counts": {"passed": sum(r["outcome"] == "passed" for r in rows),
                   "failed": sum(r["outcome"] == "failed" for r in rows)},
        "requirements": {f"REQ-{k}": {"id": f"REQ-{k}", "title": f"requirement {k}",
                                      "verifiable": k != 8, "reason": "radio"} for k in range(9)},
        "checks": rows, "findings": findings, "waivers": [], "baseline": None,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=55)
    parser.add_argument("--plots-per-check", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "20260101-000000-bench"
        results = synthetic_run(run_dir, args.checks, args.plots_per_check)
        plot_bytes = sum(p.stat().st_size for p in (run_dir / "plots").iterdir())
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            (run_dir / "report.html").write_text(build_html(results, run_dir), encoding="utf-8")
            times.append(time.perf_counter() - t0)
        size = (run_dir / "report.html").stat().st_size
    n_plots = args.checks * args.plots_per_check
    print(f"checks / plots / findings           : {args.checks} / {n_plots} / "
          f"{len(results['findings'])}  (plots {plot_bytes / 1e6:.2f} MB as PNG)")  # fmt: skip
    print(f"report.html size                    : {size / 1e6:7.3f} MB  (target <= 2 MB)")
    print(f"time to write, first / best of {args.repeat:<2}  : {times[0]:7.3f} s / "
          f"{min(times):.3f} s  (target <= 2 s)")  # fmt: skip
    if size > MAX_BYTES or times[0] > MAX_S:
        raise SystemExit("report.html misses its target")


if __name__ == "__main__":
    main()
