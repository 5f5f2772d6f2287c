"""pytest plugin, the vehicle and link fixtures a check uses: `vehicle_driver` (this worker's
vehicle, started once, replaced when a check leaves it dead, hung or armed), `proxy` (the
impairment proxy for this check), `link` (a fresh connection recording the check's .tlog) and
`vehicle` (connected and disarmed; afterwards parameters restored and the vehicle proven
disarmed). A vehicle that is replaced or made safe is in the check's record ("restart").
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import pytest

from drivers import make_driver
from drivers.errors import VehicleError
from drivers.impair.proxy import ImpairmentProxy
from drivers.link.connection import Link
from drivers.services.vehicle import Vehicle
from drivers.vehicles import bench
from profiles import Profile
from profiles.pytest_profile import ROOT
from reports.paths import safe_name, shown
from reports.pytest_verdicts import IDENTITY, REPORTS

OVERRAN = pytest.StashKey[str]()  # why a check was cut short by its wall-time bound
RENEWED = pytest.StashKey[bool]()  # the vehicle fixture already restarted the vehicle after it


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("skyproof")
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
        "--props-off",
        action="store_true",
        default=os.environ.get("SKYPROOF_PROPS_OFF") == "1",
        help="on hardware: confirm the propellers are off, so checks the profile allows may arm "
        "(also SKYPROOF_PROPS_OFF=1)",
    )


def vehicle_files_dir(config: pytest.Config, run: Path) -> Path:
    """Where the vehicles' own files go: a tree of their own, never inside what is shared."""
    base = config.getoption("--vehicle-files") or ROOT / "reports" / "vehicle-files"
    return Path(base).resolve() / run.name


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
            config.stash[IDENTITY] = json.dumps(v.identity())
        except VehicleError:
            if hardware:
                raise
            return None  # it hung or died just now: the first check replaces it
        return bench.snapshot(v) if hardware else None


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
    tlog = run_dir / "tlogs" / f"{safe_name(request.node.nodeid)}.tlog"
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
    request.node.user_properties.append(("tlog", shown(tlog)))
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
        discard(request.node, vehicle_driver, f"vehicle stopped before this check: {exc}")
        raise
    if v.armed:  # a previous check (or a person) left it armed: start from a known state
        note_restart(request.node, "made safe before this check: it was armed")
        _make_safe(v, vehicle_driver)
        pytest.fail("the vehicle was armed at the start of the check; it has been made safe")
    yield v
    replaceable = "restart" in vehicle_driver.capabilities
    gone = _gone(link, vehicle_driver) or (replaceable and request.node.stash.get(OVERRAN, None))
    if gone:
        # the check already failed on it; the next check gets a fresh one (and says so)
        discard(request.node, vehicle_driver, f"vehicle stopped after this check: {gone}")
        return
    if "proxy" in request.fixturenames:
        request.getfixturevalue("proxy").clear()  # put things back over a clean link
    call = request.node.stash.get(REPORTS, {}).get("call")
    problems = v.restore_params()
    mute = not v.armed and not problems and not v.answers_parameters()
    if replaceable and (gone := _gone(link, vehicle_driver)):
        # it hung or died while being put back: a fresh one replaces it, nothing to restore
        discard(request.node, vehicle_driver, f"vehicle stopped after this check: {gone}")
        return
    if v.armed:  # judged whatever else went wrong: never hand an armed vehicle on
        if call is not None and call.passed:
            problems.append(f"the check left the vehicle armed (mode {v.mode})")
        note_restart(request.node, "made safe after this check: it was left armed")
        _make_safe(v, vehicle_driver)
    elif (problems or mute) and replaceable:
        # a vehicle whose parameter service stopped answering is not handed to the next check
        note_restart(request.node, "restarted after this check: its parameter service did not "
                     f"answer ({'; '.join(problems) or 'no PARAM_VALUE'})")  # fmt: skip
        vehicle_driver.restart()
        request.node.stash[RENEWED] = True
    if problems:
        pytest.fail("isolation: " + "; ".join(problems))


def _gone(link: Link, driver: Any) -> str | None:
    """Why the vehicle can no longer serve a check (exited, stopped, silent), or None."""
    return driver.liveness() or link.closed_reason or (
        "the vehicle went silent" if link.went_silent else None
    )


def discard(node: pytest.Item, driver: Any, why: str) -> None:
    """A vehicle that hung, died or overran is never handed on: its whole process group is
    stopped now, the next check starts a fresh one, and this check's record says so."""
    note_restart(node, why)
    driver.stop()


def _running(node: pytest.Item, driver: Any) -> str:
    """The vehicle's URL; a vehicle that is gone is replaced, and the check's record says so."""
    gone = driver.liveness()
    if gone is not None:
        note_restart(node, f"fresh vehicle started before this check: {gone.splitlines()[0]}")
    return driver.ensure_running()


def restart_after(node: pytest.Item, driver: Any, why: str) -> None:
    """Hand the next check a fresh vehicle where the driver can make one (a check whose attack
    or fault leaves state behind that would make a later verdict depend on the order of
    checks), and say so in this check's record."""
    if node.stash.get(RENEWED, False):
        return  # the vehicle fixture's teardown already handed on a fresh one
    if "restart" in driver.capabilities and driver.liveness() is None:
        note_restart(node, why)
        driver.restart()


def note_restart(node: pytest.Item, why: str) -> None:
    """No silent recovery: a replaced or disarmed vehicle is in the check's record."""
    node.user_properties.append(("restart", why))


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
