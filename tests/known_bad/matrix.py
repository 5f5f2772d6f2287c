"""The proof matrix: which named simulator fault makes which check FAIL, read from the PROOFS
table of every known-bad module (tests/known_bad/test_*.py; the shape is runner.Proof), the same
tables those tests run, so the matrix cannot claim a proof that no test makes.

    python -m tests.known_bad.matrix            print the matrix (Markdown)
    python -m tests.known_bad.matrix --write    write docs/proof-matrix.md
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from sim.faults import FAULTS
from tests.run_pytest import ROOT

DOC = ROOT / "docs" / "proof-matrix.md"
HERE = Path(__file__).resolve().parent
PROFILES = ("sim.yaml", "sim-strict.yaml")  # the default, and every channel required to sign

# Checks with no proof yet, each with why: the coverage test fails on any other unproven check
# and on a check listed here that has become proven, so this list stays true.
UNPROVEN: dict[str, str] = {
    "test_commands_are_acknowledged_on_a_degraded_link[latency500]": (
        "no fault yet that the 0.5 s scenario exposes and the others do not (slow_command_ack's "
        "0.8 s stays inside degraded_ack_s)"
    ),
}

# Faults that no proof runs, each with why (the doc lists them; the coverage test fails on a
# fault missing from both the proofs and this list, so a new fault states its place too).
NO_CHECK: dict[str, str] = {
    "fence_ignored": "no geofence check yet (the standards-suites issue brings it)",
    "remote_id_silent": "no Remote ID check yet (the standards-suites issue brings it)",
    "remote_id_stale": "no Remote ID check yet (the standards-suites issue brings it)",
    "remote_id_wrong_position": "no Remote ID check yet (the standards-suites issue brings it)",
}
SUPERSEDED: dict[str, str] = {
    "radio_status_missing": "blatant; the rate check is proven by radio_status_slow",
    "radio_status_frozen": "blatant; radio_rssi_stuck, radio_rssi_sometimes_unknown and "
    "radio_counters_per_interval prove the checks it failed",
    "no_gcs_failsafe": "blatant; gcs_failsafe_slightly_late and accepts_unsigned prove the "
    "flood and spoofing failsafe checks",
    "gcs_failsafe_late": "blatant (5 s late); gcs_failsafe_slightly_late proves the timing checks",
    "param_writes_ignored": "blatant; param_echo_wrong_type and param_float_rounded prove the "
    "parameter checks",
    "takeoff_stalls": "blatant (half the altitude); takeoff_overshoots proves the flight check",
    "crash_on_nan_mode": "run by tests/test_findings.py (a finding and reproducer per crashing "
    "input of test_fuzzed_frames_change_nothing), not by a PROOFS table",
    "crash_on_nan_param_set": "run by tests/test_findings.py (as crash_on_nan_mode)",
    "key_in_log": "run by tests/test_findings.py (the key in the vehicle's own log: a "
    "test_key_is_not_in_the_run_artefacts finding of origin vehicle), not by a PROOFS table",
}


def modules() -> list[Any]:
    """Every known-bad module (tests/known_bad/test_*.py) that has a PROOFS table."""
    found = []
    for path in sorted(HERE.glob("test_*.py")):
        module = importlib.import_module(f"tests.known_bad.{path.stem}")
        if hasattr(module, "PROOFS"):
            found.append(module)
    return found


def label(proof: Any) -> str:
    """A run's name in the matrix: its faults (`a + b`: on together), or what its profile
    changes when no fault is on."""
    if getattr(proof, "label", None):
        return proof.label
    return " + ".join(proof.faults)


def proofs() -> dict[str, set[str]]:
    """check (name[params]) -> the known-bad runs in which it must FAIL."""
    got: dict[str, set[str]] = defaultdict(set)
    for module in modules():
        table = module.PROOFS
        for proof in table.values() if isinstance(table, dict) else table:
            for check in proof.fails:
                got[check].add(label(proof))
    return dict(got)


def faults_run() -> set[str]:
    return {f for m in modules() for p in _values(m.PROOFS) for f in p.faults}


def _values(table: Any) -> list[Any]:
    return list(table.values()) if isinstance(table, dict) else list(table)


def collected_checks() -> set[str]:
    """Every check and parametrization the shipped simulator profiles collect."""
    names: set[str] = set()
    for profile in PROFILES:
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
             "--profile", str(ROOT / "profiles" / profile), "suites"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        names |= {m.group(1) for m in re.finditer(r"^suites/\S+::(\S+)$", out.stdout, re.M)}
    return names


def markdown(checks: set[str], proven: dict[str, set[str]], used: set[str]) -> str:
    runs = sorted({r for rs in proven.values() for r in rs})
    faults = sorted({f for f in used})
    lines = [
        "# Proof matrix: every check fails against a named simulator fault",
        "",
        "Generated by `python -m tests.known_bad.matrix --write` from the `PROOFS` tables of",
        "tests/known_bad/test_*.py (the runs those tests make; shape: `tests/known_bad/runner.py`",
        "`Proof`). In each run the faults listed are on together, each check of the row FAILS",
        "with a fragment of its own message asserted, and every other check of the run passes.",
        "`tests/known_bad/test_matrix.py` fails when a check has no proof or this file is stale.",
        "",
        f"{len(checks)} checks (with their parametrizations) × {len(faults)} faults in "
        f"{len(runs)} known-bad runs; {sum(1 for c in checks if c in proven)} checks proven.",
        "",
        "| check | known-bad runs in which it FAILS (faults on together) |",
        "|---|---|",
    ]
    for check in sorted(checks):
        shown = ", ".join(f"`{r}`" for r in sorted(proven.get(check, ()))) or (
            f"**no proof yet**: {UNPROVEN.get(check, '?')}")  # fmt: skip
        lines.append(f"| `{check}` | {shown} |")
    lines += ["", "## Faults: the checks that FAIL in the runs each is on in", "",
              "A run's faults aim at different checks (its comments in PROOFS say which); a check",
              "listed here failed in a run with this fault on, perhaps for another fault of it.",
              ""]
    lines += ["| fault | checks that fail in its runs |", "|---|---|"]
    by_fault: dict[str, set[str]] = defaultdict(set)
    for check, rs in proven.items():
        for r in rs:
            for f in r.split(" + "):
                by_fault[f].add(check)
    for fault in faults:
        lines.append(f"| `{fault}` | {', '.join(f'`{c}`' for c in sorted(by_fault[fault]))} |")
    lines += ["", "## Faults in no proof run", "", "| fault | why |", "|---|---|"]
    for fault, why in sorted({**NO_CHECK, **SUPERSEDED}.items()):
        lines.append(f"| `{fault}` | {why} |")
    return "\n".join(lines) + "\n"


def unaccounted_faults(used: set[str]) -> list[str]:
    """Simulator faults neither run by a proof nor listed (NO_CHECK, SUPERSEDED) with why, and
    listed ones that a proof runs now (the list must stay true)."""
    listed = set(NO_CHECK) | set(SUPERSEDED)
    return sorted(set(FAULTS) - used - listed) + [f"{f} (run now: unlist it)" for f in
                                                   sorted(listed & used)]  # fmt: skip


if __name__ == "__main__":
    text = markdown(collected_checks(), proofs(), faults_run())
    if "--write" in sys.argv[1:]:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(text, encoding="utf-8")
        print(DOC)
    else:
        print(text, end="")
