"""MAVLink 2 message signing for the harness (mavlink.io "Message Signing"; pymavlink
`MAVLinkSigning`): here the key, signing timestamps and redaction; `Signer` (link/signer.py)
signs one connection and verifies the vehicle's signatures; `SigningSession`
(services/signing.py) installs the key on a vehicle for a check.

    key = load_key({"env": "SKYPROOF_SIGNING_KEY"})    # or {"file": PATH}, or "generate"
    session = SigningSession(vehicle, key, install=True)
    session.start()     # SETUP_SIGNING, then sign once the vehicle's clock is adopted
    ...
    session.stop()      # all-zero key: the vehicle is unsigned again

The key is a secret: `SigningKey` never shows it (repr, str, f-strings), frames that carry it
(SETUP_SIGNING) reach a .tlog only redacted (`redact_secrets`), and nothing here logs it.

Verification goes through pymavlink's own `check_signature`, but without its flaw: pymavlink
stores a stream's timestamp BEFORE it compares the signature, so one forged frame with a future
timestamp would make every later genuine frame of that stream "old". `Signer` saves the stream's
timestamp before the call and puts it back when the check fails (the C library's order).

The vehicle's signing clock need not be ours: ArduPilot SITL's runs at simulation speed, so a
new stream stamped with the wall clock can be minutes "old" to it. `Signer` therefore signs
only after a frame from the vehicle has verified, whose timestamp pymavlink adopts.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import struct
import time
from pathlib import Path
from typing import Any

from drivers.mavlink import mavlink

UNIX_2015 = 1420070400  # the signing epoch, 2015-01-01 00:00 UTC
TICKS_PER_S = 100_000  # signing timestamps count 10 us
SIGNED = mavlink.MAVLINK_IFLAG_SIGNED
SIGNATURE_LEN = 13  # link id (1) + timestamp (6) + signature (6)
SETUP_SIGNING_ID = mavlink.MAVLINK_MSG_ID_SETUP_SIGNING
# SETUP_SIGNING's wire payload: initial_timestamp (8), target_system, target_component, key (32)
_KEY_OFFSET, KEY_LEN = 10, 32
assert mavlink.MAVLink_setup_signing_message.unpacker.format == "<QBB32B"
_REDACTED = b"<skyproof: signing key redacted>"  # 32 bytes a person recognises in a hex dump
assert len(_REDACTED) == KEY_LEN


def wall_timestamp(now: float | None = None) -> int:
    """The wall clock as a signing timestamp (10 us units since 2015-01-01)."""
    return int(((time.time() if now is None else now) - UNIX_2015) * TICKS_PER_S)


def frame_timestamp(frame: bytes) -> int:
    """The signing timestamp of a signed MAVLink 2 frame."""
    return int.from_bytes(frame[-12:-6], "little")


def is_signed(msg: Any) -> bool:
    """Whether a received message came in a signed frame (verified or not)."""
    return bool(msg.get_header().incompat_flags & SIGNED)


# -- the key ---------------------------------------------------------------------------------
class SigningKeyError(ValueError):
    """The profile's key source cannot give a key (says which source, never the key)."""


