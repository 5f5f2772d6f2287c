"""report.html is one self-contained page a person opens: findings (new / known / waived), the
requirement matrix, every check with its figures and embedded plots, links into the run folder,
and nothing fetched from a network. Proven on a synthetic run, then in a real browser (the
system's Chromium driven by Playwright, offline). Allure's categories and environment too."""

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from reports import html as report_html
from reports.allure_env import CATEGORIES, write_allure_extras
from reports.html import build_html
from reports.measurement import Series
from reports.plots import plot_series

CHROMIUM = Path("/usr/bin/chromium")
EVIL = '<script>alert("x")</script> & "quoted"'
SIG_NEW = "security/test_param_range: stored-out-of-range: FS_GCS_TIMEOUT"
SIG_KNOWN = "security/test_param_range: stored-out-of-range: LAND_SPEED"
SIG_WAIVED = "security/test_fuzz: vehicle-died: DO_SET_MODE custom mode NaN"
PARAM = "suites/security/test_robust.py::test_param_range"
FUZZ = "suites/security/test_malformed.py::test_fuzz"
HB = "suites/basic/test_heartbeat.py::test_heartbeat_rate"


def _finding(sig: str, check: str, waiver: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"signature": sig, "check": check, "kind": sig.split(": ")[1], "origin": "vehicle",
            "summary": f"{sig.split(': ')[-1]} {EVIL}", "waiver": waiver,
            "evidence": {"message": "m", "tlog": None,
                         "reproducer": "reports/runs/r1/reproducers/fuzz.json"}}  # fmt: skip


def synthetic(run_dir: Path) -> dict[str, Any]:
    """A run as conftest's RunRecord writes it: paths relative to the repository root, in a run
    folder named r1 (here: a tmp folder, so they resolve by name)."""
    for sub, name in (("tlogs", "hb.tlog"), ("reproducers", "fuzz.json")):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
        (run_dir / sub / name).write_bytes(b"\xfd")
    series = Series("heartbeat rate", "Hz", [(t / 10, 1 + (t % 3) / 10) for t in range(50)],
                    (0.8, 1.2))  # fmt: skip
    plot_series(series, run_dir / "plots" / "hb-rate.png", HB)
    waiver = {"pattern": "security/test_fuzz: *", "reason": "ArduPilot issue 123",
              "expires": "2099-03-31"}  # fmt: skip
    meas = [
        {"name": "rate", "value": 1.0, "unit": "Hz", "threshold": "0.8..1.2", "ok": True},
        {"name": "stored", "value": 99.5, "unit": "s", "threshold": "<= 60", "ok": False},
    ]
    checks = [
        {"nodeid": HB, "outcome": "passed", "duration_s": 2.0, "message": "",
         "requirements": ["MAV-HEARTBEAT"], "measurements": meas[:1],
         "tlog": "reports/runs/r1/tlogs/hb.tlog", "plots": ["reports/runs/r1/plots/hb-rate.png"],
         "reruns": 0, "findings": []},
        {"nodeid": PARAM, "outcome": "failed", "duration_s": 3.0,
         "message": f"2 parameters stored out of range\n{EVIL}", "requirements": ["ROB-PARAM"],
         "measurements": meas, "tlog": None, "plots": [], "reruns": 0,
         "findings": [SIG_NEW, SIG_KNOWN]},
        {"nodeid": FUZZ, "outcome": "waived", "duration_s": 9.0,
         "message": "WAIVED 1 finding(s)\nDO_SET_MODE NaN killed the vehicle",
         "requirements": ["ROB-MALFORMED"], "measurements": [], "tlog": None, "plots": [],
         "reruns": 0, "findings": [SIG_WAIVED]},
        {"nodeid": "suites/radio/test_range.py::test_out", "outcome": "skipped",
         "duration_s": 0, "message": "no range points", "requirements": ["RAD-RANGE"],
         "measurements": [], "tlog": None, "plots": [], "reruns": 0, "findings": []},
    ]  # fmt: skip
    req = {"verifiable": True}
    return {
        "skyproof": 2, "run": {"id": "r1", "shard": None}, "verdict": "FAIL", "exit_status": 1,
        "profile": {"name": "gate — sim", "path": "profiles/gate.yaml", "vehicle": "{}",
                    "vehicle_hash": "vh123", "verification_hash": "qh456"},
        "vehicle_identity": {"autopilot": "ArduPilot", "flight_sw_version": "4.7.0-dev",
                             "git_hash": "90700977"},
        "counts": {"passed": 1, "failed": 1, "error": 0, "waived": 1, "skipped": 1, "flaky": 0},
        "requirements": {
            "MAV-HEARTBEAT": {"id": "MAV-HEARTBEAT", "title": "heartbeat", **req},
            "ROB-PARAM": {"id": "ROB-PARAM", "title": "parameter range", **req},
            "ROB-MALFORMED": {"id": "ROB-MALFORMED", "title": "malformed frames", **req},
            "RAD-RANGE": {"id": "RAD-RANGE", "title": "range", **req},
            "MAV-NONE": {"id": "MAV-NONE", "title": "nothing checks it", **req},
            "RID-EMIT": {"id": "RID-EMIT", "title": "remote id broadcast", "verifiable": False,
                         "reason": "a radio broadcast, not a MAVLink message"},
        },
        "checks": checks,
        "findings": [_finding(SIG_NEW, PARAM), _finding(SIG_KNOWN, PARAM),
                     _finding(SIG_WAIVED, FUZZ, waiver)],
        "waivers": [
            {"finding": "security/test_fuzz: *", "reason": "ArduPilot issue 123",
             "expires": "2099-03-31", "state": "applied", "matched": [SIG_WAIVED]},
            {"finding": "basic/*: gone", "reason": "fixed long ago", "expires": "2099-01-01",
             "state": "stale", "matched": []},
            {"finding": "link/*", "reason": "old", "expires": "2020-01-01", "state": "expired",
             "matched": []},
        ],
        "baseline": {"run": "r0", "new": [SIG_NEW], "fixed": [], "persisting": [SIG_KNOWN]},
    }  # fmt: skip


