"""Scenario for test_bench.py (run explicitly): checks that misbehave on a "hardware" vehicle."""

import os
import signal

import pytest

from drivers.mavlink import mavlink


def test_changes_a_parameter_behind_the_journal(vehicle):
    # a raw PARAM_SET that the Vehicle API does not journal: only the bench snapshot can undo it
    vehicle.link.send(
        vehicle.link.mav.param_set_encode(1, 1, b"RTL_ALT", 4321, mavlink.MAV_PARAM_TYPE_INT16)
    )
    vehicle.link.wait("the echo", ["PARAM_VALUE"], lambda m: m.param_value == 4321, timeout_s=5)


def test_tries_to_arm(vehicle):
    vehicle.wait_armable(60)
    vehicle.set_mode("GUIDED")
    vehicle.arm()


@pytest.mark.needs("flight")
def test_needs_flight(vehicle):
    assert vehicle.mode


def test_arms_then_is_interrupted(vehicle):
    if os.environ.get("SKYPROOF_TEST_INTERRUPT") != "1":
        pytest.skip("only in the Ctrl-C scenario")
    vehicle.wait_armable(60)
    vehicle.set_mode("GUIDED")
    vehicle.arm()
    os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does to pytest
    vehicle.link.elapse(60)
