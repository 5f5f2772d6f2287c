"""The simulator: links + vehicle + protocols, driven by one selectors loop in vehicle time."""

from __future__ import annotations

import heapq
import itertools
import os
import random
import selectors
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sim import commands, dynamics, failsafe, fence, guided, lenient_frames, messages
from sim.auto import AutoMission
from sim.clock import SimClock
from sim.faults import Faults
from sim.ftp import Ftp
from sim.gnss import Gnss
from sim.links import Link, LinkSpec, open_link
from sim.log_service import LogService
from sim.mav import MAVLinkMessage, mavlink
from sim.mission_protocol import MissionProtocol
from sim.mission_store import Item, MissionStore
from sim.param_protocol import ParamProtocol
from sim.params import STREAM_GROUPS, ParamStore
from sim.radio import Radio
from sim.remote_id import RemoteId
from sim.signing import Signing
from sim.telemetry import DATA_STREAM_IDS, Streams
from sim.vehicle import SEV_INFO, Home, Vehicle

M = mavlink
CRASH_EXIT = 3
SLOW_TIMESYNC_S = 0.4  # fault slow_timesync: the answer leaves this much vehicle time late
DROP_SHARE = 0.05  # fault drops_frames: share of telemetry frames that never leave


@dataclass
class Config:
    links: list[LinkSpec]
    speedup: float = 1.0
    home: Home = field(default_factory=lambda: Home(-35.363261, 149.165230, 584.0, 353.0))
    seed: int = 1
    sysid: int | None = None
    faults: list[str] = field(default_factory=list)
    state_dir: Path | None = None
    radio: tuple[int, ...] = ()  # channels with a simulated SiK radio in the path
    params: dict[str, float] = field(default_factory=dict)  # boot values (--param)
    files_dir: Path | None = None  # MAVLink FTP root's parent (None: a temporary folder)


