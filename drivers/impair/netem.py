"""Kernel link impairment: the vehicle runs in a network namespace of its own, reached over a
veth pair whose two ends carry a netem qdisc (Linux, root, iproute2).

    harness (this namespace, 10.200.X.1) ===veth=== (namespace skyproof-<pid>-<n>, 10.200.X.2)
                                                      `ip netns exec ... <vehicle command>`

The /30 exists only on this veth pair, which NetemLink creates and removes (on close, on an
error while setting up, and at interpreter exit). The host end's egress carries "up" (harness ->
vehicle), the namespace end's egress carries "down".

Wall clock: netem delays packets in WALL time; the kernel knows nothing of the vehicle's clock.
Give `speedup` and the latency and jitter (stated in vehicle seconds) are divided by it, so a
1 s latency at speedup 20 becomes a 50 ms netem delay; loss needs no scaling. That holds only
while the vehicle keeps to its nominal speedup: when verdicts must follow the vehicle's actual
pace, use ImpairmentProxy (drivers/impair/proxy.py), which schedules on the vehicle's own time.
"""

import atexit
import contextlib
import functools
import itertools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from drivers.errors import DriverError
from drivers.process import ManagedProcess

SUBNET_PREFIX = "10.200"  # the /30s are carved from 10.200.0.0/16
_counter = itertools.count()
_LIVE: set["NetemLink"] = set()


@dataclass(frozen=True)
class NetemSpec:
    """One direction. Times in vehicle seconds when the link has a speedup, else wall."""

    loss: float = 0.0  # probability per packet
    latency_s: float = 0.0
    jitter_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError(f"loss is a probability in [0, 1], not {self.loss!r}")
        if self.latency_s < 0 or self.jitter_s < 0:
            raise ValueError(f"latency_s and jitter_s must be >= 0: {self}")

    @property
    def is_clear(self) -> bool:
        return self == NetemSpec()


def netem_args(spec: NetemSpec, speedup: float | None = None) -> list[str]:
    """The `tc qdisc ... netem` arguments for `spec`, its times scaled to wall time."""
    scale = 1.0 / speedup if speedup else 1.0
    args = ["netem", "loss", f"{spec.loss * 100:g}%"]
    if spec.latency_s or spec.jitter_s:
        args += ["delay", f"{spec.latency_s * scale * 1000:.3f}ms"]
        if spec.jitter_s:
            args.append(f"{spec.jitter_s * scale * 1000:.3f}ms")
    return args


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)


