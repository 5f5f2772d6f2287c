"""Known-bad receive paths: ways a vehicle talks itself into a frame whose CRC failed, one fault
each (sim/faults.py). Each starts from pymavlink's verdict (the frame it reported as BAD_DATA for
its CRC) and ends in bytes that pymavlink decodes; the CRC is always pymavlink's own (x25crc with
the message's CRC extra): a fault only changes which bytes the vehicle chooses to believe.

    crc_one_bit_off_accepted   a CRC one bit away from the right one passes
    flipped_bit_repaired       the one payload bit whose flip makes the CRC fit is flipped back
    msg_id_repaired            a frame whose CRC fits a message id one bit away is taken as that
    length_byte_repaired       a frame whose CRC fits at a shorter length is taken at that length
    cut_frame_zero_filled      a frame cut short by the next frame's start is zero-filled and
                               passed on without a CRC (it has none)

MAVLink 2 frames without a signature only (the malformed-frame checks send those).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from sim.mav import mavlink

HEADER = 10  # MAVLink 2: magic, len, incompat, compat, seq, sysid, compid, msgid (3 bytes)
MAGIC = mavlink.PROTOCOL_MARKER_V2


def _crc(header_and_payload: bytes) -> int | None:
    """The CRC pymavlink expects for these bytes (None: a message id it does not know)."""
    msg_id = int.from_bytes(header_and_payload[7:10], "little")
    cls = mavlink.mavlink_map.get(msg_id)
    if cls is None:
        return None
    crc = mavlink.x25crc(bytearray(header_and_payload[1:]))
    crc.accumulate(struct.pack("B", cls.crc_extra))
    return crc.crc


def _sealed(header_and_payload: bytes) -> bytes | None:
    crc = _crc(header_and_payload)
    return None if crc is None else header_and_payload + struct.pack("<H", crc)


def _parts(frame: bytes) -> tuple[bytes, int] | None:
    """(header + payload, the CRC as received) of a whole unsigned MAVLink 2 frame."""
    if len(frame) < HEADER + 2 or frame[0] != MAGIC or frame[2] != 0:
        return None
    end = HEADER + frame[1]
    if len(frame) != end + 2:
        return None
    return frame[:end], int.from_bytes(frame[end:end + 2], "little")


def crc_one_bit_off(frame: bytes) -> bytes | None:
    parts = _parts(frame)
    if parts is None:
        return None
    body, received = parts
    right = _crc(body)
    if right is None or (right ^ received).bit_count() != 1:
        return None
    return _sealed(body)


def flipped_bit(frame: bytes) -> bytes | None:
    parts = _parts(frame)
    if parts is None:
        return None
    body, received = parts
    for bit in range(8 * HEADER, 8 * len(body)):  # payload bits only
        guess = bytearray(body)
        guess[bit // 8] ^= 1 << (bit % 8)
        if _crc(bytes(guess)) == received:
            return bytes(guess) + struct.pack("<H", received)
    return None


def msg_id_one_bit_off(frame: bytes) -> bytes | None:
    parts = _parts(frame)
    if parts is None:
        return None
    body, received = parts
    msg_id = int.from_bytes(body[7:10], "little")
    for bit in range(24):
        guess = bytearray(body)
        guess[7:10] = (msg_id ^ (1 << bit)).to_bytes(3, "little")
        if _crc(bytes(guess)) == received:
            return bytes(guess) + struct.pack("<H", received)
    return None


def shorter_length(frame: bytes) -> bytes | None:
    if len(frame) < HEADER + 2 or frame[0] != MAGIC or frame[2] != 0:
        return None
    for length in range(frame[1] - 1, 0, -1):
        end = HEADER + length
        if end + 2 > len(frame):
            continue
        guess = bytearray(frame[:end])
        guess[1] = length
        if _crc(bytes(guess)) == int.from_bytes(frame[end:end + 2], "little"):
            return bytes(guess) + frame[end:end + 2]
    return None


def cut_short(frame: bytes) -> bytes | None:
    if len(frame) < HEADER + 2 or frame[0] != MAGIC or frame[2] != 0:
        return None
    cut = frame.find(bytes([MAGIC]), HEADER + 1)
    if cut < 0 or cut >= HEADER + frame[1]:  # no frame starts inside this one's payload
        return None
    payload = frame[HEADER:cut]
    return _sealed(frame[:HEADER] + payload + bytes(frame[1] - len(payload)))


# fault -> the repair that fault's vehicle makes
REPAIRS: dict[str, Callable[[bytes], bytes | None]] = {
    "crc_one_bit_off_accepted": crc_one_bit_off,
    "flipped_bit_repaired": flipped_bit,
    "msg_id_repaired": msg_id_one_bit_off,
    "length_byte_repaired": shorter_length,
    "cut_frame_zero_filled": cut_short,
}


def believed(frame: bytes, on: Callable[[str], bool]) -> bytes | None:
    """The frame a vehicle with the faults `on` says yes to takes from a frame whose CRC
    failed, or None: it drops it, as it should."""
    for fault, repair in REPAIRS.items():
        if on(fault):
            got = repair(frame)
            if got is not None:
                return got
    return None
