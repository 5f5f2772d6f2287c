"""Emergency handling on a low battery (GB 42590-2023 4.3, and partial evidence for 4.7): in
flight, the pack's voltage is lowered from the harness (SIM_BATT_VOLTAGE: ArduPilot SITL's
simulated pack, which the built-in simulator shares) under BATT_LOW_VOLT, and, in the second
check, on under BATT_CRT_VOLT. Each stage must be announced (STATUSTEXT) and take its action
(BATT_FS_LOW_ACT, BATT_FS_CRT_ACT) once the voltage has stayed under its threshold for
BATT_LOW_TIMER s (ArduPilot AP_BattMonitor_Backend::update_failsafes), within the profile's
tolerance, and not before.

The thresholds are set from the voltage the vehicle reports in hover, so the pack's sag under
load cannot skip a stage. Timing: the crossing is the first SYS_STATUS (5 Hz) under the threshold,
the action the first HEARTBEAT (1 Hz) in another mode, both on the vehicle clock."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from drivers.errors import WaitTimeout
from drivers.link.connection import Timed
from drivers.mavlink import mavlink
from drivers.services import flavour
from drivers.services.flight import take_off
from drivers.services.vehicle import Vehicle

WATCHED = ["SYS_STATUS", "HEARTBEAT", "STATUSTEXT"]
WAIT_FACTOR = 2.0  # a stage is watched this many times its bound, so a late action gets a figure
HOVER_SAMPLE_S = 1.0  # vehicle seconds of SYS_STATUS the hover voltage is the median of
TEXT_AFTER_S = 0.5  # vehicle seconds to collect texts that follow the mode change
RESTORE_S = 5.0  # vehicle seconds for the restored pack to show, and the failsafe to clear
TAKEOFF_S = 60.0  # vehicle seconds for the take-off (ArduPilot climbs at 2.5 m/s)
BATTERY_OK = mavlink.MAV_SYS_STATUS_SENSOR_BATTERY  # SYS_STATUS health: no failsafe latched


@dataclass
class Pack:
    """The pack's settings for this flight, in volts."""

    param: str  # the simulator's pack parameter
    resting_v: float  # its value before the check
    low_v: float  # BATT_LOW_VOLT set
    critical_v: float  # BATT_CRT_VOLT set

    def lowered(self, hover_below_v: float) -> float:
        return self.resting_v - hover_below_v


@pytest.fixture
def fresh_pack(vehicle: Vehicle) -> Iterator[None]:
    """After the check, once the vehicle is down: the pack back to its voltage and the battery
    failsafe cleared (MAV_CMD_BATTERY_RESET, full): ArduPilot keeps a stage that fired until a
    reboot or that command, and a latched stage would not fire in the next check."""
    yield
    if vehicle.armed:
        return  # the vehicle fixture makes it safe (or replaces it), and says so
    change = vehicle.journal.get(flavour.simulated_pack_param(vehicle.autopilot))
    if change is None:
        return  # the check never lowered it
    vehicle.set_param(change.name, change.original)
    # the reset judges the battery as the vehicle last read it: wait until that is the restored
    # pack, over both thresholds, or ArduPilot re-latches the failsafe at once
    floor = max(vehicle.get_param("BATT_LOW_VOLT"), vehicle.get_param("BATT_CRT_VOLT"))
    vehicle.link.wait(f"SYS_STATUS voltage back over {floor:.2f} V (the pack restored)",
                      ["SYS_STATUS"], lambda m: m.voltage_battery / 1000 > floor,
                      timeout_s=RESTORE_S)  # fmt: skip
    vehicle.command_ok(mavlink.MAV_CMD_BATTERY_RESET, 1, 100)
    vehicle.link.wait("SYS_STATUS battery healthy again (the failsafe cleared)", ["SYS_STATUS"],
                      lambda m: m.onboard_control_sensors_health & BATTERY_OK,
                      timeout_s=RESTORE_S)  # fmt: skip


