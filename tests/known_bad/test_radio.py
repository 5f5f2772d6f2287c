"""Every radio check can fail: against each radio fault of the simulator, and against a profile
that declares the old 2015 band, the radio suite fails exactly the checks that speak to it."""

import pytest

from tests.known_bad.runner import assert_fails_exactly, run_with_fault
from tests.run_pytest import run_pytest, write_profile

STATUS_RATE = "test_radio_status_arrives_at_about_1hz"
STATUS_FIELDS = "test_radio_status_fields_and_counters"
RANGE = "test_rssi_and_fade_margin_along_a_flight_out"

# fault -> (the checks that must fail, a phrase of their failure)
EXPECTED = {
    # nothing to judge: every check that listens to the radio fails, saying what it missed
    "radio_status_missing": ({STATUS_RATE, STATUS_FIELDS, RANGE}, "RADIO_STATUS rate = 0 Hz"),
    # still 1 Hz, counters never step back; but nothing changes, not even with distance
    "radio_status_frozen": ({STATUS_FIELDS, RANGE}, "RSSI drop from near home to 300 m = 0 dB"),
}


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_fault_fails_exactly_its_radio_checks(fault, tmp_path):
    checks, says = EXPECTED[fault]
    run = run_with_fault(fault, "suites/radio", tmp_path)
    assert_fails_exactly(run, checks, says)


def test_the_old_2015_band_fails_the_band_check(tmp_path):
    # given a vehicle declared on 840.5-845 MHz (permitted by the 2015 notice, not the 2023 one)
    profile = write_profile(
        tmp_path / "old-band.yaml",
        "name: known-bad old band\nvehicle:\n  radio:\n    bands_mhz: [[840.5, 845]]\n",
    )
    # when the band check runs (it needs no vehicle), then it fails and names the band
    run = run_pytest(
        "suites/radio/test_bands.py", "--profile", str(profile), report_dir=tmp_path / "reports"
    )
    assert_fails_exactly(run, {"test_declared_radio_bands_are_permitted"}, "840.5-845 MHz")
