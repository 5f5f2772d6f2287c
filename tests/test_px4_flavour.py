"""What the harness does differently for PX4, without PX4: the flavour's encodings, and the
Vehicle against a scripted peer that answers as PX4 does (bytewise integer parameters, a mode
refusal that follows an ACCEPTED, a take-off altitude above mean sea level)."""

import math
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from drivers.errors import CommandRejected, WaitTimeout
from drivers.link.connection import Link
from drivers.mavlink import mavlink
from drivers.services import flavour, params
from drivers.services.vehicle import Vehicle
from tests.fake_peer import FakePeer

PX4 = mavlink.MAV_AUTOPILOT_PX4
APM = mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA
INT32 = mavlink.MAV_PARAM_TYPE_INT32
HOME_AMSL_M = 20.0


# -- the flavour's encodings ---------------------------------------------------------------------
def test_do_set_mode_carries_px4_main_and_sub_mode_apart():
    # PX4's commander reads param2 as the main mode and param3 as the sub-mode (AUTO.LOITER 4/3)
    assert flavour.set_mode_params(PX4, "GUIDED") == (1, 4, 3)
    assert flavour.set_mode_params(PX4, "RTL") == (1, 4, 5)
    assert flavour.custom_mode(PX4, "RTL") == 4 << 16 | 5 << 24  # as its HEARTBEAT shows it
    # ArduPilot takes its mode number in param2
    assert flavour.set_mode_params(APM, "GUIDED") == (1, 4, 0)


def test_takeoff_altitude_is_amsl_for_px4_and_relative_for_ardupilot():
    px4 = flavour.takeoff_params(PX4, 10, HOME_AMSL_M)
    assert px4[6] == 30 and all(math.isnan(px4[i]) for i in (0, 3, 4, 5))
    assert flavour.takeoff_params(APM, 10, HOME_AMSL_M) == [0, 0, 0, 0, 0, 0, 10]


def test_px4_mission_item_0_is_a_waypoint_to_compare():
    assert not flavour.mission_starts_with_home(PX4) and flavour.mission_starts_with_home(APM)


def test_family_names_the_profile_key():
    assert [flavour.family(a) for a in (APM, PX4, mavlink.MAV_AUTOPILOT_GENERIC)] == [
        "ardupilot", "px4", "generic",
    ]  # fmt: skip


def test_px4_git_hash_is_the_top_five_bytes_of_a_little_endian_uint64():
    raw = (0xBB59C637CD74E04C & 0xFFFFFFFFFF000000 | 0x010203).to_bytes(8, "little")
    assert flavour.git_hash(PX4, raw) == "bb59c637cd"
    assert flavour.git_hash(APM, b"90700977") == "90700977"


@pytest.mark.parametrize(
    ("capabilities", "autopilot", "bytewise"),
    [
        (mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE, APM, True),  # it says so
        (mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_C_CAST, PX4, False),
        # PX4 also sets the deprecated PARAM_FLOAT (C_CAST's old name, value 2): BYTEWISE wins
        (mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
         | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE, PX4, True),
        (None, PX4, True),  # it does not say: its family does
        (0, APM, False),
    ],
)
def test_parameter_encoding_follows_the_capabilities(capabilities, autopilot, bytewise):
    assert params.is_bytewise(autopilot, capabilities) is bytewise


@pytest.mark.parametrize(
    ("value", "ptype"),
    [(10, INT32), (-300, INT32), (480, mavlink.MAV_PARAM_TYPE_INT16),
     (200, mavlink.MAV_PARAM_TYPE_UINT8)],
)
def test_bytewise_integers_round_trip_through_the_float_field(value, ptype):
    wire = params.encode(value, ptype, bytewise=True)
    assert params.decode(wire, ptype, bytewise=True) == value
    assert params.decode(wire, ptype, bytewise=False) != value  # read as a cast: garbage


def test_non_finite_values_pass_as_their_float_bits():
    # a hostile PARAM_SET of NaN to an integer parameter: sent as the float, read back as what
    # its bits say as an integer (PX4: 0x7fc00000), never a crash of the harness
    wire = params.encode(math.nan, INT32, bytewise=True)
    assert math.isnan(wire) and params.decode(wire, INT32, bytewise=True) == 0x7FC00000
    assert math.isnan(params.decode(math.nan, INT32, bytewise=False))


def test_com_dl_loss_t_10_reads_as_a_denormal_when_cast():
    wire = struct.unpack("<f", struct.pack("<i", 10))[0]  # what PX4 puts in param_value
    assert wire == pytest.approx(1.4e-44, rel=0.01)
    assert params.decode(wire, INT32, bytewise=True) == 10


