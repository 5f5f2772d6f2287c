"""skyproof's pytest plugin: `--profile`, the fixtures a check uses, markers, and the run's reports.

    suites (checks) -> these fixtures -> drivers (link, vehicle API, vehicle processes) -> pymavlink

A verification run (one that collects suites/) writes one folder under reports/runs/: JUnit XML,
allure-results, results.json, summary.md, report.html, a .tlog per check; and records itself in
the run history (reports/history.sqlite). The vehicles' own files (SITL's eeprom, dataflash
logs, the simulator's log) go to reports/vehicle-files/<run>/, apart from what is shared: they
may hold the vehicle's secrets.
"""

import datetime as dt
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import pytest

from drivers import bench, make_driver
from drivers.errors import VehicleError
from drivers.link import Link
from drivers.process import Terminated, kill_all, stop_on_sigterm
from drivers.proxy import ImpairmentProxy
from drivers.vehicle import Vehicle
from profiles import Profile, ProfileError, load_profile, load_registry
from profiles.limits import WallBound, check_bound, run_bound
from reports import findings as fnd
from reports.measurement import Recorder
from reports.plots import plot_series
from reports.publish import publish
from reports.results import ResultsCollector

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
        "--vehicle-files",
        default=None,
        help="where the vehicles' own files go, one folder per run (default "
        "reports/vehicle-files): SITL's eeprom and logs may hold secrets, so they are kept "
        "out of the shareable run folder",
    )
    group.addoption(
        "--sitl-binary", default=None, help="the SITL binary to run (overrides the profile's)"
    )
    group.addoption(
        "--strict-waivers",
        action="store_true",
        default=False,
        help="a waiver that matched no finding fails the run (also the profile's strict_waivers)",
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


def vehicle_files_dir(config: pytest.Config, run: Path) -> Path:
    """Where the vehicles' own files go: a tree of their own, never inside what is shared."""
    base = config.getoption("--vehicle-files") or ROOT / "reports" / "vehicle-files"
    return Path(base).resolve() / run.name


@pytest.hookimpl(tryfirst=True)  # before junitxml and allure read their options
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    config.stash[_STARTED] = time.monotonic()
    config.stash[_UNDO_SIGTERM] = stop_on_sigterm()  # SIGTERM ends the run as Ctrl-C does
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
    if config.option.collectonly:
        return  # a listing, not a run: no run folder, no report, no history entry
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        run = Path(worker["skyproof_run_dir"])
    else:
        run = _new_run_dir(config, profile)
        config.pluginmanager.register(RunRecord(profile, run, config), "skyproof-run-record")
        config.option.xmlpath = config.option.xmlpath or str(run / "junit.xml")
    config.stash[_RUN_DIR] = run
    if getattr(config.option, "allure_report_dir", None) is None:
        config.option.allure_report_dir = str(run / "allure-results")
        config.option.clean_alluredir = False


def pytest_unconfigure(config: pytest.Config) -> None:
    config.stash.get(_UNDO_SIGTERM, lambda: None)()


def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker writes into the controller's run folder."""
    if _RUN_DIR in node.config.stash:
        node.workerinput["skyproof_run_dir"] = str(node.config.stash[_RUN_DIR])


_VERIFYING = pytest.StashKey[bool]()
_PROFILE = pytest.StashKey[Profile]()
_RUN_DIR = pytest.StashKey[Path]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_IDENTITY = pytest.StashKey[str]()  # the vehicle's identity (JSON), once its driver started
_STARTED = pytest.StashKey[float]()  # monotonic time the run began
_UNDO_SIGTERM = pytest.StashKey[Any]()
_RUN_BOUND = pytest.StashKey[WallBound]()
_CHECK_BOUND = pytest.StashKey[WallBound]()
_OVERRAN = pytest.StashKey[str]()  # why a check was cut short by its wall-time bound


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not config.stash.get(_VERIFYING, False):
        return []
    p = config.stash[_PROFILE]
    lines = [
        f"skyproof profile: {p.name} ({_rel(p.path)}; vehicle {p.vehicle_hash()}, "
        f"verification {p.verification_hash()})"
    ]
    if _RUN_DIR in config.stash:
        lines.append(f"skyproof run folder: {_rel(config.stash[_RUN_DIR])}")
    return lines


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
    _bound_wall_time(config, profile, keep)


# -- wall-time bounds (pytest-timeout) and interrupts -------------------------------------------
def _bound_wall_time(config: pytest.Config, profile: Profile, items: list[pytest.Item]) -> None:
    """Every check gets a `timeout` marker with its wall-time bound (profiles/limits.py), and
    the run one too, unless the command line gives pytest-timeout's own."""
    checks = [(item, suite) for item in items if (suite := _suite_of(item))]
    if config.getoption("session_timeout", None) is None:
        config.stash[_RUN_BOUND] = run_bound(profile, [suite for _, suite in checks])
    if config.getoption("timeout", None) is not None:
        return
    for item, suite in checks:
        if item.get_closest_marker("timeout") is None:
            item.stash[_CHECK_BOUND] = bound = check_bound(profile, suite)
            item.add_marker(pytest.mark.timeout(bound.seconds, method="signal"))


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """In a verification run, a check that overruns its bound (the profile's, or a `timeout`
    marker's or --timeout's) FAILS saying which bound, its vehicle is replaced and the run goes
    on. pytest-timeout's own timer handles everything else."""
    verifying = item.config.stash.get(_VERIFYING, False)
    if not verifying or settings.method != "signal" or not _in_main_thread():
        return None
    bound = item.stash.get(_CHECK_BOUND, None)
    bound = bound or WallBound(settings.timeout, "its timeout marker or --timeout")

    def overran(signum: int, frame: Any) -> None:
        item.stash[_OVERRAN] = why = (
            f"the check ran past its wall-time bound of {bound}: a wait that no vehicle-time "
            "bound ended; its vehicle is replaced"
        )
        pytest.fail(why)

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  (pytest-timeout's convention)
    signal.signal(signal.SIGALRM, overran)
    signal.setitimer(signal.ITIMER_REAL, bound.seconds)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Past the run's wall-time bound, no further check starts (they are reported not run)."""
    result = yield
    bound = item.config.stash.get(_RUN_BOUND, None)
    if bound and time.monotonic() - item.config.stash[_STARTED] > bound.seconds:
        item.session.shouldstop = f"skyproof: the run passed its wall-time bound of {bound}"
    return result


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Ctrl-C, SIGTERM or the run's bound: every vehicle is killed at once (SIGKILL, a stopped
    one too), so no teardown waits on a hung vehicle and the run ends promptly."""
    signal.setitimer(signal.ITIMER_REAL, 0)  # a check's timer must not fire during teardown
    kill_all()


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
def vehicle_files(pytestconfig: pytest.Config, run_dir: Path) -> Path:
    """The vehicles' own files (SITL's eeprom and logs): kept apart from the shareable run."""
    return vehicle_files_dir(pytestconfig, run_dir)


@pytest.fixture(scope="session")
def vehicle_driver(
    profile: Profile, run_dir: Path, worker_id: str, pytestconfig: pytest.Config
) -> Iterator[Any]:
    """This worker's vehicle: started once, restarted when a check leaves it dead or armed. On
    hardware, its parameters are snapshotted first and put back exactly at the end."""
    cfg = dict(profile.vehicle)
    if pytestconfig.getoption("--sitl-binary"):
        cfg["binary"] = pytestconfig.getoption("--sitl-binary")
    driver = make_driver(cfg, vehicle_files_dir(pytestconfig, run_dir) / worker_id)
    if (
        cfg.get("hardware")
        and cfg.get("arming") == "allowed"
        and pytestconfig.getoption("--props-off")
    ):
        driver.allow_flight()
    url = driver.start()
    try:
        silence, baud = profile.link["silence_s"], getattr(driver, "baud", 115200)
        before = _identify(driver, url, silence, baud, pytestconfig, cfg.get("hardware"))
        if before is None:
            yield driver
            return
        yield driver
        link, v = bench.open_vehicle(driver.url, driver.sysid, silence, baud)
        with link:
            left = bench.put_back(v, before, run_dir / "bench.json")
        if left["still_different"] or not left["disarmed"]:
            pytest.fail(f"bench vehicle not put back as found: {left}")
    finally:
        driver.stop()


def _identify(
    driver: Any, url: str, silence_s: float, baud: int, config: pytest.Config, hardware: bool
) -> dict[str, float] | None:
    """Ask the vehicle who it is (the evidence of every finding), and on hardware snapshot its
    parameters; a vehicle that does not answer here fails the checks that need it instead."""
    try:
        link, v = bench.open_vehicle(url, driver.sysid, silence_s, baud)
    except VehicleError:
        if hardware:
            raise  # never run on a bench vehicle whose parameters could not be saved
        return None
    with link:
        try:
            config.stash[_IDENTITY] = json.dumps(v.identity())
        except VehicleError:
            if hardware:
                raise
            return None  # it hung or died just now: the first check replaces it
        return bench.snapshot(v) if hardware else None


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
def proxy(
    request: pytest.FixtureRequest, vehicle_driver: Any, profile: Profile
) -> Iterator[ImpairmentProxy]:
    """The impairment proxy, placed between the harness and the vehicle for this check (the
    `link` fixture then connects through it). Seeded by the profile, so a run repeats."""
    url = _running(request.node, vehicle_driver)
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
        proxy = request.getfixturevalue("proxy")
        url, peer = proxy.url, f"{proxy.vehicle_url} (through the impairment proxy at {proxy.url})"
    else:
        url = peer = _running(request.node, vehicle_driver)
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
        peer=peer,
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
    try:
        v.connect()
    except VehicleError as exc:  # it hung or died since the last check: one failure, not more
        _discard(request.node, vehicle_driver, f"vehicle stopped before this check: {exc}")
        raise
    if v.armed:  # a previous check (or a person) left it armed: start from a known state
        _note_restart(request.node, "made safe before this check: it was armed")
        _make_safe(v, vehicle_driver)
        pytest.fail("the vehicle was armed at the start of the check; it has been made safe")
    yield v
    replaceable = "restart" in vehicle_driver.capabilities
    gone = _gone(link, vehicle_driver) or (replaceable and request.node.stash.get(_OVERRAN, None))
    if gone:
        # the check already failed on it; the next check gets a fresh one (and says so)
        _discard(request.node, vehicle_driver, f"vehicle stopped after this check: {gone}")
        return
    if "proxy" in request.fixturenames:
        request.getfixturevalue("proxy").clear()  # put things back over a clean link
    call = request.node.stash.get(_REPORTS, {}).get("call")
    problems = v.restore_params()
    mute = not v.armed and not problems and not v.answers_parameters()
    if replaceable and (gone := _gone(link, vehicle_driver)):
        # it hung or died while being put back: a fresh one replaces it, nothing to restore
        _discard(request.node, vehicle_driver, f"vehicle stopped after this check: {gone}")
        return
    if v.armed:  # judged whatever else went wrong: never hand an armed vehicle on
        if call is not None and call.passed:
            problems.append(f"the check left the vehicle armed (mode {v.mode})")
        _note_restart(request.node, "made safe after this check: it was left armed")
        _make_safe(v, vehicle_driver)
    elif (problems or mute) and replaceable:
        # a vehicle whose parameter service stopped answering is not handed to the next check
        _note_restart(request.node, "restarted after this check: its parameter service did not "
                      f"answer ({'; '.join(problems) or 'no PARAM_VALUE'})")  # fmt: skip
        vehicle_driver.restart()
    if problems:
        pytest.fail("isolation: " + "; ".join(problems))


def _gone(link: Link, driver: Any) -> str | None:
    """Why the vehicle can no longer serve a check (exited, stopped, silent), or None."""
    return driver.liveness() or link.closed_reason or (
        "the vehicle went silent" if link.went_silent else None
    )


def _discard(node: pytest.Item, driver: Any, why: str) -> None:
    """A vehicle that hung, died or overran is never handed on: its whole process group is
    stopped now, the next check starts a fresh one, and this check's record says so."""
    _note_restart(node, why)
    driver.stop()


