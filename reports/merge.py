"""Merging the shards of one run (pytest-split's `--splits N --group I` on several CI machines)
into one run: one results.json, hence one summary, report.html and history entry.

The merged run must say what one unsplit run would have said. Every check ran in exactly one
shard, so checks and findings are concatenated; what each shard could only judge on its own part
is judged again on the whole: the counts and verdict, and the waivers (one that a shard found
nothing for may have been applied in another, so it is stale only if no shard applied it). A
shard failed by `--strict-waivers` is therefore judged again too, on the merged waivers.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path, PurePath
from typing import Any

from reports.paths import shown
from reports.results import OUTCOMES, verdict

VERSION = 2  # the results.json version this module reads and writes
# pytest's exit codes, least to most severe. 5 (no tests collected) is a shard that drew no
# checks: it says nothing about the run unless every shard says it.
SEVERITY = (5, 0, 1, 2, 4, 3)
# a waiver's state over several shards: the first that any shard reports
WAIVER_STATES = ("applied", "expired", "stale", "unchecked")
RUN_FILES = ("tlogs", "plots", "reproducers", "allure-results")  # copied into the merged folder


class MergeError(ValueError):
    """Parts that are not shards of one run (another profile, a check in two shards, ...)."""


def merge_results(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One results dict from the shards' results dicts (results.json version 2). Raises
    MergeError, with a message naming the parts, when they cannot be one run. Paths in the
    results still point into the shards' folders: `gather_files` copies and repoints them."""
    # the same run given twice (a folder and the `latest` link to it) is one part
    parts = [p for i, p in enumerate(parts) if all(p != q for q in parts[:i])]
    if not parts:
        raise MergeError("nothing to merge: no results given")
    labels = [_label(p, i) for i, p in enumerate(parts)]
    _check_versions(parts, labels)
    _check_profiles(parts, labels)
    missing = _missing_shards(parts, labels)
    checks = _checks(parts, labels)
    merged = copy.deepcopy(parts[0])  # keys this module does not know are carried over
    waivers = _waivers(parts)
    exit_status = _exit_status(parts, waivers)
    if missing and SEVERITY.index(exit_status) < SEVERITY.index(2):
        exit_status = 2  # shards that never reported: the run is incomplete, as if interrupted
    run_verdict, counts = run_verdict_and_counts(checks, exit_status)
    merged.update(
        run=_run(parts, missing),
        vehicle_identity=next(
            (p["vehicle_identity"] for p in parts if p.get("vehicle_identity")), {}
        ),
        exit_status=exit_status,
        verdict=run_verdict,
        counts=counts,
        started=_when(parts, "started", min),
        finished=_when(parts, "finished", max),
        requirements={
            k: v for p in reversed(parts) for k, v in (p.get("requirements") or {}).items()
        },
        checks=checks,
        findings=sorted(  # one unsplit run lists them in check order; stable within a check
            (copy.deepcopy(f) for p in parts for f in p.get("findings") or []),
            key=lambda f: f.get("check", ""),
        ),
        waivers=waivers,
        baseline=None,  # compared afresh, if asked, when the merged run is published
    )
    bench = [p["bench"] for p in parts if p.get("bench")]
    if bench:  # a bench vehicle left changed in any shard is what the run must show
        merged["bench"] = next((b for b in bench if b.get("still_different")), bench[0])
    return merged


def run_verdict_and_counts(
    checks: list[dict[str, Any]], exit_status: int
) -> tuple[str, dict[str, int]]:
    """The run's verdict and counts from its checks, by reports.results' own rule, so that a
    merged run and an unsplit one are judged by the same code."""
    seen = Counter(c["outcome"] for c in checks)
    return verdict(seen, exit_status), {k: seen[k] for k in OUTCOMES}


def _label(part: dict[str, Any], index: int) -> str:
    run = part.get("run") or {}
    shard = run.get("shard")
    where = f" (shard {shard.get('group')}/{shard.get('splits')})" if shard else ""
    return f"{run.get('id') or f'part {index + 1}'}{where}"


def _check_versions(parts: list[dict[str, Any]], labels: list[str]) -> None:
    for part, label in zip(parts, labels, strict=True):
        if part.get("skyproof") != VERSION:
            raise MergeError(
                f"{label}: results.json version {part.get('skyproof')!r}; merge reads version "
                f"{VERSION} (rebuild it with this skyproof, or re-run the shard)"
            )


