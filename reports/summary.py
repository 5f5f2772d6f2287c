"""The run summary (summary.md), built from results.json alone: each check's verdict and
figures, then the tested-requirements view, saying plainly what was not or cannot be tested."""

from collections import Counter
from pathlib import PurePath
from typing import Any

VERDICT = {
    "passed": "PASS",
    "flaky": "FLAKY",
    "failed": "FAIL",
    "error": "ERROR",
    "waived": "WAIVED",
    "skipped": "SKIP",
}


def build_summary(results: dict[str, Any]) -> str:
    prof = results.get("profile", {})
    checks = results.get("checks", [])
    counts = Counter(c["outcome"] for c in checks)
    bad = counts["failed"] + counts["error"]
    lines = [
        f"# skyproof run: {prof.get('name', '?')}",
        "",
        f"- profile: `{prof.get('path', '?')}` (vehicle half `{prof.get('vehicle_hash', '?')}`, "
        f"verification half `{prof.get('verification_hash', '?')}`)",
        f"- vehicle: {prof.get('vehicle', '?')}",
        f"- started {results.get('started', '?')}, finished {results.get('finished', '?')}",
        f"- **verdict: {'FAIL' if bad or not checks else 'PASS'}** — "
        + ", ".join(f"{counts[k]} {k}" for k in VERDICT if counts[k])
        + ("no checks ran" if not checks else ""),
        "",
        "## Checks",
        "",
        "| check | verdict | figures | requirements |",
        "|---|---|---|---|",
    ]
    for c in checks:
        figures = (
            "<br>".join(
                [_figure(m) for m in c["measurements"]]
                + [f"[plot](plots/{PurePath(p).name})" for p in c.get("plots", [])]
            )
            or "—"
        )
        reqs = ", ".join(c["requirements"]) or "—"
        lines.append(f"| `{c['nodeid']}` | {VERDICT[c['outcome']]} | {figures} | {reqs} |")
    problems = [c for c in checks if c["outcome"] not in ("passed",)]
    if problems:
        lines += ["", "## Why", ""]
        for c in problems:
            first = (c["message"] or "").strip().splitlines() or ["(no message)"]
            lines.append(f"- `{c['nodeid']}` **{VERDICT[c['outcome']]}**: {first[0]}")
    if "bench" in results:
        b = results["bench"]
        left = b["still_different"]
        lines += [
            "",
            "## Bench vehicle",
            "",
            f"- parameters restored after the run: {', '.join(b['restored']) or 'none needed'}",
            f"- parameters still different from before the run: {left or 'none'}",
            f"- left disarmed: {'yes' if b['disarmed'] else 'NO'}",
        ]
    lines += ["", *requirements_view(results)]
    return "\n".join(lines) + "\n"


def requirements_view(results: dict[str, Any]) -> list[str]:
    registry = results.get("requirements", {})
    if not registry:
        return []
    by_req: dict[str, list[dict[str, Any]]] = {}
    for c in results.get("checks", []):
        for rid in c["requirements"]:
            by_req.setdefault(rid, []).append(c)
    lines = ["## Requirements", "", "| requirement | title | verdict | by |", "|---|---|---|---|"]
    for rid, req in registry.items():
        checks = by_req.get(rid, [])
        lines.append(
            f"| {rid} | {req['title']} | {_req_verdict(req, checks)} | "
            + (", ".join(f"`{c['nodeid'].split('::')[-1]}`" for c in checks) or "—")
            + " |"
        )
    return lines


def _req_verdict(req: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    if not req.get("verifiable", True):
        return f"not verifiable over MAVLink: {req.get('reason', '')}"
    outcomes = {c["outcome"] for c in checks}
    if outcomes & {"failed", "error"}:
        return "FAIL"
    if "waived" in outcomes:
        return "WAIVED"
    if "flaky" in outcomes:
        return "FLAKY (passed only on a retry)"
    if "passed" in outcomes:
        return "PASS" + (" (some checks skipped)" if "skipped" in outcomes else "")
    return "not tested in this run"


def _figure(m: dict[str, Any]) -> str:
    value = m["value"]
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    mark = "" if m["ok"] else " ✗"
    unit = f" {m['unit']}" if m["unit"] else ""
    bound = f" ({m['threshold']}{unit})" if m["threshold"] else ""
    return f"{m['name']}: {shown}{unit}{bound}{mark}"
