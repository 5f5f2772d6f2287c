"""Scenario for test_bad_input.py (run explicitly, never collected on its own): the vehicle dies
in the middle of a check; that check fails with the reason, the next one gets a fresh vehicle."""

import os
import signal


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
