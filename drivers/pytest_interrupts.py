"""pytest plugin, bounds and interrupts: the run ends promptly and honestly whatever happens.

- SIGTERM (CI cancellation, `docker stop`) ends the run as Ctrl-C does; on either, every vehicle
  process group is killed at once (SIGKILL, a stopped one too), so no teardown waits on a hung
  vehicle, and the run record is still written (reports/pytest_record.py).
- Every check and the run have a wall-time bound derived from the profile (profiles/limits.py),
  applied as pytest-timeout `timeout` markers (`--timeout` / `--session-timeout` override them).
  A check that overruns FAILS naming its bound, its vehicle is replaced, and the run goes on;
  past the run's bound no further check starts (they are reported not run).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from drivers.process import kill_all, stop_on_sigterm, terminate_children
from drivers.pytest_vehicle import OVERRAN, discard
from profiles import Profile
from profiles.limits import WallBound, check_bound, run_bound
from profiles.pytest_profile import profile_of, suite_of, verifying

STARTED = pytest.StashKey[float]()  # monotonic time the run began
UNDO_SIGTERM = pytest.StashKey[Any]()
RUN_BOUND = pytest.StashKey[WallBound]()
CHECK_BOUND = pytest.StashKey[WallBound]()


_CONFIGS: list[pytest.Config] = []  # this process's run (pytest_keyboard_interrupt gets none)


def pytest_configure(config: pytest.Config) -> None:
    _CONFIGS.append(config)
    config.stash[STARTED] = time.monotonic()
    config.stash[UNDO_SIGTERM] = stop_on_sigterm()  # SIGTERM ends the run as Ctrl-C does


def pytest_unconfigure(config: pytest.Config) -> None:
    config.stash.get(UNDO_SIGTERM, lambda: None)()
    if config in _CONFIGS:
        _CONFIGS.remove(config)


@pytest.hookimpl(trylast=True)  # after the profile has picked its checks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if verifying(config):
        bound_wall_time(config, profile_of(config), items)


def bound_wall_time(config: pytest.Config, profile: Profile, items: list[pytest.Item]) -> None:
    """Every check gets a `timeout` marker with its wall-time bound (profiles/limits.py), and
    the run one too, unless the command line gives pytest-timeout's own."""
    checks = [(item, suite) for item in items if (suite := suite_of(item))]
    if config.getoption("session_timeout", None) is None:
        config.stash[RUN_BOUND] = run_bound(profile, [suite for _, suite in checks])
    if config.getoption("timeout", None) is not None:
        return
    for item, suite in checks:
        if item.get_closest_marker("timeout") is None:
            item.stash[CHECK_BOUND] = bound = check_bound(profile, suite)
            item.add_marker(pytest.mark.timeout(bound.seconds, method="signal"))


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """In a verification run, a check that overruns its bound (the profile's, or a `timeout`
    marker's or --timeout's) FAILS saying which bound, its vehicle is replaced and the run goes
    on. pytest-timeout's own timer handles everything else."""
    main_thread = threading.current_thread() is threading.main_thread()
    if not verifying(item.config) or settings.method != "signal" or not main_thread:
        return None
    bound = item.stash.get(CHECK_BOUND, None)
    bound = bound or WallBound(settings.timeout, "its timeout marker or --timeout")

    def overran(signum: int, frame: Any) -> None:
        item.stash[OVERRAN] = why = (
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
    bound = item.config.stash.get(RUN_BOUND, None)
    if bound and time.monotonic() - item.config.stash[STARTED] > bound.seconds:
        item.session.shouldstop = f"skyproof: the run passed its wall-time bound of {bound}"
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """A teardown that overran: the vehicle fixture had no chance to stop the vehicle."""
    driver = (getattr(item, "funcargs", None) or {}).get("vehicle_driver")
    overran = call.when == "teardown" and item.stash.get(OVERRAN, None)
    if overran and driver and "restart" in driver.capabilities and driver.liveness() is None:
        discard(item, driver, f"vehicle stopped after this check: {overran}")
    return (yield)


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Ctrl-C, SIGTERM or the run's bound: every vehicle is killed at once (SIGKILL, a stopped
    one too), so no teardown waits on a hung vehicle and the run ends promptly."""
    signal.setitimer(signal.ITIMER_REAL, 0)  # a check's timer must not fire during teardown
    kill_all()
    if any(c.pluginmanager.hasplugin("dsession") for c in _CONFIGS):
        terminate_children()  # pytest-xdist's workers too, when only this process was signalled
