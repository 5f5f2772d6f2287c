"""Allure's categories and environment for a run, from its results.

Allure's default categories ("product defects", "test defects") do not say what a firmware team
asks first: is this the vehicle, a defect we accepted, or the harness itself? And its
Environment widget is where a reader of the Allure report looks for *what* was tested, so it
gets the vehicle's identity and the profile hashes that make two runs comparable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Allure matches messageRegex against the whole message (Java's String.matches) and `.` stops
# at a newline, hence [\s\S]*. allure-pytest prefixes an xfail's reason with "XFAIL ".
CATEGORIES = [
    {
        "name": "Vehicle findings",
        "description": "A check failed: the vehicle has at least one unwaived finding.",
        "matchedStatuses": ["failed"],
    },
    {
        "name": "Waived findings",
        "description": "Every finding of the check is waived by the profile (reason, expiry).",
        "matchedStatuses": ["skipped"],
        "messageRegex": r"(XFAIL )?WAIVED[\s\S]*",
    },
    {
        "name": "Harness errors",
        "description": "The check could not run to a verdict: a setup, teardown or harness error.",
        "matchedStatuses": ["broken"],
    },
]

IDENTITY = ("autopilot", "vehicle_type", "flight_sw_version", "git_hash", "board_version",
            "vendor_id", "product_id", "uid")  # fmt: skip


def write_allure_extras(allure_dir: Path, results: dict[str, Any]) -> None:
    """Write categories.json and environment.properties into the run's allure-results."""
    allure_dir.mkdir(parents=True, exist_ok=True)
    (allure_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), "utf-8")
    (allure_dir / "environment.properties").write_text(environment(results), "ascii")


def environment(results: dict[str, Any]) -> str:
    """environment.properties text. Java reads .properties as ISO-8859-1, so anything else is
    written as \\uXXXX (profile names have em dashes), and values are kept to one line."""
    prof, ident = results.get("profile", {}), results.get("vehicle_identity") or {}
    pairs: list[tuple[str, Any]] = [(f"vehicle.{k}", ident.get(k)) for k in IDENTITY]
    pairs += [("profile", prof.get("name")), ("profile.path", prof.get("path")),
              ("vehicle_hash", prof.get("vehicle_hash")),
              ("verification_hash", prof.get("verification_hash")),
              ("run", (results.get("run") or {}).get("id"))]  # fmt: skip
    return "".join(
        f"{_escape(k, key=True)}={_escape(str(v))}\n" for k, v in pairs if v not in (None, "")
    )


def _escape(text: str, key: bool = False) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\n\r\t\f":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}[ch])
        elif ch in "=:#!" or (ch == " " and (key or i == 0)):
            out.append("\\" + ch)
        elif not 0x20 <= ord(ch) < 0x7F:
            data = ch.encode("utf-16-be")  # a surrogate pair beyond the BMP
            out += [f"\\u{data[j]:02x}{data[j + 1]:02x}" for j in range(0, len(data), 2)]
        else:
            out.append(ch)
    return "".join(out)
