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

from drivers.attack import frames
from drivers.attack.frames import FrameBuilder
from drivers.attack.fuzz_target import PAD, FuzzTarget
from drivers.attack.peer import Peer
from drivers.attack.probes import attempt, read_param
from drivers.attack.strategies import batches, corpus
from drivers.services import params
from drivers.services.flavour import family
from reports.paths import safe_name, shown
from suites.security.fuzz_search import Search


@pytest.mark.requirement("ROB-MALFORMED", "ROB-CMD-NONFINITE", "ROB-PARAM-RANGE", "GB42590-4.11")
def test_fuzzed_frames_change_nothing(
    request, vehicle_driver, profile, settings, run_dir, measure, findings
):
    # given the vehicle at rest, and the fuzzer's budget from the profile
    stem = run_dir / "tlogs" / safe_name(request.node.nodeid)
    try:
        target = FuzzTarget(vehicle_driver, profile, settings, stem)
    except LookupError as exc:  # the profile names no probe for this autopilot family
        pytest.skip(str(exc))
    search = Search(target, settings["fuzz"], target.run)
    # when the corpus of known-dangerous frames is sent one by one, then hypothesis sends
    # batches of malformed, hostile and garbage frames (shrinking a failure to a minimal batch)
    try:
        search.run(([case] for case in corpus(target.target)),
                   batches(target.target, settings["fuzz"]["frames_per_example"]),
                   lambda batch: any(c.key in search.found for c in batch))  # fmt: skip
    finally:
        leftovers = target.close()
        for tlog in target.tlogs:  # the run's record of what was sent (the link fixture's way)
            request.node.user_properties.append(("tlog", shown(tlog)))
    # then the fuzzer did its work, and the vehicle came through every batch: heartbeating,
    # same mode, arming and place, the probe parameter untouched, ranged parameters in range
    search.verdict("fuzzer", request, run_dir, measure, findings,
                   lambda batch: "; ".join(f"{c.family}: {c.what} [{c.frame.hex()}]"
                                           for c in batch),
                   lambda f: f.subject)  # fmt: skip
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
