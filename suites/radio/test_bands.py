"""Radio bands: the bands the vehicle's radio is declared to use lie inside the bands the
verification profile permits (default: China's current UAS bands). MAVLink carries no
frequency, so this judges the declaration (vehicle.radio.bands_mhz) and needs no vehicle."""

import pytest

from drivers.services.radio_status import bands_outside


def _show(bands: list) -> str:
    return ", ".join(f"{lo:g}-{hi:g}" for lo, hi in bands)


@pytest.mark.requirement("CN-RADIO-BANDS")
def test_declared_radio_bands_are_permitted(radio, settings, measure):
    # given the bands the radio is declared to use, and the bands the profile permits
    declared = radio.get("bands_mhz")
    if not declared:
        pytest.skip("the profile declares no radio bands (vehicle.radio.bands_mhz)")
    permitted = settings["permitted_bands_mhz"]
    # when each declared band is compared with the permitted ones
    outside = bands_outside(declared, permitted)
    # then every declared band lies wholly inside one permitted band
    m = measure.at_most("declared radio bands outside the permitted bands", len(outside), "", 0)
    assert m.ok, f"{m}: {_show(outside)} MHz is not inside any of {_show(permitted)} MHz"
