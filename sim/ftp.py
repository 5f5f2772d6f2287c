"""MAVLink FTP (FILE_TRANSFER_PROTOCOL, mavlink.io "File Transfer Protocol") for the simulator.

The root is a real folder, `<files dir>/ftp` (the driver's own instance folder, or a temporary
one removed on exit): `/` and relative paths both mean the root, and every path is resolved
(`..`, symlinks) and refused unless it stays inside. `@SYS/` is a read-only virtual folder, as
ArduPilot's: `@SYS/storage.bin` holds the vehicle's storage, the signing key included (so only
a peer the signing policy trusts may read it: the link's parser drops the others' frames).
`@SYS/` cannot be written, created, truncated, removed or renamed onto, whatever the order of
operations. One reply is cached per sender: a request resent with the same sequence number gets
that reply again (a lost reply must not run a write twice).

Faults: ftp_traversal (`..` may leave the root), ftp_resend_leaks (a resent reply carries the
whole reply buffer, stale bytes beyond its size included), ftp_write_protect_bypass (Open +
List + Write: a session opened read-only can be written after a ListDirectory), and one handler
each that forgets the @SYS check: ftp_open_wo_unprotected, ftp_create_unprotected,
ftp_truncate_unprotected, ftp_remove_unprotected, ftp_rename_onto_protected.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pymavlink.mavftp_op import (
    OP_Ack,
    OP_BurstReadFile,
    OP_CalcFileCRC32,
    OP_CreateDirectory,
    OP_CreateFile,
    OP_ListDirectory,
    OP_Nack,
    OP_OpenFileRO,
    OP_OpenFileWO,
    OP_ReadFile,
    OP_RemoveDirectory,
    OP_RemoveFile,
    OP_Rename,
    OP_ResetSessions,
    OP_TerminateSession,
    OP_TruncateFile,
    OP_WriteFile,
)

from sim.mav import MAVLinkMessage, mavlink

if TYPE_CHECKING:
    from sim.core import Sim
    from sim.links import Link

HEADER = struct.Struct("<HBBBBBBI")  # seq, session, opcode, size, req_opcode, burst, pad, offset
DATA_MAX = 239  # 251-byte payload less the 12-byte header
MAX_SESSIONS = 4
# NAK error codes (mavlink.io; pymavlink.mavftp.FtpError has the same numbers)
ERR_FAIL, ERR_ERRNO, ERR_SIZE, ERR_SESSION, ERR_NO_SESSIONS, ERR_EOF = 1, 2, 3, 4, 5, 6
ERR_UNKNOWN, ERR_EXISTS, ERR_PROTECTED, ERR_NOT_FOUND = 7, 8, 9, 10
SYS = "@SYS"
STORAGE_SIZE = 16384  # ArduPilot SITL's storage area


@dataclass
class Session:
    path: str  # as resolved: a host path, or "@SYS/<name>"
    writable: bool


@dataclass
class Reply:
    payload: bytes  # what goes on the wire
    buffer: bytes  # the whole reply buffer (fault ftp_resend_leaks sends this)


@dataclass
class Ftp:
    sim: Sim
    files_dir: Path | None = None
    sessions: dict[int, Session] = field(default_factory=dict)
    # sender (sysid, compid) -> (request seq, request bytes, reply): answers a resent request
    last: dict[tuple[int, int], tuple[int, bytes, Reply]] = field(default_factory=dict)
    sys_written: dict[str, bytes] = field(default_factory=dict)  # @SYS writes (known-bad only)
    sys_removed: set[str] = field(default_factory=set)  # @SYS removals (known-bad only)
    _buffer: bytearray = field(default_factory=lambda: bytearray(DATA_MAX))
    _own_tmp: bool = False
    req_size: int = 0  # the size field of the request being handled

    def __post_init__(self) -> None:
        if self.files_dir is None:
            self.files_dir = Path(tempfile.mkdtemp(prefix="skyproof-sim-files-"))
            self._own_tmp = True
        self.root = (self.files_dir / "ftp").resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.sim.handlers["FILE_TRANSFER_PROTOCOL"] = self.on_message

    def close(self) -> None:
        if self._own_tmp and self.files_dir is not None:
            shutil.rmtree(self.files_dir, ignore_errors=True)

    def reboot(self) -> None:
        self.sessions.clear()
        self.last.clear()

    # ---- the protocol ----
    def on_message(self, link: Link, msg: MAVLinkMessage) -> None:
        if msg.target_system not in (0, self.sim.sysid) or msg.target_component not in (0, 1):
            return
        raw = bytes(msg.payload).ljust(HEADER.size + DATA_MAX, b"\0")
        seq, session, opcode, size, _, _, _, offset = HEADER.unpack_from(raw)
        data = raw[HEADER.size:HEADER.size + min(size, DATA_MAX)]
        sender = (msg.get_srcSystem(), msg.get_srcComponent())
        cached = self.last.get(sender)
        if cached is not None and cached[0] == seq and cached[1] == raw:
            reply = cached[2]
            resent = reply.payload
            if self.sim.faults.on("ftp_resend_leaks"):
                resent = reply.payload[:HEADER.size] + reply.buffer  # the whole buffer
                resent = resent[:4] + bytes([DATA_MAX]) + resent[5:]  # size says so too
            self._send(link, msg, resent)
            return
        self.req_size = size
        code, out_session, out_data = self._handle(opcode, session, offset, data)
        if code == OP_Nack:
            out_data = bytes(out_data[:2])
        self._buffer[:len(out_data)] = out_data  # a reply buffer reused, as autopilots do
        payload = HEADER.pack((seq + 1) & 0xFFFF, out_session, code, len(out_data), opcode, 0, 0,
                              offset) + bytes(out_data)
        reply = Reply(payload, bytes(self._buffer))
        self.last[sender] = (seq, raw, reply)
        self._send(link, msg, payload)

    def _send(self, link: Link, msg: MAVLinkMessage, payload: bytes) -> None:
        self.sim.send(link, mavlink.MAVLink_file_transfer_protocol_message(
            0, msg.get_srcSystem(), msg.get_srcComponent(), payload.ljust(251, b"\0")))

    def _handle(self, op: int, session: int, offset: int,
                data: bytes) -> tuple[int, int, bytes]:
        """(ACK or NAK, session, data); NAK data is the error code (and errno)."""
        try:
            handler = HANDLERS.get(op)
            if handler is None:
                return self._nak(ERR_UNKNOWN)
            return handler(self, session, offset, data)
        except FtpError as exc:
            return self._nak(exc.code, exc.errno)
        except OSError as exc:
            return self._nak(ERR_ERRNO, exc.errno or 0)

    def _nak(self, code: int, err: int = 0) -> tuple[int, int, bytes]:
        return OP_Nack, 0, bytes([code, err & 0xFF])

    def _ack(self, session: int = 0, data: bytes = b"") -> tuple[int, int, bytes]:
        return OP_Ack, session, data

    # ---- paths ----
    def resolve(self, data: bytes) -> str:
        """A request's path as a host path inside the root, or "@SYS/<name>"; FtpError if it
        is empty or leaves the root."""
        text = data.split(b"\0", 1)[0].decode("utf-8", "replace")
        rel = text.lstrip("/")
        if rel == SYS or rel.startswith(SYS + "/"):
            return rel.rstrip("/")
        if self.sim.faults.on("ftp_traversal"):
            # known-bad: the path is joined as given, so `..` walks out of the root
            return os.path.normpath(os.path.join(self.root, rel))
        target = os.path.realpath(os.path.join(self.root, rel))  # `..` and symlinks resolved
        if target != str(self.root) and not target.startswith(str(self.root) + os.sep):
            raise FtpError(ERR_NOT_FOUND)
        return target

    def sys_files(self) -> dict[str, bytes]:
        key = self.sim.signing.key or bytes(32)
        # a storage area with the key where ArduPilot's signing keys live, zeros elsewhere
        storage = bytearray(STORAGE_SIZE)
        storage[16:20] = b"SKYP"
        storage[4096:4096 + 32] = key
        files = {"storage.bin": bytes(self.sys_written.get("storage.bin", storage))}
        return {n: b for n, b in files.items() if n not in self.sys_removed}

    def _read_all(self, path: str) -> bytes:
        if path.startswith(SYS + "/"):
            got = self.sys_files().get(path[len(SYS) + 1:])
            if got is None:
                raise FtpError(ERR_NOT_FOUND)
            return got
        if not os.path.isfile(path):
            raise FtpError(ERR_NOT_FOUND)
        with open(path, "rb") as f:
            return f.read()

    def _protected(self, path: str, forgotten: str = "") -> bool:
        """FtpError for a path in @SYS; True for one whose handler forgot the check (the known-bad
        vehicle's fault `forgotten`), False for any other path."""
        if path == SYS or path.startswith(SYS + "/"):
            if forgotten and self.sim.faults.on(forgotten) and path != SYS:
                return True
            raise FtpError(ERR_PROTECTED)
        return False

    def _new_session(self, path: str, writable: bool) -> int:
        if len(self.sessions) >= MAX_SESSIONS:
            raise FtpError(ERR_NO_SESSIONS)
        sid = next(i for i in range(256) if i not in self.sessions)
        self.sessions[sid] = Session(path, writable)
        return sid

    def _session(self, sid: int) -> Session:
        s = self.sessions.get(sid)
        if s is None:
            raise FtpError(ERR_SESSION)
        return s

    # ---- operations ----
    def op_list(self, _s: int, offset: int, data: bytes) -> tuple[int, int, bytes]:
        path = self.resolve(data)
        if self.sim.faults.on("ftp_write_protect_bypass"):
            for s in self.sessions.values():
                s.writable = True  # known-bad: listing reuses the sessions' state and resets it
        if path == SYS:
            entries = [f"F{n}\t{len(b)}" for n, b in sorted(self.sys_files().items())]
        else:
            if not os.path.isdir(path):
                raise FtpError(ERR_NOT_FOUND)
            entries = []
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if os.path.isdir(full):
                    entries.append(f"D{name}")
                elif os.path.isfile(full):
                    entries.append(f"F{name}\t{os.path.getsize(full)}")
                else:
                    entries.append("S")
            if path == str(self.root):
                entries.insert(0, f"D{SYS}")
        out = b""
        for entry in entries[offset:]:
            encoded = entry.encode("utf-8", "replace") + b"\0"
            if len(out) + len(encoded) > DATA_MAX:
                break
            out += encoded
        if not out:
            raise FtpError(ERR_EOF)
        return self._ack(0, out)

    def op_open_ro(self, _s: int, _o: int, data: bytes) -> tuple[int, int, bytes]:
        path = self.resolve(data)
        size = len(self._read_all(path))
        return self._ack(self._new_session(path, False), struct.pack("<I", size))

    def op_open_wo(self, _s: int, _o: int, data: bytes) -> tuple[int, int, bytes]:
        path = self.resolve(data)
        if self._protected(path, "ftp_open_wo_unprotected"):
            self._read_all(path)  # it must exist
        elif not os.path.isfile(path):
            raise FtpError(ERR_NOT_FOUND)
        return self._ack(self._new_session(path, True))

    def op_create(self, _s: int, _o: int, data: bytes) -> tuple[int, int, bytes]:
        path = self.resolve(data)
        if self._protected(path, "ftp_create_unprotected"):
            self.sys_written[path[len(SYS) + 1:]] = b""
        else:
            with open(path, "wb"):
                pass
        return self._ack(self._new_session(path, True))

    def op_read(self, sid: int, offset: int, _d: bytes) -> tuple[int, int, bytes]:
        content = self._read_all(self._session(sid).path)
        if offset >= len(content):
            raise FtpError(ERR_EOF)
        size = min(self.req_size, DATA_MAX) or DATA_MAX  # the size asked for (0: a packet's)
        return self._ack(sid, content[offset:offset + size])

    def op_write(self, sid: int, offset: int, data: bytes) -> tuple[int, int, bytes]:
        s = self._session(sid)
        if not s.writable:
            raise FtpError(ERR_PROTECTED)
        if s.path.startswith(SYS + "/"):
            name = s.path[len(SYS) + 1:]
            content = bytearray(self.sys_files()[name])
            content[offset:offset + len(data)] = data
            self.sys_written[name] = bytes(content)
            return self._ack(sid)
        with open(s.path, "r+b") as f:
            f.seek(offset)
            f.write(data)
        return self._ack(sid)

    def op_terminate(self, sid: int, _o: int, _d: bytes) -> tuple[int, int, bytes]:
        self._session(sid)
        del self.sessions[sid]
        return self._ack(sid)

    def op_reset(self, _s: int, _o: int, _d: bytes) -> tuple[int, int, bytes]:
        self.sessions.clear()
        return self._ack()

    def op_remove(self, _s: int, _o: int, data: bytes) -> tuple[int, int, bytes]:
        path = self.resolve(data)
        if self._protected(path, "ftp_remove_unprotected"):
            self._read_all(path)  # it must exist
            self.sys_removed.add(path[len(SYS) + 1:])
            return self._ack()
        if not os.path.isfile(path):
            raise FtpError(ERR_NOT_FOUND)
        os.remove(path)
        return self._ack()

    def op_mkdir(self, _s: int, _o: int, data: bytes) -> tuple[int, int, bytes]:
        path = self.resolve(data)
        self._protected(path)
        if os.path.exists(path):
            raise FtpError(ERR_EXISTS)
        os.mkdir(path)
        return self._ack()

    def op_rmdir(self, _s: int, _o: int, data: bytes) -> tuple[int, int, bytes]:
        path = self.resolve(data)
        self._protected(path)
        if path == str(self.root):
            raise FtpError(ERR_PROTECTED)
        os.rmdir(path)
        return self._ack()

    def op_truncate(self, _s: int, offset: int, data: bytes) -> tuple[int, int, bytes]:
        path = self.resolve(data)
        if self._protected(path, "ftp_truncate_unprotected"):
            self.sys_written[path[len(SYS) + 1:]] = self._read_all(path)[:offset]
            return self._ack()
        if not os.path.isfile(path):
            raise FtpError(ERR_NOT_FOUND)
        os.truncate(path, offset)
        return self._ack()

    def op_rename(self, _s: int, _o: int, data: bytes) -> tuple[int, int, bytes]:
        parts = data.split(b"\0")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise FtpError(ERR_FAIL)
        old, new = self.resolve(parts[0]), self.resolve(parts[1])
        self._protected(old)
        onto = self._protected(new, "ftp_rename_onto_protected")
        if not os.path.exists(old):
            raise FtpError(ERR_NOT_FOUND)
        if onto:  # known-bad: the destination is not checked
            self.sys_written[new[len(SYS) + 1:]] = self._read_all(old)
            os.remove(old)
            return self._ack()
        os.replace(old, new)
        return self._ack()

    def op_crc(self, _s: int, _o: int, data: bytes) -> tuple[int, int, bytes]:
        content = self._read_all(self.resolve(data))
        return self._ack(0, struct.pack("<I", zlib.crc32(content) & 0xFFFFFFFF))

    def op_burst(self, sid: int, offset: int, data: bytes) -> tuple[int, int, bytes]:
        return self.op_read(sid, offset, data)  # one packet per request: a burst of one


class FtpError(Exception):
    def __init__(self, code: int, errno: int = 0) -> None:
        super().__init__(code)
        self.code, self.errno = code, errno


HANDLERS = {
    OP_ListDirectory: Ftp.op_list,
    OP_OpenFileRO: Ftp.op_open_ro,
    OP_OpenFileWO: Ftp.op_open_wo,
    OP_CreateFile: Ftp.op_create,
    OP_ReadFile: Ftp.op_read,
    OP_BurstReadFile: Ftp.op_burst,
    OP_WriteFile: Ftp.op_write,
    OP_TerminateSession: Ftp.op_terminate,
    OP_ResetSessions: Ftp.op_reset,
    OP_RemoveFile: Ftp.op_remove,
    OP_CreateDirectory: Ftp.op_mkdir,
    OP_RemoveDirectory: Ftp.op_rmdir,
    OP_TruncateFile: Ftp.op_truncate,
    OP_Rename: Ftp.op_rename,
    OP_CalcFileCRC32: Ftp.op_crc,
}
