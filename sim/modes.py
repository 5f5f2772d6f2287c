"""ArduPilot Copter flight modes (HEARTBEAT custom_mode numbers) and what each allows."""

from __future__ import annotations

STABILIZE = 0
ALT_HOLD = 2
AUTO = 3
GUIDED = 4
LOITER = 5
RTL = 6
LAND = 9
BRAKE = 17

NAMES: dict[int, str] = {
    STABILIZE: "STABILIZE",
    ALT_HOLD: "ALT_HOLD",
    AUTO: "AUTO",
    GUIDED: "GUIDED",
    LOITER: "LOITER",
    RTL: "RTL",
    LAND: "LAND",
    BRAKE: "BRAKE",
}

# Modes that need a position estimate (GPS) to be entered while armed.
NEEDS_POSITION = frozenset({AUTO, GUIDED, LOITER, RTL, BRAKE})
# Modes one may arm in (ArduPilot refuses AUTO, RTL, LAND, BRAKE by default).
ARMABLE = frozenset({STABILIZE, ALT_HOLD, GUIDED, LOITER})
# Modes flown by the autopilot: HEARTBEAT base_mode gets GUIDED_ENABLED.
AUTONOMOUS = frozenset({AUTO, GUIDED, RTL, LAND, BRAKE})
# Modes that hold horizontal position (the others drift with the wind, no RC here).
HOLDS_POSITION = frozenset({AUTO, GUIDED, LOITER, RTL, LAND, BRAKE})


def name(mode: int) -> str:
    return NAMES.get(mode, f"MODE{mode}")