def _running(node: pytest.Item, driver: Any) -> str:
    """The vehicle's URL; a vehicle that is gone is replaced, and the check's record says so."""
    gone = driver.liveness()
    if gone is not None:
        _note_restart(node, f"fresh vehicle started before this check: {gone.splitlines()[0]}")
    return driver.ensure_running()


def _note_restart(node: pytest.Item, why: str) -> None:
    """No silent recovery: a replaced or disarmed vehicle is in the check's record."""
    node.user_properties.append(("restart", why))


@pytest.fixture
def findings(request: pytest.FixtureRequest) -> fnd.Findings:
    """A check that can find several defects records each (`findings.add(kind, subject, ...)`);
    each becomes its own finding, waived or not on its own."""
    return fnd.Findings(request.node.nodeid, request.node.user_properties)


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
    if call.when == "teardown" and _IDENTITY in item.config.stash:
        item.user_properties.append(("vehicle", item.config.stash[_IDENTITY]))
    driver = (getattr(item, "funcargs", None) or {}).get("vehicle_driver")
    overran = call.when == "teardown" and item.stash.get(_OVERRAN, None)
    # still running after a teardown that overran (the vehicle fixture had no chance to stop it)
    if overran and driver and "restart" in driver.capabilities and driver.liveness() is None:
        _discard(item, driver, f"vehicle stopped after this check: {overran}")
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    profile = item.config.stash.get(_PROFILE, None)
    if profile is None or report.when != "call" or not report.failed:
        return report
    _judge_findings(item, report, profile.waivers)
    return report


