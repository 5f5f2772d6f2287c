"""Two runs compared: which defects are new, fixed or still there, which checks changed verdict,
which figures moved. What a firmware gate asks of a build ("nothing new since the last good one")
and what a person reads first after a regression (compare.md).

Findings are matched by signature, which names the defect and nothing that varies between runs,
so the same defect found on another machine, seed or speedup is the same finding. A finding of A
whose check B did not run (a shard, `-k`, a skip) is not called fixed: B did not look for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from reports.findings import check_name
from reports.summary import VERDICT

CHECKED = ("passed", "failed", "waived", "flaky")  # outcomes that say the check looked
EPSILON = 1e-12  # differences below this are float noise, not a move


@dataclass(frozen=True)
class Flip:
    """A check whose outcome differs; None where the run did not have the check."""

    nodeid: str
    a: str | None
    b: str | None


@dataclass(frozen=True)
class Move:
    """A figure, (check, measurement name), that moved beyond its tolerance or across its
    threshold. `change` is relative ((b - a) / |a|); inf from zero, None when not numeric."""

    nodeid: str
    name: str
    unit: str
    a: Any
    b: Any
    change: float | None
    tolerance: float
    threshold: str
    ok_a: bool | None
    ok_b: bool | None


@dataclass
class Comparison:
    """The result of `compare(a, b)`: lists of signatures, flips and moves, A to B."""

    a: dict[str, Any]
    b: dict[str, Any]
    new: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    persisting: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # A's findings B did not look for
    flips: list[Flip] = field(default_factory=list)
    moved: list[Move] = field(default_factory=list)
    default_tolerance: float = 0.2
    labels: tuple[str, str] = ("A", "B")

    @property
    def has_new(self) -> bool:
        """B has a finding A does not: what `--fail-on new` fails a build on."""
        return bool(self.new)

    def to_markdown(self) -> str:
        """compare.md: who was compared, the counts in one line, then a table per kind of
        change (empty ones left out), findings first: they are what a gate decides on."""
        return _markdown(self)


def compare(
    a: dict[str, Any],
    b: dict[str, Any],
    default_tolerance: float = 0.2,
    tolerances: dict[str, float] | None = None,
) -> Comparison:
    """Compare results dict `a` (before) with `b` (after).

    Measurements are matched by (check node id, measurement name) and compared relative to A:
    change = (b - a) / |a|, reported when |change| > the tolerance for that measurement name
    (`tolerances[name]`, else `default_tolerance`; 0.2 = 20 %). A figure that crossed its
    threshold (`ok` changed) is reported whatever its change. Edge cases:
    - from zero: A = 0 and B = 0 is no move; A = 0 and B != 0 is an infinite change, always
      reported (a relative tolerance cannot bound it, and a count leaving zero matters);
      differences under 1e-12 are float noise and never a move;
    - not numeric (text, booleans, None) or not finite (NaN, inf, also as the text "nan"):
      reported when the two differ as values (NaN equals NaN here), with no change figure;
    - a measurement in only one run is not a move (the check's flip says what changed).
    """
    tolerances = dict(tolerances or {})
    for name, tol in [("default", default_tolerance), *tolerances.items()]:
        if not (isinstance(tol, int | float) and tol >= 0 and math.isfinite(tol)):
            raise ValueError(f"tolerance for {name!r} must be a number >= 0, not {tol!r}")
    cmp = Comparison(a, b, default_tolerance=default_tolerance, labels=(_label(a), _label(b)))
    _findings(cmp, a, b)
    _flips(cmp, a, b)
    _moves(cmp, a, b, default_tolerance, tolerances)
    return cmp


def _label(results: dict[str, Any]) -> str:
    run = results.get("run") or {}
    return str(run.get("id") or results.get("started") or "?")


def _findings(cmp: Comparison, a: dict[str, Any], b: dict[str, Any]) -> None:
    sig_a = {f["signature"]: f for f in a.get("findings") or []}
    sig_b = {f["signature"]: f for f in b.get("findings") or []}
    looked = {c["nodeid"] for c in b.get("checks") or [] if c.get("outcome") in CHECKED}
    cmp.new = sorted(sig_b.keys() - sig_a.keys())
    cmp.persisting = sorted(sig_a.keys() & sig_b.keys())
    gone = sorted(sig_a.keys() - sig_b.keys())
    cmp.fixed = [s for s in gone if sig_a[s].get("check") in looked]
    cmp.unchecked = [s for s in gone if sig_a[s].get("check") not in looked]


def _flips(cmp: Comparison, a: dict[str, Any], b: dict[str, Any]) -> None:
    out_a = {c["nodeid"]: c.get("outcome") for c in a.get("checks") or []}
    out_b = {c["nodeid"]: c.get("outcome") for c in b.get("checks") or []}
    cmp.flips = [
        Flip(n, out_a.get(n), out_b.get(n))
        for n in sorted(out_a.keys() | out_b.keys())
        if out_a.get(n) != out_b.get(n)
    ]


def _figures(results: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (c["nodeid"], m.get("name", "")): m
        for c in results.get("checks") or []
        for m in c.get("measurements") or []
    }


def _moves(
    cmp: Comparison,
    a: dict[str, Any],
    b: dict[str, Any],
    default: float,
    tolerances: dict[str, float],
) -> None:
    fig_a, fig_b = _figures(a), _figures(b)
    for key in sorted(fig_a.keys() & fig_b.keys()):
        ma, mb = fig_a[key], fig_b[key]
        tol = tolerances.get(key[1], default)
        moved, change = _moved(ma.get("value"), mb.get("value"), tol)
        ok_a, ok_b = ma.get("ok"), mb.get("ok")
        if moved or (ok_a is not None and ok_b is not None and bool(ok_a) != bool(ok_b)):
            cmp.moved.append(
                Move(key[0], key[1], mb.get("unit") or ma.get("unit") or "", ma.get("value"),
                     mb.get("value"), change, tol, mb.get("threshold") or "", ok_a, ok_b)
            )  # fmt: skip


def _moved(a: Any, b: Any, tolerance: float) -> tuple[bool, float | None]:
    """(moved beyond `tolerance`, relative change or None when it has no meaning)."""
    x, y = _number(a), _number(b)
    if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
        same = _same(a, b) if x is None or y is None else _same(x, y)
        return not same, None
    if abs(y - x) <= EPSILON:
        return False, 0.0
    if x == 0:
        return True, math.copysign(math.inf, y)
    change = (y - x) / abs(x)
    return abs(change) > tolerance, change


def _number(value: Any) -> float | None:
    """A float for a number or numeric text ("nan", "1.5"); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


# ---- compare.md -----------------------------------------------------------------------------


def _markdown(cmp: Comparison) -> str:
    a, b = cmp.a, cmp.b
    fa = {f["signature"]: f for f in a.get("findings") or []}
    fb = {f["signature"]: f for f in b.get("findings") or []}
    out_b = {c["nodeid"]: c.get("outcome") for c in b.get("checks") or []}
    lines = [f"# skyproof compare: {cmp.labels[0]} → {cmp.labels[1]}", "", *_header(cmp), ""]
    lines += [_headline(cmp), ""]
    if _half(a, "verification_hash") != _half(b, "verification_hash"):
        lines += ["> The verification halves differ: the runs did not verify the same things.", ""]
    if _half(a, "vehicle_hash") != _half(b, "vehicle_hash"):
        lines += ["> The vehicle halves differ: the runs did not fly the same vehicle setup.", ""]
    sections = [
        ("New findings (in B, not in A)", ["finding", "summary", "waived in B"],
         [[s, fb[s].get("summary", ""), _waived(fb[s])] for s in cmp.new]),
        ("Fixed findings (in A; B ran the check and did not find it)", ["finding", "summary in A"],
         [[s, fa[s].get("summary", "")] for s in cmp.fixed]),
        ("Persisting findings", ["finding", "waived in A", "waived in B"],
         [[s, _waived(fa[s]), _waived(fb[s])] for s in cmp.persisting]),
        ("Not re-checked (in A; B did not run the check, so not called fixed)",
         ["finding", "check in B"],
         [[s, _outcome(out_b.get(fa[s].get("check", "")))] for s in cmp.unchecked]),
        ("Verdict flips", ["check", "A", "B"],
         [[check_name(f.nodeid), _outcome(f.a), _outcome(f.b)] for f in _ran_in_both(cmp)]),
        ("Figures moved", ["check", "figure", "A", "B", "change", "tolerance", "threshold"],
         [[check_name(m.nodeid), m.name, _value(m.a, m.unit, m.ok_a), _value(m.b, m.unit, m.ok_b),
           _change(m.change), f"±{m.tolerance:.0%}", _threshold(m)] for m in cmp.moved]),
    ]  # fmt: skip
    for title, head, rows in sections:
        if rows:
            lines += [f"## {title}", "", *_table(head, rows), ""]
    for side, label in ((0, "A"), (1, "B")):  # a subset or a shard: a list, folded away
        only = [f.nodeid for f in cmp.flips if (f.a, f.b)[1 - side] is None]
        if only:
            lines += [f"<details><summary>{len(only)} checks ran in {label} only</summary>", ""]
            lines += [*(f"- {check_name(n)}" for n in only), "", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def _ran_in_both(cmp: Comparison) -> list[Flip]:
    return [f for f in cmp.flips if f.a is not None and f.b is not None]


def _header(cmp: Comparison) -> list[str]:
    rows = []
    for label, res in zip(cmp.labels, (cmp.a, cmp.b), strict=True):
        prof = res.get("profile") or {}
        findings = res.get("findings") or []
        waived = sum(1 for f in findings if f.get("waiver"))
        rows.append([
            label, res.get("verdict") or "?", prof.get("path") or "?",
            f"{prof.get('vehicle_hash') or '?'} / {prof.get('verification_hash') or '?'}",
            _identity(res.get("vehicle_identity") or {}),
            f"{len(findings)} ({waived} waived)", res.get("started") or "?",
        ])  # fmt: skip
    head = ["run", "verdict", "profile", "halves (vehicle / verification)", "vehicle", "findings",
            "started"]  # fmt: skip
    return _table(head, [[f"{w}: {r[0]}", *r[1:]] for w, r in zip("AB", rows, strict=True)])


def _headline(cmp: Comparison) -> str:
    parts = [
        f"**{len(cmp.new)} new**" if cmp.new else "0 new",
        f"{len(cmp.fixed)} fixed",
        f"{len(cmp.persisting)} persisting findings",
    ]
    if cmp.unchecked:
        parts.append(f"{len(cmp.unchecked)} not re-checked")
    flips = len(_ran_in_both(cmp))
    parts.append(f"{flips} verdict flips")
    if len(cmp.flips) > flips:
        parts.append(f"{len(cmp.flips) - flips} checks in one run only")
    parts += [
        f"{len(cmp.moved)} figures moved (tolerance ±{cmp.default_tolerance:.0%} unless named)",
    ]
    return ", ".join(parts) + "."


def _half(res: dict[str, Any], key: str) -> Any:
    return (res.get("profile") or {}).get(key)


def _identity(ident: dict[str, Any]) -> str:
    if not ident:
        return "not reported"
    sw = " ".join(str(ident[k]) for k in ("autopilot", "flight_sw_version") if ident.get(k))
    return f"{sw} ({ident['git_hash']})" if ident.get("git_hash") else sw or "not reported"


def _waived(finding: dict[str, Any]) -> str:
    return "waived" if finding.get("waiver") else "no"


def _outcome(outcome: str | None) -> str:
    return VERDICT.get(outcome, outcome.upper()) if outcome else "not run"


def _value(value: Any, unit: str, ok: bool | None) -> str:
    x = _number(value)
    text = f"{x:.4g}" if x is not None else str(value)
    mark = "" if ok is None else (" ✓" if ok else " ✗")
    return f"{text} {unit}".strip() + mark


def _threshold(m: Move) -> str:
    return f"{m.threshold} {m.unit}".strip() if m.threshold else "none"


def _change(change: float | None) -> str:
    if change is None:
        return "changed"
    if math.isinf(change):
        return "from 0"
    return f"{change:+.0%}"


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows),
    ]


def _cell(value: Any) -> str:
    return " ".join(str(value).split()).replace("|", "\\|") or " "
