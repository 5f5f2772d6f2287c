"""A simulated SiK telemetry radio pair in the path of chosen links (`--radio CH[,CH...]|all`).

The ground radio stands at home (the link's socket is its serial port), the air radio rides
on the vehicle. Each physics step (vehicle time), per direction:

    d       = max(1 m, 3-D distance home -> vehicle)
    FSPL    = 20 log10(d / 1 km) + 20 log10(f / 1 MHz) + 32.44 dB          (free space)
    P_rx    = SIM_RADIO_PWR + SIM_RADIO_GAIN - FSPL + fade                 (dBm)
    margin  = P_rx - SIM_RADIO_SENS                                        (dB, fade margin)

`fade` is a seeded Gaussian AR(1) process (standard deviation SIM_RADIO_FADE dB, correlation
time 1 s), drawn independently for the up- and downlink. Each frame is lost with probability
1 / (1 + exp(margin / 2 dB)) (50 % at 0 dB, < 1 % above 10 dB); below -10 dB the link is gone
and nothing passes. A frame that survives but would have been lost with 6 dB less margin
counts as "fixed" (corrected by the radio's FEC). Loss applies to everything the vehicle sends
on the link (signed or not, Remote ID too) and to everything it receives there.

Free space is optimistic: with the defaults (20 dBm, 2440 MHz, 4 dBi, -110 dBm) the range is
about 100 km. Tests and profiles shrink it with SIM_RADIO_PWR / SIM_RADIO_SENS.

RADIO_STATUS (109) comes from the ground radio (sysid 51, compid 68, unsigned: a SiK radio does
not sign; ArduPilot accepts it unsigned) at 1 Hz vehicle time, straight into the link (no air
loss): rssi / remrssi in raw SiK units 0..254 (dBm ~ raw / 1.9 - 127; remrssi 0 while the air
radio is out of reach), noise / remnoise (the noise floor, ~ -118 dBm), txbuf (% free: 100
while the frames of the last second fill under half of the 64 kbit/s air rate, 0 at full),
rxerrors (frames the radios lost) and fixed, both counters since start, saturating at 65535.
Faults: radio_status_missing, radio_status_frozen (blatant), and the subtle ones:
radio_status_slow (a report every 1.6 s), radio_counters_per_interval (rxerrors / fixed count
the last interval, so they step back once frames are lost, and look right while none are),
radio_rssi_sometimes_unknown (every third report says 255 for both RSSIs), radio_rssi_stuck
(both RSSIs keep their first value; noise, txbuf and counters stay live).
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import TYPE_CHECKING

from sim.mav import MAVLink, MAVLinkMessage, mavlink

if TYPE_CHECKING:
    from sim.core import Sim
    from sim.links import Link

M = mavlink
SIK_SYSID, SIK_COMPID = 51, 68  # what SiK firmware puts on its RADIO_STATUS
MIN_DISTANCE_M = 1.0
LOSS_SCALE_DB = 2.0  # width of the logistic loss curve
GONE_BELOW_DB = -10.0  # margin below which nothing passes
FEC_DB = 6.0  # frames this close to being lost were corrected
FADE_TAU_S = 1.0
NOISE_FLOOR_DBM = -118.0  # thermal noise in ~100 kHz + a 6 dB noise figure
AIR_BYTES_PER_S = 8000  # SiK AIR_SPEED 64 kbit/s, shared by both directions (TDM)
STATUS_PERIOD_S = 1.0
SLOW_STATUS_PERIOD_S = 1.6  # fault radio_status_slow: 0.63 Hz, just under a 0.7 Hz bound
COUNTER_MAX = 65535


def raw_sik(dbm: float) -> int:
    """dBm -> SiK raw units (QGroundControl's inverse: dBm ~ raw / 1.9 - 127)."""
    return max(0, min(254, round((dbm + 127.0) * 1.9)))


def fspl_db(distance_m: float, freq_mhz: float) -> float:
    return 20 * math.log10(max(distance_m, MIN_DISTANCE_M) / 1000.0) + 20 * math.log10(
        freq_mhz) + 32.44


def loss_probability(margin_db: float) -> float:
    if margin_db < GONE_BELOW_DB:
        return 1.0
    return 1.0 / (1.0 + math.exp(min(margin_db / LOSS_SCALE_DB, 700.0)))


class _RawFile:
    """What the radio's own sender writes to: the link's socket, past the air-loss filter."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def write(self, buf: bytes) -> None:
        self.link.write_raw(buf)


class RadioLink:
    """The radio pair on one link."""

    def __init__(self, radio: Radio, link: Link, seed: int) -> None:
        self.radio = radio
        self.link = link
        self.fade_rng = random.Random(seed * 7919 + 1)
        self.loss_rng = {"down": random.Random(seed * 7919 + 2),
                         "up": random.Random(seed * 7919 + 3)}
        self.fade = {"down": 0.0, "up": 0.0}  # dB
        self.noise = {"down": 0.0, "up": 0.0}  # dB around the noise floor
        self.margin = {"down": 100.0, "up": 100.0}
        self.rx_dbm = {"down": 0.0, "up": 0.0}
        self.rxerrors = 0
        self.fixed = 0
        self.air: deque[tuple[float, int]] = deque()  # (vehicle time, bytes) of the last second
        self.air_bytes = 0
        self.sender = MAVLink(_RawFile(link), SIK_SYSID, SIK_COMPID)
        self.next_status = 0.0
        self.frozen: MAVLinkMessage | None = None
        self.reports = 0
        self.reported_counters = (0, 0)  # rxerrors, fixed at the last report
        self.first_rssi: tuple[int, int] | None = None
        link.tx_filter = lambda buf: self.passes("down", len(buf))
        link.rx_filter = lambda msg: self.passes("up", len(msg.get_msgbuf()))

    def step(self, dt: float, dbm_without_fade: float, fade_sd: float, sens: float) -> None:
        a = math.exp(-dt / FADE_TAU_S)
        for d in ("down", "up"):
            self.fade[d] = a * self.fade[d] + math.sqrt(1 - a * a) * fade_sd * \
                self.fade_rng.gauss(0.0, 1.0)
            self.noise[d] = self.fade_rng.gauss(0.0, 1.0)
            self.rx_dbm[d] = dbm_without_fade + self.fade[d]
            self.margin[d] = self.rx_dbm[d] - sens
        now = self.radio.sim.clock.now
        while self.air and self.air[0][0] <= now - 1.0:
            self.air_bytes -= self.air.popleft()[1]

    def passes(self, direction: str, size: int) -> bool:
        """Whether one frame crosses the air; counts what was lost or corrected."""
        self.air.append((self.radio.sim.clock.now, size))
        self.air_bytes += size
        margin = self.margin[direction]
        u = self.loss_rng[direction].random()
        if u < loss_probability(margin):
            self.rxerrors = min(COUNTER_MAX, self.rxerrors + 1)
            return False
        if u < loss_probability(margin - FEC_DB):
            self.fixed = min(COUNTER_MAX, self.fixed + 1)
        return True

    def status(self) -> MAVLinkMessage:
        gone = self.margin["up"] < GONE_BELOW_DB  # the air radio's reports no longer arrive
        txbuf = round(100 * max(0.0, min(1.0, 2 * (1 - self.air_bytes / AIR_BYTES_PER_S))))
        return M.MAVLink_radio_status_message(
            raw_sik(self.rx_dbm["down"]),
            0 if gone else raw_sik(self.rx_dbm["up"]),
            txbuf,
            raw_sik(NOISE_FLOOR_DBM + self.noise["down"]),
            0 if gone else raw_sik(NOISE_FLOOR_DBM + self.noise["up"]),
            self.rxerrors, self.fixed,
        )

    def send_status(self) -> None:
        faults = self.radio.sim.faults
        if faults.on("radio_status_missing"):
            return
        msg = self.status()
        self.reports += 1
        if faults.on("radio_counters_per_interval"):
            # known-bad: the errors of the last interval, not since boot (0 while none are lost)
            last, self.reported_counters = self.reported_counters, (msg.rxerrors, msg.fixed)
            msg.rxerrors, msg.fixed = msg.rxerrors - last[0], msg.fixed - last[1]
        if faults.on("radio_rssi_stuck"):
            self.first_rssi = self.first_rssi or (msg.rssi, msg.remrssi)
            msg.rssi, msg.remrssi = self.first_rssi
        if faults.on("radio_rssi_sometimes_unknown") and self.reports % 3 == 0:
            msg.rssi = msg.remrssi = 255  # "unknown", though both radios hear each other
        if faults.on("radio_status_frozen"):
            self.frozen = self.frozen or msg  # the first report, forever
            msg = self.frozen
        self.sender.send(msg)

    def period_s(self) -> float:
        slow = self.radio.sim.faults.on("radio_status_slow")
        return SLOW_STATUS_PERIOD_S if slow else STATUS_PERIOD_S


class Radio:
    """The add-on: a RadioLink on each chosen channel."""

    def __init__(self, sim: Sim, channels: tuple[int, ...]) -> None:
        self.sim = sim
        self.channels = set(channels)
        self.links: list[RadioLink] = []

    def attach(self, link: Link) -> None:
        if link.index in self.channels:
            self.links.append(RadioLink(self, link, self.sim.seed * 100 + link.index))

    def reboot(self) -> None:
        pass  # the radios are not the autopilot: a reboot does not reset their counters

    def distance_m(self) -> float:
        v = self.sim.vehicle
        hn, he, halt = v.home_ne_alt()  # the ground radio stands at home
        return math.sqrt((v.n - hn) ** 2 + (v.e - he) ** 2 + (v.alt - halt) ** 2)

    def tick(self) -> None:
        if not self.links:
            return
        p, now = self.sim.params, self.sim.clock.now
        dbm = p["SIM_RADIO_PWR"] + p["SIM_RADIO_GAIN"] - fspl_db(self.distance_m(),
                                                                   p["SIM_RADIO_FREQ"])
        for rl in self.links:
            rl.step(self.sim.clock.step_s, dbm, p["SIM_RADIO_FADE"], p["SIM_RADIO_SENS"])
            if now + 1e-9 >= rl.next_status:
                period = rl.period_s()
                nxt = rl.next_status + period
                rl.next_status = nxt if nxt > now else now + period  # no bursts
                rl.send_status()
