"""The radio suite's own fixture: the vehicle's declared radio (profile vehicle.radio)."""

from typing import Any

import pytest


@pytest.fixture
def radio(profile: Any) -> dict[str, Any]:
    """The profile's vehicle.radio; a check that needs a radio skips without one."""
    declared = profile.vehicle.get("radio")
    if declared is None:
        pytest.skip("the profile declares no radio (vehicle.radio)")
    return declared
