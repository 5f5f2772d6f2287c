"""Malformed frames and semantic fuzzing (PGFuzz, RVFuzzer; mavlink.io "Serialization"): a vehicle
drops frames with a bad CRC, a wrong length, truncation or unknown incompat flags without any
change of state; refuses NaN, infinity and invalid enum values; rejects or clamps an
out-of-range PARAM_SET; and keeps running, heartbeating and holding its state through all of it.

The fuzz check first sends a fixed corpus of known-dangerous frames one by one (so a vehicle
with a known defect fails every run), then draws batches of hostile frames with hypothesis
(drivers/attack/strategies.py) within the profile's budget (examples, vehicle seconds,
restarts), leaving out inputs of a kind that already failed. Each defect (effect x kind of
input) is its own finding, with its smallest batch saved in the run folder as a replayable
reproducer (frames in hex + seed), attached to the report:
`python -m drivers.attack.frames replay FILE tcp:127.0.0.1:PORT`.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, Phase, assume, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Flaky

from drivers.attack import frames
from drivers.attack.frames import FrameBuilder
from drivers.attack.fuzz_target import PAD, FuzzTarget, Problem
from drivers.attack.peer import Peer
from drivers.attack.probes import attempt, read_param
from drivers.attack.strategies import Case, batches, corpus
from drivers.errors import DriverError, VehicleError
from drivers.services import params
from drivers.services.flavour import family
from reports.paths import safe_name, shown
from suites.security.records import Failure, save_reproducer


class BudgetSpent(BaseException):
    """Raised inside the property to stop hypothesis (a BaseException passes through it)."""


class MachineryFailed(BaseException):
    """The fuzzer itself could not go on (a restart or reconnect that failed): the check fails
    for that reason, never passes on the batches it did send."""


@pytest.mark.requirement("ROB-MALFORMED", "ROB-CMD-NONFINITE", "ROB-PARAM-RANGE", "GB42590-4.11")
def test_fuzzed_frames_change_nothing(
    request, vehicle_driver, profile, settings, run_dir, measure, findings
):
    # given the vehicle at rest, and the fuzzer's budget from the profile
    fuzz = settings["fuzz"]
    stem = run_dir / "tlogs" / safe_name(request.node.nodeid)
    try:
        target = FuzzTarget(vehicle_driver, profile, settings, stem)
    except LookupError as exc:  # the profile names no probe for this autopilot family
        pytest.skip(str(exc))
    failures: list[Failure] = []  # the corpus's, then the random search's in the order met
    found: set[str] = set()  # input kinds the vehicle already failed on: not sent again

    def send(batch: list[Case]) -> Problem | None:
        try:
            problem = target.run(batch)
        except (VehicleError, DriverError) as exc:
            raise MachineryFailed(f"{type(exc).__name__}: {exc}") from exc
        if problem is not None:
            failures.append(Failure(batch, problem))
        return problem

    @hypothesis_settings(
        max_examples=fuzz["examples"],
        deadline=None,
        database=None,  # the reproducer file is the record; no .hypothesis folder
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
    )
    @seed(fuzz["seed"])
    @given(batch=batches(target.target, fuzz["frames_per_example"]))
    def survives(batch: list[Case]) -> None:
        assume(not any(c.key in found for c in batch))
        if target.vehicle_s - start_s > fuzz["max_vehicle_s"] or (
            target.restarts - start_restarts > fuzz["max_restarts"]
        ):
            raise BudgetSpent
        problem = send(batch)
        if problem is not None:
            raise AssertionError(problem.text)

    # when the corpus of known-dangerous frames is sent one by one, then hypothesis sends
    # batches of malformed, hostile and garbage frames (shrinking a failure to a minimal batch)
    stopped, machinery = "all examples", None
    corpus_sent, corpus_failures, start_s, start_restarts = 0, 0, 0.0, 0
    try:
        for case in corpus(target.target):
            if send([case]) is not None:
                found.add(case.key)
        corpus_sent, corpus_failures = target.examples, len(failures)
        start_s, start_restarts = target.vehicle_s, target.restarts
        survives()
    except BudgetSpent:
        stopped = "the budget"
    except MachineryFailed as exc:
        stopped, machinery = "a harness failure", str(exc)
    except (AssertionError, Flaky):
        stopped = "a failure"
    finally:
        leftovers = target.close()
        for tlog in target.tlogs:  # the run's record of what was sent (the link fixture's way)
            request.node.user_properties.append(("tlog", shown(tlog)))
    corpus_sent = corpus_sent or target.examples  # the corpus did not finish: all were its
    random_sent = target.examples - corpus_sent
    measure.record_value("corpus frames sent", corpus_sent, "")
    measure.record_value("random batches sent", random_sent, "")
    measure.record_value("vehicle seconds used", target.vehicle_s, "s")
    measure.record_value("vehicle restarts (after a failure, to go on)", target.restarts, "")
    measure.record_value("largest heartbeat gap while fuzzed", target.worst_gap_s, "s")
    # then the fuzzer did its work: its machinery held, and the random search ran its minimum
    if machinery is not None:
        pytest.fail(f"fuzzer machinery failed after {target.examples} batches: {machinery}",
                    pytrace=False)  # fmt: skip
    if not failures:
        m = measure.at_least("random batches sent", random_sent, "", fuzz["min_examples"])
        assert m.ok, (f"the fuzzer sent {random_sent} random batches before {stopped} stopped "
                      f"it; at least {fuzz['min_examples']} are needed for a verdict")  # fmt: skip
    # and the vehicle came through every batch: heartbeating, same mode, arming and place, the
    # probe parameter untouched, ranged parameters inside their range
    # hypothesis replays the shrunk batch last: of the search's failures, that one is the defect
    defects = failures[:corpus_failures] + failures[corpus_failures:][-1:]
    lines = []
    for n, f in enumerate(defects, 1):
        path = save_reproducer(f, fuzz, request.node.nodeid, run_dir, n)
        cases = "; ".join(f"{c.family}: {c.what} [{c.frame.hex()}]" for c in f.batch)
        findings.add(f.problem.kind, f.subject, f"{f.problem.text.splitlines()[0]} after {cases}",
                     reproducer=shown(path))  # fmt: skip
        lines.append(f"{f.problem.kind} after {cases}: {f.problem.text} (reproducer: {path})")
    m = measure.at_most("defects found (distinct inputs)", len(defects), "", 0)
    assert m.ok, (f"the vehicle did not come through {len(defects)} kind(s) of input "
                  f"({len(failures)} failing batches; random search stopped by {stopped}):\n"
                  + "\n".join(lines))  # fmt: skip
    assert not leftovers, "isolation: " + "; ".join(leftovers)


MALFORMED = {
    "bad_crc": lambda f: frames.bad_crc(f, 3),
    "bit_flip_in_payload": lambda f: frames.flip_bit(f, 8 * (frames.HEADER_LEN + 1) + 2),
    "truncated": lambda f: frames.truncate(f, len(f) - 3),
    "wrong_length": lambda f: frames.with_length(f, frames.payload_len(f) + 5),
    "unknown_incompat_flag": lambda f: frames.with_incompat(f, 0x04),
    "other_message_id": lambda f: frames.with_msg_id(f, frames.msg_id(f) ^ 1),
}


@pytest.mark.requirement("ROB-MALFORMED", "GB42590-4.11")
@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_frame_is_dropped(kind, vehicle, probe, profile, measure):
    # given a vehicle at rest, and a DO_SET_MODE and a PARAM_SET it would obey
    gcs = profile.link["gcs"]
    sender = FrameBuilder(gcs["sysid"], gcs["compid"])
    mode_before = vehicle.mode
    good = [
        sender.frame(probe.param_set(probe.value())),
        sender.frame(probe.mode_command(mode_before)),
    ]
    # when both arrive broken in one way (then padding, as a line would carry more bytes)
    peer = Peer.lend(vehicle.link, 0, None, vehicle.sysid)
    got = attempt(peer, vehicle, probe, *[MALFORMED[kind](f) for f in good], PAD)
    # then neither takes effect, and the vehicle is still there
    effects = got.effects(probe, mode_before)
    m = measure.at_most(f"{kind} frames that took effect", len(effects), "", 0)
    assert m.ok, f"{kind}: {'; '.join(effects)}"


@pytest.mark.requirement("ROB-PARAM-RANGE")
def test_out_of_range_param_set_is_rejected_or_clamped(vehicle, settings, measure, findings):
    # given parameters with documented ranges (the profile's param_ranges), journaled so the
    # vehicle fixture puts them back
    wrong: list[str] = []
    link = vehicle.link
    ranges = settings["param_ranges"].get(family(vehicle.autopilot))
    if not ranges:
        pytest.skip(f"the profile gives no suites.security.param_ranges."
                    f"{family(vehicle.autopilot)} for this vehicle")  # fmt: skip
    for name, (lo, hi) in ranges.items():
        before = vehicle.get_param(name)
        vehicle.set_param(name, before)
        ptype = vehicle.journal[name].param_type
        kept: list[str] = []
        # when each is set below, above and outside any number (NaN, infinities); a vehicle
        # may echo a refused PARAM_SET or stay silent (ArduPilot ignores NaN), so no echo is
        # awaited: an ordered read-back judges it
        for value in (lo - 1, hi + 1, -abs(hi) * 10 - 1, math.nan, math.inf, -math.inf):
            wire = params.encode(value, ptype, vehicle.bytewise_params)
            link.send(
                link.mav.param_set_encode(vehicle.sysid, vehicle.compid, name.encode(), wire, ptype)
            )
            now = read_param(vehicle, name)
            # then what it reads back stays inside the range (unchanged or clamped)
            if not (math.isfinite(now) and lo <= now <= hi):
                kept.append(f"set {value:g} -> {now:g}")
                vehicle.set_param(name, before)  # so the next value is judged on its own
        if kept:
            wrong.append(f"{name} (range {lo:g}..{hi:g}): {', '.join(kept)}")
            findings.add("stored-out-of-range", name, f"{name} kept {', '.join(kept)} "
                         f"(range {lo:g}..{hi:g})")  # fmt: skip
    m = measure.at_most("parameters that kept an out-of-range value", len(wrong), "", 0)
    assert m.ok, "; ".join(wrong)
