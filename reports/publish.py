"""Everything a finished run leaves for people and for CI, from its results alone: results.json,
summary.md, report.html, Allure's categories and environment, the history entry and, against a
baseline run, compare.md. One place, so a run, a rebuild and a merge of shards agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reports.allure_env import write_allure_extras
from reports.compare import compare
from reports.history import HistoryError, latest_results, record_run
from reports.html import build_html
from reports.summary import build_summary


def publish(
    run_dir: Path,
    results: dict[str, Any],
    *,
    history: Path | None = None,
    baseline: bool = False,
) -> list[str]:
    """Write the run's reports into `run_dir`; record it in `history` (and compare it with the
    latest earlier run of the same profile there, if `baseline`). Returns notes for the
    terminal (e.g. where compare.md went, or why there was no baseline)."""
    notes: list[str] = []
    if history is not None and baseline:
        notes += _against_baseline(run_dir, results, history)
    # the record first: whatever fails after it, results.json and summary.md are there
    _write(run_dir / "results.json", json.dumps(results, indent=2, default=str))
    _write(run_dir / "summary.md", build_summary(results))
    _write(run_dir / "report.html", build_html(results, run_dir))
    allure_dir = run_dir / "allure-results"
    if allure_dir.is_dir():
        write_allure_extras(allure_dir, results)
    if history is not None:
        try:
            notes.append(f"history: run {record_run(history, results, run_dir)} in {history}")
        except HistoryError as exc:  # the run's own reports stand; say why it is not recorded
            notes.append(f"history: not recorded: {exc} (--history PATH or 'none')")
    return notes


def _against_baseline(run_dir: Path, results: dict[str, Any], history: Path) -> list[str]:
    if not history.exists():
        return [f"baseline: no history at {history} yet; this run becomes the first"]
    try:
        before = latest_results(history, results["profile"]["path"])
    except HistoryError as exc:
        return [f"baseline: cannot read the history: {exc}"]
    if before is None:
        return [f"baseline: no earlier run of {results['profile']['path']} in {history}"]
    cmp = compare(before, results)
    results["baseline"] = {
        "run": before.get("run", {}).get("id"),
        "new": list(cmp.new),
        "fixed": list(cmp.fixed),
        "persisting": list(cmp.persisting),
    }
    _write(run_dir / "compare.md", cmp.to_markdown())
    return [
        f"baseline {results['baseline']['run']}: {len(cmp.new)} new, {len(cmp.fixed)} fixed, "
        f"{len(cmp.persisting)} persisting findings (compare.md)"
    ]


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
