"""Vehicle processes (simulators, SITL) that never outlive the harness.

Each runs in its own process group (so teardown reaches its children too), is killed by the
kernel if the harness dies (PR_SET_PDEATHSIG), and is killed at interpreter exit if anything
skipped its teardown. Its output is kept in a log file beside the run's results. A process that
is stopped by a signal (SIGSTOP) is reported as such: it can never answer.
"""

import atexit
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

_LIVE: set["ManagedProcess"] = set()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        # SIGKILL, not SIGTERM: a stopped process (SIGSTOP) cannot act on TERM and would be
        # left behind, stopped, holding its ports
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _preexec() -> Callable[[], None] | None:
    # PR_SET_PDEATHSIG fires when the *thread* that started the child exits, so it is only
    # safe from the main thread; elsewhere teardown and the atexit hook still stop the child.
    return _die_with_parent if threading.current_thread() is threading.main_thread() else None


class ManagedProcess:
    def __init__(
        self,
        argv: list[str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = argv
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._tail: deque[str] = deque(maxlen=40)
        self._lines_cv = threading.Condition()
        self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self._log.write(f"$ {' '.join(argv)}\n")
        self._log.flush()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
            preexec_fn=_preexec(),
        )
        _LIVE.add(self)
        self._reader = threading.Thread(target=self._read, name=f"output of {argv[0]}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lines_cv:
                self._tail.append(line.rstrip("\n"))
                self._lines_cv.notify_all()
            if not self._log.closed:
                self._log.write(line)
                self._log.flush()
        with self._lines_cv:
            self._lines_cv.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exit_code(self) -> int | None:
        return self.proc.poll()

    def stopped(self) -> bool:
        """Whether the process is stopped by a signal (state T: SIGSTOP, SIGTSTP) and so cannot
        run, let alone answer. A debugger's stop (state t) is left to the link's silence bound:
        somebody may be stepping through the vehicle. Linux /proc; elsewhere never reported."""
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return False
        fields = stat[stat.rfind(b")") + 1 :].split()  # after "pid (comm)": the state first
        return bool(fields) and fields[0] == b"T"

    def kill(self) -> None:
        """SIGKILL the whole process group at once (it works on a stopped process too); the
        caller's stop() then reaps it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def tail(self, n: int = 10) -> str:
        with self._lines_cv:
            return "\n".join(list(self._tail)[-n:])

    def wait_for_lines(self, pattern: str, count: int, timeout_s: float) -> list[re.Match[str]]:
        """The first `count` output lines matching `pattern`, read as the process starts.

        Start-up precedes any vehicle clock, so this bound is in wall seconds."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self._lines_cv:
            while True:
                found = [m for m in map(regex.search, self._tail) if m]
                if len(found) >= count:
                    return found[:count]
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(
                        f"exited with code {self.proc.returncode} before it was ready; "
                        f"its last output:\n{self.tail()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"not ready within {timeout_s:g} s (no {count} line(s) matching "
                        f"{pattern!r}); its last output:\n{self.tail()}"
                    )
                self._lines_cv.wait(min(left, 0.2))

    def stop(self, grace_s: float = 5.0) -> int | None:
        """SIGTERM the whole process group, then SIGKILL it if it lingers; return the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
                os.killpg(self.proc.pid, signal.SIGCONT)  # a stopped process cannot act on TERM
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=grace_s)
        # Children that ignored SIGTERM may still hold ports even though the leader is gone.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._reader.join(timeout=2.0)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()
        _LIVE.discard(self)
        return self.proc.returncode


class Terminated(KeyboardInterrupt):
    """SIGTERM (CI cancelling a job, `docker stop`), raised where Ctrl-C would be: the run
    ends the way an interrupted one does, its vehicles stopped and its reports written."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated("terminated by SIGTERM")


def stop_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM interrupt the main thread like Ctrl-C; returns what puts the old handler
    back. Only the main thread may set handlers: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    return lambda: signal.signal(signal.SIGTERM, previous)


def kill_all() -> None:
    """SIGKILL every vehicle process this harness started (an interrupted run: nothing a vehicle
    could still do is worth waiting for); their drivers' stop() reaps them."""
    for proc in list(_LIVE):
        proc.kill()


def terminate_children() -> None:
    """SIGTERM every direct child process of this one: pytest-xdist's workers among them, each
    of which then ends its run as an interrupted one does, killing its own vehicles (a worker
    is not in our process group when only the controller was signalled). Linux (/proc) only."""
    me = os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_bytes().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not a process
        if ppid == me:
            with contextlib.suppress(OSError):
                os.kill(int(stat.parent.name), signal.SIGTERM)


@atexit.register
def _stop_all() -> None:
    for proc in list(_LIVE):
        proc.stop(grace_s=2.0)
