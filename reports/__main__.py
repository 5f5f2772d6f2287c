"""`python -m reports`: what can be done with finished runs, from their results alone.

    python -m reports RUN_DIR                      rebuild RUN_DIR's summary.md and report.html
    python -m reports history                      list the runs recorded in the history
    python -m reports compare A B [--fail-on new]  compare two runs (folders or history ids)
    python -m reports merge DIR... --out DIR       merge a run's shards into one run

Exit status: 0 done; 1 `compare --fail-on new` found a new finding (or `merge`: the merged run's
own status); 2 the input is unusable (one line on stderr says which and why).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from reports.compare import compare
from reports.history import HistoryError, list_runs, load_results
from reports.merge import MergeError, gather_files, merge_results
from reports.publish import publish

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("history", "compare", "merge")


class UsageError(Exception):
    """A run folder or id that cannot be used: reported in one line, exit status 2."""


def main(argv: list[str]) -> int:
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        return _rebuild(argv)  # the original form, `python -m reports RUN_DIR`
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (UsageError, HistoryError) as exc:
        print(f"reports: {exc}", file=sys.stderr)
        return 2


def default_history() -> str:
    """Where runs are recorded unless told: the same default as the pytest option --history."""
    return os.environ.get("SKYPROOF_HISTORY") or str(ROOT / "reports" / "history.sqlite")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reports",
        usage="python -m reports RUN_DIR | {history,compare,merge} ...",
        description="Rebuild a run's summary (RUN_DIR), list the run history, compare two runs, "
        "or merge a run's shards.",
    )
    sub = parser.add_subparsers(dest="command", required=True, prog="python -m reports")
    hist = "the run history (SQLite; also SKYPROOF_HISTORY; default reports/history.sqlite)"

    p = sub.add_parser("history", help="list the recorded runs, oldest first")
    p.add_argument("--history", default=default_history(), help=hist)
    p.add_argument("--last", type=int, metavar="N", help="only the N newest runs")
    p.set_defaults(run=_history)

    p = sub.add_parser("compare", help="compare run A (before) with run B (after)")
    p.add_argument("a", metavar="A", help="run folder (with results.json) or history id")
    p.add_argument("b", metavar="B", help="run folder (with results.json) or history id")
    p.add_argument("--history", default=default_history(), help=hist)
    p.add_argument(
        "--tolerance",
        type=_fraction,
        default=0.2,
        help="relative change a figure may make unreported (default 0.2 = 20%%)",
    )
    p.add_argument(
        "--tolerance-for",
        action="append",
        default=[],
        type=_named_fraction,
        metavar="NAME=X",
        help="the tolerance for the measurement NAME (repeatable)",
    )
    p.add_argument(
        "--fail-on",
        choices=["new"],
        help="new: exit 1 when B has a finding A does not (a firmware gate)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where compare.md goes (default: B's folder, else the current folder)",
    )
    p.set_defaults(run=_compare)

    p = sub.add_parser("merge", help="merge the shards of one run (pytest-split) into one run")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="the shards' run folders")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="the merged run folder")
    p.add_argument("--history", default=default_history(), help=hist + "; 'none' records nothing")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="compare the merged run with the latest earlier run of its profile",
    )
    p.set_defaults(run=_merge)
    return parser


def _rebuild(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m reports RUN_DIR | {history,compare,merge} ...", file=sys.stderr)
        return 2
    run = Path(argv[0])
    try:
        results = _read_run(run)
        publish(run, results)  # not recorded again: the run is in the history already
    except (UsageError, OSError) as exc:
        print(f"reports: {exc}", file=sys.stderr)
        return 2
    print(run / "summary.md")
    return 0


def _history(args: argparse.Namespace) -> int:
    runs = list_runs(Path(args.history))
    if not runs:
        print(f"no runs recorded in {args.history}")
        return 0
    if args.last is not None:
        runs = runs[-args.last :] if args.last > 0 else []
    head = ("id", "started", "profile", "verdict", "checks", "findings", "run")
    rows = [head] + [
        (str(r["id"]), (r["started"] or "?")[:16].replace("T", " "), r["profile_path"] or "?",
         r["verdict"] or "?", str(r["checks"]),
         f"{r['findings']} ({r['waived']} waived)",
         r["run_id"] + (f" shard {r['shard'].get('group')}" if r["shard"] else ""))
        for r in runs
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _compare(args: argparse.Namespace) -> int:
    history = Path(args.history)
    (a, _, a_label), (b, b_dir, b_label) = _run(args.a, history), _run(args.b, history)
    try:
        cmp = compare(a, b, args.tolerance, dict(args.tolerance_for))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    cmp.labels = (a_label, b_label)
    text = cmp.to_markdown()
    out = args.out or (b_dir / "compare.md" if b_dir else Path.cwd() / "compare.md")
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    print(text, end="")
    print(f"compare.md: {out}", file=sys.stderr)
    if args.fail_on == "new" and cmp.has_new:
        print(f"reports: {len(cmp.new)} new finding(s) in B (--fail-on new)", file=sys.stderr)
        return 1
    return 0


def _merge(args: argparse.Namespace) -> int:
    try:
        results = merge_results([_read_run(Path(d)) for d in args.dirs])
        args.out.mkdir(parents=True, exist_ok=True)
        gather_files([Path(d) for d in args.dirs], args.out, results)  # the folder stands alone
    except MergeError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    history = None if args.history == "none" else Path(args.history)
    for note in publish(args.out, results, history=history, baseline=args.baseline):
        print(note)
    print(f"report: {args.out / 'summary.md'}")
    return int(results.get("exit_status") or 0)


def _run(arg: str, history: Path) -> tuple[dict[str, Any], Path | None, str]:
    """(results, its folder or None, a label) for a run folder, a results.json or a history id
    (`12` or `#12`). A folder wins over an id of the same name."""

    path = Path(arg)
    if path.is_dir() or path.is_file():
        folder = path if path.is_dir() else path.parent
        results = _read_run(path)
        return results, folder, str((results.get("run") or {}).get("id") or folder.name)
    ident = arg.removeprefix("#")
    if ident.isdigit():
        results = load_results(history, int(ident))
        return results, None, f"#{ident} {(results.get('run') or {}).get('id') or ''}".strip()
    raise UsageError(
        f"{arg}: neither a run folder (with results.json) nor a history id "
        "(`python -m reports history` lists them)"
    )


def _read_run(path: Path) -> dict[str, Any]:
    file = path / "results.json" if path.is_dir() or not path.suffix else path
    try:
        results = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{file} is not JSON ({exc}); was the run cut short?") from exc
    if not isinstance(results, dict) or "checks" not in results:
        raise UsageError(f"{file} is not a skyproof results.json (no checks)")
    return results


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 <= value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number >= 0 (0.2 means 20%)")
    return value


def _named_fraction(text: str) -> tuple[str, float]:
    name, eq, value = text.rpartition("=")
    if not eq or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=X, e.g. 'heartbeat rate=0.1'")
    return name.strip(), _fraction(value)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
