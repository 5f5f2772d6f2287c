"""The dataflash log service (LOG_REQUEST_LIST / LOG_ENTRY / LOG_REQUEST_DATA / LOG_DATA) and a
SERIAL_CONTROL shell, over the files of the FTP root.

Logs live in `<ftp root>/logs` as ArduPilot names them (`00000001.BIN`, ...); the service lists
only such names, so a file created there over FTP with any other name is not a log. Two logs
of seeded bytes are written at start when there are none.

SERIAL_CONTROL to device SHELL (10) answers like a PX4 shell: the command echoed and a prompt.
Only a peer the signing policy lets through reaches it (the link's parser drops the others).

Faults: ftp_long_name_crash (the service copies every file name of the log folder into a
60-byte buffer: a longer name, e.g. created over FTP, takes the vehicle down on the next
LOG_REQUEST_LIST, as PX4's CVE-2026-32743).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sim.mav import MAVLinkMessage, mavlink

if TYPE_CHECKING:
    from sim.core import Sim
    from sim.links import Link

M = mavlink
LOG_NAME = re.compile(r"^(\d{8})\.BIN$")
NAME_BUFFER = 60  # fault ftp_long_name_crash: the buffer a name is copied into
CHUNK = 90  # LOG_DATA carries 90 bytes
SEED_LOGS = (3000, 5200)  # sizes of the logs written at start


class LogService:
    def __init__(self, sim: Sim, root: Path) -> None:
        self.sim = sim
        self.folder = root / "logs"
        self.folder.mkdir(exist_ok=True)
        if not any(LOG_NAME.match(p.name) for p in self.folder.iterdir()):
            rng = random.Random(sim.seed * 31 + 7)
            for n, size in enumerate(SEED_LOGS, start=1):
                (self.folder / f"{n:08d}.BIN").write_bytes(rng.randbytes(size))
        sim.handlers["LOG_REQUEST_LIST"] = self.on_request_list
        sim.handlers["LOG_REQUEST_DATA"] = self.on_request_data
        sim.handlers["SERIAL_CONTROL"] = self.on_serial_control

    def logs(self) -> dict[int, Path]:
        found = {}
        for path in self.folder.iterdir():
            if self.sim.faults.on("ftp_long_name_crash") and len(path.name) > NAME_BUFFER:
                self.sim.crash(f"log file name of {len(path.name)} bytes overran its buffer")
            m = LOG_NAME.match(path.name)
            if m and path.is_file():
                found[int(m.group(1))] = path
        return dict(sorted(found.items()))

    def _ours(self, msg: MAVLinkMessage) -> bool:
        return msg.target_system in (0, self.sim.sysid) and msg.target_component in (0, 1)

    def on_request_list(self, link: Link, msg: MAVLinkMessage) -> None:
        if not self._ours(msg):
            return
        logs = self.logs()
        last = max(logs, default=0)
        wanted = [n for n in logs if msg.start <= n <= msg.end]
        if not logs:
            self.sim.send(link, M.MAVLink_log_entry_message(0, 0, 0, 0, 0))
        for n in wanted:
            path = logs[n]
            self.sim.send(link, M.MAVLink_log_entry_message(
                n, len(logs), last, int(path.stat().st_mtime), path.stat().st_size))

    def on_request_data(self, link: Link, msg: MAVLinkMessage) -> None:
        if not self._ours(msg):
            return
        path = self.logs().get(msg.id)
        if path is None:
            return
        data = path.read_bytes()
        ofs, end = msg.ofs, min(len(data), msg.ofs + msg.count)
        while True:
            chunk = data[ofs:min(end, ofs + CHUNK)] if ofs < end else b""
            self.sim.send(link, M.MAVLink_log_data_message(
                msg.id, ofs, len(chunk), chunk.ljust(CHUNK, b"\0")))
            if not chunk:
                return  # count 0: the end of the log (or of what was asked)
            ofs += len(chunk)
            if ofs >= end:
                return

    def on_serial_control(self, link: Link, msg: MAVLinkMessage) -> None:
        if (msg.device != M.SERIAL_CONTROL_DEV_SHELL or msg.flags & M.SERIAL_CONTROL_FLAG_REPLY
                or not msg.flags & M.SERIAL_CONTROL_FLAG_RESPOND):
            return
        command = bytes(msg.data[:msg.count]).decode("ascii", "replace").strip()
        text = (f"{command}\r\nskyproof-sim shell\r\nnsh> " if command else "nsh> ").encode()
        for i in range(0, len(text), 70):
            chunk = text[i:i + 70]
            self.sim.send(link, M.MAVLink_serial_control_message(
                M.SERIAL_CONTROL_DEV_SHELL, M.SERIAL_CONTROL_FLAG_REPLY, 0, 0, len(chunk),
                list(chunk.ljust(70, b"\0"))))
