"""Every path-valued option takes a path outside the repository, with spaces, in both spellings
(`--opt PATH` and `--opt=PATH`), from the repository root and with no test path given: pytest
must not take the path for a test path (profiles/pytest_profile.py says how that is avoided)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.run_pytest import ROOT

CHECK = "suites/basic/test_heartbeat.py::test_heartbeat_rate"


@pytest.mark.parametrize("spelling", ["two words", "joined"])
def test_path_options_outside_the_repository(tmp_path: Path, spelling: str):
    # given a profile, a report folder, a vehicle-files folder, a history and a "SITL binary",
    # all outside the repository under a folder with a space in its name
    where = tmp_path / "bench lab"
    where.mkdir()
    profile = where / "my bench.yaml"
    profile.write_text(
        f"skyproof: 1\nname: my bench\nextends: {ROOT / 'profiles' / 'sim.yaml'}\n"
    )
    binary = where / "arducopter"
    binary.write_text("")  # the simulator's driver does not run it; the option must parse
    options = {
        "--profile": profile,
        "--report-dir": where / "runs",
        "--vehicle-files": where / "vehicle files",
        "--history": where / "history.sqlite",
        "--sitl-binary": binary,
    }
    args = [
        part
        for opt, path in options.items()
        for part in ([opt, str(path)] if spelling == "two words" else [f"{opt}={path}"])
    ]
    # when pytest runs from the repository root with only these and a -k (no test path), and
    # with the check's node id as the test path
    for extra in (["-k", "test_heartbeat_rate"], [CHECK]):
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", *args, *extra],
            cwd=ROOT, capture_output=True, text=True, timeout=240,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
        out = proc.stdout + proc.stderr
        # then the run passes, rooted at the repository, and each path was used
        assert proc.returncode == 0, out[-3000:]
        assert "unrecognized arguments" not in out
        assert f"rootdir: {ROOT}" in out or "passed" in out, out[-2000:]
    runs = [p for p in (where / "runs").iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(runs) == 2 and all((r / "summary.md").is_file() for r in runs), runs
    assert (where / "history.sqlite").is_file()
    assert {p.name for p in (where / "vehicle files").iterdir()} == {r.name for r in runs}
    assert "my bench" in (runs[0] / "summary.md").read_text()
