"""pytest plugin, the run record: a verification run gets a folder of its own (`--report-dir`,
default reports/runs/<stamp>-<profile>-<pid>) with JUnit and Allure results pointed into it;
the controller (of all xdist workers) gathers every check's report and, when the run ends,
writes results.json, summary.md and report.html and records the run in the history.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.process import Terminated
from drivers.pytest_vehicle import vehicle_files_dir
from profiles import Profile, load_registry
from profiles.pytest_profile import ROOT, profile_of, requirements_of, verifying
from reports import findings as fnd
from reports.paths import shown
from reports.publish import publish
from reports.results import ResultsCollector

RUN_DIR = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("skyproof")
    group.addoption(
        "--report-dir", default=None, help="where run folders go (default reports/runs)"
    )
    group.addoption(
        "--history",
        default=os.environ.get("SKYPROOF_HISTORY") or str(ROOT / "reports" / "history.sqlite"),
        help="the run history database (SQLite; also SKYPROOF_HISTORY; default "
        "reports/history.sqlite); 'none' records nothing",
    )
    group.addoption(
        "--baseline",
        action="store_true",
        default=False,
        help="compare this run with the latest earlier run of the same profile in the history "
        "(compare.md; findings marked new or known)",
    )


def new_run_dir(config: pytest.Config, profile: Profile) -> Path:
    base = Path(config.getoption("--report-dir") or ROOT / "reports" / "runs")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    run = base.resolve() / f"{stamp}-{profile.path.stem}-{os.getpid()}"
    _make_dir(run, base, "--report-dir", "the run folder")
    files = vehicle_files_dir(config, run).parent
    _make_dir(files, files, "--vehicle-files", "the vehicles' files folder")
    latest = base / "latest"
    try:  # a convenience for people; parallel runs may race for it, which is harmless
        tmp = base / f".latest-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run.name)
        tmp.replace(latest)
    except OSError:
        pass
    return run


def _make_dir(path: Path, given: Path, option: str, what: str) -> None:
    """Create a folder the run writes into, or stop before any check with one line (exit 4,
    pytest's usage error, as for a bad profile)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError(13, "not writable")
    except OSError as exc:
        raise pytest.UsageError(
            f"skyproof: cannot create {what} in {given}: {exc.strerror or exc}; give {option} "
            "a folder you can write to"
        ) from None


@pytest.hookimpl(tryfirst=True)  # before junitxml and allure read their options
def pytest_configure(config: pytest.Config) -> None:
    if not verifying(config) or config.option.collectonly:
        return  # a listing is not a run: no run folder, no report, no history entry
    profile = profile_of(config)
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        run = Path(worker["skyproof_run_dir"])
    else:
        run = new_run_dir(config, profile)
        config.pluginmanager.register(RunRecord(profile, run, config), "skyproof-run-record")
        config.option.xmlpath = config.option.xmlpath or str(run / "junit.xml")
    config.stash[RUN_DIR] = run
    if getattr(config.option, "allure_report_dir", None) is None:
        config.option.allure_report_dir = str(run / "allure-results")
        config.option.clean_alluredir = False


def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker writes into the controller's run folder."""
    if RUN_DIR in node.config.stash:
        node.workerinput["skyproof_run_dir"] = str(node.config.stash[RUN_DIR])


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = config.stash.get(RUN_DIR, None)
    return [f"skyproof run folder: {shown(run)}"] if run is not None else []


@pytest.fixture(scope="session")
def run_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's folder (a temporary one when the run writes no record)."""
    return pytestconfig.stash.get(RUN_DIR, None) or tmp_path_factory.mktemp("skyproof-run")


class RunRecord:
    """Registered in the controller of a verification run: gathers every check's report
    (from all xdist workers) and, when the run ends, writes results.json, summary.md and
    report.html and records the run in the history."""

    def __init__(self, profile: Profile, run: Path, config: pytest.Config) -> None:
        self.profile, self.run, self.config = profile, run, config
        self.collector = ResultsCollector()
        self.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.collected = 0
        self.stopped: str | None = None  # why the run ended before its last check
        self.notes: list[str] = []

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.collector.start(nodeid)  # a check cut off before any report is interrupted

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.collector.add(report)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = len(session.items)
        for item in session.items:  # those that never start are reported "not run"
            self.collector.expect(item.nodeid, requirements_of(item))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        for nodeid in ids:  # under xdist the workers collect (each the same list)
            self.collector.expect(nodeid, [])
        self.collected = len(self.collector.expected)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if isinstance(excinfo.value, Terminated):
            self.stopped = "terminated by SIGTERM"
        elif isinstance(excinfo.value, pytest.Session.Interrupted):
            self.stopped = str(excinfo.value)  # e.g. the run's wall-time bound
        else:
            self.stopped = "interrupted (Ctrl-C)"

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Iterator[None]:
        """After every other plugin (the fixtures' teardown among them), and even if one of
        them raised: a run always ends with its record."""
        try:
            return (yield)
        finally:
            self._finish(session, int(session.exitstatus))

    def _finish(self, session: pytest.Session, exitstatus: int) -> None:
        p = self.profile
        if not self.stopped and isinstance(session.shouldfail, str):
            self.stopped = session.shouldfail  # e.g. -x, or pytest-timeout's --session-timeout
        waivers = self._waiver_states()
        stale = [w["finding"] for w in waivers if w["state"] == "stale"]
        if stale:
            self.notes.append("waivers that matched no finding (stale): " + "; ".join(stale))
            if (p.strict_waivers or self.config.getoption("--strict-waivers")) and exitstatus == 0:
                session.exitstatus = exitstatus = pytest.ExitCode.TESTS_FAILED
                self.notes.append("strict waivers: a stale waiver fails the run")
        header = {
            "skyproof": 2,
            "run": {"id": self.run.name, "collected": self.collected, "shard": _shard(self.config),
                    "stopped": self.stopped},
            "profile": {
                "name": p.name,
                "path": shown(p.path),
                "vehicle": json.dumps(p.vehicle, default=str),
                "vehicle_hash": p.vehicle_hash(),
                "verification_hash": p.verification_hash(),
            },
            "exit_status": int(exitstatus),
            "started": self.started,
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "requirements": {r.id: r.__dict__ for r in load_registry().in_sets(p.requirements)},
            "waivers": waivers,
            "vehicle_files": shown(vehicle_files_dir(self.config, self.run)),
        }
        bench_file = self.run / "bench.json"
        if bench_file.exists():  # written by the hardware guard of the vehicle_driver fixture
            header["bench"] = json.loads(bench_file.read_text(encoding="utf-8"))
        results = self.collector.to_dict(header)
        history = self.config.getoption("--history")
        self.notes += publish(
            self.run,
            results,
            history=None if history == "none" else Path(history),
            baseline=self.config.getoption("--baseline"),
        )

    def _waiver_states(self) -> list[dict[str, Any]]:
        """Every waiver of the profile: applied (it accepted a finding), expired, stale (a check
        it speaks to reached a verdict without its finding: a fixed defect, or a typo that would
        hide nothing) or unchecked (no check it speaks to reached a verdict in this run)."""
        checks = list(self.collector.checks.values())
        found = [f for c in checks for f in c.findings]
        collected = {fnd.check_name(n) for n in self.collector.expected}
        judged = {fnd.check_name(c.nodeid) for c in checks
                  if c.phases.get("call") in ("passed", "failed", "waived")}  # fmt: skip
        today = dt.date.today()
        states = []
        for w in self.profile.waivers:
            matched = sorted({f["signature"] for f in found if w.matches(f["signature"])})
            state = ("expired" if w.expired(today) else "applied" if matched
                     else "stale" if any(map(w.speaks_to, judged)) else "unchecked")  # fmt: skip
            states.append({"finding": w.finding, "reason": w.reason, "expires": str(w.expires),
                           "state": state, "matched": matched})  # fmt: skip
            if state == "unchecked" and not any(map(w.speaks_to, collected)):
                states[-1]["no_check"] = True  # a typo, or a check this run did not collect
                self.notes.append(f"waiver {w.finding!r} speaks to no check of this run: is the "
                                  "check's name (suite/test_name[params]) right?")  # fmt: skip
        return states

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        run = self.run
        terminalreporter.write_sep("-", "skyproof")
        for note in self.notes:
            terminalreporter.write_line(note)
        terminalreporter.write_line(
            f"report: {shown(run / 'summary.md')}  (HTML: {shown(run / 'report.html')}, "
            f"JUnit: {shown(run / 'junit.xml')}, Allure: {shown(run / 'allure-results')}, "
            f"tlogs: {shown(run / 'tlogs')})"
        )


def _shard(config: pytest.Config) -> dict[str, int] | None:
    """pytest-split's `--splits N --group I`, when this run is one shard of several."""
    splits = getattr(config.option, "splits", None)
    group = getattr(config.option, "group", None)
    return {"group": int(group), "splits": int(splits)} if splits and group else None
