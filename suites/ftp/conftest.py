"""Fixtures of the MAVLink FTP and log-service suite: an FTP client on the harness's link, the
vehicle's FTP root on the host with a canary file planted just outside it, and (borrowed from
the security suite) the signing session and second stations the signing checks need. The
signing policy is this suite's own `signing` section, in the security suite's shape."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drivers.services.ftp import FtpClient, OP_ResetSessions
from drivers.services.vehicle import Vehicle
from suites.security.conftest import peers, required_channel, signing, signing_key  # noqa: F401
from suites.security.policy import Policy


@pytest.fixture
def policy(settings: dict[str, Any]) -> Policy:
    return Policy.from_settings(settings)


@pytest.fixture
def ftp(vehicle: Vehicle, settings: dict[str, Any]) -> Iterator[FtpClient]:
    """A client on the harness's own link, sessions reset before and after (ArduPilot serves one
    session at a time: one left open would refuse the next check's)."""
    client = FtpClient(vehicle.link, vehicle.sysid, timeout_s=settings["reply_s"])
    client.reset()
    yield client
    if not (vehicle.link.closed_reason or vehicle.link.went_silent):
        client.ask(OP_ResetSessions)  # no answer is no error at teardown


@dataclass
class Canary:
    """A file just outside the FTP root, and the root itself, on the host."""

    root: Path
    path: Path
    content: bytes

    @property
    def name(self) -> str:
        return self.path.name

    def intact(self) -> bool:
        return self.path.is_file() and self.path.read_bytes() == self.content

    def replant(self) -> None:
        self.path.write_bytes(self.content)


@pytest.fixture
def canary(vehicle_driver: Any) -> Iterator[Canary]:
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
