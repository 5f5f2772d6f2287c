"""skyproof's pytest plugin: `--profile`, the fixtures a check uses, markers, and the run's reports.

    suites (checks) -> these fixtures -> drivers (link, vehicle API, vehicle processes) -> pymavlink

A verification run (one that collects suites/) writes one folder under reports/runs/: JUnit XML,
allure-results, results.json, summary.md, a .tlog per check and the vehicles' own logs.
"""

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import pytest

from drivers import bench, make_driver
from drivers.errors import VehicleError
from drivers.link import Link
from drivers.proxy import ImpairmentProxy
from drivers.vehicle import Vehicle
from profiles import Profile, ProfileError, load_profile, load_registry
from reports.measurement import Recorder
from reports.plots import plot_series
from reports.results import ResultsCollector
from reports.summary import build_summary

ROOT = Path(__file__).resolve().parent
DEFAULT_PROFILE = ROOT / "profiles" / "sim.yaml"
SUITES = ROOT / "suites"
MARKERS = (
    "requirement(*ids): the requirement IDs (profiles/requirements.yaml) this check verifies",
    "needs(*capabilities): skip unless the vehicle's driver declares these capabilities",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("skyproof")
    group.addoption(
        "--profile",
        default=None,
        help=f"verification profile (default {DEFAULT_PROFILE.relative_to(ROOT)})",
    )
    group.addoption(
        "--report-dir", default=None, help="where run folders go (default reports/runs)"
    )
    group.addoption(
        "--sitl-binary", default=None, help="the SITL binary to run (overrides the profile's)"
    )
    group.addoption(
        "--props-off",
        action="store_true",
        default=os.environ.get("SKYPROOF_PROPS_OFF") == "1",
        help="on hardware: confirm the propellers are off, so checks the profile allows may arm "
        "(also SKYPROOF_PROPS_OFF=1)",
    )


# -- configuration ----------------------------------------------------------------------------
def _is_verification_run(config: pytest.Config) -> bool:
    """True when the run collects suites/ or names a profile (not just the harness's own tests/)."""
    if config.getoption("--profile"):
        return True
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == SUITES or SUITES in path.parents or path in SUITES.parents:
            return True
    return False


def _new_run_dir(config: pytest.Config, profile: Profile) -> Path:
    base = Path(config.getoption("--report-dir") or ROOT / "reports" / "runs")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    run = base.resolve() / f"{stamp}-{profile.path.stem}-{os.getpid()}"
    run.mkdir(parents=True)
    latest = base / "latest"
    try:  # a convenience for people; parallel runs may race for it, which is harmless
        tmp = base / f".latest-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run.name)
        tmp.replace(latest)
    except OSError:
        pass
    return run


@pytest.hookimpl(tryfirst=True)  # before junitxml and allure read their options
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    config.stash[_VERIFYING] = verifying = _is_verification_run(config)
    if not verifying:
        return
    try:
        profile = load_profile(config.getoption("--profile") or DEFAULT_PROFILE)
    except ProfileError as exc:
        raise pytest.UsageError(f"skyproof: bad profile\n{exc}") from None
    config.stash[_PROFILE] = profile
    if profile.vehicle.get("hardware") and config.getoption("numprocesses", None):
        raise pytest.UsageError("skyproof: a hardware vehicle is one vehicle: run without -n")
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        run = Path(worker["skyproof_run_dir"])
    else:
        run = _new_run_dir(config, profile)
        config.pluginmanager.register(RunRecord(profile, run), "skyproof-run-record")
        config.option.xmlpath = config.option.xmlpath or str(run / "junit.xml")
    config.stash[_RUN_DIR] = run
    if getattr(config.option, "allure_report_dir", None) is None:
        config.option.allure_report_dir = str(run / "allure-results")
        config.option.clean_alluredir = False


def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker writes into the controller's run folder."""
    if _RUN_DIR in node.config.stash:
        node.workerinput["skyproof_run_dir"] = str(node.config.stash[_RUN_DIR])


_VERIFYING = pytest.StashKey[bool]()
_PROFILE = pytest.StashKey[Profile]()
_RUN_DIR = pytest.StashKey[Path]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not config.stash.get(_VERIFYING, False):
        return []
    p = config.stash[_PROFILE]
    return [
        f"skyproof profile: {p.name} ({_rel(p.path)}; vehicle {p.vehicle_hash()}, "
        f"verification {p.verification_hash()})",
        f"skyproof run folder: {_rel(config.stash[_RUN_DIR])}",
    ]


# -- collection: the profile picks suites; every check names known requirements ----------------
def _suite_of(item: pytest.Item) -> str | None:
    try:
        rel = item.path.resolve().relative_to(SUITES)
    except ValueError:
        return None
    return rel.parts[0] if len(rel.parts) > 1 else None


def _requirements_of(item: pytest.Item) -> list[str]:
    return [rid for mark in item.iter_markers("requirement") for rid in mark.args]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.stash.get(_VERIFYING, False):
        return
    profile = config.stash[_PROFILE]
    registry = load_registry()
    keep, drop, unknown = [], [], []
    for item in items:
        suite = _suite_of(item)
        if suite is None:
            keep.append(item)
            continue
        if suite not in profile.suites:
            drop.append(item)
            continue
        reqs = _requirements_of(item)
        if not reqs:
            unknown.append(f"{item.nodeid}: no @pytest.mark.requirement(...)")
        unknown += [
            f"{item.nodeid}: unknown requirement {r!r}" for r in reqs if r not in registry.ids
        ]
        keep.append(item)
    if unknown:
        raise pytest.UsageError(
            "skyproof: checks must name known requirements:\n  " + "\n  ".join(unknown)
        )
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A check that takes `scenario` runs once per entry of its suite's `scenarios:` list."""
    if "scenario" not in metafunc.fixturenames or _PROFILE not in metafunc.config.stash:
        return
    suite = _suite_of(metafunc.definition)
    settings = metafunc.config.stash[_PROFILE].suites.get(suite or "", {})
    scenarios = settings.get("scenarios", [])
    metafunc.parametrize("scenario", scenarios, ids=[s["name"] for s in scenarios])


def pytest_collection_finish(session: pytest.Session) -> None:
    """`pytest --collect-only` also lists every check with the requirement IDs it verifies."""
    config = session.config
    if not (config.option.collectonly and config.stash.get(_VERIFYING, False)):
        return
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        return
    tr.write_sep("-", "checks and the requirements they verify")
    for item in session.items:
        tr.write_line(f"{item.nodeid}  [{', '.join(_requirements_of(item))}]")


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> Profile:
    """The verification profile of this run (`--profile`)."""
    if _PROFILE not in pytestconfig.stash:
        pytestconfig.stash[_PROFILE] = load_profile(
            pytestconfig.getoption("--profile") or DEFAULT_PROFILE
        )
    return pytestconfig.stash[_PROFILE]


@pytest.fixture(scope="session")
def run_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pytestconfig.stash.get(_RUN_DIR, None) or tmp_path_factory.mktemp("skyproof-run")


@pytest.fixture(scope="session")
def vehicle_driver(
    profile: Profile, run_dir: Path, worker_id: str, pytestconfig: pytest.Config
) -> Iterator[Any]:
    """This worker's vehicle: started once, restarted when a check leaves it dead or armed. On
    hardware, its parameters are snapshotted first and put back exactly at the end."""
    cfg = dict(profile.vehicle)
    if pytestconfig.getoption("--sitl-binary"):
        cfg["binary"] = pytestconfig.getoption("--sitl-binary")
    driver = make_driver(cfg, run_dir / "vehicles" / worker_id)
    if (
        cfg.get("hardware")
        and cfg.get("arming") == "allowed"
        and pytestconfig.getoption("--props-off")
    ):
        driver.allow_flight()
    driver.start()
    try:
        if not cfg.get("hardware"):
            yield driver
            return
        silence = profile.link["silence_s"]
        link, v = bench.open_vehicle(driver.url, driver.sysid, silence, driver.baud)
        with link:
            before = bench.snapshot(v)
        yield driver
        link, v = bench.open_vehicle(driver.url, driver.sysid, silence, driver.baud)
        with link:
            left = bench.put_back(v, before, run_dir / "bench.json")
        if left["still_different"] or not left["disarmed"]:
            pytest.fail(f"bench vehicle not put back as found: {left}")
    finally:
        driver.stop()


@pytest.fixture
def settings(request: pytest.FixtureRequest, profile: Profile) -> dict[str, Any]:
    """This check's suite section of the profile: its thresholds and parameters."""
    suite = _suite_of(request.node)
    if suite is None or suite not in profile.suites:
        pytest.fail(f"{request.node.nodeid} is not in a suite the profile configures")
    return profile.suites[suite]


@pytest.fixture
def measure(request: pytest.FixtureRequest, run_dir: Path) -> Iterator[Recorder]:
    """Records measured figures (value, unit, threshold, verdict) with the check's result, and
    plots the series a check kept (PNG beside the run's reports, attached to the check)."""
    recorder = Recorder(request.node.user_properties)
    yield recorder
    for series in recorder.series_list:
        name = f"{_safe(request.node.nodeid)}-{_safe(series.name)}.png"
        png = plot_series(series, run_dir / "plots" / name, request.node.nodeid)
        request.node.user_properties.append(("plot", _rel(png)))
        allure.attach.file(str(png), name=series.name, attachment_type=allure.attachment_type.PNG)


@pytest.fixture
def proxy(vehicle_driver: Any, profile: Profile) -> Iterator[ImpairmentProxy]:
    """The impairment proxy, placed between the harness and the vehicle for this check (the
    `link` fixture then connects through it). Seeded by the profile, so a run repeats."""
    url = vehicle_driver.ensure_running()
    try:
        proxy = ImpairmentProxy(
            url, seed=profile.vehicle.get("seed", 0), vehicle_sysid=vehicle_driver.sysid
        )
    except ValueError as exc:  # e.g. a serial device: route it through MAVProxy to a UDP port
        pytest.skip(f"the impairment proxy cannot reach {url}: {exc}")
    with proxy:
        yield proxy


@pytest.fixture
def link(
    request: pytest.FixtureRequest, vehicle_driver: Any, profile: Profile, run_dir: Path
) -> Iterator[Link]:
    """A fresh connection to the vehicle, recording this check's .tlog."""
    missing = [
        c
        for m in request.node.iter_markers("needs")
        for c in m.args
        if c not in vehicle_driver.capabilities
    ]
    if missing:
        pytest.skip(f"vehicle driver {vehicle_driver.name!r} lacks {', '.join(missing)}")
    if "proxy" in request.fixturenames:
        url = request.getfixturevalue("proxy").url
    else:
        url = vehicle_driver.ensure_running()
    tlog = run_dir / "tlogs" / f"{_safe(request.node.nodeid)}.tlog"
    gcs = profile.link["gcs"]
    with Link(
        url,
        vehicle_sysid=vehicle_driver.sysid,
        gcs_sysid=gcs["sysid"],
        gcs_compid=gcs["compid"],
        silence_s=profile.link["silence_s"],
        tlog=tlog,
        liveness=vehicle_driver.liveness,
    ) as conn:
        yield conn
    request.node.user_properties.append(("tlog", _rel(tlog)))
    if tlog.stat().st_size:
        allure.attach.file(str(tlog), name=tlog.name, extension="tlog")


@pytest.fixture
def vehicle(request: pytest.FixtureRequest, link: Link, vehicle_driver: Any) -> Iterator[Vehicle]:
    """The vehicle, connected, disarmed; afterwards its parameters restored and the vehicle
    proven disarmed (a check that leaves either behind fails)."""
    may_arm = "flight" in vehicle_driver.capabilities
    v = Vehicle(link, sysid=vehicle_driver.sysid, arming_allowed=may_arm)
    v.connect()
    if v.armed:  # a previous check (or a person) left it armed: start from a known state
        _make_safe(v, vehicle_driver)
        pytest.fail("the vehicle was armed at the start of the check; it has been made safe")
    yield v
    if vehicle_driver.liveness() is not None or link.closed_reason or link.went_silent:
        vehicle_driver.stop()  # the check already failed on it; the next check gets a fresh one
        return
    if "proxy" in request.fixturenames:
        request.getfixturevalue("proxy").clear()  # put things back over a clean link
    call = request.node.stash.get(_REPORTS, {}).get("call")
    problems = v.restore_params()
    if (problems or not v.answers_parameters()) and "restart" in vehicle_driver.capabilities:
        # a vehicle whose parameter service stopped answering is not handed to the next check
        vehicle_driver.restart()
    elif v.armed:
        _make_safe(v, vehicle_driver)  # never hand an armed vehicle to the next check
        if call is not None and call.passed:
            problems.append(f"the check left the vehicle armed (mode {v.mode})")
    if problems:
        pytest.fail("isolation: " + "; ".join(problems))


def _make_safe(v: Vehicle, driver: Any) -> None:
    """A fresh vehicle where the driver can make one; otherwise (hardware, an endpoint) disarm
    it, forcing only if a plain disarm is refused: a bench vehicle is on the ground."""
    if "restart" in driver.capabilities:
        driver.restart()
        return
    try:
        v.disarm()
    except VehicleError:
        v.disarm(force=True)


# -- results ----------------------------------------------------------------------------------
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.user_properties[:] = []  # a rerun attempt (pytest-rerunfailures) starts afresh
    suite = _suite_of(item)
    if suite is None:
        return
    allure.dynamic.feature(suite)
    for rid in _requirements_of(item):
        item.user_properties.append(("requirement", rid))
        allure.dynamic.tag(rid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    profile = item.config.stash.get(_PROFILE, None)
    if profile is None or report.when != "call" or not report.failed:
        return report
    for waiver in profile.waivers:
        if waiver.covers(item.nodeid):
            if waiver.expired(dt.date.today()):
                report.sections.append(
                    ("skyproof", f"waiver expired {waiver.expires}: not applied")
                )
                continue
            report.outcome = "skipped"
            report.wasxfail = f"waived until {waiver.expires}: {waiver.reason}"
            break
    return report


class RunRecord:
    """Registered in the controller of a verification run: gathers every check's report
    (from all xdist workers) and writes results.json and summary.md when the run ends."""

    def __init__(self, profile: Profile, run: Path) -> None:
        self.profile, self.run = profile, run
        self.collector = ResultsCollector()
        self.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.collector.add(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, exitstatus: int) -> None:
        p = self.profile
        header = {
            "skyproof": 1,
            "profile": {
                "name": p.name,
                "path": _rel(p.path),
                "vehicle": json.dumps(p.vehicle, default=str),
                "vehicle_hash": p.vehicle_hash(),
                "verification_hash": p.verification_hash(),
            },
            "exit_status": int(exitstatus),
            "started": self.started,
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "requirements": {r.id: r.__dict__ for r in load_registry().in_sets(p.requirements)},
        }
        bench_file = self.run / "bench.json"
        if bench_file.exists():  # written by the hardware guard in vehicle_driver
            header["bench"] = json.loads(bench_file.read_text(encoding="utf-8"))
        results = self.collector.write(self.run / "results.json", header)
        (self.run / "summary.md").write_text(build_summary(results), encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        run = self.run
        terminalreporter.write_sep("-", "skyproof")
        terminalreporter.write_line(
            f"report: {_rel(run / 'summary.md')}  (JUnit: {_rel(run / 'junit.xml')}, "
            f"Allure: {_rel(run / 'allure-results')}, tlogs: {_rel(run / 'tlogs')})"
        )


def _safe(text: str) -> str:
    """A file name from a node id or a figure's name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