class Sim:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.clock = SimClock(cfg.speedup)
        self.unix0 = time.time()  # SYSTEM_TIME = wall clock at start + vehicle time elapsed
        self.seed = cfg.seed
        self.faults = Faults(cfg.faults)
        state_file = cfg.state_dir / "params.json" if cfg.state_dir else None
        self.params = ParamStore(state_file)
        self.missions = MissionStore(cfg.state_dir / "missions.json" if cfg.state_dir else None)
        for name, value in cfg.params.items():
            self.params.set(name, value)  # before anything reads them at boot
        if cfg.sysid is not None:
            self.params.set("SYSID_THISMAV", cfg.sysid)
        self.sysid = self.params.get_int("SYSID_THISMAV")
        self.vehicle = Vehicle(self.params, self.faults, cfg.home, cfg.seed, lambda: self.clock.now)
        self.gnss = Gnss(self)  # the receiver and estimator, before anything reads a position
        self.sel = selectors.DefaultSelector()
        self.links: list[Link] = []
        self.streams: list[Streams] = []
        # (sender, command) -> (params, result, vehicle time): answers retransmissions.
        self.cmd_history: dict[tuple[tuple[int, int], int], tuple[tuple[float, ...], int, float]]
        self.cmd_history = {}
        self.resends = commands.ResendCount()  # fault resends_mute_acks
        self.param_proto = ParamProtocol(self)
        self.failsafe = failsafe.Failsafes(self)
        self.auto = AutoMission(self)
        self.mission_proto = MissionProtocol(self, self.missions)
        self.missions.listeners.append(self._fence_changed)
        self._fence_changed(M.MAV_MISSION_TYPE_FENCE)
        # Message id -> sender for REQUEST_MESSAGE of things that are not plain telemetry.
        self.on_request_message: dict[int, Callable[[Link], None]] = {}
        self.handlers: dict[str, Callable[[Link, MAVLinkMessage], None]] = {
            "HEARTBEAT": self.failsafe.on_heartbeat,
            "COMMAND_LONG": lambda ln, m: commands.on_command_long(self, ln, m),
            "COMMAND_INT": lambda ln, m: commands.on_command_int(self, ln, m),
            "SET_MODE": lambda ln, m: commands.on_set_mode(self, ln, m),
            "PARAM_REQUEST_LIST": self.param_proto.on_request_list,
            "PARAM_REQUEST_READ": self.param_proto.on_request_read,
            "PARAM_SET": self.param_proto.on_set,
            "TIMESYNC": self.on_timesync,
            "REQUEST_DATA_STREAM": self.on_request_data_stream,
            "MISSION_COUNT": self.mission_proto.on_count,
            "MISSION_ITEM_INT": self.mission_proto.on_item,
            "MISSION_ITEM": self.mission_proto.on_item,
            "MISSION_REQUEST_LIST": self.mission_proto.on_request_list,
            "MISSION_REQUEST_INT": self.mission_proto.on_request,
            "MISSION_REQUEST": self.mission_proto.on_request,
            "MISSION_ACK": self.mission_proto.on_ack,
            "MISSION_CLEAR_ALL": self.mission_proto.on_clear_all,
            "MISSION_SET_CURRENT": self.mission_proto.on_set_current,
            "SET_POSITION_TARGET_GLOBAL_INT": lambda ln, m: guided.on_global_int(self, ln, m),
            "SET_POSITION_TARGET_LOCAL_NED": lambda ln, m: guided.on_local_ned(self, ln, m),
        }
        self.params.listeners.append(self._on_param)
        # Add-ons with attach(link) / tick() / reboot(): signing first (it signs what the
        # others send), then Remote ID (to its transponder), then the radio in the link path.
        self.signing = Signing(self)
        self.remote_id = RemoteId(self)
        self.radio = Radio(self, cfg.radio)
        self.addons = (self.signing, self.remote_id, self.radio)
        self.ftp = Ftp(self, cfg.files_dir)
        self.logs = LogService(self, self.ftp.root)
        self._was_warm = False
        self._bugs_reported: set[tuple[str, str]] = set()
        # (vehicle time, order, action): things that happen later in vehicle time (late answers
        # of the slow_* faults); the counter keeps equal times in the order they were asked
        self._later: list[tuple[float, int, Callable[[], None]]] = []
        self._later_n = itertools.count()
        self._drop_rng = random.Random(cfg.seed * 7 + 5)  # fault drops_frames: seeded draws

    # ---- links ----
    def open_links(self) -> None:
        for i, spec in enumerate(self.cfg.links):
            link = open_link(i, spec, self.sysid, self.on_message, self.on_bad)
            self.links.append(link)
            link.register(self.sel)
            self.streams.append(self._new_streams(i))
            for addon in self.addons:
                addon.attach(link)

    def _new_streams(self, index: int) -> Streams:
        import random

        s = Streams(random.Random(self.seed * 1000 + index), self.faults.on("heartbeat_gaps"))
        for g in STREAM_GROUPS:
            name = f"SR{index}_{g}"
            if name in self.params.values and self.params[name] > 0:
                s.set_group_rate(g, self.params[name], self.clock.now)
        return s

    def close(self) -> None:
        for link in self.links:
            link.close(self.sel)
        self.sel.close()
        self.ftp.close()

    def send(self, link: Link, msg: MAVLinkMessage) -> None:
        link.send(msg)

    def broadcast(self, msg: MAVLinkMessage) -> None:
        for link in self.links:
            link.send(msg)

    def bad_frames(self) -> int:
        return min(65535, sum(ln.bad_frames for ln in self.links))

    # ---- input ----
    def on_message(self, link: Link, msg: MAVLinkMessage) -> None:
        handler = self.handlers.get(msg.get_type())
        if handler is not None:
            try:
                handler(link, msg)
            except Exception:
                # Whatever a peer sends must not take the vehicle down: report, drop, go on.
                self._report_bug(f"handling {msg.get_type()}")

    def _report_bug(self, what: str) -> None:
        key = (what, traceback.format_exc().splitlines()[-1])
        if key not in self._bugs_reported:  # once each: a stream of tracebacks helps no one
            self._bugs_reported.add(key)
            print(f"skyproof-sim: internal error while {what}:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)

    def on_bad(self, link: Link, msg: MAVLinkMessage) -> None:
        reason = getattr(msg, "reason", "")
        if self.faults.on("crash_on_malformed") and "CRC" in reason:
            self.crash("a frame with a bad CRC")
        if self.faults.on("accepts_unknown_incompat") and "incompat_flags" in reason:
            # the known-bad parser: flags it does not know are ignored, the frame obeyed
            self._obey(link, bytes(msg.data))
        elif "CRC" in reason:
            # the known-bad parsers of sim/lenient_frames.py: a repair it believes in
            repaired = lenient_frames.believed(bytes(msg.data), self.faults.on)
            if repaired is not None:
                self._obey(link, repaired)

    def _obey(self, link: Link, data: bytes) -> None:
        """A frame the correct parser refused, decoded by pymavlink and handled as a good one."""
        try:
            frame = link.new_parser().decode(bytearray(data))
        except Exception:
            return
        if link.rx_filter is None or link.rx_filter(frame):
            self.on_message(link, frame)

    def crash(self, why: str) -> None:
        """The known-bad vehicle: one input takes the whole autopilot down at once."""
        print(f"skyproof-sim: crashing (fault): {why}", flush=True)
        sys.stderr.flush()
        os._exit(CRASH_EXIT)

    def on_timesync(self, link: Link, msg: MAVLinkMessage) -> None:
        if msg.tc1 != 0:
            return
        ts1 = msg.ts1

        def answer() -> None:  # tc1: the vehicle's clock when the answer leaves, in ns
            tc1 = int(self.vehicle.time_boot * 1e9)
            if self.faults.on("timesync_tc1_in_us"):
                tc1 //= 1000  # known-bad: microseconds where nanoseconds belong
            self.send(link, M.MAVLink_timesync_message(tc1, ts1))

        if self.faults.on("slow_timesync"):
            self.later(SLOW_TIMESYNC_S, answer)
            return
        answer()

    def later(self, delay_s: float, action: Callable[[], None]) -> None:
        """Run `action` after `delay_s` of vehicle time (at the start of a physics step)."""
        heapq.heappush(self._later, (self.clock.now + delay_s, next(self._later_n), action))

    def _run_due(self) -> None:
        while self._later and self._later[0][0] <= self.clock.now + 1e-9:
            _, _, action = heapq.heappop(self._later)
            try:
                action()
            except Exception:
                self._report_bug("running a delayed action")

    def on_request_data_stream(self, link: Link, msg: MAVLinkMessage) -> None:
        if msg.target_system != self.sysid:
            return
        rate = msg.req_message_rate if msg.start_stop else 0
        for g in DATA_STREAM_IDS.get(msg.req_stream_id, ()):
            self.streams[link.index].set_group_rate(g, rate, self.clock.now)

    def _on_param(self, name: str, value: float) -> None:
        # SRn_GROUP: a stream rate for channel n (0 = back to the simulator's defaults).
        if name.startswith("SR") and "_" in name:
            ch, group = name[2:].split("_", 1)
            if ch.isdigit() and int(ch) < len(self.streams) and group in STREAM_GROUPS:
                s = self.streams[int(ch)]
                if value > 0:
                    s.set_group_rate(group, value, self.clock.now)
                else:
                    s.reset_group(group, self.clock.now)

    # ---- vehicle-side events ----
    def reboot(self) -> None:
        self.vehicle.reboot()
        self._was_warm = False
        self.sysid = self.params.get_int("SYSID_THISMAV")  # like ArduPilot: applies on reboot
        for link in self.links:
            link.mav.srcSystem = self.sysid
        self.streams = [self._new_streams(i) for i in range(len(self.links))]
        self.cmd_history.clear()
        self.resends = commands.ResendCount()
        self._later.clear()  # answers still on their way die with the old boot
        self.failsafe.reset()
        self.mission_proto.upload = None  # a transfer does not survive a reboot
        self.auto.current, self.auto.started, self.auto.complete = 0, None, False
        self.auto.jumps.clear()
        for addon in self.addons:
            addon.reboot()
        self.ftp.reboot()
        self.gnss.reboot()

    def _fence_changed(self, mission_type: int) -> None:
        if mission_type == M.MAV_MISSION_TYPE_FENCE:
            o = self.vehicle.origin
            zones = fence.zones_from_items(self.missions.get(mission_type), o.lat, o.lon)
            self.failsafe.zones = zones or fence.Zones()

    def home_item(self, item: Item) -> Item:
        """Mission item 0 as ArduPilot reports it: the current home."""
        h = self.vehicle.home
        if h is None:
            return item
        return Item(0, M.MAV_FRAME_GLOBAL_INT, M.MAV_CMD_NAV_WAYPOINT, 0, 1, 0, 0, 0, 0,
                    round(h.lat * 1e7), round(h.lon * 1e7), h.alt)

    def send_mission_current(self) -> None:
        self.broadcast(messages.mission_current(self))

    def send_home(self) -> None:
        msg = messages.home_position(self)
        if msg is not None:
            self.broadcast(msg)

    def tick(self) -> None:
        """One physics step of vehicle time."""
        v = self.vehicle
        self._run_due()
        if v.warm and not self._was_warm:
            self._was_warm = True
            if v.home is None:
                v.set_home_here()
            v.text(SEV_INFO, "EKF3 IMU0 is using GPS")
            self.send_home()
        self.gnss.tick()
        self.auto.tick()
        dynamics.step(v, self.clock.step_s)
        self.failsafe.tick()
        self.param_proto.tick()
        self.mission_proto.tick()
        for addon in self.addons:
            addon.tick()
        for severity, text in v.outbox:
            self.broadcast(messages.statustext(severity, text))
        v.outbox.clear()
        self._telemetry()

    def _telemetry(self) -> None:
        now = self.clock.now
        built: dict[int, MAVLinkMessage | None] = {}
        drops = self.faults.on("drops_frames")
        for link, streams in zip(self.links, self.streams, strict=True):
            for msg_id in streams.due_now(now):
                if msg_id not in built:
                    builder = messages.BUILDERS.get(msg_id)
                    try:
                        built[msg_id] = builder(self) if builder else None
                    except Exception:
                        self._report_bug(f"building message {msg_id}")
                        built[msg_id] = None
                msg = built[msg_id]
                if msg is None:
                    continue
                if drops and self._drop_rng.random() < DROP_SHARE:
                    # fault drops_frames: the frame takes its sequence number and never leaves,
                    # so a receiver sees a gap it cannot blame on the link
                    link.mav.seq = (link.mav.seq + 1) % 256
                else:
                    link.send(msg)

    # ---- the loop ----
    def run(self, stop_requested: Callable[[], bool]) -> int:
        """Run until `stop_requested()` (set by the signal handlers installed in cli.main)."""
        while not stop_requested():
            # Wake for the next physics step (bounded so a signal is seen promptly).
            timeout = min(self.clock.wall_until_next(), 0.05)
            for key, mask in self.sel.select(timeout):
                key.data(mask)
            for _ in range(self.clock.steps_due()):
                self.clock.advance()
                self.tick()
        self.close()
        return 0
