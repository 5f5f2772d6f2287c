"""PX4 SITL with its SIH simulation (no Gazebo): the user's `px4_sitl_default` build folder.

    vehicle: {driver: px4-sitl, speedup: 5, home: [lat, lon, alt, hdg], build_dir: ...}

The build folder comes from `vehicle.build_dir`, else SKYPROOF_PX4_BUILD_DIR. The driver runs

    PX4_SYS_AUTOSTART=10040 PX4_SIMULATOR=sihsim PX4_SIM_MODEL=sihsim_quadx \
    PX4_SIM_SPEED_FACTOR=<speedup> <build>/bin/px4 -d -i N -w <work dir> <build>/etc

with its own working directory (rootfs: parameters, dataman, logs, the signing key) as a fresh
folder under the driver's log_dir, so no state leaks in from earlier runs (PX4 keeps
parameters per instance, including the COM_DL_LOSS_T its start script scales by the speed
factor), and a run's logs stay with its results. A restart keeps that folder, as a power cycle
would, except for the MAVLink signing key (mavlink/mavlink-signing-key.bin: the key and its
timestamp): the harness restarts a vehicle to take off a key it could not (SETUP_SIGNING is
refused while armed), as ArduPilot SITL's wipe does, so a restarted PX4 starts unsigned.

Ports of instance N (px4-rc.mavlink): the offboard/API link binds UDP 14580+N and sends to
14540+N; the GCS link binds 18570+N and sends to 14550 (every instance alike) until a ground
station speaks to it; more UDP ports for payload (14280+N), gimbal (13030+N) and the SIH display
(19450+N). Instances above 9 share the offboard port 14549, so the driver leases N in 0..9
(lock files, bind checks, and PX4's own /tmp/px4_lock-N).

A second channel with fixed ports on both ends: a UDP link answers only the first address that
spoke to it, for the life of the process (mavlink_receiver.cpp, "partner IP"), so a client on an
ephemeral port (udpout) would latch the GCS link for good and every later station on it would
be answered at the first one's port. The driver therefore adds one more MAVLink instance, in
PX4's default (normal) mode, binding 18580+N and sending to 14560+N: rcS sources
`px4-rc.mavlink` through PATH, so a `px4-rc.mavlink` of the driver's (in a folder beside the
working directory, never inside it: that folder is PX4's FTP root, where the file-side checks
tidy up and a peer could write) runs PX4's own and then starts that instance.
urls: [udpin:127.0.0.1:14540+N (the offboard link, private to the instance),
udpin:127.0.0.1:14560+N (the driver's second link)]: any number of stations, one after
another, can use it.

No `reboot` capability: PX4 SITL has no board reset (platforms/common/shutdown.cpp: "board
reset not available"), so MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN cannot reboot it, and checks that
need a reboot skip.

Readiness: a probe listens on 14540+N for the first autopilot HEARTBEAT (wall-bounded), then
closes. MAV_SYS_ID is set by PX4's start script to N+1, so `sysid` is what the vehicle says.
"""

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from drivers.errors import DriverError
from drivers.mavlink import mavlink
from drivers.ports import Port, udp
from drivers.process import ManagedProcess
from drivers.vehicles.sitl_process import SitlProcessDriver, fresh_dir

ENV_BUILD = "SKYPROOF_PX4_BUILD_DIR"
DEFAULT_MODEL = "sihsim_quadx"
SIH_QUADX_AUTOSTART = "10040"
PX4_LOCK = "/tmp/px4_lock-{}"  # PX4's own per-instance server lock (posix main.cpp)
SIGNING_KEY_FILE = Path("mavlink", "mavlink-signing-key.bin")  # mavlink_sign_control.h, in rootfs


def resolve_build_dir(cfg: dict[str, Any]) -> Path:
    given = cfg.get("build_dir") or os.environ.get(ENV_BUILD)
    how = f"give it as vehicle.build_dir in the profile or in the environment variable {ENV_BUILD}"
    if not given:
        raise DriverError(f"PX4 SITL: no build folder given (px4_sitl_default); {how}")
    build = Path(given).expanduser().resolve()
    px4 = build / "bin" / "px4"
    if not px4.is_file() or not os.access(px4, os.X_OK):
        raise DriverError(f"PX4 SITL: {px4} is missing or not executable; {how}")
    if not (build / "etc").is_dir():
        raise DriverError(f"PX4 SITL: {build / 'etc'} is missing; is {given!r} a build folder?")
    return build


def px4_instance_free(instance: int) -> bool:
    """False while a PX4 (started by anyone) holds its server lock for this instance."""
    try:
        fd = os.open(PX4_LOCK.format(instance), os.O_RDWR)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # PX4 takes an fcntl write lock
    except OSError:
        return False
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