class Elements(HTMLParser):
    """Every start tag's attributes, and the text inside each <tr>, for assertions."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.rows: list[tuple[dict[str, str], str]] = []
        self._row: tuple[dict[str, str], list[str]] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag == "tr":
            self._row = (self.tags[-1][1], [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row is not None:
            self.rows.append((self._row[0], " ".join(self._row[1])))
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self._row[1].append(data)

    def row(self, cls: str, key: str, value: str) -> str:
        (text,) = [t for a, t in self.rows if cls in a.get("class", "").split()
                   and a.get(key) == value]  # fmt: skip
        return text


@pytest.fixture
def page(tmp_path: Path) -> tuple[str, Path]:
    run_dir = tmp_path / "r1"
    text = build_html(synthetic(run_dir), run_dir)
    (run_dir / "report.html").write_text(text, encoding="utf-8")
    return text, run_dir


def test_everything_from_the_run_is_escaped(page):
    text, _ = page
    assert "<script>alert" not in text and text.count("<script>") == 1  # the page's own filter
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quoted&quot;" in text
    assert re.search(r"<pre>2 parameters stored out of range\n&lt;script&gt;", text)


def test_each_finding_is_a_row_with_its_status_new_known_or_waived(page):
    dom = Elements(page[0])
    sigs = [a["data-signature"] for t, a in dom.tags if "finding" in a.get("class", "").split()]
    assert sigs == [SIG_NEW, SIG_KNOWN, SIG_WAIVED]
    status = {a["data-signature"]: a["data-status"] for a, _ in dom.rows if "data-status" in a}
    assert status == {SIG_NEW: "new", SIG_KNOWN: "known", SIG_WAIVED: "waived"}
    waived = dom.row("finding", "data-signature", SIG_WAIVED)
    assert "ArduPilot issue 123" in waived and "2099-03-31" in waived and "fuzz.json" in waived


def test_without_a_baseline_an_unwaived_finding_is_open(tmp_path):
    results = synthetic(tmp_path) | {"baseline": None}
    dom = Elements(build_html(results, tmp_path))
    assert {a["data-status"] for a, _ in dom.rows if "data-status" in a} == {"open", "waived"}


def test_waivers_show_their_state(page):
    dom = Elements(page[0])
    states = [a["data-state"] for t, a in dom.tags if a.get("class") == "waiver"]
    assert states == ["applied", "stale", "expired"]
    assert SIG_WAIVED in dom.row("waiver", "data-state", "applied")


def test_the_requirement_matrix_says_why(page):
    dom = Elements(page[0])
    state = {t.split()[0]: a["data-state"] for a, t in dom.rows if a.get("class") == "requirement"}
    assert state == {"MAV-HEARTBEAT": "verified", "ROB-PARAM": "failed",
                     "ROB-MALFORMED": "waived", "RAD-RANGE": "not tested",
                     "MAV-NONE": "not tested", "RID-EMIT": "not verifiable"}  # fmt: skip
    assert "not a MAVLink message" in dom.row("requirement", "data-state", "not verifiable")
    assert "test_param_range" in dom.row("requirement", "data-state", "failed")
    assert "test_fuzz: WAIVED 1 finding(s)" in dom.row("requirement", "data-state", "waived")
    rows = {t.split()[0]: t for a, t in dom.rows if a.get("class") == "requirement"}
    assert "no range points" in rows["RAD-RANGE"]
    assert "no check in this run" in rows["MAV-NONE"]


def test_checks_show_verdict_message_figures_plots_and_links(page):
    text, run_dir = page
    dom = Elements(text)
    (img,) = [a for t, a in dom.tags if t == "img"]
    assert img["src"].startswith("data:image/png;base64,")
    embedded = Image.open(io.BytesIO(base64.b64decode(img["src"].split(",", 1)[1])))
    original = Image.open(run_dir / "plots" / "hb-rate.png")
    assert embedded.size == original.size and embedded.mode == "P"  # made small: 32 colours
    hrefs = {a["href"] for t, a in dom.tags if t == "a" and not a["href"].startswith("#")}
    assert hrefs == {"tlogs/hb.tlog", "reproducers/fuzz.json"}
    assert all((run_dir / h).is_file() for h in hrefs)
    checks = {a["id"]: a for t, a in dom.tags if t == "details"}
    assert len(checks) == 4 and "open" not in checks["check-0"] and "open" in checks["check-1"]
    assert '<td>99.5</td><td>s</td><td>&lt;= 60</td><td><span class="bad">NO</span>' in text
    assert "vh123" in text and "qh456" in text and "90700977" in text


def test_plots_beyond_the_page_budget_are_linked_not_embedded(tmp_path, monkeypatch):
    monkeypatch.setattr(report_html, "PLOT_BUDGET", 100)
    dom = Elements(build_html(synthetic(tmp_path / "r1"), tmp_path / "r1"))
    assert not [a for t, a in dom.tags if t == "img"]
    assert "plots/hb-rate.png" in {a.get("href") for t, a in dom.tags if t == "a"}


def test_nothing_is_fetched_from_a_network(page):
    text, _ = page
    assert "http://" not in text and "https://" not in text
    dom = Elements(text)
    for tag, attrs in dom.tags:
        for key in ("src", "href"):
            if key in attrs and not attrs[key].startswith(("data:", "#")):
                assert tag == "a" and "://" not in attrs[key], (tag, attrs)


def test_a_run_with_no_checks_still_renders(tmp_path):
    text = build_html({"verdict": "NO CHECKS", "checks": []}, tmp_path)
    assert "NO CHECKS" in text and "Checks (0)" in text


def test_allure_categories_and_environment(tmp_path):
    write_allure_extras(tmp_path, synthetic(tmp_path / "r1"))
    cats = {c["name"]: c for c in json.loads((tmp_path / "categories.json").read_text())}
    assert cats == {c["name"]: c for c in CATEGORIES}
    assert cats["Vehicle findings"]["matchedStatuses"] == ["failed"]
    assert cats["Harness errors"]["matchedStatuses"] == ["broken"]
    waived = cats["Waived findings"]
    assert waived["matchedStatuses"] == ["skipped"]
    for message in ("WAIVED 1 finding(s): x\nthe failure", "XFAIL WAIVED 2 finding(s)"):
        assert re.fullmatch(waived["messageRegex"], message)  # Java matches() is a full match
    assert not re.fullmatch(waived["messageRegex"], "the profile declares no radio")
    env = (tmp_path / "environment.properties").read_text("ascii").splitlines()
    assert "profile=gate \\u2014 sim" in env
    for line in ("vehicle_hash=vh123", "verification_hash=qh456",
                 "vehicle.autopilot=ArduPilot", "vehicle.git_hash=90700977"):  # fmt: skip
        assert line in env


def _browser_missing() -> str:
    missing = [] if CHROMIUM.exists() else [str(CHROMIUM)]
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if not missing:
        return ""
    return (f"needs {' and '.join(missing)}: `apt-get install chromium` (Debian's package; "
            "Playwright's own browser download is not used) and `.venv/bin/pip install "
            "playwright` (in the dev extra); .ci/run does both")  # fmt: skip


@pytest.mark.skipif(bool(_browser_missing()), reason=_browser_missing() or "-")
def test_the_page_in_a_real_browser_offline(page, tmp_path):
    from playwright.sync_api import sync_playwright

    _, run_dir = page
    requests: list[str] = []
    errors: list[str] = []
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            tab = browser.new_page(viewport={"width": 1200, "height": 900})
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(str(e)))

            def block(route: Any) -> None:  # file:// is the page itself; anything else is not
                if not route.request.url.startswith(("file://", "data:")):
                    requests.append(route.request.url)
                    route.abort()
                else:
                    route.continue_()

            tab.route("**/*", block)
            tab.goto((run_dir / "report.html").as_uri())
            rows = tab.locator("tr.finding")
            sigs = [rows.nth(i).get_attribute("data-signature") for i in range(rows.count())]
            assert sigs == [SIG_NEW, SIG_KNOWN, SIG_WAIVED]
            assert tab.locator("img").evaluate("i => i.naturalWidth") > 100  # the plot decoded
            tab.fill("#filter", "LAND_SPEED")  # the filter works (and the page without it)
            assert rows.evaluate_all("rs => rs.filter(r => !r.hidden).length") == 1
            tab.fill("#filter", "")
            tab.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            shot = tmp_path / "report.png"
            tab.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert requests == [] and errors == []
    assert shot.stat().st_size > 10_000
