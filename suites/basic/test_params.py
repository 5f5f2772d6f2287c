"""Parameter protocol: a PARAM_SET is echoed with the new value and reads back the same
(mavlink.io, "Parameter Protocol"); the fixture restores the value afterwards."""

import pytest


@pytest.mark.requirement("MAV-PARAM")
def test_param_round_trip(vehicle, settings, measure):
    # given a parameter and its current value
    name, wanted = settings["param_roundtrip"]["name"], settings["param_roundtrip"]["value"]
    before = vehicle.get_param(name)
    if wanted == before:
        wanted += 1  # a round trip to the same value would prove nothing
    # when we set a new value
    echoed = vehicle.set_param(name, wanted)
    read_back = vehicle.get_param(name)
    # then the PARAM_VALUE echo and a fresh read both carry it
    echo = measure.equals(f"{name} in the PARAM_SET echo", echoed, "", wanted)
    read = measure.equals(f"{name} read back", read_back, "", wanted)
    assert echo.ok and read.ok, f"{echo}; {read} (it was {before:g})"
