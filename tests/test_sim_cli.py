"""The simulator as a process: CLI lines, port 0, loopback only, exit codes, signals.

Each started process is terminated in the fixture's finalizer; waits are bounded.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINK_RE = re.compile(r"link (\d+) (?:listening on|sending to) (\S+)")
WALL_LIMIT_S = 10.0  # upper bound on any single wait; the vehicle answers far sooner


def read_until(proc: subprocess.Popen[bytes], marker: bytes, limit: float = WALL_LIMIT_S) -> str:
    """Read stdout until `marker` appears (bounded); returns what was read."""
    assert proc.stdout is not None
    buf = b""
    deadline = time.monotonic() + limit
    while marker not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if select.select([proc.stdout], [], [], min(left, 0.2))[0]:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
    return buf.decode()


@pytest.fixture
def run_sim() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        p = subprocess.Popen([sys.executable, "-m", "sim", *args], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for f in (p.stdout, p.stderr):
            if f is not None:
                f.close()


def free_udp_port() -> tuple[socket.socket, int]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def test_startup_lines_name_every_link_and_real_ports(run_sim):
    # Given a GCS socket for the udpout link, when the sim starts with three links,
    gcs, gcs_port = free_udp_port()
    try:
        p = run_sim("--listen", "tcp:127.0.0.1:0", "--listen", "udpin:127.0.0.1:0",
                    "--out", f"udpout:127.0.0.1:{gcs_port}", "--speedup", "20")
        out = read_until(p, b"ready")
        lines = out.splitlines()
        # then it prints one exact line per link, in order, with real ports, then ready.
        assert re.fullmatch(r"skyproof-sim: link 0 listening on tcp:127\.0\.0\.1:\d+", lines[0])
        assert re.fullmatch(r"skyproof-sim: link 1 listening on udpin:127\.0\.0\.1:\d+", lines[1])
        assert lines[2] == f"skyproof-sim: link 2 sending to udpout:127.0.0.1:{gcs_port}"
        assert lines[3] == "skyproof-sim: ready (sysid 1, speedup 20, faults: none)"
        found = [LINK_RE.search(ln) for ln in lines[:3]]
        assert [int(m.group(1)) for m in found if m] == [0, 1, 2]
        assert not any(m.group(2).endswith(":0") for m in found if m), lines
        # and the udpout link is already streaming to the GCS address.
        gcs.settimeout(WALL_LIMIT_S)
        assert gcs.recv(4096)[:1] == b"\xfd", "expected a MAVLink 2 frame"
    finally:
        gcs.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_with_exit_0(run_sim, sig):
    p = run_sim("--listen", "tcp:127.0.0.1:0", "--speedup", "20")
    assert "ready" in read_until(p, b"ready")
    p.send_signal(sig)
    out, err = p.communicate(timeout=WALL_LIMIT_S)
    assert p.returncode == 0, err
    assert out.decode().strip().endswith("skyproof-sim: stopped")
    assert b"Traceback" not in err


def test_port_in_use_is_one_clear_line_and_exit_2(run_sim):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        p = run_sim("--listen", f"tcp:127.0.0.1:{port}")
        _, err = p.communicate(timeout=WALL_LIMIT_S)
    finally:
        blocker.close()
    assert p.returncode == 2
    assert err.decode().strip() == (
        f"skyproof-sim: cannot listen on tcp:127.0.0.1:{port}: address already in use"
    )


@pytest.mark.parametrize("args", [
    ["--listen", "tcp:0.0.0.0:0"],
    ["--listen", "tcp:192.168.1.2:5760"],
    ["--out", "udpout:10.0.0.1:14550"],
    ["--speedup", "fast"],
    ["--fault", "no_such_fault"],
])
def test_bad_arguments_exit_2_without_traceback(run_sim, args):
    p = run_sim(*args)
    _, err = p.communicate(timeout=WALL_LIMIT_S)
    assert p.returncode == 2
    assert b"Traceback" not in err and b"error:" in err


def test_unknown_fault_names_the_valid_ones(run_sim):
    p = run_sim("--fault", "nope")
    _, err = p.communicate(timeout=WALL_LIMIT_S)
    assert b"heartbeat_gaps" in err and b"crash_on_malformed" in err


def test_list_faults_one_line_each(run_sim):
    p = run_sim("--list-faults")
    out, _ = p.communicate(timeout=WALL_LIMIT_S)
    assert p.returncode == 0
    names = [ln.split()[0] for ln in out.decode().splitlines()]
    for name in ("heartbeat_gaps", "param_writes_ignored", "no_gcs_failsafe", "gcs_failsafe_late",
                 "gcs_failsafe_wrong_action", "takeoff_stalls", "crash_on_malformed",
                 "fence_ignored"):
        assert name in names