def _judge_findings(item: pytest.Item, report: pytest.TestReport, waivers: list[Any]) -> None:
    """A failed check's findings (those it recorded, else one for the failure), each matched
    against the waivers on its own. Only when every one is waived is the check WAIVED, and then
    it keeps its whole failure text: the waiver says why it is accepted, not what was found."""
    props = item.user_properties
    found = fnd.recorded(props) or [fnd.default_finding(item.nodeid, _failure_text(report))]
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
        report.wasxfail = f"WAIVED {len(found)} finding(s): {accepted}\n{_failure_text(report)}"


def _failure_text(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    return str(crash.message) if crash is not None else str(report.longrepr or "")[-2000:]


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
            self.collector.expect(item.nodeid, _requirements_of(item))

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
                "path": _rel(p.path),
                "vehicle": json.dumps(p.vehicle, default=str),
                "vehicle_hash": p.vehicle_hash(),
                "verification_hash": p.verification_hash(),
            },
            "exit_status": int(exitstatus),
            "started": self.started,
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "requirements": {r.id: r.__dict__ for r in load_registry().in_sets(p.requirements)},
            "waivers": waivers,
            "vehicle_files": _rel(vehicle_files_dir(self.config, self.run)),
        }
        bench_file = self.run / "bench.json"
        if bench_file.exists():  # written by the hardware guard in vehicle_driver
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
        return states

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        run = self.run
        terminalreporter.write_sep("-", "skyproof")
        for note in self.notes:
            terminalreporter.write_line(note)
        terminalreporter.write_line(
            f"report: {_rel(run / 'summary.md')}  (HTML: {_rel(run / 'report.html')}, "
            f"JUnit: {_rel(run / 'junit.xml')}, Allure: {_rel(run / 'allure-results')}, "
            f"tlogs: {_rel(run / 'tlogs')})"
        )


def _shard(config: pytest.Config) -> dict[str, int] | None:
    """pytest-split's `--splits N --group I`, when this run is one shard of several."""
    splits = getattr(config.option, "splits", None)
    group = getattr(config.option, "group", None)
    return {"group": int(group), "splits": int(splits)} if splits and group else None


def _safe(text: str) -> str:
    """A file name from a node id or a figure's name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
