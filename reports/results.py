"""Collects a run's verdicts from pytest's reports into results.json: the one file every
report (summary, HTML, history, comparison of runs) is built from."""

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports import findings as fnd
from reports.measurement import Measurement, Recorder

# How a check ends when its phases disagree: the first that applies wins. A failed call is a
# finding about the vehicle even if a teardown then errs (its message says so); a waived or
# skipped check whose setup or teardown errs is ERROR, never PASS. A check the run was cut off
# in is interrupted; one it never started (collected, then the run ended) is not_run.
PRECEDENCE = ("failed", "error", "interrupted", "not_run", "waived", "skipped", "flaky", "passed")
OUTCOMES = PRECEDENCE


@dataclass
class CheckResult:
    nodeid: str
    outcome: str = "passed"
    duration_s: float = 0.0
    message: str = ""
    requirements: list[str] = field(default_factory=list)
    measurements: list[dict[str, Any]] = field(default_factory=list)
    tlog: str | None = None
    plots: list[str] = field(default_factory=list)
    reruns: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)  # vehicle restarts and their reasons
    phases: dict[str, str] = field(default_factory=dict)
    started: bool = True  # False: collected, never started (the run ended first)

    @property
    def suite(self) -> str:
        parts = self.nodeid.split("/")
        return parts[1] if len(parts) > 2 and parts[0] == "suites" else parts[0]

    def settle(self) -> None:
        """The check's outcome from its phases' (a check cut off after setup is interrupted)."""
        seen = set(self.phases.values())
        if not self.started and not self.phases:
            self.outcome = "not_run"
            self.message = self.message or "not run: the run ended before this check started"
            return
        if self.phases.get("setup") == "passed" and "call" not in self.phases:
            seen.add("interrupted")
        if self.reruns and seen <= {"passed"}:
            seen.add("flaky")  # a retried pass is never a plain pass
        self.outcome = next((o for o in PRECEDENCE if o in seen), "interrupted")
        if self.outcome == "interrupted" and not self.message:
            self.message = "the run was interrupted before this check finished"


class ResultsCollector:
    """Fed every pytest TestReport (setup, call, teardown), in the controller under xdist."""

    def __init__(self) -> None:
        self.checks: dict[str, CheckResult] = {}
        self.identity: dict[str, Any] = {}
        self.expected: dict[str, list[str]] = {}  # collected check -> its requirements

    def expect(self, nodeid: str, requirements: list[str]) -> None:
        """A collected check: one that never starts is reported not_run, not left out."""
        self.expected[nodeid] = list(requirements)

    def start(self, nodeid: str) -> None:
        """A check began (a report may never follow: the run was interrupted in its setup)."""
        self.checks.setdefault(nodeid, CheckResult(nodeid)).started = True

    def add(self, report: Any) -> None:
        check = self.checks.setdefault(report.nodeid, CheckResult(report.nodeid))
        check.duration_s += report.duration
        if report.outcome == "rerun":  # pytest-rerunfailures: this attempt failed, another follows
            check.reruns += 1
            check.phases.clear()
            check.message = f"failed on attempt {check.reruns}: {_message(report, 'failed')}"
            return
        outcome = _outcome(report)
        check.phases[report.when] = outcome
        self._take_properties(check, report.user_properties)
        if outcome == "passed":
            return
        text = _message(report, outcome)
        if not check.message or check.message.startswith("failed on attempt"):
            check.message = text
        else:
            check.message += f"\n({report.when}: {text})"

    def _take_properties(self, check: CheckResult, props: list[tuple[str, Any]]) -> None:
        # every phase's report carries all properties so far: the latest replaces what an
        # earlier phase (or an earlier attempt) left
        check.measurements, check.requirements, check.plots, check.tlog = [], [], [], None
        check.findings, check.restarts = [], []
        for key, value in props:
            if key == Recorder.KEY:
                check.measurements.append(Measurement.from_json(value).__dict__)
            elif key == "requirement":
                check.requirements.append(value)
            elif key == "tlog":
                check.tlog = value
            elif key == "plot":
                check.plots.append(value)
            elif key == fnd.KEY:
                check.findings.append(json.loads(value))
            elif key == "restart":
                check.restarts.append(value)
            elif key == "vehicle" and not self.identity:
                self.identity = json.loads(value)

    def to_dict(self, header: dict[str, Any]) -> dict[str, Any]:
        for nodeid, reqs in self.expected.items():  # a check cut off or never started too
            check = self.checks.setdefault(nodeid, CheckResult(nodeid, started=False))
            check.requirements = check.requirements or list(reqs)
        checks = sorted(self.checks.values(), key=lambda c: c.nodeid)
        findings: list[dict[str, Any]] = []
        for c in checks:
            c.settle()
            if c.outcome not in ("failed", "waived"):
                c.findings = []  # an attempt's findings that a retry or a pass superseded
            findings += [self._evidence(c, f) for f in c.findings]
        rows = [
            {k: v for k, v in c.__dict__.items() if k not in ("phases", "started")}
            | {"suite": c.suite, "findings": [f["signature"] for f in c.findings]}
            for c in checks
        ]
        counts = Counter(c.outcome for c in checks)
        return {
            **header,
            "vehicle_identity": self.identity,
            "verdict": verdict(counts, header.get("exit_status", 0)),
            "counts": {k: counts[k] for k in OUTCOMES},
            "checks": rows,
            "findings": findings,
        }

    def _evidence(self, check: CheckResult, finding: dict[str, Any]) -> dict[str, Any]:
        extra = finding.get("evidence", {})
        finding["evidence"] = {
            "message": check.message,
            "measurements": check.measurements,
            "tlog": check.tlog,
            "vehicle": self.identity,
            **extra,
        }
        return finding

    def write(self, path: Path, header: dict[str, Any]) -> dict[str, Any]:
        data = self.to_dict(header)
        path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        return data


def verdict(counts: Counter[str] | dict[str, int], exit_status: int = 0) -> str:
    """The run's one word. A run with nothing that passed or failed is not PASS; neither is a
    run that was cut short (pytest's exit status 2: interrupted) or left checks not run."""
    if counts.get("failed", 0):
        return "FAIL"
    if counts.get("error", 0):
        return "ERROR"
    if counts.get("interrupted", 0) or counts.get("not_run", 0) or exit_status == 2:
        return "INCOMPLETE"
    if not any(counts.get(k, 0) for k in ("passed", "flaky", "waived")):
        return "NO CHECKS"
    return "FAIL" if exit_status == 1 else "PASS"


def _outcome(report: Any) -> str:
    if hasattr(report, "wasxfail") and report.skipped:
        return "waived"
    if report.passed:
        return "passed"
    if report.skipped:
        return "skipped"
    return "failed" if report.when == "call" else "error"


def _message(report: Any, outcome: str) -> str:
    if outcome == "waived":
        return str(report.wasxfail)
    if outcome == "skipped" and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    return str(report.longrepr or "")[-2000:]
