"""A simple 3S pack: resting voltage falls with charge used, sags with current."""

from __future__ import annotations

from sim.params import ParamStore

SAG_OHM = 0.02


class Battery:
    def __init__(self, params: ParamStore) -> None:
        self.params = params
        self.consumed_mah = 0.0
        self.current_a = 0.0

    @property
    def capacity_mah(self) -> float:
        # SIM_BATT_CAP_AH lets the simulated pack differ from what the autopilot is told.
        sim_ah = self.params["SIM_BATT_CAP_AH"]
        return sim_ah * 1000 if sim_ah > 0 else max(1.0, self.params["BATT_CAPACITY"])

    @property
    def fraction(self) -> float:
        return max(0.0, 1.0 - self.consumed_mah / self.capacity_mah)

    @property
    def remaining_pct(self) -> int:
        return round(100 * self.fraction)

    @property
    def voltage(self) -> float:
        resting = self.params["SIM_BATT_VOLTAGE"] * (0.8 + 0.2 * self.fraction)
        return max(0.0, resting - SAG_OHM * self.current_a)

    def prearm_failures(self) -> list[str]:
        """As ArduPilot's arming check: the voltage now under a failsafe threshold."""
        for param, what in (("BATT_LOW_VOLT", "low"), ("BATT_CRT_VOLT", "critical")):
            if 0 < self.voltage < self.params[param]:
                return [f"Battery 1 {what} voltage failsafe"]
        return []

    def reset(self, remaining_pct: float) -> None:
        """MAV_CMD_BATTERY_RESET: the charge left, as a share of the capacity."""
        self.consumed_mah = (100 - min(100.0, max(0.0, remaining_pct))) / 100 * self.capacity_mah

    def step(self, dt: float, current_a: float) -> None:
        self.current_a = current_a
        self.consumed_mah += current_a * dt / 3.6  # A*s -> mAh