def fly_and_arm_failsafe(vehicle: Vehicle, s: dict[str, Any]) -> Pack:
    """Take off in GUIDED, read the hover voltage, and set the two-stage failsafe under it."""
    try:
        param = flavour.simulated_pack_param(vehicle.autopilot)
        resting = vehicle.get_param(param)
    except (NotImplementedError, WaitTimeout) as exc:
        pytest.skip(f"the harness cannot lower this vehicle's pack voltage ({exc})")
    vehicle.request_stream("SYS_STATUS", 5)
    take_off(vehicle, s["takeoff_alt_m"], s["ready_timeout_s"], TAKEOFF_S)
    volts = [m.msg.voltage_battery / 1000 for m in vehicle.link.collect(["SYS_STATUS"],
                                                                        HOVER_SAMPLE_S)]
    assert volts, f"no SYS_STATUS in {HOVER_SAMPLE_S:g} s of hover: the pack cannot be watched"
    hover = statistics.median(volts)
    pack = Pack(param, resting, hover - s["low_below_hover_v"], hover - s["critical_below_hover_v"])
    try:
        params = flavour.battery_failsafe_params(
            vehicle.autopilot, pack.low_v, pack.critical_v, s["low_timer_s"], s["low_action"],
            s["critical_action"])  # fmt: skip
    except NotImplementedError as exc:
        pytest.skip(f"{exc}: the harness cannot configure this vehicle's battery failsafe")
    for name, value in params.items():
        vehicle.set_param(name, value)
    return pack


@dataclass
class Stage:
    """What one lowering of the pack showed, on the vehicle clock."""

    crossing: Timed | None  # first SYS_STATUS under the threshold
    action: Timed | None  # first HEARTBEAT in another mode after the pack was lowered
    text: Timed | None  # first STATUSTEXT matching the stage's text
    lowest_v: float  # lowest voltage reported


def lower_pack(vehicle: Vehicle, s: dict[str, Any], pack: Pack, to_v: float, threshold_v: float,
               text_re: str) -> Stage:
    """Set the pack to to_v and watch for the mode change it should bring, at most WAIT_FACTOR
    times the stage's bound."""
    link = vehicle.link
    before = vehicle.latest("HEARTBEAT").custom_mode
    watch_s = WAIT_FACTOR * (s["low_timer_s"] + s["late_tolerance_s"])
    start = link.clock.now()
    with link.subscribe(WATCHED) as sub:
        vehicle.set_param(pack.param, to_v)
        try:
            vehicle.wait_heartbeat("a mode change (the battery failsafe's action)",
                                   lambda m: m.custom_mode != before, watch_s)  # fmt: skip
            link.collect(["STATUSTEXT"], TEXT_AFTER_S)
        except WaitTimeout:
            pass  # no action: judged from what was seen
    got = []
    while (item := sub.get(0.0)) is not None:
        if item.msg.get_srcSystem() == vehicle.sysid and item.msg.get_srcComponent() == 1:
            got.append(item)
    volts = [(x, x.msg.voltage_battery / 1000) for x in got if x.msg.get_type() == "SYS_STATUS"]
    texts = [x for x in link.statustexts if x.t >= start]
    return Stage(
        next((x for x, v in volts if 0 < v < threshold_v), None),
        next((x for x in got if x.msg.get_type() == "HEARTBEAT"
              and x.msg.custom_mode != before), None),
        next((x for x in texts if re.search(text_re, x.msg.text)), None),
        min((v for _, v in volts), default=float("nan")),
    )  # fmt: skip


