"""Fake SITL processes for the driver tests: small Python scripts, written where a test wants
them, that play an ArduPilot SITL binary or a PX4 build folder (listen on the ports the driver
passed, send HEARTBEATs) or misbehave in one named way.

Behaviours (`mode`): ok, exit (at once, with a last word), silent (listens, never beats),
deaf (never listens), fail_first (exits the first time, then ok), crash (ok for a moment,
then exits 7), orphan (ok, plus a child that ignores SIGTERM). Every fake writes its argv,
cwd, environment and the pids it made to `record` (JSON) so a test can check what it was given.
"""

import stat
import sys
from pathlib import Path

from drivers.mavlink import mavlink


def heartbeat(sysid: int, autopilot: int) -> bytes:
    mav = mavlink.MAVLink(None, srcSystem=sysid, srcComponent=1)
    msg = mav.heartbeat_encode(mavlink.MAV_TYPE_QUADROTOR, autopilot, 0, 0, 3)
    return msg.pack(mav)


_COMMON = r"""#!{python}
import json, os, signal, socket, subprocess, sys, time
MODE, RECORD, MARK = {mode!r}, {record!r}, {mark!r}
pids = [os.getpid()]
def record(**extra):
    with open(RECORD + ".tmp", "w") as f:
        json.dump(dict(argv=sys.argv, cwd=os.getcwd(), env=dict(os.environ), pids=pids, **extra), f)
    os.replace(RECORD + ".tmp", RECORD)
def arg(*names, default=None):
    for i, a in enumerate(sys.argv):
        if a in names:
            return sys.argv[i + 1]
    return default
print("fake sitl starting", MODE, flush=True)
if MODE == "exit" or (MODE == "fail_first" and not os.path.exists(MARK)):
    open(MARK, "w").close()
    record()
    print("bind failed on port 5760 - Address already in use", flush=True)
    sys.exit(3)
if MODE == "orphan":
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    pids.append(child.pid)
def crash():
    print("PANIC: fake crash", flush=True)
    os._exit(7)
if MODE == "crash":  # whatever it is doing then (waiting for a client, talking to one)
    import threading
    threading.Timer({crash_after_s}, crash).start()
"""

_ARDUPILOT = (
    _COMMON
    + r"""
instance = int(arg("-I", default="0"))
base = int(arg("--base-port", default=str(5760 + 10 * instance)))
sysid = int(arg("--sysid", default="1"))
record(base=base)
if MODE == "deaf":
    time.sleep(600)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", base))
srv.listen(1)
print("SERIAL0 on TCP port %d" % base, flush=True)
print("Waiting for connection ....", flush=True)
beat = bytes.fromhex({heartbeats!r}[str(sysid)])
while True:
    conn, _ = srv.accept()
    print("Connection on serial port %d" % base, flush=True)
    conn.settimeout(0.1)
    while True:
        if MODE != "silent":
            try:
                conn.sendall(beat)
            except OSError:
                break
        try:
            if conn.recv(4096) == b"":
                print("Closed connection on SERIAL0", flush=True)
                break
        except socket.timeout:
            pass
        except OSError:
            break
"""
)

_PX4 = (
    _COMMON
    + r"""
instance = int(arg("-i", default="0"))
record(instance=instance)
if MODE == "deaf":
    time.sleep(600)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 14580 + instance))
print("INFO  [mavlink] mode: Onboard, udp port %d" % (14580 + instance), flush=True)
beat = bytes.fromhex({heartbeats!r}[str(instance + 1)])
while True:
    if MODE != "silent":
        sock.sendto(beat, ("127.0.0.1", 14540 + instance))
    time.sleep(0.1)
"""
)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _fill(template: str, folder: Path, mode: str, autopilot: int, crash_after_s: float) -> str:
    beats = {str(s): heartbeat(s, autopilot).hex() for s in range(1, 12)}
    return template.format(
        python=sys.executable,
        mode=mode,
        record=str(folder / "record.json"),
        mark=str(folder / "first-start-failed"),
        heartbeats=beats,
        crash_after_s=crash_after_s,
    )


def fake_ardupilot(folder: Path, mode: str = "ok", crash_after_s: float = 1.0) -> Path:
    """An executable that plays `arducopter` (ArduPilot's command line, SERIAL0 on TCP)."""
    text = _fill(_ARDUPILOT, folder, mode, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, crash_after_s)
    return _write(folder / "arducopter", text)


def fake_px4_build(folder: Path, mode: str = "ok", crash_after_s: float = 1.0) -> Path:
    """A build folder whose bin/px4 plays PX4 SITL (offboard link: UDP 14580+N -> 14540+N)."""
    text = _fill(_PX4, folder, mode, mavlink.MAV_AUTOPILOT_PX4, crash_after_s)
    _write(folder / "build" / "bin" / "px4", text)
    # PX4's link script, which the driver's own px4-rc.mavlink sources (this fake never runs it)
    _write(folder / "build" / "etc" / "init.d-posix" / "px4-rc.mavlink", "#!/bin/sh\n")
    return folder / "build"


def alive(pid: int) -> bool:
    """True if `pid` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