class SigningKey:
    """32 secret bytes. Shows only where it came from and a short fingerprint."""

    __slots__ = ("_key", "_passphrase", "source")

    def __init__(self, key: bytes, source: str, passphrase: str | None = None) -> None:
        if len(key) != KEY_LEN:
            raise SigningKeyError(f"a signing key is {KEY_LEN} bytes, this one ({source}) is not")
        self._key = bytes(key)
        self._passphrase = passphrase
        self.source = source

    def reveal(self) -> bytes:
        """The key itself: for pymavlink's signing state only, never for text."""
        return self._key

    @property
    def fingerprint(self) -> str:
        # A salted hash prefix tells two keys apart in a report without exposing either.
        return hashlib.sha256(b"skyproof key fingerprint:" + self._key).hexdigest()[:8]

    def __repr__(self) -> str:
        return f"SigningKey(<hidden>, source={self.source}, fingerprint={self.fingerprint})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # pickling (xdist, caches) would carry the bytes
        raise TypeError("a SigningKey is not picklable")

    def forms(self) -> dict[str, bytes]:
        """Ways the key could show up in text or files, by name (for leak searches)."""
        hexed = self._key.hex()
        found = {
            "raw bytes": self._key,
            "hex": hexed.encode(),
            "HEX": hexed.upper().encode(),
            "base64": base64.b64encode(self._key).rstrip(b"="),
            "base64url": base64.urlsafe_b64encode(self._key).rstrip(b"="),
            # half the key is a leak too: the first and second 16 bytes, in hex
            "hex, first half": hexed[:32].encode(),
            "hex, second half": hexed[32:].encode(),
            "byte list": ", ".join(str(b) for b in self._key).encode(),
        }
        if self._passphrase:
            found["passphrase"] = self._passphrase.encode()
        return found

    def found_in(self, data: bytes | str) -> list[str]:
        """Names of the key's forms that occur in `data` (hex in either case)."""
        blob = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
        lowered = blob.lower()
        return [
            name
            for name, needle in self.forms().items()
            if (needle.lower() in lowered if _is_hex(name) else needle in blob)
        ]

    def redact(self, text: str) -> str:
        """`text` with every form of the key replaced by <KEY>: safe to show in a failure."""
        for name, needle in self.forms().items():
            word = needle.decode("latin-1")
            if _is_hex(name):
                while (i := text.lower().find(word.lower())) >= 0:
                    text = text[:i] + "<KEY>" + text[i + len(word) :]
            else:
                text = text.replace(word, "<KEY>")
        return text


def _is_hex(form: str) -> bool:
    return form.lower().startswith("hex")


def key_from_text(text: str, source: str) -> SigningKey:
    """64 hex digits are the key itself; anything else is a passphrase hashed with SHA-256, as
    MAVProxy's `signing setup` and Mission Planner do."""
    text = text.strip()
    if len(text) == 2 * KEY_LEN and all(c in "0123456789abcdefABCDEF" for c in text):
        return SigningKey(bytes.fromhex(text), source)
    if not text:
        raise SigningKeyError(f"the signing key from {source} is empty")
    return SigningKey(hashlib.sha256(text.encode()).digest(), source, passphrase=text)


def load_key(spec: Any, base_dir: Path | None = None) -> SigningKey:
    """The key a profile names: {env: NAME}, {file: PATH} or "generate" (random, this run only).
    A profile never holds the key text itself."""
    if spec == "generate":
        return SigningKey(secrets.token_bytes(KEY_LEN), "generated for this run")
    if isinstance(spec, dict) and set(spec) == {"env"}:
        name = spec["env"]
        if name not in os.environ:
            raise SigningKeyError(
                f"environment variable {name} (the profile's signing key) is not set"
            )
        return key_from_text(os.environ[name], f"env {name}")
    if isinstance(spec, dict) and set(spec) == {"file"}:
        path = Path(spec["file"]).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            return key_from_text(path.read_text(encoding="utf-8"), f"file {path}")
        except (OSError, UnicodeDecodeError) as exc:
            raise SigningKeyError(f"cannot read the signing key file {path}: {exc}") from None
    raise SigningKeyError(
        f"signing key source must be {{env: NAME}}, {{file: PATH}} or generate; got {spec!r}"
    )


def redact_secrets(frame: bytes) -> bytes:
    """A frame as it may be recorded: SETUP_SIGNING's key replaced by a marker, CRC redone (so
    the .tlog still parses; a signed frame's signature no longer verifies, as it should not)."""
    if len(frame) < 12 or frame[0] != mavlink.PROTOCOL_MARKER_V2:
        return frame
    if int.from_bytes(frame[7:10], "little") != SETUP_SIGNING_ID:
        return frame
    plen = frame[1]
    buf = bytearray(frame)
    start, end = 10 + _KEY_OFFSET, 10 + min(plen, _KEY_OFFSET + KEY_LEN)
    if end > start:
        buf[start:end] = _REDACTED[: end - start]
        crc = mavlink.x25crc(bytes(buf[1 : 10 + plen]))
        crc.accumulate(struct.pack("B", mavlink.MAVLink_setup_signing_message.crc_extra))
        buf[10 + plen : 12 + plen] = struct.pack("<H", crc.crc)
    return bytes(buf)
