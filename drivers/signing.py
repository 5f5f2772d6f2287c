"""MAVLink 2 message signing for the harness: the key, our own signing, and verification of the
vehicle's signatures (mavlink.io "Message Signing"; pymavlink `MAVLinkSigning`).

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
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.mavlink import mavlink

if TYPE_CHECKING:
    from drivers.link import Link
    from drivers.vehicle import Vehicle

UNIX_2015 = 1420070400  # the signing epoch, 2015-01-01 00:00 UTC
TICKS_PER_S = 100_000  # signing timestamps count 10 us
SIGNED = mavlink.MAVLINK_IFLAG_SIGNED
SIGNATURE_LEN = 13  # link id (1) + timestamp (6) + signature (6)
SETUP_SIGNING_ID = mavlink.MAVLINK_MSG_ID_SETUP_SIGNING
# SETUP_SIGNING's wire payload: initial_timestamp (8), target_system, target_component, key (32)
_KEY_OFFSET, _KEY_LEN = 10, 32
assert mavlink.MAVLink_setup_signing_message.unpacker.format == "<QBB32B"
_REDACTED = b"<skyproof: signing key redacted>"  # 32 bytes a person recognises in a hex dump
assert len(_REDACTED) == _KEY_LEN


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
        if len(key) != _KEY_LEN:
            raise SigningKeyError(f"a signing key is {_KEY_LEN} bytes, this one ({source}) is not")
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
    if len(text) == 2 * _KEY_LEN and all(c in "0123456789abcdefABCDEF" for c in text):
        return SigningKey(bytes.fromhex(text), source)
    if not text:
        raise SigningKeyError(f"the signing key from {source} is empty")
    return SigningKey(hashlib.sha256(text.encode()).digest(), source, passphrase=text)


def load_key(spec: Any, base_dir: Path | None = None) -> SigningKey:
    """The key a profile names: {env: NAME}, {file: PATH} or "generate" (random, this run only).
    A profile never holds the key text itself."""
    if spec == "generate":
        return SigningKey(secrets.token_bytes(_KEY_LEN), "generated for this run")
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
    start, end = 10 + _KEY_OFFSET, 10 + min(plen, _KEY_OFFSET + _KEY_LEN)
    if end > start:
        buf[start:end] = _REDACTED[: end - start]
        crc = mavlink.x25crc(bytes(buf[1 : 10 + plen]))
        crc.accumulate(struct.pack("B", mavlink.MAVLink_setup_signing_message.crc_extra))
        buf[10 + plen : 12 + plen] = struct.pack("<H", crc.crc)
    return bytes(buf)


# -- signing one connection ------------------------------------------------------------------
class Signer:
    """Signs what one Link sends and verifies what it receives, with one lock around pymavlink's
    signing state (the receive thread adopts timestamps while the sender increments them)."""

    def __init__(
        self,
        key: SigningKey,
        link_id: int,
        *,
        unsigned_allowed: Iterable[int] = (
            mavlink.MAVLINK_MSG_ID_RADIO_STATUS,
            mavlink.MAVLINK_MSG_ID_RADIO,
        ),
    ) -> None:
        self.key = key
        self.link_id = link_id
        self.unsigned_allowed = frozenset(unsigned_allowed)
        self.accept_unsigned = False  # while the vehicle turns signing off
        self.lock = threading.RLock()
        self.good = self.bad = self.unsigned_rejected = 0
        self.newest_ts = 0  # newest verified timestamp from the other side
        self.newest_at: float | None = None  # our link's vehicle time when it arrived
        self._link: Link | None = None
        self._plain_send: Callable[..., Any] | None = None

    def __repr__(self) -> str:
        return f"Signer(link_id={self.link_id}, key={self.key!r}, good={self.good}, bad={self.bad})"

    @property
    def signing_state(self) -> Any:
        assert self._link is not None, "signer not attached"
        return self._link.mav.signing

    def attach(self, link: Link, *, sign_now: bool = False) -> None:
        """Verify from now on; sign only once adopt() saw the other side's clock (or at once
        with sign_now, for a peer that shares our adopted timestamp)."""
        mav = link.mav
        with self.lock:
            self._link = link
            s = mav.signing
            s.secret_key = self.key.reveal()
            s.link_id = self.link_id
            s.timestamp = 0  # adopt the vehicle's clock from its first good frame
            s.stream_timestamps.clear()
            s.allow_unsigned_callback = self._allow_unsigned
            s.sign_outgoing = sign_now
            mav.check_signature = self._check  # instance attribute: shadows pymavlink's method
            self._plain_send = mav.send
            mav.send = self._send

    def detach(self) -> None:
        link = self._link
        if link is None:
            return
        with self.lock:
            mav = link.mav
            s = mav.signing
            s.sign_outgoing = False
            s.secret_key = None
            s.allow_unsigned_callback = None
            s.stream_timestamps.clear()
            for name in ("check_signature", "send"):
                mav.__dict__.pop(name, None)
            self._link = None

    def _send(self, msg: Any, force_mavlink1: bool = False) -> None:
        assert self._plain_send is not None
        with self.lock:
            self._plain_send(msg, force_mavlink1=force_mavlink1)

    def _check(self, msgbuf: bytearray, src_system: int, src_component: int) -> bool:
        """pymavlink's check, with the stream's timestamp put back when it fails."""
        assert self._link is not None
        mav = self._link.mav
        s = mav.signing
        stream = (msgbuf[-13], src_system, src_component)
        with self.lock:
            before = s.stream_timestamps.get(stream)
            ok = type(mav).check_signature(mav, msgbuf, src_system, src_component)
            if not ok:
                self.bad += 1
                if before is None:
                    s.stream_timestamps.pop(stream, None)
                else:
                    s.stream_timestamps[stream] = before
                return False
            self.good += 1
            ts = frame_timestamp(msgbuf)
            if ts > self.newest_ts:
                self.newest_ts, self.newest_at = ts, self._link.clock.now()
            return True

    def _allow_unsigned(self, _mav: Any, msg_id: int) -> bool:
        if self.accept_unsigned or msg_id in self.unsigned_allowed:
            return True
        self.unsigned_rejected += 1
        return False

    def adopt(self, what: str, timeout_s: float, sysid: int | None = None) -> None:
        """Wait for a frame from the vehicle that verifies with our key (pymavlink then takes its
        timestamp as ours), and sign from then on."""
        link = self._link
        assert link is not None, "signer not attached"
        link.wait(
            what,
            ["HEARTBEAT"],
            lambda m: (
                is_signed(m)
                and getattr(m, "_signed", False)
                and (sysid is None or m.get_srcSystem() == sysid)
            ),
            timeout_s=timeout_s,
        )
        with self.lock:
            self.signing_state.sign_outgoing = True

    def next_timestamp(self) -> int:
        """A timestamp no frame of ours has used yet (for frames built outside pymavlink's send)."""
        with self.lock:
            s = self.signing_state
            s.timestamp += 1
            return s.timestamp

    def vehicle_clock(self) -> int:
        """The other side's signing clock now, estimated from its newest verified frame plus the
        vehicle time since (its signing clock runs with its own time, at any speedup)."""
        assert self._link is not None and self.newest_at is not None, "no verified frame yet"
        elapsed = max(0.0, self._link.clock.now() - self.newest_at)
        return self.newest_ts + int(elapsed * TICKS_PER_S)


# -- provisioning a vehicle ------------------------------------------------------------------
class SigningSession:
    """Signing between the harness's link and the vehicle for one check: install the key (or use
    the one already on the vehicle), sign our traffic, and take the key off again at the end."""

    ADOPT_S = 5.0  # vehicle seconds for the first signed heartbeat after SETUP_SIGNING
    TRIES = 3

    def __init__(
        self,
        vehicle: Vehicle,
        key: SigningKey,
        *,
        install: bool = True,
        link_id: int = 0,
        unsigned_allowed: Iterable[int] | None = None,
    ) -> None:
        self.vehicle = vehicle
        self.key = key
        self.install = install
        extra = {} if unsigned_allowed is None else {"unsigned_allowed": unsigned_allowed}
        self.signer = Signer(key, link_id, **extra)
        self.started_t: float | None = None

    def __repr__(self) -> str:
        return f"SigningSession(install={self.install}, signer={self.signer!r})"

    def setup_message(self, key: bytes | None, initial_timestamp: int) -> Any:
        v = self.vehicle
        return mavlink.MAVLink_setup_signing_message(
            v.sysid, v.compid, list(key or bytes(_KEY_LEN)), initial_timestamp
        )

    def start(self) -> None:
        link = self.vehicle.link
        self.started_t = link.clock.now()
        self.signer.attach(link)
        # Until the vehicle signs, let its unsigned frames through (a leak could come then).
        self.signer.accept_unsigned = True
        for attempt in range(self.TRIES):
            if self.install:
                # Sent unsigned: no key is on the vehicle yet. The tlog gets it redacted.
                link.send(self.setup_message(self.key.reveal(), wall_timestamp()))
            try:
                self.signer.adopt(
                    "a HEARTBEAT from the vehicle signed with our key"
                    + (" after SETUP_SIGNING" if self.install else " (key already on it)"),
                    self.ADOPT_S,
                    sysid=self.vehicle.sysid,
                )
                self.signer.accept_unsigned = False
                return
            except AssertionError:
                if attempt == self.TRIES - 1:
                    self.signer.detach()
                    raise

    def stop(self) -> str | None:
        """Take the key off (all-zero key, sent signed); None, or what went wrong."""
        link = self.vehicle.link
        if not self.install:
            self.signer.detach()
            return None
        self.signer.accept_unsigned = True  # the vehicle's next frames come unsigned
        try:
            for _ in range(self.TRIES):
                link.send(self.setup_message(None, 0))
                try:
                    link.wait(
                        "an unsigned HEARTBEAT after removing the signing key",
                        ["HEARTBEAT"],
                        lambda m: m.get_srcSystem() == self.vehicle.sysid and not is_signed(m),
                        timeout_s=self.ADOPT_S,
                    )
                    return None
                except AssertionError as exc:
                    last = str(exc)
            return f"the vehicle kept signing after SETUP_SIGNING with an all-zero key ({last})"
        finally:
            self.signer.detach()
