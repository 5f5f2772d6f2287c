"""The vehicle clock: vehicle time from time_boot_ms, its pace, reboots, and its limits."""

import pytest

from drivers.link.clock import VehicleClock


def test_clock_is_zero_until_the_first_sample():
    clock = VehicleClock()
    assert not clock.started and clock.now() == 0.0


def test_clock_follows_time_boot_ms_not_the_host():
    # given samples 10 vehicle seconds apart that arrived 0.5 wall seconds apart (speedup 20)
    clock = VehicleClock(max_extrapolation_s=0.0)
    clock.observe(5_000, wall=100.0)
    clock.observe(15_000, wall=100.5)
    # then vehicle time advanced 10 s and the observed pace is towards 20x
    assert clock.now() == pytest.approx(10.0)
    assert clock.pace > 1.0


def test_clock_survives_a_reboot_and_never_goes_back():
    clock = VehicleClock(max_extrapolation_s=0.0)
    clock.observe(50_000, wall=1.0)
    clock.observe(60_000, wall=2.0)
    # when time_boot_ms restarts from near zero (a reboot)
    clock.observe(100, wall=3.0)
    clock.observe(2_100, wall=4.0)
    # then vehicle time keeps counting from where it was
    assert clock.reboots == 1
    assert clock.now() == pytest.approx(12.0)


def test_older_samples_are_ignored_as_jitter():
    clock = VehicleClock(max_extrapolation_s=0.0)
    clock.observe(10_000, wall=1.0)
    clock.observe(9_500, wall=1.1)  # an older message type delivered late
    assert clock.reboots == 0 and clock.now() == 0.0


def test_extrapolation_is_capped_so_a_silent_vehicle_stops_the_clock():
    clock = VehicleClock(max_extrapolation_s=0.5)
    clock.observe(1_000, wall=0.0)  # a sample from long ago (wall clock origin)
    assert clock.now() == pytest.approx(0.5)


def test_pace_is_measured_even_from_dense_samples():
    # given samples every 5 ms of wall time at 20x (what a busy link delivers)
    clock = VehicleClock(max_extrapolation_s=0.0)
    for i in range(200):
        clock.observe(i * 100, wall=i * 0.005)
    # then the observed pace has converged on 20
    assert clock.pace == pytest.approx(20, rel=0.05)
