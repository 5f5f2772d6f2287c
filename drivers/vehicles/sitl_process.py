"""What the SITL drivers share: lease a port block, launch, probe for the first HEARTBEAT,
retry a failed start on fresh ports, report why the process is gone, stop the process group.

A subclass says how to launch one instance (`_launch`), which ports an instance uses
(`_blocks`) and which URLs it serves (`_urls`); this class owns the lifecycle and the
driver contract (name, capabilities, sysid, urls, start, stop, liveness, ensure_running,
restart).
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from drivers.errors import DriverError
from drivers.ports import Port, PortLease, lease_block
from drivers.process import ManagedProcess
from drivers.vehicles.probe import ProbeFailed, first_heartbeat


def fresh_dir(parent: Path, stem: str) -> Path:
    """A new folder `parent/stem`, `stem-2`, ... (never one an earlier driver used)."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        path = parent / (stem if n == 1 else f"{stem}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise DriverError(f"no fresh folder for {stem!r} under {parent}")


class SitlProcessDriver:
    name = "sitl"
    capabilities: frozenset[str] = frozenset()
    LOG_STEM = "sitl"
    START_TIMEOUT_S = 30.0  # wall, per attempt: start-up precedes any vehicle clock
    START_ATTEMPTS = 3  # each on a fresh port block

    def __init__(self, vehicle: dict[str, Any], log_dir: Path) -> None:
        self.cfg = vehicle
        self.log_dir = Path(log_dir)
        self.start_timeout_s = self.START_TIMEOUT_S
        self.start_attempts = self.START_ATTEMPTS
        self.process: ManagedProcess | None = None
        self.lease: PortLease | None = None
        self.instance: int | None = None
        self.urls: list[str] = []
        self.heartbeat: Any = None  # the probe's first HEARTBEAT of the current process
        self.starts = 0

    # -- what a subclass provides --------------------------------------------------------------
    def _blocks(self) -> Iterator[tuple[int, list[Port]]]:
        """Candidate (instance, ports it binds) in order of preference."""
        raise NotImplementedError

    def _extra_locks(self, instance: int) -> list[str]:
        return []

    def _extra_free(self, instance: int) -> bool:
        return True

    def _urls(self, instance: int) -> list[str]:
        raise NotImplementedError

    def _launch(self, instance: int, log: Path) -> ManagedProcess:
        raise NotImplementedError

    def _accept(self, heartbeat: Any) -> None:
        """Raise DriverError if the vehicle that answered is not the one configured."""

    # -- the driver contract -------------------------------------------------------------------
    @property
    def sysid(self) -> int:
        return int(self.cfg.get("sysid", 1))

    def start(self) -> str:
        """Start the vehicle, probe it for its first HEARTBEAT and return urls[0]; retry on a
        fresh port block; DriverError with every attempt's account if none comes up."""
        self.stop()
        if self.cfg.get("faults"):
            raise DriverError(
                f"{self.name}: vehicle.faults {self.cfg['faults']} are faults of the built-in "
                "simulator (driver: sim); a SITL vehicle has none"
            )
        failures: list[str] = []
        tried: set[int] = set()
        for attempt in range(1, self.start_attempts + 1):
            instance, lease = lease_block(
                self._blocks(),
                avoid=tried,
                extra_locks=self._extra_locks,
                extra_free=self._extra_free,
            )
            tried.add(instance)
            self.starts += 1
            log = self.log_dir / f"{self.LOG_STEM}-{self.starts}.log"
            try:
                process = self._launch(instance, log)
            except OSError as exc:  # not executable, bad interpreter: no retry can help
                lease.release()
                raise DriverError(f"{self.name}: cannot run it: {exc}") from exc
            except DriverError:
                lease.release()
                raise
            urls = self._urls(instance)
            try:
                heartbeat = first_heartbeat(
                    urls[0], self.start_timeout_s, lambda p=process: _gone(p)
                )
                self._accept(heartbeat)
            except ProbeFailed as exc:
                process.stop()
                lease.release()
                failures.append(f"attempt {attempt} (instance {instance}, log {log}): {exc}")
                continue
            except DriverError:
                process.stop()
                lease.release()
                raise
            self.process, self.lease, self.instance = process, lease, instance
            self.urls, self.heartbeat = urls, heartbeat
            return urls[0]
        raise DriverError(
            f"{self.name} did not start in {self.start_attempts} attempt(s):\n  "
            + "\n  ".join(failures)
        )

    def liveness(self) -> str | None:
        """None while the vehicle process runs; otherwise why it is gone."""
        if self.process is None:
            return f"{self.name} not started"
        return _gone(self.process, self.name)

    def ensure_running(self) -> str:
        """The running vehicle's URL, starting a fresh one if it died."""
        if self.liveness() is not None:
            return self.start()
        return self.urls[0]

    def restart(self) -> str:
        self.stop()
        return self.start()

    def stop(self) -> None:
        """Stop the whole process group (children included) and free its ports; idempotent."""
        if self.process is not None:
            self.process.stop()
            self.process = None
        if self.lease is not None:
            self.lease.release()
            self.lease = None


def _gone(process: ManagedProcess, what: str = "it") -> str | None:
    code = process.exit_code()
    if code is None:
        if process.stopped():
            return f"{what} (pid {process.pid}) is stopped (SIGSTOP) and cannot answer"
        return None
    reader = getattr(process, "_reader", None)  # let its last lines reach the tail first
    if reader is not None:
        reader.join(timeout=0.5)
    return f"{what} exited with code {code}; its last output:\n{process.tail(10)}"