# -- a scripted PX4 ------------------------------------------------------------------------------
class ScriptedPx4:
    """Plays PX4 over a FakePeer: HEARTBEAT, SYSTEM_TIME and GLOBAL_POSITION_INT at 20x, and
    `answer(msg)` for each message the harness sends."""

    def __init__(self, peer: FakePeer, answer: Callable[["ScriptedPx4", object], None]) -> None:
        self.peer, self.answer = peer, answer
        self.t_ms = 0
        self.custom_mode = flavour.custom_mode(PX4, "GUIDED")
        self.got: list[object] = []
        self._stop = threading.Event()
        self._parser = mavlink.MAVLink(None)
        self._read = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        mav = self.peer.mav
        while not self._stop.is_set():
            if self.t_ms % 1000 == 0:
                self.peer.send(mav.heartbeat_encode(mavlink.MAV_TYPE_QUADROTOR, PX4, 0,
                                                    self.custom_mode, 0))  # fmt: skip
            self.peer.system_time(self.t_ms)
            self.peer.send(mav.global_position_int_encode(
                self.t_ms, 225431000, 1139425000, int(HOME_AMSL_M * 1000), 0, 0, 0, 0, 0))
            new = bytes(self.peer.received[self._read:])
            self._read += len(new)
            for msg in self._parser.parse_buffer(new) or []:
                self.got.append(msg)
                self.answer(self, msg)
            self.t_ms += 50
            time.sleep(0.0025)  # the scripted vehicle's own pace (20x), not a wait

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


@pytest.fixture
def px4() -> Iterator[Callable[..., tuple[Vehicle, ScriptedPx4]]]:
    made: list[tuple[FakePeer, Link, ScriptedPx4]] = []

    def make(answer: Callable[[ScriptedPx4, object], None]) -> tuple[Vehicle, ScriptedPx4]:
        peer = FakePeer()
        link = Link(peer.url, vehicle_sysid=1, silence_s=3.0)
        script = ScriptedPx4(peer, answer)
        made.append((peer, link, script))
        vehicle = Vehicle(link)
        vehicle.link.wait("the clock", ["SYSTEM_TIME"], timeout_s=math.inf)
        vehicle.autopilot, vehicle.bytewise_params = PX4, True
        return vehicle, script

    yield make
    for peer, link, script in made:
        script.stop()
        link.close()
        peer.close()


def _ack(script: ScriptedPx4, cmd: int, result: int) -> None:
    script.peer.send(script.peer.mav.command_ack_encode(cmd, result, 0, 0, 255, 190))


def test_a_mode_refusal_after_accepted_is_the_answer(px4):
    # given a vehicle that acknowledges DO_SET_MODE at once, and refuses it a moment later
    def answer(script: ScriptedPx4, msg) -> None:
        if msg.get_type() == "COMMAND_LONG" and msg.command == mavlink.MAV_CMD_DO_SET_MODE:
            _ack(script, msg.command, mavlink.MAV_RESULT_ACCEPTED)
            script.t_ms += 100
            script.peer.system_time(script.t_ms)
            script.peer.send(script.peer.mav.statustext_encode(2, b"Unsupported auto mode"))
            _ack(script, msg.command, mavlink.MAV_RESULT_TEMPORARILY_REJECTED)

    vehicle, _ = px4(answer)
    # when the harness asks for RTL, then the refusal is raised, not a timeout
    with pytest.raises(CommandRejected, match=r"ACCEPTED, then TEMPORARILY_REJECTED.*Unsupported"):
        vehicle.set_mode("RTL")


def test_a_mode_change_is_confirmed_by_heartbeat(px4):
    def answer(script: ScriptedPx4, msg) -> None:
        if msg.get_type() == "COMMAND_LONG" and msg.command == mavlink.MAV_CMD_DO_SET_MODE:
            _ack(script, msg.command, mavlink.MAV_RESULT_ACCEPTED)
            script.custom_mode = int(msg.param2) << 16 | int(msg.param3) << 24

    vehicle, script = px4(answer)
    vehicle.set_mode("RTL")
    assert vehicle.mode == "RTL" and script.custom_mode == 4 << 16 | 5 << 24


def test_takeoff_asks_for_home_amsl_plus_the_height(px4):
    def answer(script: ScriptedPx4, msg) -> None:
        if msg.get_type() == "COMMAND_LONG" and msg.command == mavlink.MAV_CMD_NAV_TAKEOFF:
            _ack(script, msg.command, mavlink.MAV_RESULT_ACCEPTED)

    vehicle, script = px4(answer)
    with pytest.raises(WaitTimeout, match="relative altitude 10 m"):  # it never climbs here
        vehicle.takeoff(10, 1, timeout_s=0.5)
    (cmd,) = [m for m in script.got if m.get_type() == "COMMAND_LONG" and m.command == 22]
    assert cmd.param7 == pytest.approx(HOME_AMSL_M + 10)


def test_integer_parameters_are_read_and_written_bytewise(px4):
    stored = {"COM_DL_LOSS_T": 10}

    def answer(script: ScriptedPx4, msg) -> None:
        name = params.name_of(getattr(msg, "param_id", ""))
        if msg.get_type() == "PARAM_SET":
            stored[name] = struct.unpack("<i", struct.pack("<f", msg.param_value))[0]
        if msg.get_type() in ("PARAM_SET", "PARAM_REQUEST_READ") and name in stored:
            wire = struct.unpack("<f", struct.pack("<i", stored[name]))[0]
            script.peer.send(script.peer.mav.param_value_encode(name.encode(), wire, INT32, 1, 0))

    vehicle, _ = px4(answer)
    assert vehicle.get_param("COM_DL_LOSS_T") == 10
    assert vehicle.set_param("COM_DL_LOSS_T", 300) == 300
    assert stored["COM_DL_LOSS_T"] == 300  # the bytes of 300 went out, not the float 300.0
    assert vehicle.restore_params() == [] and stored["COM_DL_LOSS_T"] == 10
