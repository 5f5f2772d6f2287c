"""Raw MAVLink 2 frames for attack and robustness checks: built by pymavlink, then mutated.

Frames are never framed, checksummed or signed by hand: `FrameBuilder` packs a pymavlink
message with a throw-away `MAVLink` object (any sysid, compid, seq, link id and timestamp),
and the mutations below change bytes of that result (a flipped bit, a truncation, a wrong
length, an unknown incompat flag). Where a mutation must keep the CRC valid so that the case
really tests what it names (unknown incompat flags), `reseal` recomputes it with pymavlink's
x25crc and the message's CRC extra.

MAVLink 2 layout (mavlink.io "Serialization"): STX 0xFD, len, incompat, compat, seq, sysid,
compid, msgid (3), payload (len), CRC (2), then, if incompat & 1, link id (1), timestamp (6),
signature (6).

A `Reproducer` is what a failing fuzz case leaves behind: the frames in hex, the seed, what
went wrong. `python -m drivers.attack.frames replay FILE tcp:127.0.0.1:PORT` sends them again.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from drivers.link.keys import SIGNATURE_LEN, SigningKey
from drivers.mavlink import mavlink

HEADER_LEN = 10
STX = mavlink.PROTOCOL_MARKER_V2
SIGNED = mavlink.MAVLINK_IFLAG_SIGNED


@dataclass(frozen=True)
class Signature:
    """How to sign one frame: the key, the link id and the timestamp to put in it."""

    key: SigningKey
    link_id: int
    timestamp: int


class FrameBuilder:
    """Frames from one sender identity, with its own sequence numbers."""

    def __init__(self, sysid: int, compid: int) -> None:
        self.sysid, self.compid = sysid, compid
        self.seq = 0

    def __repr__(self) -> str:
        return f"FrameBuilder(sysid={self.sysid}, compid={self.compid})"

    def frame(self, msg: Any, sign: Signature | None = None) -> bytes:
        mav = mavlink.MAVLink(None, self.sysid, self.compid)
        mav.seq = self.seq
        self.seq = (self.seq + 1) % 256
        if sign is not None:
            mav.signing.secret_key = sign.key.reveal()
            mav.signing.sign_outgoing = True
            mav.signing.link_id = sign.link_id
            mav.signing.timestamp = sign.timestamp
        return bytes(msg.pack(mav))


# -- reading a frame ---------------------------------------------------------------------------
def payload_len(frame: bytes) -> int:
    return frame[1]


def msg_id(frame: bytes) -> int:
    return int.from_bytes(frame[7:10], "little")


def is_signed(frame: bytes) -> bool:
    return bool(frame[2] & SIGNED)


def signing_timestamp(frame: bytes) -> int:
    return int.from_bytes(frame[-12:-6], "little")


def link_id(frame: bytes) -> int:
    return frame[-SIGNATURE_LEN]


# -- mutations (each returns new bytes) --------------------------------------------------------
def flip_bit(frame: bytes, bit: int) -> bytes:
    """One bit flipped; `bit` counts from the first byte's lowest bit, modulo the frame."""
    buf = bytearray(frame)
    bit %= 8 * len(buf)
    buf[bit // 8] ^= 1 << (bit % 8)
    return bytes(buf)


def flip_signature_bit(frame: bytes, bit: int = 0) -> bytes:
    """One bit of the 6-byte signature flipped (link id and timestamp untouched)."""
    assert is_signed(frame), "not a signed frame"
    return flip_bit(frame, 8 * (len(frame) - 6) + bit % 48)


def bad_crc(frame: bytes, bit: int = 0) -> bytes:
    """One bit of the CRC flipped."""
    start = HEADER_LEN + payload_len(frame)
    return flip_bit(frame, 8 * start + bit % 16)


def truncate(frame: bytes, keep: int) -> bytes:
    """The first `keep` bytes only (at least one, fewer than all)."""
    return frame[: max(1, min(keep, len(frame) - 1))]


def with_length(frame: bytes, length: int) -> bytes:
    """The length byte changed, nothing else (the CRC is now read from the wrong place)."""
    buf = bytearray(frame)
    buf[1] = length & 0xFF
    return bytes(buf)


def with_link_id(frame: bytes, new_id: int) -> bytes:
    """A signed frame relabelled with another link id; the signature is left as it was."""
    assert is_signed(frame), "not a signed frame"
    buf = bytearray(frame)
    buf[-SIGNATURE_LEN] = new_id & 0xFF
    return bytes(buf)


def with_incompat(frame: bytes, flags: int) -> bytes:
    """Incompat flags set to `flags` with the CRC recomputed, so the frame is dropped (or not)
    for its flags alone. Only for unsigned frames (a signed one changes meaning)."""
    assert not is_signed(frame), "use an unsigned frame"
    buf = bytearray(frame)
    buf[2] = flags & 0xFF
    return reseal(bytes(buf))


def with_msg_id(frame: bytes, new_id: int) -> bytes:
    """Message id changed, CRC left alone (its CRC extra no longer matches)."""
    buf = bytearray(frame)
    buf[7:10] = (new_id & 0xFFFFFF).to_bytes(3, "little")
    return bytes(buf)


def reseal(frame: bytes) -> bytes:
    """The CRC recomputed over header and payload with the message's CRC extra (pymavlink's)."""
    plen = payload_len(frame)
    cls = mavlink.mavlink_map[msg_id(frame)]
    crc = mavlink.x25crc(bytes(frame[1 : HEADER_LEN + plen]))
    crc.accumulate(struct.pack("B", cls.crc_extra))
    return frame[: HEADER_LEN + plen] + struct.pack("<H", crc.crc) + frame[HEADER_LEN + plen + 2 :]


def parses(frame: bytes) -> bool:
    """Whether pymavlink (no key) takes these bytes for one good message."""
    mav = mavlink.MAVLink(None)
    mav.robust_parsing = True
    got = mav.parse_buffer(frame) or []
    return len(got) == 1 and got[0].get_type() not in ("BAD_DATA", "UNKNOWN")


# -- reproducers -------------------------------------------------------------------------------
@dataclass
class Reproducer:
    """A failing case, replayable: its frames (hex), the seed that found it, what went wrong."""

    problem: str
    frames_hex: list[str]
    descriptions: list[str] = field(default_factory=list)
    seed: int | None = None
    channel: int = 0
    check: str = ""
    pad_zeros: int = 0  # zero bytes sent after the frames (they complete a truncated frame)

    @property
    def frames(self) -> list[bytes]:
        return [bytes.fromhex(h) for h in self.frames_hex]

    def wire(self) -> bytes:
        return b"".join(self.frames) + bytes(self.pad_zeros)

    def to_json(self) -> str:
        data = asdict(self)
        data["replay"] = "python -m drivers.attack.frames replay THIS_FILE tcp:127.0.0.1:PORT"
        return json.dumps(data, indent=1)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Reproducer:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data.pop("replay", None)
        return cls(**data)


def replay(reproducer: Reproducer, url: str, timeout_s: float = 5.0) -> int:
    """Send a reproducer's bytes to a vehicle (tcp:127.0.0.1:PORT or udpout:127.0.0.1:PORT)."""
    kind, host, port = url.split(":")
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError(f"{url}: skyproof only talks to 127.0.0.1")
    data = reproducer.wire()
    if kind == "tcp":
        with socket.create_connection(("127.0.0.1", int(port)), timeout=timeout_s) as s:
            s.sendall(data)
    elif kind in ("udp", "udpout"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for frame in reproducer.frames:
                s.sendto(frame, ("127.0.0.1", int(port)))
    else:
        raise ValueError(f"{url}: expected tcp:127.0.0.1:PORT or udpout:127.0.0.1:PORT")
    return len(data)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "replay":
        print("usage: python -m drivers.attack.frames replay REPRODUCER.json tcp:127.0.0.1:PORT")
        return 2
    rep = Reproducer.load(Path(argv[1]))
    sent = replay(rep, argv[2])
    print(f"sent {len(rep.frames_hex)} frame(s), {sent} bytes: {rep.problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
