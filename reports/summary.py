"""The run summary (summary.md), built from results.json alone: each check's verdict and
figures, then the tested-requirements view, saying plainly what was not or cannot be tested."""

from collections import Counter
from pathlib import PurePath
from typing import Any

from reports.results import verdict

VERDICT = {
    "passed": "PASS",
    "flaky": "FLAKY",
    "failed": "FAIL",
    "error": "ERROR",
    "waived": "WAIVED",
    "skipped": "SKIP",
    "interrupted": "INTERRUPTED",
    "not_run": "NOT RUN",
}


def build_summary(results: dict[str, Any]) -> str:
    prof = results.get("profile", {})
    checks = results.get("checks", [])
    counts = Counter(c["outcome"] for c in checks)
    run_verdict = results.get("verdict") or verdict(counts, results.get("exit_status", 0))
    lines = [
        f"# skyproof run: {prof.get('name', '?')}",
        "",
        f"- profile: `{prof.get('path', '?')}` (vehicle half `{prof.get('vehicle_hash', '?')}`, "
        f"verification half `{prof.get('verification_hash', '?')}`)",
        f"- vehicle: {prof.get('vehicle', '?')}",
        f"- started {results.get('started', '?')}, finished {results.get('finished', '?')}",
        f"- vehicle identity: {_identity(results.get('vehicle_identity') or {})}",
        f"- **verdict: {run_verdict}** — "
        + ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in VERDICT if counts[k])
        + ("no checks ran" if not checks else ""),
        *_stopped(results),
        *_not_run(results),
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
    lines += findings_view(results)
    problems = [c for c in checks if c["outcome"] not in ("passed", "not_run")]
    never = [c for c in checks if c["outcome"] == "not_run"]
    if problems or never:
        lines += ["", "## Why", ""]
        for c in problems:
            text = (c["message"] or "(no message)").strip().replace("\n", "\n  ")
            lines.append(f"- `{c['nodeid']}` **{VERDICT[c['outcome']]}**: {text}")
        if never:  # one line, not one per check: they share the reason
            lines.append(f"- {len(never)} check(s) **NOT RUN**: the run ended before they started")
    restarted = [c for c in checks if c.get("restarts")]
    if restarted:
        lines += ["", "## Vehicle restarts", ""]
        lines += [f"- `{c['nodeid']}`: {'; '.join(c['restarts'])}" for c in restarted]
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


def findings_view(results: dict[str, Any]) -> list[str]:
    """Each defect once, with whether a waiver accepts it; then every waiver's state."""
    findings, waivers = results.get("findings", []), results.get("waivers", [])
    lines: list[str] = []
    if findings:
        base = results.get("baseline") or {}
        new = set(base.get("new", []))
        lines += ["", "## Findings", "", "| finding | origin | status | summary |",
                  "|---|---|---|---|"]  # fmt: skip
        for f in findings:
            w = f.get("waiver")
            status = f"WAIVED until {w['expires']}: {w['reason']}" if w else "open"
            if base:
                status += " (new)" if f["signature"] in new else " (known)"
            lines.append(f"| `{f['signature']}` | {f.get('origin', 'vehicle')} | {status} | "
                         f"{_cell(f['summary'])} |")  # fmt: skip
    if waivers:
        lines += ["", "## Waivers", "", "| waiver | state | expires | matched |",
                  "|---|---|---|---|"]  # fmt: skip
        for w in waivers:
            state = w["state"] + (" (speaks to no check of this run)" if w.get("no_check") else "")
            lines.append(f"| `{w['finding']}` | {state} | {w['expires']} | "
                         f"{len(w.get('matched', []))} |")  # fmt: skip
    return lines


def _stopped(results: dict[str, Any]) -> list[str]:
    why = (results.get("run") or {}).get("stopped")
    return [f"- the run stopped early: {why}"] if why else []


def _not_run(results: dict[str, Any]) -> list[str]:
    run = results.get("run") or {}
    collected, ran = run.get("collected"), len(results.get("checks", []))
    if collected is None or collected <= ran:
        return []
    return [f"- {collected - ran} of {collected} collected checks did not run"]


def _identity(ident: dict[str, Any]) -> str:
    if not ident:
        return "not reported"
    keys = ("autopilot", "vehicle_type", "flight_sw_version", "git_hash")
    return ", ".join(f"{k} {ident[k]}" for k in keys if ident.get(k) not in (None, ""))


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def checks_by_requirement(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    by_req: dict[str, list[dict[str, Any]]] = {}
    for c in results.get("checks", []):
        for rid in c.get("requirements", []):
            by_req.setdefault(rid, []).append(c)
    return by_req


def requirement_state(req: dict[str, Any], checks: list[dict[str, Any]]) -> tuple[str, str]:
    """(verified | failed | waived | not tested | not verifiable, why), the why spelled out
    where a person would ask "why not?", and the registry's note (a secondary source, a mapping
    that is an interpretation) after it."""
    state, why = _state(req, checks)
    return state, "; ".join(part for part in (why, req.get("note") or "") if part)


def _state(req: dict[str, Any], checks: list[dict[str, Any]]) -> tuple[str, str]:
    if not req.get("verifiable", True):
        return "not verifiable", f"not verifiable over MAVLink: {req.get('reason', '')}"
    by = {o: [c for c in checks if c["outcome"] == o] for o in VERDICT}
    if by["failed"] or by["error"]:
        return "failed", "failed by " + ", ".join(check_name(c) for c in by["failed"] + by["error"])
    if by["waived"]:
        return "waived", "; ".join(sorted({first_line(c) for c in by["waived"]}))
    if by["passed"] or by["flaky"]:
        notes = ["passed only on a retry"] * bool(by["flaky"])
        notes += ["some checks skipped"] * bool(by["skipped"])
        return "verified", "; ".join(notes)
    if by["skipped"] or by["interrupted"] or by["not_run"]:
        return "not tested", "; ".join(sorted({first_line(c) for c in checks}))
    return "not tested", "no check in this run verifies it"


def check_name(check: dict[str, Any]) -> str:
    return check["nodeid"].split("::")[-1]


def first_line(check: dict[str, Any]) -> str:
    """The check's name and the first line of its message (or its outcome), cut at 120."""
    lines = (check.get("message") or "").strip().splitlines()
    first = lines[0] if lines else check["outcome"]
    return f"{check_name(check)}: {first[:117] + '...' if len(first) > 120 else first}"


def requirements_view(results: dict[str, Any]) -> list[str]:
    registry = results.get("requirements", {})
    if not registry:
        return []
    by_req = checks_by_requirement(results)
    lines = ["## Requirements", "", "| requirement | title | state | why | by |",
             "|---|---|---|---|---|"]  # fmt: skip
    for rid, req in registry.items():
        checks = by_req.get(rid, [])
        state, why = requirement_state(req, checks)
        state = state.upper() if state == "failed" else state
        by = ", ".join(f"`{check_name(c)}`" for c in checks) or "—"
        lines.append(f"| {rid} | {_cell(req['title'])} | {state} | {_cell(why) or '—'} | {by} |")
    return lines


def _figure(m: dict[str, Any]) -> str:
    value = m["value"]
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    mark = "" if m["ok"] else " ✗"
    unit = f" {m['unit']}" if m["unit"] else ""
    bound = f" ({m['threshold']}{unit})" if m["threshold"] else ""
    return f"{m['name']}: {shown}{unit}{bound}{mark}"
