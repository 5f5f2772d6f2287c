"""Repeatable verdicts: run a profile N times, one run after the other, and count the checks
whose verdict changed between runs (a flaky check shows here before it fails someone's build).

    .venv/bin/python -m benchmarks.repeat --runs 20                      (the default profile)
    .venv/bin/python -m benchmarks.repeat --runs 5 --hogs 2              (2 CPU burners beside)
    .venv/bin/python -m benchmarks.repeat --runs 5 --suites suites/basic suites/failsafe

With --hogs K, K processes burn a CPU each for the whole series (bounded: each also stops by
itself after --hog-limit-s, and all are killed at the end). Every run is a fresh
`pytest --profile ...` with its own report folder and no run history; the figure is the number
of checks with more than one outcome across the runs, and the number of runs in which a check
failed, errored or passed only on a retry (a false failure, on the simulator's correct vehicle;
a WAIVED known finding is the profile's verdict, not a failure).
Exit code: 0 when no verdict changed and every run passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FALSE_FAILURES = {"failed", "error", "flaky", "interrupted"}  # on the correct built-in vehicle
HOG = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


def start_hogs(count: int, limit_s: float) -> list[subprocess.Popen]:
    """`count` processes that each keep one CPU busy for at most `limit_s` wall seconds."""
    code = HOG.format(limit=limit_s)
    return [
        subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)
        for _ in range(count)
    ]


def stop_hogs(hogs: list[subprocess.Popen]) -> None:
    for hog in hogs:  # only the processes this script started, by their own handle
        hog.kill()
    for hog in hogs:
        hog.wait()


def one_run(index: int, args: argparse.Namespace, out: Path) -> tuple[dict[str, str], float, int]:
    """({nodeid: outcome}, wall seconds, exit code) of one verification run."""
    report_dir = out / f"run-{index:02d}"
    cmd = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
        # "=" forms: pytest would take an existing folder after a space for a test path
        f"--report-dir={report_dir}", "--history=none", f"--profile={args.profile}",
        *args.suites,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    t0 = time.monotonic()
    with open(out / f"run-{index:02d}.log", "w") as log:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=args.timeout_s
        )
    took = time.monotonic() - t0
    runs = [
        p for p in report_dir.iterdir()
        if p.is_dir() and not p.is_symlink() and (p / "results.json").exists()
    ]  # fmt: skip
    if len(runs) != 1:
        return {}, took, proc.returncode
    results = json.loads((runs[0] / "results.json").read_text())
    return {c["nodeid"]: c["outcome"] for c in results["checks"]}, took, proc.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.repeat", description=__doc__)
    ap.add_argument("--runs", type=int, default=5, help="serial runs (default 5)")
    ap.add_argument("--hogs", type=int, default=0, help="CPU-burning processes beside the runs")
    ap.add_argument("--suites", nargs="*", default=[], help="suite paths (default: the profile's)")
    ap.add_argument("--profile", default=str(ROOT / "profiles" / "sim.yaml"))
    ap.add_argument("--out", type=Path, default=None, help="folder for the runs' reports")
    ap.add_argument("--timeout-s", type=float, default=900.0, help="wall bound of one run")
    ap.add_argument("--hog-limit-s", type=float, default=7200.0, help="a hog's own wall bound")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="skyproof-repeat-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"{args.runs} run(s) of {args.profile} {' '.join(args.suites) or '(every suite)'}, "
          f"{args.hogs} hog(s); reports in {out}", flush=True)  # fmt: skip
    hogs = start_hogs(args.hogs, args.hog_limit_s)
    seen: dict[str, list[str]] = defaultdict(lambda: ["-"] * args.runs)
    bad_runs = 0
    try:
        for i in range(args.runs):
            outcomes, took, code = one_run(i, args, out)
            for nodeid, outcome in outcomes.items():
                seen[nodeid][i] = outcome
            # waived (a profile's known finding) and skipped are verdicts too, not failures
            bad = sorted(n for n, o in outcomes.items() if o in FALSE_FAILURES)
            bad_runs += bool(bad or code != 0 or not outcomes)
            print(f"run {i + 1}/{args.runs}: exit {code}, {len(outcomes)} checks, {took:.0f} s"
                  + (f"; did not pass: {', '.join(bad)}" if bad else ""), flush=True)  # fmt: skip
    finally:
        stop_hogs(hogs)
    changed = {n: o for n, o in sorted(seen.items()) if len(set(o)) > 1}
    print(f"\nchecks: {len(seen)}; verdicts that changed across {args.runs} runs: {len(changed)}; "
          f"runs with a failed, errored or flaky check: {bad_runs}")  # fmt: skip
    for nodeid, outcomes in changed.items():
        print(f"  {nodeid}: {' '.join(outcomes)}")
    return 0 if not changed and not bad_runs else 1


if __name__ == "__main__":
    sys.exit(main())
