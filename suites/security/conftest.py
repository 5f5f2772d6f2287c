"""Fixtures of the data-security suite: the signing key, a signing session per check (installed
before, removed after, so the next check starts unsigned), second stations on the vehicle's
channels, and the `channel` parametrization from the profile's signing policy."""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.attack.peer import Peer
from drivers.attack.probes import Probe
from drivers.errors import VehicleError
from drivers.link.keys import SigningKey, SigningKeyError, load_key
from drivers.services.ftp import FtpClient, OP_ResetSessions
from drivers.services.signing import SigningSession
from drivers.services.vehicle import Vehicle
from profiles import Profile, load_profile
from suites.security.ftp_files import Canary
from suites.security.policy import Policy

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def _profile_at(path: str) -> Profile:
    return load_profile(path)


def _policy_of(config: pytest.Config) -> Policy | None:
    # pytest_generate_tests runs before fixtures exist: read the run's profile the way the root
    # conftest does (the root could offer it to suites; until then, this).
    path = config.getoption("--profile", None) or str(ROOT / "profiles" / "sim.yaml")
    security = _profile_at(str(path)).suites.get("security")
    return Policy.from_settings(security) if security is not None else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A check that takes `channel` runs once per channel the signing policy names."""
    if "channel" not in metafunc.fixturenames:
        return
    policy = _policy_of(metafunc.config)
    channels = policy.channels if policy else []
    metafunc.parametrize("channel", channels, ids=[f"channel{c}" for c in channels])


LAST = "test_key_is_not_in_the_run_artefacts"  # sees what the suite's other checks left


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [i for i in items if getattr(i, "originalname", "") == LAST]
    if last:
        items[:] = [i for i in items if i not in last] + last


@pytest.fixture
def policy(settings: dict[str, Any]) -> Policy:
    return Policy.from_settings(settings)


@pytest.fixture(scope="session")
def signing_key(profile: Profile) -> SigningKey:
    """The run's key, from where the profile says (never from the profile's text)."""
    spec = profile.suites.get("security", {}).get("signing", {}).get("key", "generate")
    try:
        return load_key(spec, base_dir=profile.path.parent)
    except SigningKeyError as exc:
        pytest.fail(f"signing key: {exc}", pytrace=False)


@pytest.fixture
def signing(
    request: pytest.FixtureRequest,
    vehicle: Vehicle,
    vehicle_driver: Any,
    signing_key: SigningKey,
    policy: Policy,
) -> Iterator[SigningSession]:
    """The harness's link signs and verifies for this check; afterwards the key is taken off
    again (a vehicle that keeps it is restarted, and the check fails for isolation)."""
    for name, value in policy.params.items():
        vehicle.set_param(name, value)  # journaled: the vehicle fixture restores it
    session = SigningSession(
        vehicle, signing_key, install=policy.install, unsigned_allowed=policy.unsigned_allowed_ids
    )
    session.start()
    yield session
    link = vehicle.link
    if link.closed_reason or link.went_silent or vehicle_driver.liveness() is not None:
        return  # the vehicle fixture replaces a vehicle that is gone; that clears the key
    if vehicle.armed:
        # SETUP_SIGNING is refused while armed. The vehicle fixture restarts an armed vehicle
        # (which clears the key) after restoring parameters, which still needs our signatures.
        return
    if "proxy" in request.fixturenames:
        request.getfixturevalue("proxy").clear()  # the key comes off over a clean link
    problem = session.stop()
    if problem is not None:
        vehicle_driver.restart()  # the next check must start unsigned
        pytest.fail(f"isolation: {problem}; the vehicle was restarted")


@pytest.fixture
def peers(
    request: pytest.FixtureRequest,
    signing: SigningSession,
    vehicle: Vehicle,
    vehicle_driver: Any,
    settings: dict[str, Any],
    profile: Profile,
    run_dir: Path,
) -> Iterator[Callable[[int], Peer]]:
    """`peers(channel)`: a station holding the key on that channel of the vehicle. Channel 0 is
    the harness's own link (SITL's SERIAL0 takes one client); others get a connection each."""
    opened: dict[int, Peer] = {}
    identity = settings["peer"]

    def peer(channel: int) -> Peer:
        if channel in opened:
            return opened[channel]
        urls = list(getattr(vehicle_driver, "urls", None) or [vehicle_driver.ensure_running()])
        if channel >= len(urls):
            pytest.skip(f"the vehicle serves {len(urls)} channel(s); channel {channel} is absent")
        if channel == 0:
            opened[0] = Peer.lend(vehicle.link, 0, signing.signer, vehicle.sysid)
            return opened[0]
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid) + f"-peer{channel}"
        try:
            opened[channel] = Peer.connect(
                urls[channel],
                channel,
                signing.key,
                link_id=10 + channel,
                sysid=identity["sysid"],
                compid=identity["compid"],
                vehicle_sysid=vehicle.sysid,
                adopt_s=5.0,
                silence_s=profile.link["silence_s"],
                tlog=run_dir / "tlogs" / f"{name}.tlog",
                liveness=vehicle_driver.liveness,
            )
        except VehicleError as exc:
            where = f"second station on channel {channel} ({urls[channel]})"
            raise VehicleError(f"{where}: {exc}") from None
        return opened[channel]

    yield peer
    for p in opened.values():
        p.close()


@pytest.fixture
def fresh_vehicle(vehicle_driver: Any) -> Iterator[None]:
    """A vehicle restarted before the check and again after it (listed first, this fixture is
    set up before `vehicle` and torn down after it): for a check that fills state the vehicle
    keeps until it reboots, such as ArduPilot's signing stream table, which a key change does
    not clear."""
    if "restart" not in vehicle_driver.capabilities:
        pytest.skip(f"vehicle driver {vehicle_driver.name!r} cannot restart the vehicle")
    vehicle_driver.restart()
    yield
    vehicle_driver.restart()


@pytest.fixture
def required_channel(policy: Policy) -> int:
    """The first channel that must refuse badly signed traffic (signed-frame checks run there:
    a trusted channel takes anything)."""
    if not policy.required_links:
        pytest.skip("the profile requires signing on no channel (signing.required_links: [])")
    return policy.required_links[0]


@pytest.fixture
def required_peer(peers: Callable[[int], Peer], required_channel: int) -> Peer:
    """A station holding the key on `required_channel`, connected before the check: a station
    the harness cannot set up is an error of the check's setup, never a finding against the
    vehicle."""
    return peers(required_channel)


@pytest.fixture
def probe(vehicle: Vehicle, settings: dict[str, Any]) -> Iterator[Probe]:
    """The profile's probe (a parameter and a mode); a mode an attack changed is put back."""
    try:
        p = Probe(vehicle, settings)
    except LookupError as exc:
        pytest.skip(str(exc))
    yield p
    if not (vehicle.link.closed_reason or vehicle.link.went_silent):
        p.restore_mode()


