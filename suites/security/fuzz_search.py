"""The search both fuzz checks make, and the verdict they give from what it met: a fixed corpus
first (so a vehicle with a known defect fails every run), then hypothesis batches within the
profile's budget (examples, vehicle seconds, restarts), never drawing again what already failed.
Each defect is its own finding with its smallest batch saved as a replayable reproducer; the
fuzzer's own failure (a restart or reconnect that did not work) fails the check for that reason
and never passes it on the batches it did send."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Flaky
from hypothesis.strategies import SearchStrategy

from drivers.attack.fuzz_target import FuzzTarget, Problem
from drivers.attack.strategies import Case
from drivers.errors import DriverError, VehicleError
from reports.paths import shown
from suites.security.records import Failure, save_reproducer


class BudgetSpent(BaseException):
    """Raised inside the property to stop hypothesis (a BaseException passes through it)."""


class MachineryFailed(BaseException):
    """The fuzzer itself could not go on: the check fails for that reason."""


@dataclass
class Search:
    fuzzer: FuzzTarget
    fuzz: dict[str, Any]  # the profile's fuzz settings
    judge: Callable[[list[Case]], Problem | None]  # sends a batch, says what it broke
    failures: list[Failure] = field(default_factory=list)  # corpus's, then search's, in order
    found: set[str] = field(default_factory=set)  # what failed already: not drawn again
    corpus_sent: int = 0
    corpus_failures: int = 0
    stopped: str = "all examples"
    machinery: str | None = None

    def send(self, batch: list[Case]) -> Problem | None:
        try:
            problem = self.judge(batch)
        except (VehicleError, DriverError) as exc:
            raise MachineryFailed(f"{type(exc).__name__}: {exc}") from exc
        if problem is not None:
            self.failures.append(Failure(batch, problem))
        return problem

    def run(self, corpus: Iterable[list[Case]], batches: SearchStrategy[list[Case]],
            skip: Callable[[list[Case]], bool]) -> None:
        """Send the corpus batch by batch, then let hypothesis draw `batches` (leaving out those
        `skip` says failed already), shrinking a failure to a minimal batch; says in `stopped`
        what ended it. The caller tidies up (try/finally around this)."""
        fuzz, fuzzer = self.fuzz, self.fuzzer
        start = [0.0, 0]  # vehicle seconds and restarts when the search began

        @hypothesis_settings(
            max_examples=fuzz["examples"], deadline=None,
            database=None,  # the reproducer file is the record; no .hypothesis folder
            phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False, print_blob=False,
        )  # fmt: skip
        @seed(fuzz["seed"])
        @given(batch=batches)
        def survives(batch: list[Case]) -> None:
            assume(not skip(batch))
            if fuzzer.vehicle_s - start[0] > fuzz["max_vehicle_s"] or (
                fuzzer.restarts - start[1] > fuzz["max_restarts"]
            ):
                raise BudgetSpent
            problem = self.send(batch)
            if problem is not None:
                raise AssertionError(problem.text)

        try:
            for batch in corpus:
                if self.send(batch) is not None:
                    self.found.update(c.key for c in batch)
            self.corpus_sent, self.corpus_failures = fuzzer.examples, len(self.failures)
            start[:] = [fuzzer.vehicle_s, fuzzer.restarts]
            survives()
        except BudgetSpent:
            self.stopped = "the budget"
        except MachineryFailed as exc:
            self.stopped, self.machinery = "a harness failure", str(exc)
        except (AssertionError, Flaky):
            self.stopped = "a failure"

    def verdict(self, name: str, request: pytest.FixtureRequest, run_dir: Any, measure: Any,
                findings: Any, describe: Callable[[list[Case]], str],
                subject: Callable[[Failure], str]) -> None:
        """Record the figures and give the check's verdict: the machinery held, the random
        search ran its minimum, and the vehicle came through every batch (one finding per
        defect: `subject` names it, `describe` the batch)."""
        fuzz, fuzzer = self.fuzz, self.fuzzer
        corpus_sent = self.corpus_sent or fuzzer.examples  # the corpus did not finish: all its
        random_sent = fuzzer.examples - corpus_sent
        measure.record_value("corpus batches sent", corpus_sent, "")
        measure.record_value("random batches sent", random_sent, "")
        measure.record_value("vehicle seconds used", fuzzer.vehicle_s, "s")
        measure.record_value("vehicle restarts (after a failure, to go on)", fuzzer.restarts, "")
        measure.record_value("largest heartbeat gap while fuzzed", fuzzer.worst_gap_s, "s")
        if self.machinery is not None:
            pytest.fail(f"{name} machinery failed after {fuzzer.examples} batches: "
                        f"{self.machinery}", pytrace=False)  # fmt: skip
        if not self.failures:
            m = measure.at_least("random batches sent", random_sent, "", fuzz["min_examples"])
            assert m.ok, (f"the {name} sent {random_sent} random batches before {self.stopped} "
                          f"stopped it; at least {fuzz['min_examples']} are needed for a "
                          "verdict")  # fmt: skip
        # hypothesis replays the shrunk batch last: of the search's failures, that one is the defect
        defects = self.failures[:self.corpus_failures] + self.failures[self.corpus_failures:][-1:]
        lines = []
        for n, f in enumerate(defects, 1):
            path = save_reproducer(f, fuzz, request.node.nodeid, run_dir, n)
            cases = describe(f.batch)
            findings.add(f.problem.kind, subject(f),
                         f"{f.problem.text.splitlines()[0]} after {cases}", reproducer=shown(path))
            lines.append(f"{f.problem.kind} after {cases}: {f.problem.text} (reproducer: {path})")
        m = measure.at_most("defects found (distinct inputs)", len(defects), "", 0)
        assert m.ok, (f"the vehicle did not come through {len(defects)} kind(s) of input to the "
                      f"{name} ({len(self.failures)} failing batches; random search stopped by "
                      f"{self.stopped}):\n" + "\n".join(lines))  # fmt: skip
