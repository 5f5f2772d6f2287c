"""A MAVLink FTP client (mavlink.io "File Transfer Protocol"): FILE_TRANSFER_PROTOCOL frames built
by pymavlink, the payload laid out by pymavlink's `FTP_OP` with its opcodes.

Every request waits for its own reply (same request opcode, sequence number + 1, addressed to
us) for at most `timeout_s` vehicle seconds. `ask` gives None when nothing came (for checks
where silence is the right answer); `request` raises WaitTimeout saying what it waited for.
`send` lets a check send the frame some other way (unsigned, from another identity).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymavlink.mavftp_op as ops
from pymavlink.mavftp import FtpError
from pymavlink.mavftp_op import (  # re-exported: checks name operations from here
    FTP_OP,
    OP_Ack,
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

from drivers.errors import WaitTimeout
from drivers.link.connection import Link, Message
from drivers.mavlink import mavlink

HEADER_LEN = 12
DATA_MAX = 239  # 251-byte payload less the header
PAYLOAD_LEN = 251
OP_NAMES = {getattr(ops, n): n.removeprefix("OP_") for n in dir(ops) if n.startswith("OP_")}


@dataclass(frozen=True)
class FtpReply:
    seq: int
    session: int
    opcode: int
    size: int
    req_opcode: int
    offset: int
    payload: bytes = field(repr=False)  # all 251 bytes (MAVLink 2 zero-truncation undone)

    @classmethod
    def parse(cls, payload: bytes) -> FtpReply:
        raw = bytes(payload).ljust(PAYLOAD_LEN, b"\0")
        seq, session, opcode, size, req, _, _, offset = struct.unpack_from("<HBBBBBBI", raw)
        return cls(seq, session, opcode, size, req, offset, raw)

    @property
    def ok(self) -> bool:
        return self.opcode == OP_Ack

    @property
    def data(self) -> bytes:
        return self.payload[HEADER_LEN:HEADER_LEN + min(self.size, DATA_MAX)]

    @property
    def beyond(self) -> bytes:
        """The payload's bytes after the `size` the reply states (should all be zero)."""
        return self.payload[HEADER_LEN + min(self.size, DATA_MAX):]

    @property
    def error(self) -> str:
        """`ACK`, or the NAK's error name (FileNotFound, FailErrno errno 13, ...)."""
        if self.ok:
            return "ACK"
        if self.opcode != OP_Nack or not self.size:
            return f"opcode {self.opcode}"
        code = self.data[0]
        try:
            name = FtpError(code).name
        except ValueError:
            name = f"error {code}"
        if code == FtpError.FailErrno and self.size > 1:
            return f"{name} errno {self.data[1]}"
        return name

    def __str__(self) -> str:
        return (f"{OP_NAMES.get(self.req_opcode, self.req_opcode)} -> {self.error} "
                f"(seq {self.seq}, session {self.session}, size {self.size})")


def path_bytes(path: str | bytes) -> bytes:
    return path if isinstance(path, bytes) else path.encode("utf-8")


