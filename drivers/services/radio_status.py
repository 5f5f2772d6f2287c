"""RADIO_STATUS (109) as figures: RSSI and noise in dBm, fade margin, counters, for the local
end (the radio that sends the report, at the ground station for a SiK pair) and the remote end.

mavlink.io (common.xml, RADIO_STATUS): rssi, remrssi, noise, remnoise are 0..254 with 255 for
"unknown"; txbuf is the remaining free buffer in %; rxerrors and fixed are counters since boot.
The raw units are the radio's own: for SiK radios QGroundControl converts them with
dBm ~ raw / 1.9 - 127 (a secondary source: SiK's firmware documents no formula).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from drivers.link.connection import Link, Timed

UNKNOWN = 255  # mavlink.io: 255 = invalid/unknown for rssi, remrssi, noise, remnoise
COUNTER_TOP = 65535  # rxerrors and fixed are uint16
ENDS = ("local", "remote")


def sik_dbm(raw: int) -> float | None:
    """SiK raw units -> dBm (QGroundControl's conversion, a secondary source); None if unknown."""
    return None if raw == UNKNOWN else raw / 1.9 - 127.0


@dataclass(frozen=True)
class Report:
    """One RADIO_STATUS with the vehicle time it arrived."""

    t: float
    sender: tuple[int, int]
    rssi: int
    remrssi: int
    noise: int
    remnoise: int
    txbuf: int
    rxerrors: int
    fixed: int

    @classmethod
    def of(cls, timed: Timed) -> "Report":
        m = timed.msg
        sender = (m.get_srcSystem(), m.get_srcComponent())
        return cls(timed.t, sender, m.rssi, m.remrssi, m.noise, m.remnoise, m.txbuf,
                   m.rxerrors, m.fixed)  # fmt: skip

    def rssi_dbm(self, end: str) -> float | None:
        return sik_dbm(self.rssi if end == "local" else self.remrssi)

    def noise_dbm(self, end: str) -> float | None:
        return sik_dbm(self.noise if end == "local" else self.remnoise)

    def margin_db(self, end: str) -> float | None:
        """Fade margin of one end: its RSSI above its noise floor. SiK reports no receiver
        sensitivity, so signal-to-noise is the margin a ground station can see (None if either
        figure is unknown)."""
        rssi, noise = self.rssi_dbm(end), self.noise_dbm(end)
        return None if rssi is None or noise is None else rssi - noise

    def fields(self) -> tuple[int, ...]:
        return (self.rssi, self.remrssi, self.noise, self.remnoise, self.txbuf, self.rxerrors,
                self.fixed)  # fmt: skip


def collect(link: Link, duration_s: float) -> list[Report]:
    """Every RADIO_STATUS (from any sender: a SiK radio reports as 51:68, not as the vehicle)
    received during the next duration_s vehicle seconds."""
    return [Report.of(t) for t in link.collect(["RADIO_STATUS"], duration_s)]


def steps_back(values: Iterable[int]) -> int:
    """How often a counter since boot went down. A fall from the top of the uint16 range to a
    small value is a wrap-around, not a step back."""
    count, prev = 0, None
    for v in values:
        wrapped = prev is not None and prev > COUNTER_TOP - 1000 and v < 1000
        if prev is not None and v < prev and not wrapped:
            count += 1
        prev = v
    return count


def known(values: Iterable[float | None]) -> list[float]:
    """The figures that were reported (255 = unknown is left out, never averaged in)."""
    return [v for v in values if v is not None]


Band = tuple[float, float]


def bands_outside(declared: Iterable[Iterable[float]], permitted: Iterable[Iterable[float]]
                  ) -> list[Band]:  # fmt: skip
    """The declared [low, high] MHz bands that do not lie wholly inside one permitted band."""
    allowed = [_band(b) for b in permitted]
    return [
        band
        for band in map(_band, declared)
        if not any(lo <= band[0] and band[1] <= hi for lo, hi in allowed)
    ]


def _band(pair: Iterable[float]) -> Band:
    lo, hi = pair
    return float(lo), float(hi)
