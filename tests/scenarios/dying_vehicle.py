"""Scenario for test_bad_input.py (run explicitly, never collected on its own): the vehicle dies
or hangs in the middle of a check, in its setup or in its teardown; that costs at most that
check, with the reason, and the next one gets a fresh vehicle."""

import os
import signal

import pytest


def test_vehicle_answers(vehicle):
    assert vehicle.mode == "STABILIZE"


def test_vehicle_dies_mid_check(vehicle, vehicle_driver):
    os.kill(vehicle_driver.process.pid, signal.SIGKILL)
    vehicle.link.wait("a heartbeat that never comes", ["COMMAND_ACK"], timeout_s=30)


def test_next_check_gets_a_fresh_vehicle(vehicle, vehicle_driver):
    assert vehicle_driver.starts == 2 and vehicle.mode == "STABILIZE"


def test_vehicle_stops_answering_mid_check(vehicle, vehicle_driver):
    os.kill(vehicle_driver.process.pid, signal.SIGSTOP)
    vehicle.link.wait("a heartbeat from a frozen vehicle", ["HEARTBEAT"], timeout_s=30)


def test_after_a_frozen_vehicle_the_next_check_gets_a_fresh_one(vehicle, vehicle_driver):
    assert vehicle_driver.starts == 3 and vehicle.mode == "STABILIZE"


@pytest.fixture
def frozen_before_connect(vehicle_driver, link):
    """The vehicle hangs in the check's setup: after its link opened, before it is connected."""
    os.kill(vehicle_driver.process.pid, signal.SIGSTOP)


def test_vehicle_frozen_in_setup(frozen_before_connect, vehicle):
    raise AssertionError("never reached: the vehicle could not be connected")


def test_after_a_vehicle_frozen_in_setup_the_next_check_gets_a_fresh_one(vehicle, vehicle_driver):
    assert vehicle_driver.starts == 4 and vehicle.mode == "STABILIZE"


@pytest.fixture
def frozen_after_the_check(vehicle, vehicle_driver):
    """The vehicle hangs in the check's teardown, before its parameters are put back."""
    yield
    os.kill(vehicle_driver.process.pid, signal.SIGSTOP)


def test_vehicle_frozen_in_teardown(frozen_after_the_check, vehicle):
    assert vehicle.set_param("RTL_ALT", 2000) == 2000  # journaled: teardown would restore it


def test_after_a_vehicle_frozen_in_teardown_the_next_check_gets_a_fresh_one(
    vehicle, vehicle_driver
):
    assert vehicle_driver.starts == 5 and vehicle.get_param("RTL_ALT") != 2000
