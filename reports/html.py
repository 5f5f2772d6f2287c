"""report.html: the run as one page a person opens, from results.json alone.

One self-contained file, because it is mailed, attached to CI jobs and opened on machines with
no network: no CDN, no external CSS or JS, plots embedded as data: URIs. Tlogs and reproducers
are too big to embed and are linked relative to the run folder, so the links work wherever the
folder is unpacked. Every value from the run is escaped: failure text quotes vehicle output and
fuzzed input. The page works without JS; the little there is only filters rows.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from reports.summary import (
    VERDICT,
    check_name,
    checks_by_requirement,
    requirement_state,
)

MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
RUN_SUBFOLDERS = ("tlogs", "reproducers", "plots")
PLOT_BUDGET = 1_600_000  # bytes of base64 for plots; the text of a 55-check run is ~0.1 MB

CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:72em;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0;width:100%}th,td{border:1px solid #ccc;
padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f3f3f3}
.fixed{table-layout:fixed}td{overflow-wrap:break-word}#overview th{white-space:nowrap;width:1%}
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;white-space:pre-wrap}
.badge{display:inline-block;padding:0 .5em;border-radius:.3em;font-weight:bold;color:#fff;
background:#777}.badge:is(.PASS,.verified,.applied){background:#2e7d32}
.badge:is(.FAIL,.ERROR,.failed,.new,.expired,.INCOMPLETE,.INTERRUPTED){background:#c62828}
.badge:is(.WAIVED,.waived,.FLAKY,.stale){background:#ef6c00}.badge:is(.known,.open){
background:#5d4037}details.check{border:1px solid #ddd;border-left:.4em solid #2e7d32;
margin:.3em 0;padding:.3em .6em}details:is(.failed,.error,.interrupted){border-left-color:
#c62828}details:is(.waived,.flaky){border-left-color:#ef6c00}details.skipped{
border-left-color:#777}summary{cursor:pointer}img{max-width:100%;display:block}
.bad{color:#c62828;font-weight:bold}"""

JS = """const f=document.getElementById('filter');f.hidden=false;f.addEventListener('input',()=>{
const q=f.value.toLowerCase();document.querySelectorAll('tr.finding,details.check').forEach(
el=>{el.hidden=q!==''&&!el.textContent.toLowerCase().includes(q);});});"""


def build_html(results: dict[str, Any], run_dir: Path) -> str:
    """The whole page. `run_dir` is where report.html goes: plots are read from its `plots`
    folder and links are made relative to it."""
    checks, plots = results.get("checks", []), _Plots(run_dir)
    anchors = {c["nodeid"]: f"check-{i}" for i, c in enumerate(checks)}
    title = f"skyproof run: {results.get('profile', {}).get('name', '?')}"
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>",
        '<meta name=viewport content="width=device-width"><link rel=icon href="data:,">',
        f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1>",
        *_overview(results),
        '<input id=filter type=search placeholder="filter findings and checks" hidden>',
        *_findings(results, anchors, run_dir),
        *_waivers(results),
        *_requirements(results, anchors),
        f"<h2>Checks ({len(checks)})</h2>",
        *(_check(c, anchors[c["nodeid"]], plots) for c in checks),
        f"<script>{JS}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _e(value: Any) -> str:
    return "" if value is None else html.escape(str(value), quote=True)


def _badge(text: str, cls: str = "") -> str:
    return f'<span class="badge {_e(cls or text)}">{_e(text)}</span>'


def _table(head: list[str], rows: list[str], widths: tuple[int, ...] = ()) -> list[str]:
    """With `widths` (%), a fixed layout: long signatures and node ids wrap, not overflow."""
    ths = [f'<th style="width:{w}%">' for w in widths] or ["<th>"] * len(head)
    return ["<table class=fixed><tr>" if widths else "<table><tr>",
            *(f"{th}{_e(h)}</th>" for th, h in zip(ths, head, strict=True)), "</tr>", *rows,
            "</table>"]  # fmt: skip


