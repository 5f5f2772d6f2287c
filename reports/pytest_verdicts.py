"""pytest plugin, verdicts and waivers: what a check measured (`measure`) and found
(`findings`), its requirement and Allure labels, and its verdict: a failed check's findings are
matched against the profile's waivers one by one, and only a check whose every finding is waived
is WAIVED (reported as skipped with `wasxfail`, keeping its whole failure text).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import pytest

from profiles.pytest_profile import PROFILE, family_requirements, requirements_of, suite_of
from reports import findings as fnd
from reports.measurement import Recorder
from reports.paths import safe_name, shown
from reports.plots import plot_series

REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()  # a check's reports by phase
IDENTITY = pytest.StashKey[str]()  # the vehicle's identity (JSON), once its driver started


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("skyproof").addoption(
        "--strict-waivers",
        action="store_true",
        default=False,
        help="a waiver that matched no finding fails the run (also the profile's strict_waivers)",
    )


@pytest.fixture
def measure(request: pytest.FixtureRequest, run_dir: Path) -> Iterator[Recorder]:
    """Records measured figures (value, unit, threshold, verdict) with the check's result, and
    plots the series a check kept (PNG beside the run's reports, attached to the check)."""
    recorder = Recorder(request.node.user_properties)
    yield recorder
    for series in recorder.series_list:
        name = f"{safe_name(request.node.nodeid)}-{safe_name(series.name)}.png"
        png = plot_series(series, run_dir / "plots" / name, request.node.nodeid)
        request.node.user_properties.append(("plot", shown(png)))
        allure.attach.file(str(png), name=series.name, attachment_type=allure.attachment_type.PNG)


@pytest.fixture
def findings(request: pytest.FixtureRequest) -> fnd.Findings:
    """A check that can find several defects records each (`findings.add(kind, subject, ...)`);
    each becomes its own finding, waived or not on its own."""
    return fnd.Findings(request.node.nodeid, request.node.user_properties)


def pytest_runtest_setup(item: pytest.Item) -> None:
    item.user_properties[:] = []  # a rerun attempt (pytest-rerunfailures) starts afresh
    suite = suite_of(item)
    if suite is None:
        return
    allure.dynamic.feature(suite)
    for rid in requirements_of(item):
        item.user_properties.append(("requirement", rid))
        allure.dynamic.tag(rid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    if call.when == "teardown" and IDENTITY in item.config.stash:
        identity = item.config.stash[IDENTITY]
        item.user_properties.append(("vehicle", identity))
        if suite_of(item) is not None:  # a family's requirement, now that the vehicle said which
            for rid in family_requirements(item, json.loads(identity).get("autopilot")):
                item.user_properties.append(("requirement", rid))
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    profile = item.config.stash.get(PROFILE, None)
    if profile is None or report.when != "call" or not report.failed:
        return report
    judge_findings(item, report, profile.waivers)
    return report


def judge_findings(item: pytest.Item, report: pytest.TestReport, waivers: list[Any]) -> None:
    """A failed check's findings (those it recorded, else one for the failure), each matched
    against the waivers on its own. Only when every one is waived is the check WAIVED, and then
    it keeps its whole failure text: the waiver says why it is accepted, not what was found."""
    props = item.user_properties
    found = fnd.recorded(props) or [fnd.default_finding(item.nodeid, failure_text(report))]
    today = dt.date.today()
    for f in found:
        for w in waivers:
            if w.matches(f.signature):
                entry = {"pattern": w.finding, "reason": w.reason, "expires": str(w.expires)}
                if not w.expired(today):
                    f.waiver, f.expired_waiver = entry, None
                    break
                f.expired_waiver = entry
    props[:] = [(k, v) for k, v in props if k != fnd.KEY] + [(fnd.KEY, f.to_json()) for f in found]
    notes = [f"waiver for {f.signature!r} expired {f.expired_waiver['expires']}: not applied"
             for f in found if f.expired_waiver and not f.waiver]  # fmt: skip
    if notes:
        report.sections.append(("skyproof waivers", "\n".join(notes)))
    if all(f.waiver for f in found):
        accepted = "; ".join(
            f"{f.signature} (until {f.waiver['expires']}: {f.waiver['reason']})"  # type: ignore[index]
            for f in found
        )
        report.outcome = "skipped"
        report.wasxfail = f"WAIVED {len(found)} finding(s): {accepted}\n{failure_text(report)}"


def failure_text(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    return str(crash.message) if crash is not None else str(report.longrepr or "")[-2000:]