class FtpClient:
    def __init__(
        self,
        link: Link,
        target_sysid: int,
        target_compid: int = mavlink.MAV_COMP_ID_AUTOPILOT1,
        *,
        timeout_s: float = 3.0,
        send: Callable[[Any], None] | None = None,
        me: tuple[int, int] | None = None,
    ) -> None:
        """`me`: the (sysid, compid) replies are addressed to (default: the link's own)."""
        self.link = link
        self.target = (target_sysid, target_compid)
        self.timeout_s = timeout_s
        self._send = send or link.send
        self.me = me or (link.mav.srcSystem, link.mav.srcComponent)
        self.seq = 0

    # -- one request ---------------------------------------------------------------------------
    def message(self, payload: bytes) -> Any:
        return mavlink.MAVLink_file_transfer_protocol_message(
            0, self.target[0], self.target[1], bytes(payload).ljust(PAYLOAD_LEN, b"\0"))

    def build(self, opcode: int, *, session: int = 0, offset: int = 0, data: bytes = b"",
              size: int | None = None, seq: int | None = None) -> bytes:
        if seq is None:
            self.seq = (self.seq + 1) & 0xFFFF
            seq = self.seq
        size = len(data) if size is None else size
        return bytes(FTP_OP(seq, session, opcode, size, 0, 0, offset, bytearray(data)).pack())

    def _mine(self, seq: int, opcode: int) -> Callable[[Message], bool]:
        def match(m: Message) -> bool:
            if (m.get_srcSystem(), m.get_srcComponent()) != self.target:
                return False
            if (m.target_system, m.target_component) not in ((self.me[0], self.me[1]),
                                                             (self.me[0], 0), (0, 0)):
                return False
            r = FtpReply.parse(bytes(m.payload))
            return r.req_opcode == opcode and r.seq == (seq + 1) & 0xFFFF

        return match

    def ask_raw(self, payload: bytes, timeout_s: float | None = None) -> FtpReply | None:
        """Send one request payload as built; its reply, or None if none came in time."""
        seq, opcode = struct.unpack_from("<H", payload)[0], payload[3]
        with self.link.subscribe(["FILE_TRANSFER_PROTOCOL"]) as sub:
            self._send(self.message(payload))
            try:
                got = self.link.wait(
                    f"the FTP reply to {OP_NAMES.get(opcode, opcode)} seq {seq}",
                    ["FILE_TRANSFER_PROTOCOL"], self._mine(seq, opcode),
                    timeout_s=self.timeout_s if timeout_s is None else timeout_s, sub=sub)
            except WaitTimeout:
                return None
        return FtpReply.parse(bytes(got.msg.payload))

    def ask(self, opcode: int, **fields: Any) -> FtpReply | None:
        return self.ask_raw(self.build(opcode, **fields))

    def request(self, opcode: int, **fields: Any) -> FtpReply:
        payload = self.build(opcode, **fields)
        reply = self.ask_raw(payload)
        if reply is None:
            raise WaitTimeout(
                f"waited {self.timeout_s:g} s of vehicle time for the FTP reply to "
                f"{OP_NAMES.get(opcode, opcode)} (seq {self.seq}) from {self.target}")
        return reply

    # -- operations ------------------------------------------------------------------------------
    def reset(self) -> FtpReply:
        return self.request(OP_ResetSessions)

    def list_dir(self, path: str | bytes, limit: int = 200) -> tuple[list[str], FtpReply]:
        """Entry names (`F<name>\\t<size>`, `D<name>`) of `path`, and the last reply (a NAK
        other than EndOfFile if the listing was refused)."""
        entries: list[str] = []
        while len(entries) < limit:
            reply = self.request(OP_ListDirectory, offset=len(entries), data=path_bytes(path))
            if not reply.ok:
                return entries, reply
            got = [e.decode("utf-8", "replace") for e in reply.data.split(b"\0") if e]
            if not got:
                return entries, reply
            entries += got
        return entries, reply

    def open_ro(self, path: str | bytes) -> FtpReply:
        return self.request(OP_OpenFileRO, data=path_bytes(path))

    def read_session(self, session: int, size_hint: int = 1 << 20) -> bytes:
        out = b""
        while len(out) < size_hint:
            reply = self.request(OP_ReadFile, session=session, offset=len(out), size=DATA_MAX)
            if not reply.ok or not reply.size:
                break
            out += reply.data
        return out

    def terminate(self, session: int) -> FtpReply:
        return self.request(OP_TerminateSession, session=session)

    def read(self, path: str | bytes) -> tuple[bytes | None, FtpReply]:
        """The file's bytes (None if the open was refused) and the open's reply."""
        opened = self.open_ro(path)
        if not opened.ok:
            return None, opened
        try:
            size = struct.unpack("<I", opened.data[:4])[0] if opened.size >= 4 else 1 << 20
            return self.read_session(opened.session, size), opened
        finally:
            self.terminate(opened.session)

    def write(self, path: str | bytes, data: bytes, *, create: bool = True) -> FtpReply:
        """CreateFile (or OpenFileWO) + WriteFile chunks + TerminateSession; the first refusal."""
        opened = self.request(OP_CreateFile if create else OP_OpenFileWO, data=path_bytes(path))
        if not opened.ok:
            return opened
        try:
            for ofs in range(0, len(data), DATA_MAX):
                wrote = self.request(OP_WriteFile, session=opened.session, offset=ofs,
                                     data=data[ofs:ofs + DATA_MAX])
                if not wrote.ok:
                    return wrote
        finally:
            self.terminate(opened.session)
        return opened

    def remove(self, path: str | bytes) -> FtpReply:
        return self.request(OP_RemoveFile, data=path_bytes(path))

    def mkdir(self, path: str | bytes) -> FtpReply:
        return self.request(OP_CreateDirectory, data=path_bytes(path))

    def rmdir(self, path: str | bytes) -> FtpReply:
        return self.request(OP_RemoveDirectory, data=path_bytes(path))

    def truncate(self, path: str | bytes, length: int) -> FtpReply:
        return self.request(OP_TruncateFile, offset=length, data=path_bytes(path))

    def crc32(self, path: str | bytes) -> FtpReply:
        return self.request(OP_CalcFileCRC32, data=path_bytes(path))

    def rename(self, old: str | bytes, new: str | bytes) -> FtpReply:
        return self.request(OP_Rename, data=path_bytes(old) + b"\0" + path_bytes(new) + b"\0")
