"""MAVLink 2 message signing for the simulated vehicle (mavlink.io "Message Signing").

SETUP_SIGNING (256) installs a 32-byte key and an initial timestamp (all-zero key: off);
refused while armed, and refused over an unsigned, untrusted link once a key is set. With a
key the vehicle signs every frame it sends on every link (link id = channel number) and
verifies every frame it receives. Policy, as ArduPilot's GCS_Signing.cpp:
- SIM_SIGN_TRUST0=1: channel 0 (ArduPilot's USB) accepts unsigned frames;
- SIM_SIGN_RADIO=1: unsigned RADIO_STATUS (109) and RADIO (166) pass on every link (the
  simulator has no handler for them, so they cannot change state);
- anything else unsigned, or badly signed, is dropped silently and counted.
Replay: a stream is (link id, sysid, compid); its timestamp must grow; a new stream more than
60 s behind the vehicle's signing clock is refused; at most 16 streams (the C library's
MAVLINK_MAX_SIGNING_STREAMS), a 17th new one is refused. The signing clock starts at the
wall-clock timestamp (10 us units since 2015-01-01), runs at simulation speed (like ArduPilot
SITL), and never falls below the newest accepted or sent timestamp.

Faults: accepts_unsigned (every message), accepts_unsigned_param_set and
accepts_unsigned_command_long (one type only, never a badly signed frame of it),
accepts_replay, accepts_bad_signature, signing_lockout, signing_streams_unbounded, leaks_key,
signing_clock_reset_on_reboot (new streams judged against 0 after a reboot).

Verification goes through pymavlink's `check_signature`, but without its flaw: pymavlink
stores a stream's timestamp BEFORE comparing the signature, so one forged frame with a future
timestamp would lock a genuine stream out. `SigningParser.check_signature` remembers the
stream's timestamp (and the receive clock) before the call and puts both back when it fails.

The key persists in --state-dir/signing.json (mode 0600) with the clock; it is never
printed, never a parameter, never in a STATUSTEXT (unless the fault leaks_key asks for it).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.mav import MAVLink, MAVLinkMessage, mavlink
from sim.vehicle import SEV_INFO, SEV_WARNING

if TYPE_CHECKING:
    from sim.core import Sim
    from sim.links import Link

M = mavlink
UNIX_2015 = 1420070400  # the signing epoch, 2015-01-01 00:00 UTC
TICKS_PER_S = 100_000  # signing timestamps count 10 us
NEW_STREAM_MAX_AGE = 60 * TICKS_PER_S
MAX_STREAMS = 16  # MAVLINK_MAX_SIGNING_STREAMS
PERSIST_EVERY_S = 30.0  # vehicle seconds, as ArduPilot saves its signing timestamp
UNSIGNED_OK_IDS = (M.MAVLINK_MSG_ID_RADIO_STATUS, M.MAVLINK_MSG_ID_RADIO)
STREAM = tuple[int, int, int]  # link id, sysid, compid


def _unsigned_type_fault(faults: Any, msg_id: int) -> bool:
    """Faults accepts_unsigned_param_set / _command_long, ftp_unsigned_key_read and
    serial_control_unsigned_shell: one message type taken unsigned."""
    return (msg_id == M.MAVLINK_MSG_ID_PARAM_SET and faults.on("accepts_unsigned_param_set")) or (
        msg_id == M.MAVLINK_MSG_ID_COMMAND_LONG and faults.on("accepts_unsigned_command_long")) or (
        msg_id == M.MAVLINK_MSG_ID_FILE_TRANSFER_PROTOCOL and faults.on("ftp_unsigned_key_read")
    ) or (msg_id == M.MAVLINK_MSG_ID_SERIAL_CONTROL
          and faults.on("serial_control_unsigned_shell"))


class SigningParser(MAVLink):
    """A link's parser: pymavlink's checks, one stream table shared by every link."""

    def __init__(self, owner: Signing, link_index: int, src_system: int, src_component: int):
        super().__init__(None, src_system, src_component)
        self.owner = owner
        self.link_index = link_index
        self.signing = owner.rx  # shared: ArduPilot keeps one stream table for all channels

    def check_signature(self, msgbuf: bytearray, srcSystem: int, srcComponent: int) -> bool:
        return self.owner.check(self, msgbuf, srcSystem, srcComponent)


class Signing:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.rx = mavlink.MAVLinkSigning()
        self.rx.allow_unsigned_callback = self._allow_unsigned
        self.senders: list[MAVLink] = []
        self.key: bytes | None = None
        self.floor = 0  # newest timestamp accepted, sent, installed or stored
        self.dropped_unsigned = 0
        self.refused_streams = 0
        self._saved_at = 0.0
        self._leak_id = 0
        self.clock_forgotten = False  # fault signing_clock_reset_on_reboot, until a frame passes
        state_dir = sim.cfg.state_dir
        self.file: Path | None = state_dir / "signing.json" if state_dir else None
        self._load()
        sim.handlers["SETUP_SIGNING"] = self.on_setup_signing

    # ---- clock ----
    def now(self) -> int:
        """The vehicle's signing clock, in 10 us units since 2015-01-01."""
        wall = int((self.sim.unix0 - UNIX_2015 + self.sim.clock.now) * TICKS_PER_S)
        return max(wall, self.floor, self.rx.timestamp)

    # ---- wiring ----
    def attach(self, link: Link) -> None:
        def factory(_file: Any, sysid: int, compid: int) -> MAVLink:
            return SigningParser(self, link.index, sysid, compid)

        link.parser_factory = factory
        self.enroll(link.mav, link.index)

    def enroll(self, mav: MAVLink, link_index: int) -> None:
        """Sign what `mav` sends (a vehicle component's sender on channel `link_index`)."""
        mav.signing.link_id = link_index
        self.senders.append(mav)
        self._apply(mav)

    def _apply(self, mav: MAVLink) -> None:
        mav.signing.secret_key = self.key
        mav.signing.sign_outgoing = self.key is not None
        mav.signing.timestamp = max(mav.signing.timestamp, self.now())

    def tick(self) -> None:
        now = self.now()
        if not self.clock_forgotten:
            self.rx.timestamp = now  # what a new stream is compared against
        for mav in self.senders:
            if mav.signing.timestamp < now:
                mav.signing.timestamp = now
            else:
                self.floor = max(self.floor, mav.signing.timestamp)
        if self.key is not None and self.sim.clock.now - self._saved_at >= PERSIST_EVERY_S:
            self._save()

    def reboot(self) -> None:
        self.rx.stream_timestamps.clear()  # streams live in RAM only
        if self.sim.faults.on("signing_clock_reset_on_reboot"):
            # known-bad: the saved signing timestamp is not restored, so until a signed frame is
            # accepted, new streams are judged against 0 (what the vehicle sends stays signed)
            self.rx.timestamp = 0
            self.clock_forgotten = True

    def trusted(self, link_index: int) -> bool:
        return link_index == 0 and self.sim.params.get_int("SIM_SIGN_TRUST0") == 1

    # ---- receiving ----
    def _allow_unsigned(self, parser: MAVLink, msg_id: int) -> bool:
        """pymavlink asks this for unsigned frames and for frames whose check failed."""
        faults, params = self.sim.faults, self.sim.params
        if faults.on("accepts_unsigned") or self.trusted(getattr(parser, "link_index", -1)):
            return True
        signed_bad, parser.signed_failed = getattr(parser, "signed_failed", False), False
        if not signed_bad and _unsigned_type_fault(faults, msg_id):
            return True  # known-bad: one message type is taken unsigned
        if msg_id in UNSIGNED_OK_IDS and params.get_int("SIM_SIGN_RADIO") == 1:
            return True
        self.dropped_unsigned += 1
        return False

    def check(self, parser: MAVLink, msgbuf: bytearray, sysid: int, compid: int) -> bool:
        parser.signed_failed = True  # until it passes: _allow_unsigned is asked next if not
        st = self.rx
        stream: STREAM = (msgbuf[-13], sysid, compid)
        ts = int.from_bytes(msgbuf[-12:-6], "little")
        prev = st.stream_timestamps.get(stream)
        clock = st.timestamp
        full = len(st.stream_timestamps) >= MAX_STREAMS
        if prev is None and full and not self.sim.faults.on("signing_streams_unbounded"):
            self.refused_streams += 1
            return False
        faults = self.sim.faults
        if faults.on("accepts_bad_signature"):
            # The known-bad vehicle keeps the timestamp rules but never compares signatures.
            ok = ts > prev if prev is not None else ts + NEW_STREAM_MAX_AGE >= clock
        elif faults.on("accepts_replay"):
            # Present every frame as a brand-new stream at time 0: only the signature counts.
            st.stream_timestamps.pop(stream, None)
            st.timestamp = 0
            ok = MAVLink.check_signature(parser, msgbuf, sysid, compid)
        else:
            ok = MAVLink.check_signature(parser, msgbuf, sysid, compid)
        if ok:
            parser.signed_failed = False
            self.clock_forgotten = False  # the clock moves with the accepted frame again
            st.stream_timestamps[stream] = max(ts, prev or 0)
            st.timestamp = max(clock, ts)
            self.floor = max(self.floor, ts)
            return True
        # The flaw avoided: pymavlink has already stored `ts` for this stream; undo that so a
        # forged frame cannot move a genuine stream's timestamp (or the clock) forward.
        if faults.on("signing_lockout"):
            return False  # the known-bad vehicle keeps pymavlink's flaw
        if prev is None:
            st.stream_timestamps.pop(stream, None)
        else:
            st.stream_timestamps[stream] = prev
        st.timestamp = clock
        return False

    # ---- SETUP_SIGNING ----
    def on_setup_signing(self, link: Link, msg: MAVLinkMessage) -> None:
        sim, v = self.sim, self.sim.vehicle
        if msg.target_system not in (0, sim.sysid) or msg.target_component not in (0, 1):
            return
        if v.armed:
            v.text(SEV_WARNING, "Signing: setup refused while armed")
            return
        verified = bool(getattr(msg, "_signed", False))
        if (self.key is not None and not verified and not self.trusted(link.index)
                and not sim.faults.on("accepts_unsigned")):
            return  # an unsigned link may not replace (or remove) the key
        key = bytes(msg.secret_key)
        self.floor = max(self.floor, int(msg.initial_timestamp))
        self.set_key(None if not any(key) else key)
        v.text(SEV_INFO, "Signing: key installed" if self.key else "Signing: disabled")
        if self.key is not None and sim.faults.on("leaks_key"):
            self._leak()

    def set_key(self, key: bytes | None) -> None:
        if key != self.key:
            self.rx.stream_timestamps.clear()  # streams signed with another key mean nothing
        self.key = key
        self.rx.secret_key = key
        for mav in self.senders:
            self._apply(mav)
        self._save()

    def _leak(self) -> None:
        # Fault leaks_key: the key in hex, in a chunked STATUSTEXT (MAVLink 2 id/chunk_seq).
        assert self.key is not None
        text = f"Signing key {self.key.hex()}".encode()
        self._leak_id = self._leak_id % 65535 + 1
        for seq, i in enumerate(range(0, len(text), 50)):
            self.sim.broadcast(mavlink.MAVLink_statustext_message(
                SEV_INFO, text[i:i + 50], self._leak_id, seq))

    # ---- persistence ----
    def _load(self) -> None:
        if self.file is None or not self.file.exists():
            return
        try:
            stored = json.loads(self.file.read_text())
            key = bytes.fromhex(stored["key"]) if stored.get("key") else None
            ts = int(stored.get("timestamp", 0))
        except (OSError, ValueError, TypeError, KeyError):
            return  # unreadable: start without a key, as with wiped storage
        if key is not None and len(key) == 32:
            self.key = key
            self.rx.secret_key = key
        self.floor = max(self.floor, ts)

    def _save(self) -> None:
        self._saved_at = self.sim.clock.now
        if self.file is None:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        data = {"key": self.key.hex() if self.key else None, "timestamp": self.now()}
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never world-readable
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.file)
