"""The signing policy a profile states (suites.security.signing), and how a check reports a
channel the profile trusts: an acceptance there is the profile's stated exception (reported as
waived, with what was measured), not a failure; anywhere else it fails the check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from drivers.mavlink import mavlink


@dataclass(frozen=True)
class Policy:
    required_links: tuple[int, ...] = (1,)
    trusted_channels: tuple[int, ...] = ()
    unsigned_allowed: tuple[str, ...] = ("RADIO_STATUS", "RADIO")
    max_streams: int = 16
    install: bool = True
    params: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, security: dict[str, Any]) -> Policy:
        s = security.get("signing", {})
        return cls(
            required_links=tuple(s.get("required_links", (1,))),
            trusted_channels=tuple(s.get("trusted_channels", ())),
            unsigned_allowed=tuple(s.get("unsigned_allowed", ("RADIO_STATUS", "RADIO"))),
            max_streams=int(s.get("max_streams", 16)),
            install=bool(s.get("install", True)),
            params=dict(s.get("params", {})),
        )

    @property
    def channels(self) -> list[int]:
        """Every channel a per-channel check runs on."""
        return sorted(set(self.required_links) | set(self.trusted_channels))

    @property
    def unsigned_allowed_ids(self) -> list[int]:
        ids = []
        for name in self.unsigned_allowed:
            msg_id = getattr(mavlink, f"MAVLINK_MSG_ID_{name}", None)
            if msg_id is None:
                raise ValueError(f"signing.unsigned_allowed: no MAVLink message {name}")
            ids.append(msg_id)
        return ids

    def trusted(self, channel: int) -> bool:
        return channel in self.trusted_channels and channel not in self.required_links

    def report_trusted(self, channel: int, took_effect: bool, what: str, figures: str) -> None:
        """On a trusted channel, an accepted frame ends the check as the stated exception."""
        if took_effect and self.trusted(channel):
            pytest.xfail(
                f"channel {channel} is trusted by this profile (signing.trusted_channels): "
                f"{what} took effect there, as the profile states ({figures})"
            )
