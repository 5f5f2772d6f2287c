"""A flood check proves nothing if the flood never reached its rate: the harness's flooder is a
Python thread, and a high speedup or a starved machine can leave it short (the vehicle's clock
does not slow for it, as it does when the vehicle itself is starved). Then the check must fail
saying so, not pass on a gentler flood than the profile asked for."""

from types import SimpleNamespace

import pytest

from reports.measurement import Recorder
from suites.security.test_flood import assert_flooded

FLOOD = {"rate_hz": 200}


def flooder(frames: int, seconds: float) -> SimpleNamespace:
    return SimpleNamespace(error=None, flooded=frames, flooded_s=seconds,
                           achieved_hz=frames / seconds)  # fmt: skip


def test_a_flood_short_of_its_rate_fails_and_says_why():
    # given a flood that wrote 1500 frames in 10 vehicle seconds where 200 a second were asked
    measure = Recorder([])
    # when its precondition is judged, then the check fails naming the rate reached and asked
    with pytest.raises(AssertionError) as failed:
        assert_flooded(flooder(1500, 10.0), FLOOD, measure)
    message = str(failed.value)
    assert "flood rate achieved = 150 frames/s, OUTSIDE >= 180 frames/s" in message
    assert "fell short of flood.rate_hz = 200 (1500 frames in 10.0 vehicle s)" in message
    assert not measure.items[0].ok  # the figure is in the report, marked


def test_a_flood_at_its_rate_is_recorded_and_passes():
    measure = Recorder([])
    assert_flooded(flooder(1990, 10.0), FLOOD, measure)
    (m,) = measure.items
    assert m.value == pytest.approx(199.0) and m.ok
