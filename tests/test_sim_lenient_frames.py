"""The simulator's known-bad receive paths (sim/lenient_frames.py), without a process: each fault
believes exactly the broken frames it is meant to, and a correct vehicle none. The frames are
broken as the malformed-frame check breaks them and parsed as the simulator parses them
(pymavlink, robust parsing), so the repair sees the bytes pymavlink refused."""

import pytest

from drivers.attack.frames import FrameBuilder
from drivers.attack.fuzz_target import PAD
from sim import lenient_frames
from sim.mav import MAVLink, mavlink
from suites.security.test_malformed import MALFORMED

M = mavlink
PARAM_SET = M.MAVLink_param_set_message(1, 1, b"RTL_ALT", 1600.0, M.MAV_PARAM_TYPE_REAL32)
DO_SET_MODE = M.MAVLink_command_long_message(1, 1, M.MAV_CMD_DO_SET_MODE, 0, 1, 2, 0, 0, 0, 0, 0)
KINDS = sorted(k for k in MALFORMED if k != "unknown_incompat_flag")  # those that break the CRC

# fault -> the kinds of broken frame its vehicle obeys (the rest it drops, as it should)
BELIEVES = {
    None: set(),
    "crc_one_bit_off_accepted": {"bad_crc"},
    "flipped_bit_repaired": {"bit_flip_in_payload"},
    "msg_id_repaired": {"other_message_id"},
    "length_byte_repaired": {"wrong_length"},
    "cut_frame_zero_filled": {"truncated", "wrong_length"},  # both run into the next frame
}


def obeyed(kind: str, fault: str | None) -> set[str]:
    """Message types the vehicle with `fault` takes from a PARAM_SET and a DO_SET_MODE broken
    as `kind`, sent back to back and padded (as the check sends them)."""
    sender = FrameBuilder(255, 190)
    stream = b"".join(MALFORMED[kind](sender.frame(m)) for m in (PARAM_SET, DO_SET_MODE)) + PAD
    parser = MAVLink(None)
    parser.robust_parsing = True
    taken = set()
    for msg in parser.parse_buffer(stream) or []:
        assert msg.get_type() == "BAD_DATA", (kind, msg)  # pymavlink refuses every frame
        if "CRC" not in msg.reason:
            continue  # bytes between frames (the padding, what is left of a frame cut into)
        frame = lenient_frames.believed(bytes(msg.data), lambda f: f == fault)
        if frame is not None:
            got = MAVLink(None).decode(bytearray(frame))
            assert got.get_type() in ("PARAM_SET", "COMMAND_LONG"), got
            assert got.get_type() != "PARAM_SET" or got.param_value == 1600.0, got
            taken.add(got.get_type())
    return taken


@pytest.mark.parametrize("fault", list(BELIEVES), ids=str)
def test_each_fault_believes_its_own_kind_of_broken_frame_only(fault):
    for kind in KINDS:
        # given a PARAM_SET and a DO_SET_MODE broken as `kind`, when the vehicle parses them
        taken = obeyed(kind, fault)
        # then the PARAM_SET is obeyed where the fault forgives this kind, never elsewhere
        assert ("PARAM_SET" in taken) == (kind in BELIEVES[fault]), (fault, kind, taken)
