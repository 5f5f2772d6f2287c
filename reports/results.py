"""Collects a run's verdicts from pytest's reports into results.json: the one file every
report (summary, requirements view, comparison of runs) is built from."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.measurement import Measurement, Recorder


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

    @property
    def suite(self) -> str:
        parts = self.nodeid.split("/")
        return parts[1] if len(parts) > 2 and parts[0] == "suites" else parts[0]


class ResultsCollector:
    """Fed every pytest TestReport (setup, call, teardown), in the controller under xdist."""

    def __init__(self) -> None:
        self.checks: dict[str, CheckResult] = {}

    def add(self, report: Any) -> None:
        check = self.checks.setdefault(report.nodeid, CheckResult(report.nodeid))
        check.duration_s += report.duration
        if report.outcome == "rerun":  # pytest-rerunfailures: this attempt failed, another follows
            check.reruns += 1
            check.message = f"failed on attempt {check.reruns}: {_message(report, 'failed')}"
            return
        outcome = _outcome(report)
        if report.when == "teardown":
            self._take_properties(check, report.user_properties)
            if check.reruns and check.outcome == "passed":
                check.outcome = "flaky"  # a retried pass is never a plain pass
        if outcome == "passed":
            return
        if check.outcome == "passed":  # the first phase that did not pass decides
            check.outcome, check.message = outcome, _message(report, outcome)
        else:
            check.message += f"\n({report.when}: {_message(report, outcome)})"

    @staticmethod
    def _take_properties(check: CheckResult, props: list[tuple[str, Any]]) -> None:
        # the last attempt's properties replace an earlier attempt's
        check.measurements, check.requirements, check.plots, check.tlog = [], [], [], None
        for key, value in props:
            if key == Recorder.KEY:
                check.measurements.append(Measurement.from_json(value).__dict__)
            elif key == "requirement":
                check.requirements.append(value)
            elif key == "tlog":
                check.tlog = value
            elif key == "plot":
                check.plots.append(value)

    def to_dict(self, header: dict[str, Any]) -> dict[str, Any]:
        checks = sorted(self.checks.values(), key=lambda c: c.nodeid)
        return {**header, "checks": [c.__dict__ | {"suite": c.suite} for c in checks]}

    def write(self, path: Path, header: dict[str, Any]) -> dict[str, Any]:
        data = self.to_dict(header)
        path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        return data


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
