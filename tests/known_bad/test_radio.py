"""Every radio check can fail, each for its own reason: the radio suite runs against the
simulator with named radio faults on (subtle ones, close to a working radio), and each check a
fault speaks to FAILS with a fragment of its OWN message while every other check passes
(tests/known_bad/runner.py); the band check fails on a profile that declares the old 2015 band.

The counters are judged where they move: the counter check makes the simulated radio lose a few
per cent of its frames (vehicle.radio.weak_link_params), so a radio whose rxerrors / fixed count
per interval instead of since boot steps back there."""

import pytest

from tests.known_bad.runner import Proof, assert_fails_exactly, run_proof

RADIO = "suites/radio"
RATE = "test_radio_status_arrives_at_about_1hz"
FIELDS = "test_radio_status_fields_are_in_range_and_live"
COUNTERS = "test_radio_counters_never_step_back_while_frames_are_lost"
RANGE = "test_rssi_and_fade_margin_along_a_flight_out"
BANDS = "test_declared_radio_bands_are_permitted"

PROOFS = {
    # a report every 1.6 s; counters of the last interval (they step back once frames are lost)
    "rate_and_counters": Proof(
        (RADIO,),
        ("radio_status_slow", "radio_counters_per_interval"),
        {
            RATE: ("RADIO_STATUS rate = 0.6", "OUTSIDE 0.7..1.3 Hz"),
            # which counter steps back first depends on where the radio happens to lose frames
            COUNTERS: (("rxerrors steps back = ", "fixed steps back = "), "OUTSIDE <= 0"),
        },
    ),
    # every third report says "unknown" for both RSSIs; the RSSI stuck at its first value
    "rssi": Proof(
        (RADIO,),
        ("radio_rssi_sometimes_unknown", "radio_rssi_stuck"),
        {
            FIELDS: ("local RSSI reported unknown (255) while the radios hear each other = ",),
            RANGE: ("RSSI drop from near home to 300 m = 0 dB",),
        },
    ),
    # no fault: a vehicle declared on 840.5-845 MHz (the 2015 notice's band, not the 2023 one's)
    "old_band": Proof(
        ("suites/radio/test_bands.py",),
        (),
        {BANDS: ("840.5-845 MHz",)},
        extra_yaml="vehicle:\n  radio:\n    bands_mhz: [[840.5, 845]]\n",
    ),
}


@pytest.mark.parametrize("name", sorted(PROOFS))
def test_faults_fail_exactly_their_radio_checks(name, tmp_path):
    proof = PROOFS[name]
    # given the default profile with these simulator faults on (or this declaration), when the
    # radio suite runs, then exactly the checks that speak to them fail, each saying why
    assert_fails_exactly(run_proof(proof, tmp_path), proof)
