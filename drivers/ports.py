"""Port blocks for vehicle processes that listen on fixed ports (ArduPilot SITL, PX4 SITL).

SITL binaries do not take "port 0"; their ports follow an instance number (ArduPilot:
TCP 5760+10*I, ...; PX4: UDP 14540+N, ...). Two pytest-xdist workers, or two runs on one
machine, must never pick the same block, so a lease takes two guards:

- a lock file per port under the system temp dir (`flock`, held for the driver's life), so
  skyproof processes never race each other for a block between the check and the bind;
- a bind check on 127.0.0.1, so a port held by anything else (a SITL started by hand, another
  tool) is skipped too.

`flock` rather than `lockf`: its locks belong to the open file, so two drivers in one process
exclude each other as well; they vanish with the process, so a crash leaves no stale lock.
"""

import contextlib
import fcntl
import os
import socket
import tempfile
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from drivers.errors import DriverError

LOCK_DIR = Path(tempfile.gettempdir()) / "skyproof-ports"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, order=True)
class Port:
    proto: str  # "tcp" | "udp"
    number: int

    def __str__(self) -> str:
        return f"{self.proto}/{self.number}"


def tcp(*numbers: int) -> list[Port]:
    return [Port("tcp", n) for n in numbers]


def udp(*numbers: int) -> list[Port]:
    return [Port("udp", n) for n in numbers]


def is_free(port: Port) -> bool:
    """True if a process could bind `port` now (as SITL binds it: SO_REUSEADDR for TCP, so a
    TIME_WAIT left by a previous run does not count as taken, a listener does)."""
    kind = socket.SOCK_STREAM if port.proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        if port.proto == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port.number))
        except OSError:
            return False
    return True


def _ensure_lock_dir() -> None:
    """One folder for every user of the machine (sticky, like /tmp): ports are machine-wide."""
    if not LOCK_DIR.is_dir():
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            LOCK_DIR.chmod(0o1777)


class PortLease:
    """Lock files held for a set of ports; `release()` (idempotent) lets them go."""

    def __init__(self, ports: Iterable[Port], extra_locks: Iterable[str] = ()) -> None:
        self.ports = sorted(set(ports))
        self._fds: list[int] = []
        _ensure_lock_dir()
        names = [f"{p.proto}-{p.number}" for p in self.ports] + list(extra_locks)
        try:
            for name in names:  # sorted order: two leases never wait on each other in a cycle
                # read-only is enough for flock, and lets other users share the files
                fd = os.open(LOCK_DIR / f"{name}.lock", os.O_RDONLY | os.O_CREAT, 0o644)
                self._fds.append(fd)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.release()
            raise

    def release(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing drops the flock
        self._fds.clear()

    def __del__(self) -> None:
        self.release()


def lease_block(
    blocks: Iterable[tuple[int, list[Port]]],
    *,
    avoid: Collection[int] = (),
    extra_locks: Callable[[int], list[str]] = lambda key: [],
    extra_free: Callable[[int], bool] = lambda key: True,
) -> tuple[int, PortLease]:
    """The first block (key, ports) not in `avoid` whose ports are all lockable and free.

    Raises DriverError naming what was tried when none is."""
    tried = 0
    for key, ports in blocks:
        if key in avoid:
            continue
        tried += 1
        try:
            lease = PortLease(ports, extra_locks(key))
        except OSError:
            continue  # another skyproof driver holds it
        if all(map(is_free, lease.ports)) and extra_free(key):
            return key, lease
        lease.release()
    raise DriverError(
        f"no free port block among {tried} candidates (locks in {LOCK_DIR}); stop other SITL "
        "instances or pin vehicle.instance / vehicle.base_port in the profile"
    )
