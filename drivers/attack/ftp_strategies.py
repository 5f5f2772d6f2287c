"""Hypothesis strategies for hostile MAVLink FTP requests (FILE_TRANSFER_PROTOCOL): each draws a
`Case` of family "ftp" (drivers/attack/strategies.py) whose frame pymavlink builds; the payload
is laid out by pymavlink's `FTP_OP` (sequence number, session, opcode, size, offset, data).

What is drawn: any opcode (the protocol's and unknown ones), any session, a `size` that may
disagree with the data (up to 255, past the 239-byte payload), offsets at the edges of their
range, sequence numbers (and the same request resent with the same one), and paths built to
hurt: `..` in several spellings toward the canary outside the root, long names (in the log
folder too, PX4 CVE-2026-32743), no terminator, bytes that are not UTF-8, format strings, the
vehicle's protected files. Paths that write, remove or rename only ever name the fuzzer's own
folder, the log folder under names of its own, the canary, or protected files: a correct
vehicle loses nothing of its own to the fuzzer.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st
from pymavlink import mavftp_op as ops

from drivers.attack.frames import FrameBuilder
from drivers.attack.strategies import Case
from drivers.mavlink import mavlink

DATA_MAX = 239
PAYLOAD_LEN = 251
OPCODES = sorted(v for k, v in vars(ops).items() if k.startswith("OP_") and v not in (
    ops.OP_Ack, ops.OP_Nack))
NAMES = {v: k.removeprefix("OP_") for k, v in vars(ops).items() if k.startswith("OP_")}
NAMES[ops.OP_None] = "opcode 0"
OFFSETS = [0, 1, 238, 239, 240, 2**16, 2**31 - 1, 2**31, 2**32 - 1]


@dataclass(frozen=True)
class FtpTarget:
    """Who the requests go to and the names they may hurt."""

    sysid: int
    compid: int
    sandbox: str  # the fuzzer's own folder inside the root, e.g. "skyproof-fuzz"
    log_folder: str
    canary: str | None  # the canary's file name just outside the root (None: unknown)
    protected: tuple[str, ...]
    sender: tuple[int, int] = (240, 190)

    def frame(self, payload: bytes) -> bytes:
        msg = mavlink.MAVLink_file_transfer_protocol_message(
            0, self.sysid, self.compid, payload.ljust(PAYLOAD_LEN, b"\0")[:PAYLOAD_LEN])
        return FrameBuilder(*self.sender).frame(msg)


def payload(seq: int, session: int, opcode: int, size: int, offset: int, data: bytes) -> bytes:
    return bytes(ops.FTP_OP(seq, session, opcode, size, 0, 0, offset, bytearray(data)).pack())


def own_names() -> st.SearchStrategy[bytes]:
    """Names of the fuzzer's own (`skyproof-fz...`, short or long)."""
    short = st.text("abcXYZ019._-", min_size=1, max_size=12).map(lambda s: f"skyproof-fz{s}")
    long = st.integers(40, 230).map(lambda n: "skyproof-fz" + "L" * (n - 11))
    return st.one_of(short, long).map(str.encode)


def odd_names() -> st.SearchStrategy[bytes]:
    """Names that are not names: format strings, bytes that are not UTF-8, an embedded NUL,
    empty, `.` and `..` (only ever inside the fuzzer's own folder)."""
    return st.sampled_from([b"%s%s%n", b"\xff\xfe\x80", b"a\0b", b"", b".", b".."])


def paths(t: FtpTarget) -> st.SearchStrategy[tuple[str, bytes]]:
    """(what, path bytes) a request may name."""
    sandbox = (t.sandbox + "/").encode()
    logs = (t.log_folder.rstrip("/") + "/").encode()
    escape = st.sampled_from(["../", "/../", "./../", t.sandbox + "/../../", "//..//", "..\\"])
    canary = t.canary.encode() if t.canary else b"skyproof-canary"
    protected = ([st.sampled_from(t.protected).map(lambda p: ("protected", p.encode()))]
                 if t.protected else [])  # a vehicle may protect nothing (PX4 SITL)
    return st.one_of(
        st.one_of(own_names(), odd_names()).map(lambda n: ("own", sandbox + n)),
        own_names().map(lambda n: ("own", logs + n)),
        escape.map(lambda e: ("escape", e.encode() + canary)),
        *protected,
        st.binary(min_size=DATA_MAX, max_size=DATA_MAX).map(
            lambda b: ("unterminated", sandbox + b.replace(b"\0", b"x"))),
    )


