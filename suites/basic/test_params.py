"""Parameter protocol: a PARAM_SET is echoed with the new value and reads back the same, the
echo typed as the parameter is (mavlink.io, "Parameter Protocol"); a float parameter keeps a
value that is not a whole number. The fixture restores every value afterwards. Each autopilot
family names its parameters its own way: the profile gives one per family."""

from collections.abc import Callable

import pytest

from drivers.link.connection import Message
from drivers.mavlink import mavlink
from drivers.services.flavour import family
from drivers.services.params import name_of
from drivers.services.vehicle import Vehicle

REAL32 = mavlink.MAV_PARAM_TYPE_REAL32
FLOAT32_EPS = 2.0**-23  # float32 carries 24 significant bits: one unit in the last place


def type_name(param_type: int) -> str:
    entry = mavlink.enums["MAV_PARAM_TYPE"].get(param_type)
    return entry.name.removeprefix("MAV_PARAM_TYPE_") if entry else str(param_type)


def named(vehicle: Vehicle, settings: dict, key: str) -> tuple[str, float]:
    """(name, value) of the profile's parameter for this vehicle's autopilot family."""
    fam = family(vehicle.autopilot)
    given = settings[key].get(fam)
    if given is None:
        pytest.skip(f"the profile names no {fam} parameter for this check (suites.basic.{key}."
                    f"{fam}: {{name: ..., value: ...}})")  # fmt: skip
    return given["name"], given["value"]


def exchange(vehicle: Vehicle, name: str, act: Callable[[], float]) -> tuple[float, int]:
    """Run `act` (a set or a read of `name`) and return its value with the MAV_PARAM_TYPE of
    the last PARAM_VALUE for `name` it brought back (the answer `act` took)."""

    def ours(m: Message) -> bool:
        return m.get_srcSystem() == vehicle.sysid and name_of(m.param_id) == name

    with vehicle.link.subscribe(["PARAM_VALUE"]) as sub:
        value = act()
        seen = []
        while (got := sub.get(0.0)) is not None:
            if ours(got.msg):
                seen.append(got.msg.param_type)
    return value, seen[-1]


@pytest.mark.requirement("MAV-PARAM")
def test_param_round_trip(vehicle, settings, measure):
    # given a parameter, its current value and its type as the vehicle reads it out
    name, wanted = named(vehicle, settings, "param_roundtrip")
    before, read_type = exchange(vehicle, name, lambda: vehicle.get_param(name))
    if wanted == before:
        wanted += 1  # a round trip to the same value would prove nothing
    # when we set a new value
    echoed, echo_type = exchange(vehicle, name, lambda: vehicle.set_param(name, wanted))
    read_back, back_type = exchange(vehicle, name, lambda: vehicle.get_param(name))
    # then the PARAM_VALUE echo and a fresh read both carry it, typed as the parameter is
    echo = measure.equals(f"{name} in the PARAM_SET echo", echoed, "", wanted)
    read = measure.equals(f"{name} read back", read_back, "", wanted)
    typed = measure.equals(f"{name} MAV_PARAM_TYPE in the PARAM_SET echo", echo_type, "", read_type)
    assert echo.ok and read.ok, f"{echo}; {read} (it was {before:g})"
    assert typed.ok and back_type == read_type, (
        f"{name} echoed as {type_name(echo_type)}, read as {type_name(read_type)} "
        f"(then {type_name(back_type)}): {typed}"
    )


@pytest.mark.requirement("MAV-PARAM")
def test_float_param_keeps_its_fraction(vehicle, settings, measure):
    # given a float parameter (MAV_PARAM_TYPE_REAL32) and a value that is not a whole number
    name, wanted = named(vehicle, settings, "param_float")
    before, read_type = exchange(vehicle, name, lambda: vehicle.get_param(name))
    if wanted == before:
        wanted += 0.25  # a round trip to the same value would prove nothing
    # when we set it
    echoed, echo_type = exchange(vehicle, name, lambda: vehicle.set_param(name, wanted))
    read_back, back_type = exchange(vehicle, name, lambda: vehicle.get_param(name))
    # then the echo and a fresh read carry it within float32 precision, typed REAL32
    tol = abs(wanted) * FLOAT32_EPS
    echo = measure.equals(f"{name} in the PARAM_SET echo", echoed, "", wanted, tol)
    read = measure.equals(f"{name} read back", read_back, "", wanted, tol)
    typed = measure.equals(f"{name} MAV_PARAM_TYPE in the PARAM_SET echo", echo_type, "", REAL32)
    types = {"read": read_type, "echo": echo_type, "read back": back_type}
    wrong = {k: type_name(v) for k, v in types.items() if v != REAL32}
    assert echo.ok and read.ok, f"{echo}; {read} (it was {before:g})"
    assert typed.ok and not wrong, f"{name} is a float parameter, but PARAM_VALUE said {wrong}"
