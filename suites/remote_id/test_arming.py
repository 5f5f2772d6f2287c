"""The arming gate on the transponder (mavlink.io Open Drone ID; FAA 14 CFR 89.310(c): no
take-off unless Remote ID works): with the vehicle configured to enforce it (the profile's
arming_params, e.g. ArduPilot's DID_OPTIONS bit 0, set here and restored), a transponder whose
OPEN_DRONE_ID_ARM_STATUS reports a failure, or one gone silent, keeps the vehicle from arming,
and the vehicle says why (a STATUSTEXT naming Remote ID or quoting the transponder's error);
with the transponder healthy it arms.

Each check first waits for the vehicle to be armable as booted, so a refusal is the gate's."""

from __future__ import annotations

import re
from typing import Any

import pytest

from drivers.mavlink import mavlink
from drivers.services.remote_id import BEAT_S
from drivers.services.vehicle import Vehicle, result_name

ARM = mavlink.MAV_CMD_COMPONENT_ARM_DISARM


def _prepare(rid: Any, settings: dict[str, Any]) -> Vehicle:
    """Armable as booted, in GUIDED, then the gate turned on."""
    v = rid.vehicle
    v.wait_armable(settings["flight"]["ready_timeout_s"])
    v.set_mode("GUIDED")
    for name, value in settings["arming_params"].items():
        v.set_param(name, value)
    return v


def _try_arm(v: Vehicle, settings: dict[str, Any]) -> tuple[str, bool, list[str]]:
    """One arm command: its COMMAND_ACK, whether the vehicle armed, what it said meanwhile.
    A vehicle that armed is disarmed again at once."""
    since = v.link.clock.now()
    result = v.command(ARM, 1)
    v.link.collect(["STATUSTEXT"], settings["explain_s"])  # the explanation may trail the ACK
    armed = result == mavlink.MAV_RESULT_ACCEPTED or v.armed
    texts = v.recent_statustext(since)
    if armed:
        v.wait_heartbeat("the armed flag", lambda m: m.base_mode & 128, 5.0)
        v.disarm()
    return result_name(result), armed, texts


def _explained(texts: list[str], settings: dict[str, Any]) -> list[str]:
    return [t for t in texts
            if re.search(settings["refusal_text"], t) or settings["fail_error"] in t]


def _judge_refusal(condition: str, result: str, armed: bool, texts: list[str],
                   settings: dict[str, Any], measure: Any) -> None:
    measure.record_value("armed (1) or refused (0)", int(armed), "")
    assert not armed, (f"armed although {condition}: COMMAND_ACK {result} "
                       f"(said: {'; '.join(texts) or 'nothing'})")
    why = _explained(texts, settings)
    m = measure.at_least("STATUSTEXT explaining the refusal", len(why), "", 1)
    assert m.ok, (f"refused to arm (COMMAND_ACK {result}) while {condition}, without saying "
                  f"why: {m}; no STATUSTEXT matching {settings['refusal_text']!r} or quoting the "
                  f"transponder's error within {settings['explain_s']:g} s (said: "
                  f"{'; '.join(texts) or 'nothing'})")


@pytest.mark.requirement("RID-ARM-STATUS", "FAA-RID-SELFTEST", "GB42590-4.2")
@pytest.mark.needs("flight")
def test_arming_is_refused_while_the_transponder_reports_a_failure(rid, settings, measure):
    # given the gate on, and the transponder reporting PRE_ARM_FAIL_GENERIC with its error
    v = _prepare(rid, settings)
    rid.transponder.failing(settings["fail_error"])
    v.link.elapse(settings["failing_s"])
    # when we ask the vehicle to arm
    result, armed, texts = _try_arm(v, settings)
    # then it refuses, and says why
    _judge_refusal(f"the transponder reported ARM_STATUS PRE_ARM_FAIL_GENERIC "
                   f"({settings['fail_error']!r}) for {settings['failing_s']:g} s",
                   result, armed, texts, settings, measure)


@pytest.mark.requirement("RID-ARM-STATUS", "FAA-RID-SELFTEST", "GB42590-4.2")
@pytest.mark.needs("flight")
def test_arming_is_refused_while_the_transponder_is_silent(rid, settings, measure):
    # given the gate on, and the transponder silent (no HEARTBEAT, no ARM_STATUS) for silent_s
    v = _prepare(rid, settings)
    rid.transponder.go_silent()
    v.link.elapse(settings["silent_s"])
    # when we ask the vehicle to arm
    result, armed, texts = _try_arm(v, settings)
    # then it refuses, and says why
    _judge_refusal(f"the transponder had been silent for {settings['silent_s']:g} s",
                   result, armed, texts, settings, measure)


@pytest.mark.requirement("RID-ARM-STATUS", "GB42590-4.2")
@pytest.mark.needs("flight")
def test_arming_is_allowed_with_a_healthy_transponder(rid, settings, measure):
    # given the gate on, and the transponder reporting GOOD_TO_ARM every second
    v = _prepare(rid, settings)
    v.link.elapse(BEAT_S)  # a report of the transponder's since the gate went on
    # when we ask the vehicle to arm
    result, armed, texts = _try_arm(v, settings)
    # then it arms (and is disarmed again)
    measure.record_value("armed (1) or refused (0)", int(armed), "")
    assert armed, (f"refused to arm with a healthy transponder (ARM_STATUS GOOD_TO_ARM every "
                   f"second): COMMAND_ACK {result} (said: {'; '.join(texts) or 'nothing'})")