def judge(vehicle: Vehicle, st: Stage, s: dict[str, Any], measure: Any, stage: str,
          threshold: str, threshold_v: float, expected: str, action_param: str) -> None:
    """The stage's figures against the profile's bounds; one assertion naming all that failed."""
    measure.record_value(f"lowest voltage reported ({stage} stage)", st.lowest_v, "V")
    if st.crossing is None:
        pytest.fail(f"the reported voltage never went under {threshold} ({threshold_v:.2f} V; "
                    f"lowest {st.lowest_v:.2f} V): the {stage} stage could not be judged")
    timer, late, early = s["low_timer_s"], s["late_tolerance_s"], s["early_tolerance_s"]
    failed = []
    if st.action is None:
        failed.append(f"no action: the mode did not change within {WAIT_FACTOR * (timer + late):g}"
                      f" s of the pack going under {threshold}")
    else:
        took = st.action.t - st.crossing.t
        m = measure.within(f"{stage}-battery action after the crossing", took, "s",
                           timer - early, timer + late)  # fmt: skip
        if not m.ok:
            failed.append(f"{m} (BATT_LOW_TIMER {timer} s)")
        mode = flavour.mode_name(vehicle.autopilot, st.action.msg.custom_mode)
        if mode != expected:
            failed.append(f"the {stage}-battery action was {mode}, {action_param} asks for "
                          f"{expected}")
    if st.text is None:
        failed.append(f"no STATUSTEXT matching {s[stage + '_text']!r} announced the {stage} stage")
    else:
        m = measure.at_most(f"{stage}-battery STATUSTEXT after the crossing",
                            st.text.t - st.crossing.t, "s", timer + late)  # fmt: skip
        if not m.ok:
            failed.append(str(m))
    assert not failed, "; ".join(failed)


@pytest.mark.requirement("GB42590-4.3", "GB42590-4.7", "AP-FS-BATT")
@pytest.mark.needs("flight")
def test_low_battery_is_announced_and_acted_on(vehicle, settings, measure, fresh_pack):
    s = settings
    # given a vehicle hovering with the low stage set under its hover voltage
    pack = fly_and_arm_failsafe(vehicle, s)
    # when its pack falls halfway between BATT_LOW_VOLT and BATT_CRT_VOLT
    mid = (s["low_below_hover_v"] + s["critical_below_hover_v"]) / 2
    st = lower_pack(vehicle, s, pack, pack.lowered(mid), pack.low_v, s["low_text"])
    # then BATT_LOW_TIMER s later it announces the low stage and takes BATT_FS_LOW_ACT
    try:
        judge(vehicle, st, s, measure, "low", "BATT_LOW_VOLT", pack.low_v, s["low_action"],
              "BATT_FS_LOW_ACT")  # fmt: skip
    finally:
        if vehicle.armed:
            vehicle.land(s["land_timeout_s"])


@pytest.mark.requirement("GB42590-4.3", "GB42590-4.7", "AP-FS-BATT")
@pytest.mark.needs("flight")
def test_critical_battery_escalates(vehicle, settings, measure, fresh_pack):
    s = settings
    # given a vehicle whose pack is already low (the low stage has had its time; whatever it
    # did, the operator has put it back in GUIDED, as a pilot may)
    pack = fly_and_arm_failsafe(vehicle, s)
    low_mid = (s["low_below_hover_v"] + s["critical_below_hover_v"]) / 2
    lower_pack(vehicle, s, pack, pack.lowered(low_mid), pack.low_v, s["low_text"])
    if vehicle.mode != "GUIDED":
        vehicle.set_mode("GUIDED")
    # when the pack falls under BATT_CRT_VOLT (as far under it as the low stage was under
    # BATT_LOW_VOLT)
    under = s["critical_below_hover_v"] + (s["critical_below_hover_v"] - low_mid)
    st = lower_pack(vehicle, s, pack, pack.lowered(under), pack.critical_v, s["critical_text"])
    # then BATT_LOW_TIMER s later it announces the critical stage and takes BATT_FS_CRT_ACT
    try:
        judge(vehicle, st, s, measure, "critical", "BATT_CRT_VOLT", pack.critical_v,
              s["critical_action"], "BATT_FS_CRT_ACT")  # fmt: skip
    finally:
        if vehicle.armed:
            vehicle.land(s["land_timeout_s"])
