"""A skyproof run in the background that a test acts on at chosen moments, as a user at a
terminal would: it reads the run's verbose output as it comes, sees the simulators the run
starts, and afterwards says whether any of them, or a port one of them listened on, is left."""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.run_pytest import ROOT, Run

LISTEN_LINE = re.compile(r"listening on tcp:127\.0\.0\.1:(\d+)")  # sim/cli.py's start-up line


class WatchedRun:
    def __init__(self, *args: str, report_dir: Path, env: dict[str, str] | None = None) -> None:
        self.report_dir = report_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider",
             "--report-dir", str(report_dir), "--history", str(report_dir / "history.sqlite"),
             "--vehicle-files", str(report_dir / "vehicle-files"), *args],
            cwd=ROOT, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.output = ""
        self.sims: set[int] = set()  # every simulator seen running under this run
        self.signalled_at: float | None = None
        self._looked = 0.0

    def wait_for(self, what: str, ready: Callable[[], bool], wall_s: float = 60.0) -> None:
        """Read the run's output until `ready()` holds (bounded: the run must get there)."""
        deadline = time.monotonic() + wall_s
        while not ready():
            assert self.proc.poll() is None, f"the run ended before {what}:\n{self.output[-3000:]}"
            assert time.monotonic() < deadline, f"no {what} within {wall_s:g} s:\n{self.output}"
            self._read(0.05)

    def seen(self, pattern: str) -> Callable[[], bool]:
        return lambda: re.search(pattern, self.output) is not None

    def signal_sims(self, sig: signal.Signals) -> list[int]:
        pids = self._sim_children()
        assert pids, "no simulator is running"
        for pid in pids:
            os.kill(pid, sig)
        self.signalled_at = time.monotonic()
        return pids

    def signal(self, sig: signal.Signals) -> None:
        self._sim_children()
        self.signalled_at = time.monotonic()
        self.proc.send_signal(sig)

    def finish(self, wall_s: float = 120.0) -> Run:
        """The run's end: its exit code, whole output and report folder."""
        deadline = time.monotonic() + wall_s
        while self.proc.poll() is None or self._read(0):
            assert time.monotonic() < deadline, f"the run did not end within {wall_s:g} s"
            self._read(0.05)
        self.ended_at = time.monotonic()
        return Run(self.proc.returncode, self.output, self.report_dir)

    def leftovers(self) -> list[str]:
        """Simulators of this run still alive, and ports they listened on still held."""
        alive = [f"simulator {pid}" for pid in sorted(self.sims) if _alive(pid)]
        ports = {int(p) for log in (self.report_dir / "vehicle-files").rglob("sim-*.log")
                 for p in LISTEN_LINE.findall(log.read_text(errors="replace"))}  # fmt: skip
        held = [f"port {port}" for port in sorted(ports) if _accepts(port)]
        return alive + held

    def _read(self, wait_s: float) -> bool:
        assert self.proc.stdout is not None
        if time.monotonic() - self._looked > 0.25:  # a simulator lives for seconds at least
            self._looked = time.monotonic()
            self._sim_children()
        if not select.select([self.proc.stdout], [], [], wait_s)[0]:
            return False
        data = os.read(self.proc.stdout.fileno(), 65536)
        self.output += data.decode(errors="replace")
        return bool(data)

    def _sim_children(self) -> list[int]:
        """The run's simulators: its children, or its xdist workers' children."""
        out = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
        rows = [line.split(None, 2) for line in out.splitlines()[1:]]
        ours = {self.proc.pid} | {int(p) for p, pp, _ in rows if int(pp) == self.proc.pid}
        pids = [int(p) for p, pp, args in rows if int(pp) in ours and "-m sim" in args]
        self.sims.update(pids)
        return pids


def _alive(pid: int) -> bool:
    """Running or stopped; a zombie (exited, not yet reaped by its parent) is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 1 :].split()[0] != b"Z"


def _accepts(port: int) -> bool:
    """Whether something still listens there (a stopped process's socket still completes the
    handshake, so this sees a simulator left stopped too)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True
