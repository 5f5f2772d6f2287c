"""Findings: the defects a failed check found, one record each, with a stable signature.

A check's verdict is about one behaviour; what a user accepts, tracks and gates a firmware build
on is a defect. A check that finds several (three parameters stored out of range, two crashing
inputs) records several; a check that records none yields one for its own failure.

The signature names the defect and nothing that varies between runs (no figures, times, seeds or
paths): `<suite>/<check>: <kind>[: <subject>]`, e.g.
`security/test_fuzzed_frames_change_nothing: vehicle-died: DO_SET_MODE custom mode NaN`.
Waivers (profiles) match signatures, exactly or with shell-style wildcards.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

KEY = "finding"  # the user_properties key a recorded finding travels under (xdist included)
VEHICLE = "vehicle"  # the defect is the vehicle's
HARNESS = "harness"  # the defect is skyproof's own (e.g. a secret in an artefact it wrote)


@dataclass
class Finding:
    signature: str
    check: str  # the node id of the check that found it
    kind: str  # what went wrong, in a word or two: "vehicle-died", "stored-out-of-range"
    summary: str  # one line for people
    origin: str = VEHICLE
    evidence: dict[str, Any] = field(default_factory=dict)
    waiver: dict[str, Any] | None = None  # the profile waiver that accepts it, if any
    expired_waiver: dict[str, Any] | None = None  # a waiver that would, had it not expired

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> Finding:
        return cls(**json.loads(text))


def check_name(nodeid: str) -> str:
    """`suites/security/test_x.py::test_y[p]` -> `security/test_y[p]`: the check, as a person
    names it; the module is left out so that moving a check between files keeps its findings."""
    path, _, name = nodeid.partition("::")
    parts = path.split("/")
    suite = parts[1] if len(parts) > 2 and parts[0] == "suites" else parts[0].removesuffix(".py")
    return f"{suite}/{name.split('::')[-1]}"


def signature(nodeid: str, kind: str, subject: str = "") -> str:
    sig = f"{check_name(nodeid)}: {kind}"
    return f"{sig}: {_one_line(subject)}" if subject else sig


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def first_line(message: str) -> str:
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    return lines[0][:300] if lines else "(no message)"


class Findings:
    """What a check hands its `findings` fixture: one `add` per defect found. A check that adds
    none and fails yields one finding for the failure itself (kind `failed`)."""

    def __init__(self, nodeid: str, sink: list[tuple[str, object]]) -> None:
        self.nodeid = nodeid
        self._sink = sink
        self.items: list[Finding] = []

    def add(
        self,
        kind: str,
        subject: str,
        summary: str,
        *,
        origin: str = VEHICLE,
        **evidence: Any,
    ) -> Finding:
        """Record one defect. `subject` says which one (a parameter, an input, a file kind) in
        words that are the same on every run; figures belong in `summary` and `evidence`."""
        f = Finding(signature(self.nodeid, kind, subject), self.nodeid, kind, summary, origin,
                    dict(evidence))  # fmt: skip
        self.items.append(f)
        self._sink.append((KEY, f.to_json()))
        return f


def recorded(props: list[tuple[str, Any]]) -> list[Finding]:
    return [Finding.from_json(v) for k, v in props if k == KEY]


def default_finding(nodeid: str, message: str) -> Finding:
    return Finding(signature(nodeid, "failed"), nodeid, "failed", first_line(message))