# -- the file side (test_ftp_*.py): settings in the suite's `ftp` section --------------------
@pytest.fixture
def ftp_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return settings["ftp"]


@pytest.fixture
def ftp(vehicle: Vehicle, ftp_settings: dict[str, Any]) -> Iterator[FtpClient]:
    """A client on the harness's own link, sessions reset before and after (ArduPilot serves one
    session at a time: one left open would refuse the next check's)."""
    client = FtpClient(vehicle.link, vehicle.sysid, timeout_s=ftp_settings["reply_s"])
    client.reset()
    yield client
    if not (vehicle.link.closed_reason or vehicle.link.went_silent):
        client.ask(OP_ResetSessions)  # no answer is no error at teardown


@pytest.fixture
def canary(vehicle_driver: Any) -> Iterator[Canary]:
    """A canary file beside the vehicle's FTP root on the host (the driver says where the root
    is: the simulator's and SITL's folders are the harness's own); removed afterwards."""
    root = getattr(vehicle_driver, "ftp_root", None)
    if root is None:
        pytest.skip(f"vehicle driver {vehicle_driver.name!r} does not say where its FTP root is "
                    "on this host (a canary outside it cannot be planted)")
    root = Path(root)
    token = secrets.token_hex(4)
    c = Canary(root, root.parent / f"skyproof-canary-{token}.txt",
               f"skyproof canary {token}\n".encode())
    c.replant()
    yield c
    c.path.unlink(missing_ok=True)
