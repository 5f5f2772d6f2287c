"""Starting and stopping `python -m sim` for the simulator's own tests (raw pymavlink on top)."""

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WALL_LIMIT_S = 10.0  # start-up precedes any vehicle clock: a wall bound


def read_ready(proc: subprocess.Popen[bytes]) -> str:
    """The simulator's output up to its "ready" line (bounded)."""
    assert proc.stdout is not None
    buf, deadline = b"", time.monotonic() + WALL_LIMIT_S
    while b"ready" not in buf and time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 0.2)[0]:
            buf += os.read(proc.stdout.fileno(), 4096)
    return buf.decode()


def launch(
    *args: str, speedup: float = 50, listens: int = 1
) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A simulator with `listens` TCP links on free ports; returns it and the ports, in order."""
    listen = ["--listen", "tcp:127.0.0.1:0"] * listens
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", *listen, "--speedup", str(speedup), *args],
        cwd=REPO, stdout=subprocess.PIPE,  # stderr shown on failure
    )  # fmt: skip
    out = read_ready(proc)
    ports = [int(p) for p in re.findall(r"listening on tcp:127\.0\.0\.1:(\d+)", out)]
    if len(ports) != listens:
        stop(proc)
        raise AssertionError(f"sim did not start: {out!r}")
    return proc, ports


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()
