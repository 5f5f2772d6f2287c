"""A measured figure with its unit, threshold and verdict: the unit of evidence of a check."""

import json
import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Measurement:
    name: str
    value: float
    unit: str
    threshold: str  # as a person reads it: "0.8..1.2", "<= 2", ">= 9"; "" for information
    ok: bool

    def __str__(self) -> str:
        verdict = "within" if self.ok else "OUTSIDE"
        unit = f" {self.unit}" if self.unit else ""
        if not self.threshold:
            return f"{self.name} = {self.value:.4g}{unit}"
        return f"{self.name} = {self.value:.4g}{unit}, {verdict} {self.threshold}{unit}"

    def to_json(self) -> str:
        data = asdict(self)
        if not math.isfinite(self.value):
            data["value"] = str(self.value)  # JSON has no NaN
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> "Measurement":
        data = json.loads(text)
        return cls(**{**data, "value": float(data["value"])})


@dataclass(frozen=True)
class Series:
    """A figure over vehicle time, for a plot: people would rather look than read."""

    name: str
    unit: str
    points: list[tuple[float, float]]  # (vehicle s, value)
    limits: tuple[float | None, float | None] = (None, None)  # drawn as lines


class Recorder:
    """Records measurements into a pytest item's user_properties (JUnit shows them as properties,
    the run summary reads them back). A check asserts on what `within`/`at_most`/`at_least`
    return: `assert m.ok, m` puts the figure and the threshold in the failure message."""

    KEY = "measurement"

    def __init__(self, sink: list[tuple[str, object]]) -> None:
        self._sink = sink
        self.items: list[Measurement] = []
        self.series_list: list[Series] = []

    def record(self, m: Measurement) -> Measurement:
        self.items.append(m)
        self._sink.append((self.KEY, m.to_json()))
        return m

    def series(
        self,
        name: str,
        unit: str,
        points: list[tuple[float, float]],
        low: float | None = None,
        high: float | None = None,
    ) -> Series:
        """Keep a time series; the `measure` fixture plots it when the check ends."""
        s = Series(name, unit, list(points), (low, high))
        self.series_list.append(s)
        return s

    def record_value(self, name: str, value: float, unit: str) -> Measurement:
        """A figure reported for people, with no threshold of its own."""
        return self.record(Measurement(name, value, unit, "", True))

    def within(self, name: str, value: float, unit: str, low: float, high: float) -> Measurement:
        return self.record(
            Measurement(name, value, unit, f"{low:g}..{high:g}", low <= value <= high)
        )

    def at_most(self, name: str, value: float, unit: str, limit: float) -> Measurement:
        return self.record(Measurement(name, value, unit, f"<= {limit:g}", value <= limit))

    def at_least(self, name: str, value: float, unit: str, limit: float) -> Measurement:
        return self.record(Measurement(name, value, unit, f">= {limit:g}", value >= limit))

    def equals(
        self, name: str, value: float, unit: str, expected: float, tol: float = 0.0
    ) -> Measurement:
        ok = abs(value - expected) <= tol
        shown = f"{expected:g}" + (f" ± {tol:g}" if tol else "")
        return self.record(Measurement(name, value, unit, shown, ok))
