"""Proof that checks can fail, and the one shape every known-bad table has.

A known-bad module (tests/known_bad/test_*.py) exposes a module-level

    PROOFS: dict[str, Proof]        run name -> one pytest run against the simulator

and runs each entry with `run_proof` + `assert_fails_exactly`. tests/known_bad/matrix.py reads
the same PROOFS of every module (it imports each tests/known_bad/test_*.py), so the matrix in
docs/proof-matrix.md and the coverage test (test_matrix.py) see exactly the runs that are made:
a check is proven when some Proof lists it in `fails`, and no other way.

A Proof is one run: the `suites` (folders or files) with the simulator `faults` on together
(plus `extra_yaml` on the profile, on top of `base`). In that run each check named in `fails`
must end "failed" (not error, skipped, waived, flaky) with each of its fragments in ITS OWN
message; each check named in `skips` must end "skipped" with that reason fragment (only where
the profile makes it skip, said so); every other check of the run must pass. Check names are
the node name without the file: `test_x` or `test_x[param]`.

A fragment is a string, or a tuple of strings of which one must appear (a fault that can show
in two ways). Faults that speak to different checks and do not interfere share one run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.run_pytest import Run, run_pytest, write_profile

Fragment = str | tuple[str, ...]


@dataclass(frozen=True)
class Proof:
    """One known-bad run: `suites` with `faults` on; `fails`: check -> fragments of its own
    failure message; `skips`: check -> a fragment of its skip reason; all others pass."""

    suites: tuple[str, ...]
    faults: tuple[str, ...]
    fails: dict[str, tuple[Fragment, ...]]
    extra_yaml: str = ""
    base: str = "sim.yaml"  # the shipped profile the run extends
    skips: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How the matrix names the run: its faults, or what the profile changes."""
        if self.faults:
            return " + ".join(self.faults)
        return "profile: " + " ".join(self.extra_yaml.split())


def run_proof(proof: Proof, tmp_path: Path) -> Run:
    faults = f"vehicle:\n  faults: [{', '.join(proof.faults)}]\n" if proof.faults else ""
    profile = write_profile(
        tmp_path / "known-bad.yaml",
        f"name: {json.dumps('known-bad ' + proof.label)}\n{faults}{proof.extra_yaml}",
        base=proof.base,
    )
    return run_pytest(*proof.suites, "--profile", str(profile), report_dir=tmp_path / "reports")


def _has(message: str, fragment: Fragment) -> bool:
    return any(a in message for a in ((fragment,) if isinstance(fragment, str) else fragment))


def assert_fails_exactly(run: Run, proof: Proof) -> None:
    """Each intended check FAILED with its fragments in its own message; each stated skip
    skipped for its reason; every other check of the run passed; the run's verdict is FAIL."""
    checks = {c["nodeid"].split("::")[-1]: c for c in run.results["checks"]}
    missing = (set(proof.fails) | set(proof.skips)) - set(checks)
    assert not missing, f"checks not run: {sorted(missing)}\n{run.output[-3000:]}"

    def expected(name: str) -> str:
        return "failed" if name in proof.fails else "skipped" if name in proof.skips else "passed"

    wrong = {
        name: f"{c['outcome']} (expected {expected(name)}): {c['message'][:300]}"
        for name, c in checks.items()
        if c["outcome"] != expected(name)
    }
    assert not wrong, f"unexpected outcomes {wrong}\n{run.output[-3000:]}"
    for name, fragments in proof.fails.items():
        message = checks[name]["message"]
        absent = [f for f in fragments if not _has(message, f)]
        assert not absent, f"{name}: {absent} not in its own message: {message}"
    for name, reason in proof.skips.items():
        assert reason in checks[name]["message"], (name, checks[name]["message"])
    assert run.code == 1, run.output[-3000:]
    assert "verdict: FAIL" in (run.run_dir / "summary.md").read_text()
