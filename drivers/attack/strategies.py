"""Hypothesis strategies for hostile MAVLink input: each draws a `Case` (one frame's bytes and
what it is), built by pymavlink and mutated by drivers/attack/frames.py, never framed by hand.

Three families, each harmless to a correct vehicle and visible if it is not:
- malformed: a frame that WOULD change state (a mode change, a probe parameter write) broken in
  one way: bad CRC, one bit flipped, truncated, wrong length, an unknown incompat flag (with a
  valid CRC, so the flag alone decides), another message id. It must be dropped.
- semantic: well-formed frames with hostile values: NaN and infinity in float fields, invalid
  enum values (modes that do not exist, unknown commands, bad parameter types), out-of-range
  PARAM_SET on parameters with documented ranges. They must be refused or clamped. Values that
  would make a legal change (a real mode, a valid home) are never drawn: such a change would be
  the vehicle obeying, not failing.
- garbage: random bytes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from drivers.attack import frames
from drivers.attack.frames import FrameBuilder
from drivers.mavlink import COPTER_MODES, mavlink

M = mavlink
NONFINITE = [math.nan, math.inf, -math.inf]
HUGE = [1e38, -1e38, 3.4e38, -3.4e38, 1e9, -1e9]
KNOWN_COMMANDS = frozenset(M.enums["MAV_CMD"])
LEGAL_MODES = frozenset(COPTER_MODES.values())


@dataclass(frozen=True)
class Case:
    family: str  # malformed | semantic | garbage
    what: str  # for a person: which message, which fault
    frame: bytes

    def __repr__(self) -> str:  # hypothesis prints falsifying examples with this
        return f"Case({self.family}: {self.what}, {self.frame.hex()})"

    @property
    def key(self) -> str:
        """What kind of input this is, the same on every run: drawn numbers become `#`, while
        the values that matter as such (nan, inf) and names (SERIAL1_BAUD) stay."""
        return f"{self.family}: " + _NUMBER.sub("#", self.what)


_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(\.\d+)?(e[-+]?\d+)?")


@dataclass(frozen=True)
class Target:
    """Who the frames are addressed to and what a legal change would look like."""

    sysid: int
    compid: int
    probe_param: str
    probe_value: float  # a legal value of the probe parameter, different from its current one
    probe_mode: tuple[float, float, float]  # DO_SET_MODE param1..3 of a legal other mode
    param_ranges: dict[str, tuple[float, float]]
    sender: tuple[int, int] = (240, 190)  # the fuzzer's own sysid, compid
    nonfinite_takeoff_legal: bool = False  # PX4: NAV_TAKEOFF to a non-finite alt = default height

    def pack(self, msg: Any) -> bytes:
        """One frame from the fuzzer, sequence number 0: the same draw gives the same bytes."""
        return FrameBuilder(*self.sender).frame(msg)


def hostile_floats() -> st.SearchStrategy[float]:
    return st.sampled_from(NONFINITE + HUGE)


PX4_MAIN_MODES = range(1, 16)  # px4_custom_mode.h: MANUAL (1) .. ALTITUDE_CRUISE (11), margin


def no_mode_of_either(m: int) -> bool:
    """A custom mode that names no mode on ArduPilot Copter (its numbers) nor on PX4, which reads
    its main mode from bits 16-23 of SET_MODE's custom_mode, and from DO_SET_MODE's param2 cast
    to uint8 (its low byte, as x86 truncates): a random draw of 100.. often named AUTO there."""
    return (m not in LEGAL_MODES and (m & 0xFF) not in PX4_MAIN_MODES
            and (m >> 16 & 0xFF) not in PX4_MAIN_MODES)  # fmt: skip


def invalid_modes() -> st.SearchStrategy[float]:
    real = st.integers(100, 2**32 - 1).filter(no_mode_of_either).map(float)
    return st.one_of(st.sampled_from([*NONFINITE, -1.0, 1e9]), real)


def not_one_of(*legal: float) -> st.SearchStrategy[float]:
    return st.one_of(hostile_floats(), st.floats(-1e6, 1e6).filter(lambda x: x not in legal))


def _command(t: Target, command: int, p: list[float]) -> Any:
    return M.MAVLink_command_long_message(t.sysid, t.compid, command, 0, *p)


@st.composite
def hostile_command(draw: st.DrawFn, t: Target) -> tuple[str, Any]:
    """A COMMAND_LONG whose meaningful parameter is hostile (the others may be too)."""
    other = st.lists(st.one_of(hostile_floats(), st.just(0.0)), min_size=7, max_size=7)
    p = draw(other)
    kind = draw(st.sampled_from(["mode", "arm", "takeoff", "speed", "interval", "home", "unknown"]))
    if kind == "mode":
        p[0], p[1] = draw(st.sampled_from([1.0, *NONFINITE])), draw(invalid_modes())
        return f"DO_SET_MODE custom mode {p[1]}", _command(t, M.MAV_CMD_DO_SET_MODE, p)
    if kind == "arm":
        p[0] = draw(not_one_of(0.0, 1.0))
        p[1] = draw(not_one_of(21196.0, 2989.0))  # never a forced arm or disarm
        return f"ARM_DISARM p1 {p[0]}", _command(t, M.MAV_CMD_COMPONENT_ARM_DISARM, p)
    if kind == "takeoff":  # a non-finite altitude is legal where it means the default height
        p[6] = draw(st.sampled_from(HUGE) if t.nonfinite_takeoff_legal else hostile_floats())
        return f"NAV_TAKEOFF alt {p[6]}", _command(t, M.MAV_CMD_NAV_TAKEOFF, p)
    if kind == "speed":
        p[1] = draw(hostile_floats())
        return f"DO_CHANGE_SPEED {p[1]}", _command(t, M.MAV_CMD_DO_CHANGE_SPEED, p)
    if kind == "interval":  # message id and interval hostile: no real stream is switched off
        p[0], p[1] = draw(hostile_floats()), draw(hostile_floats())
        return f"SET_MESSAGE_INTERVAL {p[0]} {p[1]}", _command(t, M.MAV_CMD_SET_MESSAGE_INTERVAL, p)
    if kind == "home":  # latitude beyond +-90 or not finite: never a valid home
        p[0], p[4] = 0.0, draw(st.one_of(st.sampled_from(NONFINITE), st.floats(90.5, 1e6)))
        return f"DO_SET_HOME lat {p[4]}", _command(t, M.MAV_CMD_DO_SET_HOME, p)
    cmd = draw(st.integers(0, 65535).filter(lambda c: c not in KNOWN_COMMANDS))
    return f"unknown command {cmd}", _command(t, cmd, p)


@st.composite
def hostile_param_set(draw: st.DrawFn, t: Target) -> tuple[str, Any]:
    """PARAM_SET of a ranged parameter to a value outside its range (or not finite), with a
    valid or an invalid param_type."""
    name = draw(st.sampled_from(sorted(t.param_ranges)))
    lo, hi = t.param_ranges[name]
    value = draw(st.one_of(
        st.sampled_from([*NONFINITE, lo - 1, hi + 1, -hi - 1, hi * 1000 + 1]),
        st.floats(hi + 1e-3, 1e30), st.floats(-1e30, lo - 1e-3),
    ))  # fmt: skip
    ptype = draw(st.one_of(st.integers(1, 10), st.integers(11, 255), st.just(0)))
    msg = M.MAVLink_param_set_message(t.sysid, t.compid, name.encode(), value, ptype)
    return f"PARAM_SET {name}={value} type {ptype}", msg


@st.composite
def hostile_other(draw: st.DrawFn, t: Target) -> tuple[str, Any]:
    """SET_MODE to a mode that does not exist, a HEARTBEAT of random enums, a position target
    full of non-finite values (refused outside GUIDED, and must not poison state inside)."""
    kind = draw(st.sampled_from(["set_mode", "heartbeat", "target"]))
    if kind == "set_mode":
        mode = int(draw(st.integers(100, 2**32 - 1).filter(no_mode_of_either)))
        # the custom-mode flag always set: without it the base mode's own flags are the request
        # (MAV_MODE_FLAG_AUTO_ENABLED asks PX4 for a mission, as MAVLink defines), a legal change
        base = draw(st.integers(0, 255)) | M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        return f"SET_MODE {mode} base {base}", M.MAVLink_set_mode_message(t.sysid, base, mode)
    if kind == "heartbeat":
        fields = [draw(st.integers(0, 255)) for _ in range(2)]
        hb = M.MAVLink_heartbeat_message(fields[0], fields[1], draw(st.integers(0, 255)),
                                         draw(st.integers(0, 2**32 - 1)), 0, 3)  # fmt: skip
        return f"HEARTBEAT type {fields[0]} autopilot {fields[1]}", hb
    f = [draw(hostile_floats()) for _ in range(9)]
    msg = M.MAVLink_set_position_target_global_int_message(
        0, t.sysid, t.compid, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0,
        draw(st.integers(-(2**31), 2**31 - 1)), draw(st.integers(-(2**31), 2**31 - 1)),
        *f,
    )  # fmt: skip
    return "SET_POSITION_TARGET_GLOBAL_INT non-finite", msg


def state_changing(t: Target) -> st.SearchStrategy[tuple[str, bytes]]:
    """Frames a correct vehicle WOULD obey: the bases the malformed cases break."""
    mode = M.MAVLink_command_long_message(
        t.sysid, t.compid, M.MAV_CMD_DO_SET_MODE, 0, *t.probe_mode, 0, 0, 0, 0,
    )  # fmt: skip
    param = M.MAVLink_param_set_message(
        t.sysid, t.compid, t.probe_param.encode(), t.probe_value, M.MAV_PARAM_TYPE_REAL32
    )
    return st.sampled_from([("DO_SET_MODE", mode), (f"PARAM_SET {t.probe_param}", param)]).map(
        lambda pair: (pair[0], t.pack(pair[1]))
    )


@st.composite
def malformed(draw: st.DrawFn, t: Target) -> Case:
    name, frame = draw(state_changing(t))
    kind = draw(
        st.sampled_from(["bad_crc", "bit_flip", "truncated", "length", "incompat", "msgid"])
    )
    if kind == "bad_crc":
        bit = draw(st.integers(0, 15))
        return Case("malformed", f"{name}, CRC bit {bit} flipped", frames.bad_crc(frame, bit))
    if kind == "bit_flip":
        bit = draw(st.integers(8, 8 * len(frame) - 1))  # not the start marker: still a frame
        return Case("malformed", f"{name}, bit {bit} flipped", frames.flip_bit(frame, bit))
    if kind == "truncated":
        keep = draw(st.integers(1, len(frame) - 1))
        return Case("malformed", f"{name}, cut to {keep} bytes", frames.truncate(frame, keep))
    if kind == "length":
        length = draw(st.integers(0, 255).filter(lambda n: n != frames.payload_len(frame)))
        return Case("malformed", f"{name}, length byte {length}", frames.with_length(frame, length))
    if kind == "incompat":
        flags = draw(st.integers(1, 127).map(lambda f: f << 1))  # any flag but "signed"
        return Case("malformed", f"{name}, incompat flags 0x{flags:02x} (CRC valid)",
                    frames.with_incompat(frame, flags))  # fmt: skip
    other = draw(st.integers(0, 2**24 - 1).filter(lambda i: i != frames.msg_id(frame)))
    return Case("malformed", f"{name}, message id {other}", frames.with_msg_id(frame, other))


@st.composite
def semantic(draw: st.DrawFn, t: Target) -> Case:
    what, msg = draw(st.one_of(hostile_command(t), hostile_param_set(t), hostile_other(t)))
    return Case("semantic", what, t.pack(msg))


def garbage() -> st.SearchStrategy[Case]:
    return st.binary(min_size=1, max_size=64).map(lambda b: Case("garbage", f"{len(b)} bytes", b))


def cases(t: Target) -> st.SearchStrategy[Case]:
    return st.one_of(malformed(t), semantic(t), garbage())


def batches(t: Target, most: int) -> st.SearchStrategy[list[Case]]:
    return st.lists(cases(t), min_size=1, max_size=most)


def corpus(t: Target) -> list[Case]:
    """Single frames sent before the random search, in this order, on every run: the inputs
    known to have broken autopilots (ArduPilot aborts on DO_SET_MODE with a NaN custom mode),
    each hostile value in each commanded field, and each way of breaking a frame that would
    change state. A vehicle with one of these defects fails every run, not by chance."""
    cmd = M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    out = [Case("semantic", f"DO_SET_MODE custom mode {v}",
                t.pack(_command(t, M.MAV_CMD_DO_SET_MODE, [cmd, v, 0, 0, 0, 0, 0])))
           for v in NONFINITE]  # fmt: skip
    for v in NONFINITE:
        p = [0.0] * 7
        out.append(Case("semantic", f"ARM_DISARM p1 {v}",
                        t.pack(_command(t, M.MAV_CMD_COMPONENT_ARM_DISARM, [v, *p[1:]]))))
        if not t.nonfinite_takeoff_legal:
            out.append(Case("semantic", f"NAV_TAKEOFF alt {v}",
                            t.pack(_command(t, M.MAV_CMD_NAV_TAKEOFF, [*p[:6], v]))))
        out.append(Case("semantic", f"DO_CHANGE_SPEED {v}",
                        t.pack(_command(t, M.MAV_CMD_DO_CHANGE_SPEED, [0.0, v, *p[2:]]))))
    for name in sorted(t.param_ranges)[:1]:  # one is enough: ranges are the other check's
        for v in NONFINITE:
            msg = M.MAVLink_param_set_message(t.sysid, t.compid, name.encode(), v,
                                              M.MAV_PARAM_TYPE_REAL32)  # fmt: skip
            out.append(Case("semantic", f"PARAM_SET {name}={v} type {M.MAV_PARAM_TYPE_REAL32}",
                            t.pack(msg)))  # fmt: skip
    base = [("DO_SET_MODE", t.pack(_command(t, M.MAV_CMD_DO_SET_MODE,
                                            [*t.probe_mode, 0, 0, 0, 0]))),
            (f"PARAM_SET {t.probe_param}", t.pack(M.MAVLink_param_set_message(
                t.sysid, t.compid, t.probe_param.encode(), t.probe_value,
                M.MAV_PARAM_TYPE_REAL32)))]  # fmt: skip
    for name, frame in base:
        out += [
            Case("malformed", f"{name}, CRC bit 0 flipped", frames.bad_crc(frame, 0)),
            Case("malformed", f"{name}, cut to {len(frame) - 3} bytes",
                 frames.truncate(frame, len(frame) - 3)),
            Case("malformed", f"{name}, length byte {frames.payload_len(frame) + 5}",
                 frames.with_length(frame, frames.payload_len(frame) + 5)),
            Case("malformed", f"{name}, incompat flags 0x04 (CRC valid)",
                 frames.with_incompat(frame, 0x04)),
        ]  # fmt: skip
    return out
