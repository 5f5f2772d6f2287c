"""Scenario for test_bad_input.py (run explicitly, never collected on its own): a check waits on
something that never happens without any vehicle-time bound (a harness bug); its wall-time
bound fails it, the vehicle is replaced and the run goes on."""

import threading

import pytest


def test_vehicle_answers(vehicle):
    assert vehicle.mode == "STABILIZE"


@pytest.mark.timeout(2)
def test_waits_without_a_vehicle_time_bound(vehicle):
    threading.Event().wait()  # nothing ever sets it: only the wall-time bound ends this


def test_next_check_gets_a_fresh_vehicle(vehicle, vehicle_driver):
    assert vehicle_driver.starts == 2 and vehicle.mode == "STABILIZE"
