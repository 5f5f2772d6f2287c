"""Signing between the harness and a vehicle for one check (`SigningSession`): install the key
with SETUP_SIGNING (or use the one on the vehicle), sign the harness's link, take the key off."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from drivers.link.keys import KEY_LEN, SigningKey, is_signed, wall_timestamp
from drivers.link.signer import Signer
from drivers.mavlink import mavlink
from drivers.services.remote_id import vehicle_utc

if TYPE_CHECKING:
    from drivers.services.vehicle import Vehicle


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
            v.sysid, v.compid, list(key or bytes(KEY_LEN)), initial_timestamp
        )

    def initial_timestamp(self) -> int:
        """The later of the wall clock and the vehicle's own UTC (SYSTEM_TIME). A vehicle keeps
        its stream table while the key comes off and on again (ArduPilot: one table for all
        channels, until a reboot); a SITL at speedup runs ahead of the wall, so a key installed
        at wall time would set its clock back behind the timestamps an earlier check's station
        left in that table, and a new station of the same identity would be refused as a
        replay."""
        utc = vehicle_utc(self.vehicle.link)
        return max(wall_timestamp(), wall_timestamp(utc) if utc is not None else 0)

    def start(self) -> None:
        link = self.vehicle.link
        self.started_t = link.clock.now()
        self.signer.attach(link)
        # Until the vehicle signs, let its unsigned frames through (a leak could come then).
        self.signer.accept_unsigned = True
        for attempt in range(self.TRIES):
            if self.install:
                # Sent unsigned: no key is on the vehicle yet. The tlog gets it redacted.
                link.send(self.setup_message(self.key.reveal(), self.initial_timestamp()))
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
