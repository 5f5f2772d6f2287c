"""Kernel impairment: a vehicle in its own network namespace behind a veth pair with netem.

Each test skips, with the reason, where the machine cannot do it (not root, no iproute2, a
kernel without netem)."""

import contextlib
import os
import socket
import subprocess
import sys
import time

import pytest

from drivers.errors import DriverError
from drivers.impair import netem
from drivers.impair.netem import NetemLink, NetemSpec, netem_args, netem_available, netns_available

# A vehicle stand-in that echoes: run inside the namespace as `python -c ECHO ADDRESS tcp|udp`.
ECHO = """
import socket, sys
address, kind = sys.argv[1], sys.argv[2]
if kind == "udp":
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    print("listening", sock.getsockname()[1], flush=True)
    while True:
        data, peer = sock.recvfrom(65536)
        sock.sendto(data, peer)
srv = socket.create_server((address, 0))
print("listening", srv.getsockname()[1], flush=True)
while True:
    conn, _ = srv.accept()
    while data := conn.recv(65536):
        conn.sendall(data)
    conn.close()
"""


def ip(*argv: str) -> str:
    return subprocess.run(["ip", *argv], capture_output=True, text=True, check=False).stdout


def leftovers() -> list[str]:
    """Namespaces, interfaces and addresses of this process's NetemLinks still configured."""
    pid = os.getpid()
    found = [ns for ns in ip("netns", "list").split() if ns.startswith(f"skyproof-{pid}-")]
    found += [w for w in ip("-o", "link", "show").split() if w.startswith(f"sp{pid:x}")]
    return found


def until(predicate, what: str, wall_s: float = 5.0) -> None:
    deadline = time.monotonic() + wall_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {wall_s:g} s waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def needs_netns():
    reason = netns_available()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def needs_netem():
    reason = netem_available()
    if reason:
        pytest.skip(reason)


def start_echo(link: NetemLink, kind: str, log: str) -> int:
    vehicle = link.run([sys.executable, "-c", ECHO, link.vehicle_address, kind], log)
    (m,) = vehicle.wait_for_lines(r"listening (\d+)", 1, timeout_s=10.0)
    return int(m.group(1))


def test_availability_is_none_or_a_reason():
    for probe in (netns_available, netem_available):
        reason = probe()
        assert reason is None or (isinstance(reason, str) and reason), probe.__name__
    assert not leftovers()


def test_netem_times_are_scaled_from_vehicle_to_wall_time():
    spec = NetemSpec(loss=0.05, latency_s=1.0, jitter_s=0.2)
    assert netem_args(spec, speedup=20) == ["netem", "loss", "5%", "delay", "50.000ms", "10.000ms"]
    assert netem_args(spec) == ["netem", "loss", "5%", "delay", "1000.000ms", "200.000ms"]
    assert netem_args(NetemSpec(loss=0.1)) == ["netem", "loss", "10%"]
    with pytest.raises(ValueError):
        NetemSpec(loss=2.0)


def test_a_vehicle_in_the_namespace_is_reached_then_everything_is_removed(needs_netns, tmp_path):
    link = NetemLink()
    try:
        port = start_echo(link, "tcp", tmp_path / "vehicle.log")
        with socket.create_connection((link.vehicle_address, port), timeout=5.0) as sock:
            sock.sendall(b"ping")
            assert sock.recv(4) == b"ping"
        # the vehicle's address lives inside the namespace only
        assert link.vehicle_address not in ip("-o", "-4", "addr", "show")
        assert link.vehicle_address in ip("-n", link.namespace, "-o", "-4", "addr", "show")
        assert leftovers()
    finally:
        link.close()
    link.close()  # idempotent
    until(lambda: not leftovers(), "the namespace and the veth pair to be gone")
    assert link.host_address not in ip("-o", "-4", "addr", "show")


def test_a_failure_while_setting_up_leaves_nothing_behind(needs_netns, monkeypatch):
    monkeypatch.setattr(netem, "netem_args", lambda spec, speedup=None: ["no-such-qdisc"])
    monkeypatch.setattr(netem, "netem_available", lambda: None)  # reach tc even without netem
    with pytest.raises(DriverError, match="no-such-qdisc"):
        NetemLink(up=NetemSpec(loss=0.1))
    until(lambda: not leftovers(), "the half-built link to be removed")


def test_netem_delays_in_scaled_wall_time_and_drops(needs_netem, tmp_path):
    with NetemLink(up=NetemSpec(latency_s=1.0), speedup=20) as link:  # 50 ms of wall time
        port = start_echo(link, "tcp", tmp_path / "tcp.log")
        with socket.create_connection((link.vehicle_address, port), timeout=5.0) as sock:
            rtts = []
            for _ in range(5):
                start = time.monotonic()
                sock.sendall(b"x")
                assert sock.recv(1) == b"x"
                rtts.append(time.monotonic() - start)
        assert min(rtts) >= 0.045 and max(rtts) < 0.5, rtts
        link.set("both", NetemSpec(loss=0.3))
        port = start_echo(link, "udp", tmp_path / "udp.log")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.2)
            back = 0
            for i in range(300):
                sock.sendto(i.to_bytes(2, "big"), (link.vehicle_address, port))
                with contextlib.suppress(TimeoutError):  # lost one way or the other
                    back += len(sock.recv(2)) == 2
        # a round trip survives with (1 - 0.3)^2 = 0.49; five standard deviations ~ 0.15
        assert abs(back / 300 - 0.49) < 0.15, f"{back} of 300 came back"
    until(lambda: not leftovers(), "the namespace and the veth pair to be gone")
