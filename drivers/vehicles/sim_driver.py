"""Starts and stops the built-in simulator (sim/) in its own process, on free loopback ports."""

import sys
from pathlib import Path
from typing import Any

from drivers.errors import DriverError
from drivers.process import ManagedProcess
from drivers.vehicles.sitl_process import fresh_dir

ROOT = Path(__file__).resolve().parents[2]  # the repository: `python -m sim` runs there
LINK_LINE = r"link (\d+) (?:listening on|sending to) (\S+)"


class SimDriver:
    """A vehicle played by `python -m sim`, listening on tcp:127.0.0.1:<a free port>."""

    name = "sim"
    capabilities = frozenset({"sim_faults", "restart", "reboot", "flight"})
    START_TIMEOUT_S = 20.0  # wall: a cold Python start with pymavlink imports on a loaded machine

    def __init__(self, vehicle: dict[str, Any], log_dir: Path) -> None:
        self.cfg = vehicle
        self.log_dir = Path(log_dir)
        self.process: ManagedProcess | None = None
        self.url: str | None = None
        self._urls: list[str] = []
        self.starts = 0
        self.files_dir: Path | None = None  # the simulator's own folder: FTP root, its logs

    @property
    def ftp_root(self) -> Path | None:
        """The host folder the vehicle's MAVLink FTP root is (the harness owns its parent)."""
        return self.files_dir / "ftp" if self.files_dir else None

    @property
    def sysid(self) -> int:
        return int(self.cfg.get("sysid", 1))

    @property
    def urls(self) -> list[str]:
        """MAVLink channel index -> connection string (vehicle `links:`, default 1)."""
        return list(self._urls) if self.url else []

    @property
    def links(self) -> int:
        return int(self.cfg.get("links", 1))

    def argv(self) -> list[str]:
        cfg = self.cfg
        argv = [sys.executable, "-u", "-m", "sim"]
        argv += ["--listen", "tcp:127.0.0.1:0"] * self.links  # channel 0, 1, ... in this order
        argv += ["--speedup", f"{cfg.get('speedup', 1):g}", "--sysid", str(self.sysid)]
        argv += ["--seed", str(cfg.get("seed", 0))]
        if cfg.get("home"):
            # "=": a southern/western home starts with "-", which argparse would take for a flag;
            # ".10g": "g" alone keeps 6 digits, i.e. moves home by up to ~20 m.
            argv.append("--home=" + ",".join(f"{v:.10g}" for v in cfg["home"]))
        for fault in cfg.get("faults", []):
            argv += ["--fault", fault]
        for name, value in (cfg.get("params") or {}).items():
            argv += ["--param", f"{name}={value:.10g}"]  # boot values (e.g. DID_ENABLE)
        if self.files_dir is not None:
            argv += ["--files-dir", str(self.files_dir)]
        if cfg.get("radio") is not None:
            argv += ["--radio", "0"]  # a SiK radio pair in the harness's link (channel 0)
        return argv

    def start(self) -> str:
        """Start the simulator; return the connection string of its first link."""
        self.starts += 1
        log = self.log_dir / f"sim-{self.starts}.log"
        if self.files_dir is None:
            self.files_dir = fresh_dir(self.log_dir, "sim-files")  # kept across restarts
        self.process = ManagedProcess(self.argv(), log, cwd=ROOT)
        try:
            found = self.process.wait_for_lines(LINK_LINE, self.links, self.START_TIMEOUT_S)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise DriverError(f"built-in simulator did not start: {exc} (log: {log})") from exc
        self._urls = [m.group(2) for m in sorted(found, key=lambda m: int(m.group(1)))]
        self.url = self._urls[0]
        return self.url

    def liveness(self) -> str | None:
        """None while the simulator runs; otherwise why it is gone (exited, or stopped: a
        stopped process never answers, so it is as good as gone)."""
        if self.process is None:  # never started, or stopped by the harness (a check says why)
            return "simulator stopped by the harness" if self.starts else "simulator not started"
        code = self.process.exit_code()
        if code is None:
            if self.process.stopped():
                return f"simulator (pid {self.process.pid}) is stopped (SIGSTOP) and cannot answer"
            return None
        return f"simulator exited with code {code}; its last output:\n{self.process.tail(5)}"

    def ensure_running(self) -> str:
        """The running simulator's URL, starting a fresh one if it died or hangs stopped (the
        old one's whole process group is killed first)."""
        if self.liveness() is not None:
            self.stop()
            return self.start()
        assert self.url is not None
        return self.url

    def restart(self) -> str:
        self.stop()
        return self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
