"""ArduPilot SITL (arducopter, arduplane, ...): the user's own binary, started for the harness.

    vehicle: {driver: ardupilot-sitl, speedup: 10, home: [lat, lon, alt, hdg],
              defaults: copter.parm, model: "+", wipe: true, serial: {4: "sim:gps"},
              params: {DID_ENABLE: 1, DID_MAVPORT: 1}}   # params: one more defaults file

The binary comes from `vehicle.binary` (the profile, or `--sitl-binary` which conftest puts
there), else the environment variable SKYPROOF_ARDUPILOT_BINARY; defaults files from
`vehicle.defaults`, else SKYPROOF_ARDUPILOT_DEFAULTS (comma-separated).

Ports. Instance I serves SERIAL0 on TCP 5760+10*I, SERIAL1 on +2, SERIAL2 on +3 (or
`base_port` + 0/2/3) and takes UDP 5501+10*I for RC input. The driver leases a free instance
(drivers/ports.py: lock files plus bind checks), so xdist workers and parallel runs never
collide, and passes `-I I` (and `--base-port`). SITL binds 0.0.0.0 and no flag changes that;
the harness only ever connects to 127.0.0.1.

Readiness. SERIAL0 is "tcp:0:wait": the firmware does not boot until a client connects, and
serves one client at a time. The driver connects a short-lived probe there, waits for the first
HEARTBEAT (wall-bounded: nothing runs on a vehicle clock yet), then closes it; SITL notices the
EOF and accepts the harness's own connection next (verified against V4.7.0-dev). GPS and EKF
readiness are left to the checks (Vehicle.wait_armable, in vehicle time).

Quirk: SERIAL0 is ArduPilot's "trusted" channel for signing (it accepts unsigned traffic
there even with a key set; GCS_Signing.cpp), so negative signing checks must use urls[1]
(SERIAL1) or urls[2].

Its working directory (eeprom.bin, logs/, terrain/) is a fresh folder under the driver's
log_dir, kept with the run; console output goes to log_dir/ardupilot-N.log. `wipe: true` (the
default) wipes the stored parameters at every start the driver makes, so each start, and each
restart after a crash, begins from the defaults files; `wipe: false` keeps them.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from drivers.errors import DriverError
from drivers.mavlink import mavlink
from drivers.ports import Port, tcp, udp
from drivers.process import ManagedProcess
from drivers.vehicles.sitl_process import SitlProcessDriver, fresh_dir

ENV_BINARY = "SKYPROOF_ARDUPILOT_BINARY"
ENV_DEFAULTS = "SKYPROOF_ARDUPILOT_DEFAULTS"
BASE_PORT, RCIN_PORT = 5760, 5501  # ArduPilot's SITL_cmdline.cpp; -I adds 10*I to both
# SITL's own SERIALn defaults (sim_vehicle.py and SITL_cmdline.cpp): TCP base+0 (waits), +2, +3
DEFAULT_SERIAL = {0: "tcp:0:wait", 1: "tcp:2", 2: "tcp:3"}
HARNESS_CHANNELS = 3  # urls: SERIAL0, SERIAL1, SERIAL2


def resolve_binary(cfg: dict[str, Any]) -> Path:
    """The SITL binary to run, or a DriverError naming the three ways to give one."""
    given = cfg.get("binary") or os.environ.get(ENV_BINARY)
    how = (
        f"give it as vehicle.binary in the profile, with --sitl-binary PATH, or in the "
        f"environment variable {ENV_BINARY}"
    )
    if not given:
        raise DriverError(f"ArduPilot SITL: no binary given; {how}")
    path = Path(given).expanduser().resolve()
    if not path.is_file():
        raise DriverError(f"ArduPilot SITL: binary {given!r} does not exist; {how}")
    if not os.access(path, os.X_OK):
        raise DriverError(f"ArduPilot SITL: binary {given!r} is not executable (chmod +x?)")
    return path


def resolve_defaults(cfg: dict[str, Any]) -> list[Path]:
    """Defaults files (profile, else environment), made absolute: SITL runs in its own folder."""
    given = cfg.get("defaults")
    if given is None:
        env = os.environ.get(ENV_DEFAULTS, "")
        given = [p for p in env.split(",") if p.strip()]
    files = [given] if isinstance(given, str) else list(given)
    paths = [Path(f).expanduser().resolve() for f in files]
    missing = [str(f) for f, p in zip(files, paths, strict=True) if not p.is_file()]
    if missing:
        raise DriverError(f"ArduPilot SITL: defaults file(s) not found: {', '.join(missing)}")
    return paths


def serial_devices(cfg: dict[str, Any]) -> dict[int, str]:
    """SITL's SERIALn devices: its defaults, overridden by the profile's `serial` map."""
    devices = dict(DEFAULT_SERIAL)
    for key, dev in (cfg.get("serial") or {}).items():
        devices[int(key)] = str(dev)
    if not devices[0].startswith("tcp:"):
        raise DriverError(
            f"ArduPilot SITL: serial 0 is {devices[0]!r}; it must stay a TCP port "
            "(tcp:0:wait): the harness connects there"
        )
    return devices


def tcp_port(device: str, base: int) -> int | None:
    """The TCP port SITL listens on for a `tcp:N[:wait]` device (N < 1000 is relative to base)."""
    parts = device.split(":")
    if parts[0] != "tcp" or len(parts) < 2 or not parts[1].isdigit():
        return None
    n = int(parts[1])
    return n if n > 1000 else base + n


class ArduPilotSitl(SitlProcessDriver):
    """A vehicle played by an ArduPilot SITL binary on a leased instance's ports."""

    name = "ardupilot-sitl"
    capabilities = frozenset({"restart", "reboot", "wipe", "flight"})
    LOG_STEM = "ardupilot"
    INSTANCES = range(0, 100)  # searched in order unless the profile pins `instance`

    def __init__(self, vehicle: dict[str, Any], log_dir: Path) -> None:
        super().__init__(vehicle, log_dir)
        self.devices = serial_devices(vehicle)
        self.work_dir: Path | None = None

    @property
    def ftp_root(self) -> Path | None:
        """SITL serves MAVLink FTP from its working folder (AP_Filesystem_posix: `/` maps to
        `.`); the harness owns the folder around it."""
        return self.work_dir

    def _base(self, instance: int) -> int:
        return int(self.cfg.get("base_port") or BASE_PORT + 10 * instance)

    def _blocks(self) -> Iterator[tuple[int, list[Port]]]:
        pinned = self.cfg.get("instance")
        for instance in [int(pinned)] if pinned is not None else self.INSTANCES:
            base = self._base(instance)
            listening = [tcp_port(dev, base) for dev in self.devices.values()]
            yield instance, [*tcp(*(p for p in listening if p)), *udp(RCIN_PORT + 10 * instance)]

    def _urls(self, instance: int) -> list[str]:
        urls = []
        for channel in range(HARNESS_CHANNELS):  # index = SERIALn; stop at the first non-TCP
            port = tcp_port(self.devices.get(channel, ""), self._base(instance))
            if port is None:
                break
            urls.append(f"tcp:127.0.0.1:{port}")
        return urls

    def argv(self, binary: Path, instance: int) -> list[str]:
        cfg = self.cfg
        argv = [str(binary), "--model", str(cfg.get("model") or "+")]
        argv += ["--speedup", f"{cfg.get('speedup', 1):g}"]
        if cfg.get("home"):
            # "=": a southern/western home starts with "-"; ".10g" keeps centimetres
            argv.append("--home=" + ",".join(f"{v:.10g}" for v in cfg["home"]))
        defaults = resolve_defaults(cfg)
        if cfg.get("params"):
            defaults.append(self.params_file())  # last: the profile's values win
        if defaults:
            argv += ["--defaults", ",".join(map(str, defaults))]
        if cfg.get("wipe", True):
            argv.append("--wipe")
        if cfg.get("base_port"):
            argv += ["--base-port", str(cfg["base_port"])]  # before -I, as its --help asks
        argv += ["-I", str(instance), "--sysid", str(self.sysid)]
        for n, dev in sorted((cfg.get("serial") or {}).items(), key=lambda kv: int(kv[0])):
            argv += [f"--serial{int(n)}", str(dev)]
        return argv

    def params_file(self) -> Path:
        """The profile's vehicle.params as a defaults file (NAME VALUE per line) in the log
        folder, for SITL to boot with after the other defaults files."""
        path = self.log_dir / "vehicle-params.parm"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"{name} {value:.10g}" for name, value in self.cfg["params"].items()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def _launch(self, instance: int, log: Path) -> ManagedProcess:
        binary = resolve_binary(self.cfg)
        argv = self.argv(binary, instance)
        if self.work_dir is None:
            self.work_dir = fresh_dir(self.log_dir, "ardupilot-work")
        return ManagedProcess(argv, log, cwd=self.work_dir)

    def start(self) -> str:
        resolve_binary(self.cfg)  # fail before leasing ports, with the clearest message
        resolve_defaults(self.cfg)
        return super().start()

    def _accept(self, heartbeat: Any) -> None:
        if heartbeat.autopilot != mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA:
            raise DriverError(
                f"{self.name}: the binary answered as autopilot {heartbeat.autopilot}, "
                "not ArduPilot; is vehicle.binary an ArduPilot SITL build?"
            )
        if heartbeat.get_srcSystem() != self.sysid:
            raise DriverError(
                f"{self.name}: the vehicle answered as system {heartbeat.get_srcSystem()}, "
                f"the profile says sysid {self.sysid}"
            )
