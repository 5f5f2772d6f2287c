"""Runs skyproof the way a user does (`pytest --profile ...` in a fresh process) and reads back
what the run left: exit code, output, results.json."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    code: int
    output: str
    report_dir: Path

    @property
    def run_dir(self) -> Path:
        (run,) = [
            p for p in self.report_dir.iterdir()
            if p.is_dir() and not p.is_symlink() and p.name != "vehicle-files"
        ]
        return run

    @property
    def results(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "results.json").read_text())

    def outcomes(self) -> dict[str, str]:
        return {c["nodeid"].split("::")[-1]: c["outcome"] for c in self.results["checks"]}


def run_pytest(*args: str, report_dir: Path, timeout_s: float = 240) -> Run:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)  # a nested run is its own controller
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--report-dir",
            str(report_dir),
            "--history",
            str(report_dir / "history.sqlite"),
            "--vehicle-files",
            str(report_dir / "vehicle-files"),
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    return Run(proc.returncode, proc.stdout + proc.stderr, report_dir)


def write_profile(path: Path, body: str, base: str = "sim.yaml") -> Path:
    """A profile that extends a shipped one (the default unless `base` says), `body` on top."""
    path.write_text(f"skyproof: 1\nextends: {ROOT / 'profiles' / base}\n{body}")
    return path