@st.composite
def request(draw: st.DrawFn, t: FtpTarget) -> Case:
    opcode = draw(st.one_of(st.sampled_from(OPCODES), st.integers(0, 255)))
    kind, path = draw(paths(t))
    if opcode == ops.OP_Rename:
        _, second = draw(paths(t))
        data = path + b"\0" + second + b"\0"
    elif opcode == ops.OP_WriteFile:
        data = draw(st.binary(min_size=0, max_size=DATA_MAX))
    else:
        data = path
    data = data[:DATA_MAX]
    size = draw(st.one_of(st.just(len(data)), st.integers(0, 255)))
    offset = draw(st.one_of(st.sampled_from(OFFSETS), st.integers(0, 2**32 - 1)))
    seq = draw(st.integers(0, 0xFFFF))
    session = draw(st.one_of(st.integers(0, 3), st.integers(0, 255)))
    what = (f"FTP {NAMES.get(opcode, f'opcode {opcode}')} {kind} path, size {size}, "
            f"offset {offset}, session {session}, seq {seq}")
    return Case("ftp", what, t.frame(payload(seq, session, opcode, size, offset, data)))


@st.composite
def ftp_batches(draw: st.DrawFn, t: FtpTarget, most: int) -> list[Case]:
    """A few requests; now and then one sent twice (the same sequence number: a resend)."""
    batch = draw(st.lists(request(t), min_size=1, max_size=most))
    if draw(st.booleans()):
        again = batch[draw(st.integers(0, len(batch) - 1))]
        batch.append(Case("ftp", "resent: " + again.what, again.frame))
    return batch


def ftp_corpus(t: FtpTarget) -> list[list[Case]]:
    """Batches sent before the random search, on every run: the published FTP defects (PX4
    #25808 traversal, CVE-2026-32743 long log name, #28347 resend, #28349 Open + List +
    Write), so a vehicle that has one fails every run, not by chance."""
    def case(what: str, opcode: int, data: bytes, seq: int, *, session: int = 0,
             offset: int = 0, size: int | None = None) -> Case:
        p = payload(seq, session, opcode, len(data) if size is None else size, offset, data)
        return Case("ftp", what, t.frame(p))

    canary = (t.canary or "skyproof-canary").encode()
    long_log = f"{t.log_folder.rstrip('/')}/skyproof-fz{'L' * 70}.BIN".encode()
    out = [
        [case("FTP ListDirectory escape path ..", ops.OP_ListDirectory, b"..", 101)],
        [case("FTP OpenFileRO escape path ../canary", ops.OP_OpenFileRO, b"../" + canary, 102)],
        [case("FTP RemoveFile escape path ../canary", ops.OP_RemoveFile, b"../" + canary, 103)],
        [case("FTP CreateFile long log name", ops.OP_CreateFile, long_log, 104),
         case("FTP TerminateSession", ops.OP_TerminateSession, b"", 105)],
    ]
    for target in t.protected:
        read = case(f"FTP ReadFile size 8 of {target}", ops.OP_ReadFile, b"", 107, size=8)
        out.append([  # #28347: the same request twice, after a full reply filled the buffer
            case(f"FTP OpenFileRO {target}", ops.OP_OpenFileRO, target.encode(), 106),
            case("FTP ReadFile size 239", ops.OP_ReadFile, b"", 110, size=DATA_MAX),
            read, Case("ftp", "resent: " + read.what, read.frame),
            case("FTP TerminateSession", ops.OP_TerminateSession, b"", 111),
        ])
        out.append([  # #28349: Open (read-only) + List + Write
            case(f"FTP OpenFileRO {target}", ops.OP_OpenFileRO, target.encode(), 112),
            case("FTP ListDirectory /", ops.OP_ListDirectory, b"/", 113),
            case(f"FTP WriteFile into {target} after a list", ops.OP_WriteFile,
                 b"SKYPROOF-FUZZ", 114),
            case("FTP TerminateSession", ops.OP_TerminateSession, b"", 115),
        ])
    return out