def _check(*argv: str) -> str:
    done = _run(*argv)
    if done.returncode != 0:
        raise DriverError(f"`{' '.join(argv)}` failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def _basic_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"kernel impairment needs Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return "kernel impairment needs root (network namespaces, veth and tc)"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found: install iproute2 (apt-get install iproute2)"
    return None


@functools.cache
def _probe(with_netem: bool) -> str | None:
    """Try it in a scratch namespace (veth pair and qdisc inside it, nothing outside)."""
    reason = _basic_reason()
    if reason:
        return reason
    ns = f"skyproof-probe-{os.getpid()}"
    try:
        done = _run("ip", "netns", "add", ns)
        if done.returncode != 0:
            return f"cannot create a network namespace: {done.stderr.strip()}"
        try:
            _check(
                "ip", "-n", ns, "link", "add", "probe0", "type", "veth", "peer", "name", "probe1"
            )
        except DriverError as exc:
            return f"cannot create a veth pair: {exc}"
        if with_netem:
            done = _run(
                "tc", "-n", ns, "qdisc", "add", "dev", "probe0", "root", "netem", "loss", "0%"
            )
            if done.returncode != 0:
                why = done.stderr.strip()
                if "unknown" in why.lower():
                    why = "this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM / sch_netem)"
                return f"netem unavailable: {why}"
        return None
    finally:
        _run("ip", "netns", "del", ns)


def netns_available() -> str | None:
    """None if namespaces and veth pairs work here, else why not."""
    return _probe(False)


def netem_available() -> str | None:
    """None if kernel impairment works here (namespaces, veth, netem), else why not."""
    return _probe(True)


def _taken_blocks() -> set[int]:
    """The /30 blocks of 10.200.0.0/16 that already have an address on this host."""
    taken = set()
    for line in _check("ip", "-o", "-4", "addr", "show").splitlines():
        for word in line.split():
            if word.startswith(SUBNET_PREFIX + "."):
                _, _, c, d = word.split("/")[0].split(".")
                taken.add(int(c) * 64 + int(d) // 4)
    return taken


class NetemLink:
    """A namespace for the vehicle, the veth pair to it, and netem on both ends."""

    def __init__(
        self,
        *,
        up: NetemSpec | None = None,
        down: NetemSpec | None = None,
        speedup: float | None = None,
    ) -> None:
        reason = netns_available()
        if reason:
            raise DriverError(reason)
        n = next(_counter)
        pid = os.getpid()
        self.namespace = f"skyproof-{pid}-{n}"
        base = f"sp{pid:x}{n:x}"[:13]  # interface names are at most 15 characters
        self.host_if, self.vehicle_if = f"{base}h", f"{base}v"
        self.speedup = speedup
        self._procs: list[ManagedProcess] = []
        self._closed = False
        taken = _taken_blocks()
        block = next(b for i in range(16384) if (b := (pid * 7 + n + i) % 16384) not in taken)
        net = f"{SUBNET_PREFIX}.{block // 64}.{(block % 64) * 4}"
        prefix = net.rsplit(".", 1)[0]
        last = int(net.rsplit(".", 1)[1])
        self.host_address = f"{prefix}.{last + 1}"
        self.vehicle_address = f"{prefix}.{last + 2}"
        _LIVE.add(self)
        try:
            self._create()
            self.set("up", up or NetemSpec())
            self.set("down", down or NetemSpec())
        except BaseException:
            self.close()
            raise

    def _create(self) -> None:
        ns, h, v = self.namespace, self.host_if, self.vehicle_if
        _check("ip", "netns", "add", ns)
        _check("ip", "link", "add", h, "type", "veth", "peer", "name", v)
        _check("ip", "link", "set", v, "netns", ns)
        _check("ip", "addr", "add", f"{self.host_address}/30", "dev", h)
        _check("ip", "link", "set", h, "up")
        _check("ip", "-n", ns, "addr", "add", f"{self.vehicle_address}/30", "dev", v)
        _check("ip", "-n", ns, "link", "set", v, "up")
        _check("ip", "-n", ns, "link", "set", "lo", "up")

    def set(self, direction: str, spec: NetemSpec) -> None:
        """Impair "up" (harness -> vehicle), "down" or "both"; a clear spec removes netem."""
        if direction == "both":
            self.set("up", spec)
            self.set("down", spec)
            return
        if direction not in ("up", "down"):
            raise ValueError(f"direction must be 'up', 'down' or 'both', not {direction!r}")
        where = ["tc"] if direction == "up" else ["tc", "-n", self.namespace]
        dev = self.host_if if direction == "up" else self.vehicle_if
        if spec.is_clear:  # no qdisc at all: a clear link needs no netem in the kernel
            _run(*where, "qdisc", "del", "dev", dev, "root")
            return
        reason = netem_available()
        if reason:
            raise DriverError(reason)
        _check(*where, "qdisc", "replace", "dev", dev, "root", *netem_args(spec, self.speedup))

    def run(
        self, argv: list[str], log_path: Path, *, env: dict[str, str] | None = None
    ) -> ManagedProcess:
        """Start `argv` (the vehicle) inside the namespace; it is stopped on close()."""
        proc = ManagedProcess(["ip", "netns", "exec", self.namespace, *argv], log_path, env=env)
        self._procs.append(proc)
        return proc

    def close(self) -> None:
        """Stop what runs inside, remove the veth pair and the namespace; idempotent."""
        if self._closed:
            return
        self._closed = True
        for proc in self._procs:
            with contextlib.suppress(Exception):
                proc.stop(grace_s=2.0)
        # deleting one end removes both, at once (a namespace's end would go only later)
        _run("ip", "link", "del", self.host_if)
        _run("ip", "netns", "del", self.namespace)
        _LIVE.discard(self)

    def __enter__(self) -> "NetemLink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@atexit.register
def _close_all() -> None:
    for link in list(_LIVE):
        link.close()