def _overview(results: dict[str, Any]) -> list[str]:
    prof, run = results.get("profile", {}), results.get("run") or {}
    counts = results.get("counts", {})
    shown = ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in VERDICT if counts.get(k))
    shown = shown or "no checks ran"
    ident = results.get("vehicle_identity") or {}
    times = f"{results.get('started', '?')} / {results.get('finished', '?')}"
    rows = [("run", run.get("id")), ("shard", run.get("shard")), ("started / finished", times),
            ("stopped early", run.get("stopped")),
            ("profile", f"{prof.get('name', '?')} ({prof.get('path', '?')})"),
            ("vehicle", prof.get("vehicle")), ("vehicle hash", prof.get("vehicle_hash")),
            ("verification hash", prof.get("verification_hash")),
            ("baseline run", (results.get("baseline") or {}).get("run")),
            *((k.replace("_", " "), v) for k, v in ident.items())]  # fmt: skip
    if not ident:
        rows.append(("vehicle identity", "not reported"))
    verdict = str(results.get("verdict", "?"))
    return [f"<p id=verdict>{_badge(verdict, verdict.replace(' ', '-'))} {_e(shown)}</p>",
            "<table id=overview>", *(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows
                         if v not in (None, "")), "</table>"]  # fmt: skip


def finding_status(finding: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    """waived, else new / known against the baseline run, else open (no baseline to ask)."""
    if finding.get("waiver"):
        return "waived"
    if baseline:
        return "new" if finding["signature"] in set(baseline.get("new", [])) else "known"
    return "open"


def _findings(results: dict[str, Any], anchors: dict[str, str], run_dir: Path) -> list[str]:
    findings, base = results.get("findings", []), results.get("baseline")
    out = [f"<h2>Findings ({len(findings)})</h2>"]
    if not findings:
        return [*out, "<p>None: no check failed.</p>"]
    rows = []
    for f in findings:
        status, w = finding_status(f, base), f.get("waiver")
        note = f"<br>{_e(w.get('reason'))} (until {_e(w.get('expires'))})" if w else ""
        if status == "waived" and base:
            note += " — new since baseline" if f["signature"] in base.get("new", []) else ""
        if f.get("expired_waiver"):
            note += f"<br>waiver expired {_e(f['expired_waiver'].get('expires'))}"
        ev = f.get("evidence") or {}
        links = " ".join(x for x in (_link(ev.get("reproducer"), run_dir),
                                     _link(ev.get("tlog"), run_dir)) if x)  # fmt: skip
        check = f'<a href="#{anchors[f["check"]]}">' if f.get("check") in anchors else "<a>"
        rows.append(
            f'<tr class="finding {_e(status)}" data-signature="{_e(f["signature"])}" '
            f'data-status="{_e(status)}"><td><code>{_e(f["signature"])}</code></td>'
            f"<td>{check}<code>{_e(f.get('check'))}</code></a></td><td>{_e(f.get('kind'))}</td>"
            f"<td>{_e(f.get('origin', 'vehicle'))}</td><td>{_e(f.get('summary'))}</td>"
            f"<td>{_badge(status)}{note}</td><td>{links}</td></tr>"
        )
    head = ["signature", "check", "kind", "origin", "summary", "status", "evidence"]
    return [*out, *_table(head, rows, (23, 21, 9, 7, 19, 12, 9))]


def _waivers(results: dict[str, Any]) -> list[str]:
    waivers = results.get("waivers", [])
    if not waivers:
        return []
    rows = [f'<tr class="waiver" data-state="{_e(w.get("state"))}"><td><code>'
            f"{_e(w.get('finding'))}</code></td><td>{_badge(str(w.get('state')))}</td>"
            f"<td>{_e(w.get('reason'))}</td><td>{_e(w.get('expires'))}</td><td>"
            + "<br>".join(f"<code>{_e(s)}</code>" for s in w.get("matched", [])) + "</td></tr>"
            for w in waivers]  # fmt: skip
    head = ["waiver", "state", "reason", "expires", "matched"]
    return ["<h2>Waivers</h2>", *_table(head, rows, (24, 9, 28, 10, 29))]


def _requirements(results: dict[str, Any], anchors: dict[str, str]) -> list[str]:
    registry = results.get("requirements", {})
    by_req = checks_by_requirement(results)
    rows = []
    for rid, req in registry.items():
        checks = by_req.get(rid, [])
        state, why = requirement_state(req, checks)
        by = ", ".join(f'<a href="#{anchors[c["nodeid"]]}">{_e(check_name(c))}</a>' for c in checks)
        rows.append(f'<tr class="requirement" data-state="{_e(state)}"><td>{_e(rid)}</td>'
                    f"<td>{_e(req.get('title'))}</td><td>{_badge(state, state.replace(' ', '-'))}"
                    f"</td><td>{_e(why)}</td><td>{by or '—'}</td></tr>")  # fmt: skip
    if not rows:
        return []
    head = ["requirement", "title", "state", "why", "by"]
    return ["<h2>Requirements</h2>", *_table(head, rows, (13, 22, 10, 30, 25))]


def _check(c: dict[str, Any], anchor: str, plots: _Plots) -> str:
    verdict = VERDICT.get(c["outcome"], c["outcome"].upper())
    facts = [f"{c.get('duration_s', 0):.1f} s", "requirements: "
             + _e(", ".join(c.get("requirements", [])) or "—")]  # fmt: skip
    if c.get("reruns"):
        facts.append(f"reruns: {_e(c['reruns'])}")
    if c.get("tlog"):
        facts.append("tlog: " + _link(c["tlog"], plots.run_dir))
    opened = "" if c["outcome"] == "passed" else " open"  # what a person came to read
    parts = [f'<details class="check {_e(c["outcome"])}" id="{anchor}"{opened}><summary>'
             f"{_badge(verdict)} <code>{_e(c['nodeid'])}</code></summary>"
             f"<p>{' · '.join(facts)}</p>"]  # fmt: skip
    parts += [f"<p>finding: <code>{_e(s)}</code></p>" for s in c.get("findings", [])]
    parts += [f"<p>restart: {_e(r)}</p>" for r in c.get("restarts", [])]
    if c.get("message"):
        parts.append(f"<pre>{_e(c['message'])}</pre>")
    if c.get("measurements"):
        parts += _table(["figure", "value", "unit", "threshold", "ok"], [
            f"<tr><td>{_e(m['name'])}</td><td>{_e(_value(m['value']))}</td><td>{_e(m['unit'])}"
            f"</td><td>{_e(m['threshold'])}</td><td>"
            + ("yes" if m["ok"] else '<span class="bad">NO</span>') + "</td></tr>"
            for m in c["measurements"]])  # fmt: skip
    parts += [plots.html(p) for p in c.get("plots", [])]
    return "".join(parts) + "</details>"


class _Plots:
    """Plots as data: URIs, made small, until the page's budget is spent; then links. A report
    is mailed and uploaded: it stays under ~2 MB however many plots a run draws."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir, self.left = run_dir, PLOT_BUDGET

    def html(self, path: str) -> str:
        name = PurePath(path).name
        for found in (self.run_dir / "plots" / name, self.run_dir / path, Path(path)):
            if found.is_file():
                data = base64.b64encode(_small(found)).decode("ascii")
                if len(data) > self.left:
                    return (
                        f"<p>plot (not embedded: the page is full): {_link(path, self.run_dir)}</p>"
                    )
                self.left -= len(data)
                mime = MIME.get(found.suffix.lower(), "application/octet-stream")
                return f'<img alt="{_e(name)}" src="data:{mime};base64,{data}">'
        return f"<p>plot <code>{_e(name)}</code> is missing from the run folder</p>"


def _small(path: Path) -> bytes:
    """A PNG as 32 colours (a line plot has few; ~1/3 the bytes, ~5 ms), else as it is."""
    raw = path.read_bytes()
    if path.suffix.lower() != ".png":
        return raw
    try:
        from PIL import Image  # Pillow comes with matplotlib

        out = io.BytesIO()
        Image.open(io.BytesIO(raw)).quantize(32, Image.Quantize.FASTOCTREE).save(out, "PNG")
    except (ImportError, OSError, ValueError):
        return raw
    return min(out.getvalue(), raw, key=len)


def _link(path: str | None, run_dir: Path) -> str:
    """A link relative to the run folder, or the path as text when the file is not in it."""
    if not path:
        return ""
    p = PurePath(path)
    rel: PurePath | None = None
    if not p.is_absolute() and (run_dir / p).is_file():
        rel = p  # already relative to the run folder
    else:
        try:  # relative to the working directory (the repository root), or absolute
            rel = Path(path).resolve().relative_to(run_dir.resolve())
        except (ValueError, OSError):
            if run_dir.name in p.parts[:-1]:
                rel = PurePath(*p.parts[len(p.parts) - p.parts[::-1].index(run_dir.name) :])
            elif p.parent.name in RUN_SUBFOLDERS and (run_dir / p.parent.name / p.name).is_file():
                rel = PurePath(p.parent.name, p.name)  # e.g. a shard's, copied into a merge
    if rel is None:
        return f"<code>{_e(path)}</code> (outside the run folder)"
    return f'<a href="{_e(quote(rel.as_posix()))}">{_e(p.name)}</a>'


def _value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
