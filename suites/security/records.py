"""What a failing check leaves in the run folder: file names from node ids, paths as reports
show them, and fuzz reproducers (attached to the Allure report too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import allure

from drivers.attack.frames import Reproducer
from drivers.attack.fuzz_target import PAD, Problem
from drivers.attack.strategies import Case
from reports.paths import safe_name


@dataclass
class Failure:
    batch: list[Case]
    problem: Problem

    @property
    def size(self) -> tuple[int, int]:
        return (sum(len(c.frame) for c in self.batch), len(self.batch))

    @property
    def subject(self) -> str:
        """The input as every run names it (see Case.key): the finding's subject."""
        return " + ".join(c.key for c in self.batch)


def save_reproducer(
    failure: Failure, fuzz: dict[str, Any], nodeid: str, run_dir: Path, n: int = 1
) -> Path:
    rep = Reproducer(
        problem=failure.problem.text,
        frames_hex=[c.frame.hex() for c in failure.batch],
        descriptions=[f"{c.family}: {c.what}" for c in failure.batch],
        seed=fuzz["seed"],
        channel=0,
        check=nodeid,
        pad_zeros=len(PAD),
    )
    path = rep.save(run_dir / "reproducers" / f"{safe_name(nodeid)}-{n}.json")
    allure.attach(
        rep.to_json(), name="fuzz reproducer", attachment_type=allure.attachment_type.JSON
    )
    return path