def _check_profiles(parts: list[dict[str, Any]], labels: list[str]) -> None:
    """Shards of one run verified the same things on the same vehicle setup: both halves'
    hashes agree. Merging anything else would make up a run that never happened."""

    def halves(p: dict[str, Any]) -> tuple[Any, Any]:
        prof = p.get("profile") or {}
        return prof.get("vehicle_hash"), prof.get("verification_hash")

    first = halves(parts[0])
    for part, label in zip(parts[1:], labels[1:], strict=True):
        if halves(part) != first:
            raise MergeError(
                "cannot merge runs of different profiles: "
                + "; ".join(
                    f"{lb} ran {_profile_text(p)}"
                    for lb, p in ((labels[0], parts[0]), (label, part))
                )
                + ". Shards of one run use the same profile file and profile halves."
            )


def _profile_text(part: dict[str, Any]) -> str:
    prof = part.get("profile") or {}
    return (
        f"{prof.get('path', '?')} (vehicle half {prof.get('vehicle_hash', '?')}, "
        f"verification half {prof.get('verification_hash', '?')})"
    )


def _checks(parts: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    """Every check of every part, in nodeid order as one run writes them; a check that two
    parts ran means they are not disjoint shards of one run, and which outcome would be
    "the" one is unanswerable: refuse."""
    where: dict[str, str] = {}
    checks = []
    for part, label in zip(parts, labels, strict=True):
        for check in part.get("checks") or []:
            nodeid = check["nodeid"]
            if nodeid in where:
                raise MergeError(
                    f"check {nodeid} is in two parts: {where[nodeid]} and {label}. Shards of "
                    "one run are disjoint: give each shard once, all run with the same "
                    "--splits and the same .test_durations"
                )
            where[nodeid] = label
            checks.append(copy.deepcopy(check))
    return sorted(checks, key=lambda c: c["nodeid"])


def _waivers(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The profile's waivers with their states over the whole run: applied if any shard applied
    it, else expired if expired, else stale if a shard judged a check it speaks to (and none had
    a finding it matched), else unchecked (no shard ran such a check)."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for part in parts:
        for w in part.get("waivers") or []:
            key = (w.get("finding"), w.get("reason"), w.get("expires"))
            into = merged.setdefault(key, {**w, "matched": [], "_states": set()})
            into["_states"].add(w.get("state"))
            into["matched"] = sorted(set(into["matched"]) | set(w.get("matched") or []))
    for w in merged.values():
        states = w.pop("_states")
        w["state"] = next((s for s in WAIVER_STATES if s in states), sorted(map(str, states))[0])
    return list(merged.values())


def _exit_status(parts: list[dict[str, Any]], waivers: list[dict[str, Any]]) -> int:
    """The worst of the shards' exit statuses, except that a shard failed only by a stale waiver
    under strict waivers is judged again: the waiver may have applied in another shard."""
    strict = False
    statuses = []
    for part in parts:
        status = int(part.get("exit_status") or 0)
        if _failed_by_stale_waiver(part, status):
            strict, status = True, 0
        strict = strict or bool((part.get("run") or {}).get("strict_waivers"))
        statuses.append(status)
    worst = max(statuses, key=lambda s: SEVERITY.index(s) if s in SEVERITY else len(SEVERITY))
    if strict and any(w["state"] == "stale" for w in waivers) and worst in (0, 5):
        worst = 1
    return worst


def _failed_by_stale_waiver(part: dict[str, Any], status: int) -> bool:
    """Exit 1 with no failed or erred check and a stale waiver: strict waivers failed it (pytest
    exits 1 only for a failed report, which is a failed or erred check, or for that rule)."""
    if status != 1 or not any(w.get("state") == "stale" for w in part.get("waivers") or []):
        return False
    return not any(c.get("outcome") in ("failed", "error") for c in part.get("checks") or [])


def _missing_shards(parts: list[dict[str, Any]], labels: list[str]) -> list[int]:
    """Groups of a split run that no part is: a shard whose machine never reported."""
    shards = [((p.get("run") or {}).get("shard"), lb) for p, lb in zip(parts, labels, strict=True)]
    if not any(s for s, _ in shards):
        return []  # not pytest-split shards (e.g. `-k` subsets): nothing to count
    splits = {s.get("splits") for s, _ in shards if s}
    if len(splits) != 1 or not all(s for s, _ in shards):
        raise MergeError(
            "parts of different splits: "
            + ", ".join(lb if s else f"{lb} (not a shard)" for s, lb in shards)
            + ". Merge the shards of one `--splits N` run, each once"
        )
    groups = Counter(s["group"] for s, _ in shards)
    twice = [g for g, n in groups.items() if n > 1]
    if twice:
        raise MergeError(f"shard group {twice[0]} given twice: " + ", ".join(labels))
    return [g for g in range(1, splits.pop() + 1) if g not in groups]


def _run(parts: list[dict[str, Any]], missing: list[int]) -> dict[str, Any]:
    """The merged run's record: its id derived from the parts' (the earliest part's, tagged
    with a digest of all), so merging the same shards again names the same run."""
    runs = [p.get("run") or {} for p in parts]
    ids = [str(r.get("id") or f"part{i + 1}") for i, r in enumerate(runs)]
    first = min(range(len(parts)), key=lambda i: (parts[i].get("started") or "", ids[i]))
    digest = hashlib.sha1("\n".join(sorted(ids)).encode()).hexdigest()[:8]
    collected = [r.get("collected") for r in runs]
    run: dict[str, Any] = {
        "id": f"{ids[first]}-merged-{digest}",
        "collected": sum(collected) if all(isinstance(c, int) for c in collected) else None,
        "shard": None,
        "merged_from": [
            {
                "id": i,
                "shard": r.get("shard"),
                "exit_status": p.get("exit_status"),
                "verdict": p.get("verdict"),
                "vehicle_files": p.get("vehicle_files"),
            }
            for i, r, p in zip(ids, runs, parts, strict=True)
        ],
    }
    if missing:
        run["missing_shards"] = missing
    return run


def _when(parts: list[dict[str, Any]], key: str, pick: Any) -> str | None:
    times = [p[key] for p in parts if p.get(key)]
    if not times:
        return None
    try:
        return pick(times, key=dt.datetime.fromisoformat)
    except (TypeError, ValueError):  # offsets missing on some: compare them as text
        return pick(times)


def gather_files(run_dirs: list[Path], out: Path, results: dict[str, Any]) -> None:
    """Copy the shards' tlogs, plots, reproducers and Allure results into the merged folder
    `out`, point `results`' paths at the copies, and write one junit.xml holding every shard's
    test suites, so the merged folder is the one thing CI uploads (and report.html links work
    on a machine that never saw the shards' folders)."""
    out.mkdir(parents=True, exist_ok=True)
    folders = [d.parent if d.is_file() else d for d in run_dirs]  # a results.json names its run
    run_dirs = list({d.resolve(): d for d in folders}.values())
    for run_dir in run_dirs:
        for sub in RUN_FILES:
            if (run_dir / sub).is_dir():
                shutil.copytree(run_dir / sub, out / sub, dirs_exist_ok=True)
    _rebase(results, out)
    suites = ET.Element("testsuites", name="pytest tests")
    for run_dir in run_dirs:
        try:
            root = ET.parse(run_dir / "junit.xml").getroot()
        except (OSError, ET.ParseError):
            continue  # a shard cut short: its checks are still in results.json
        suites.extend(root.iter("testsuite") if root.tag == "testsuites" else [root])
    if len(suites):
        ET.ElementTree(suites).write(out / "junit.xml", encoding="utf-8", xml_declaration=True)


def _rebase(results: dict[str, Any], out: Path) -> None:
    def moved(path: Any) -> Any:
        if not isinstance(path, str) or not path:
            return path
        p = PurePath(path)
        if p.parent.name not in RUN_FILES or not (out / p.parent.name / p.name).is_file():
            return path
        return shown(out / p.parent.name / p.name)

    for check in results.get("checks") or []:
        check["tlog"] = moved(check.get("tlog"))
        check["plots"] = [moved(p) for p in check.get("plots") or []]
    for finding in results.get("findings") or []:
        ev = finding.get("evidence") or {}
        for key in ("tlog", "reproducer"):
            if key in ev:
                ev[key] = moved(ev[key])