class Px4Sitl(SitlProcessDriver):
    """A vehicle played by PX4 SITL (SIH) on a leased instance's ports."""

    name = "px4-sitl"
    capabilities = frozenset({"restart", "flight"})
    LOG_STEM = "px4"
    INSTANCES = range(0, 10)

    def __init__(self, vehicle: dict[str, Any], log_dir: Path) -> None:
        super().__init__(vehicle, log_dir)
        self.work_dir: Path | None = None
        self.rc_dir: Path | None = None

    @property
    def ftp_root(self) -> Path | None:
        """PX4 SITL's MAVLink FTP resolves relative paths in its working folder (the board root
        path "."); the harness owns the folder around it."""
        return self.work_dir

    @property
    def sysid(self) -> int:
        if self.heartbeat is not None:
            return int(self.heartbeat.get_srcSystem())
        if self.instance is not None:
            return self.instance + 1
        return int(self.cfg.get("sysid", 1))

    def _blocks(self) -> Iterator[tuple[int, list[Port]]]:
        pinned = self.cfg.get("instance")
        if pinned is not None and int(pinned) not in self.INSTANCES:
            raise DriverError(
                f"{self.name}: instance {pinned} is out of 0..9 (PX4 gives instances above 9 "
                "one shared offboard port, 14549)"
            )
        for n in [int(pinned)] if pinned is not None else self.INSTANCES:
            yield n, udp(14540 + n, 14580 + n, 18570 + n, 14280 + n, 13030 + n, 19450 + n,
                         *self._second_link(n))  # fmt: skip

    @staticmethod
    def _second_link(instance: int) -> tuple[int, int]:
        """(PX4's port, the client's port) of the driver's second channel."""
        return 18580 + instance, 14560 + instance

    def _extra_locks(self, instance: int) -> list[str]:
        return [f"px4-instance-{instance}"]

    def _extra_free(self, instance: int) -> bool:
        return px4_instance_free(instance)

    def _urls(self, instance: int) -> list[str]:
        return [f"udpin:127.0.0.1:{14540 + instance}",
                f"udpin:127.0.0.1:{self._second_link(instance)[1]}"]  # fmt: skip

    def env(self, rc_dir: Path | None = None) -> dict[str, str]:
        cfg = self.cfg
        model = str(cfg.get("model") or DEFAULT_MODEL)
        path = os.environ.get("PATH", "")
        env = {
            **os.environ,
            "PATH": f"{rc_dir}:{path}" if rc_dir is not None else path,
            "PX4_SIMULATOR": "sihsim",
            "PX4_SIM_MODEL": model,
            "PX4_SIM_SPEED_FACTOR": f"{cfg.get('speedup', 1):g}",
        }
        if model == DEFAULT_MODEL:  # other SIH models: rcS finds the airframe by model name
            env["PX4_SYS_AUTOSTART"] = SIH_QUADX_AUTOSTART
        if cfg.get("home"):
            lat, lon, alt = cfg["home"][:3]  # SIH takes no heading
            env |= {
                "PX4_HOME_LAT": f"{lat:.10g}",
                "PX4_HOME_LON": f"{lon:.10g}",
                "PX4_HOME_ALT": f"{alt:.10g}",
            }
        return env

    def argv(self, build: Path, instance: int, work_dir: Path) -> list[str]:
        return [str(build / "bin" / "px4"), "-d", "-i", str(instance), "-w", str(work_dir),
                str(build / "etc")]  # fmt: skip

    def _launch(self, instance: int, log: Path) -> ManagedProcess:
        build = resolve_build_dir(self.cfg)
        if self.work_dir is None:
            self.work_dir = fresh_dir(self.log_dir, "px4-work")
        (self.work_dir / SIGNING_KEY_FILE).unlink(missing_ok=True)  # a restart starts unsigned
        rc_dir = self._mavlink_rc(build)
        argv = self.argv(build, instance, self.work_dir)
        return ManagedProcess(argv, log, cwd=self.work_dir, env=self.env(rc_dir))

    def _mavlink_rc(self, build: Path) -> Path:
        """A folder holding the driver's px4-rc.mavlink: PX4's own, then the second link. Beside
        the working folder, out of reach of MAVLink FTP (whose root is the working folder)."""
        if self.rc_dir is None:
            self.rc_dir = fresh_dir(self.log_dir, "px4-rc")
        rc_dir = self.rc_dir
        own = build / "etc" / "init.d-posix" / "px4-rc.mavlink"
        if not own.is_file():
            raise DriverError(f"PX4 SITL: {own} is missing; is {build} a px4_sitl_default build?")
        (rc_dir / "px4-rc.mavlink").write_text(
            "#!/bin/sh\n"
            "# written by skyproof (drivers/vehicles/px4_sitl.py): PX4's links, then one more\n"
            f". '{own}'\n"
            "mavlink start -x -u $((18580+px4_instance)) -r 4000000 -o $((14560+px4_instance))\n"
        )
        return rc_dir

    def start(self) -> str:
        resolve_build_dir(self.cfg)  # fail before leasing ports, with the clearest message
        return super().start()

    def _accept(self, heartbeat: Any) -> None:
        if heartbeat.autopilot != mavlink.MAV_AUTOPILOT_PX4:
            raise DriverError(
                f"{self.name}: the build answered as autopilot {heartbeat.autopilot}, not PX4"
            )
