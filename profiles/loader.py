"""load_profile: a profile file (and what it extends) -> a validated Profile with defaults."""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from .errors import Issue, ProfileError, display, issue
from .merge import merge_all
from .messages import to_issues
from .registry import load_registry
from .schema import errors, fill_defaults, profile_schema
from .sources import read_chain

__all__ = ["Profile", "ProfileError", "Waiver", "load_profile"]


@dataclass(frozen=True)
class Waiver:
    finding: str  # a finding signature; `*` in it matches any text
    reason: str
    expires: date  # last day the waiver applies

    def expired(self, today: date) -> bool:
        return today > self.expires

    def matches(self, signature: str) -> bool:
        """The signature exactly, or the pattern with `*` standing for any text. Nothing else is
        special: signatures hold `[`, `?` and `:` of their own (parametrized checks)."""
        return _pattern(self.finding).fullmatch(signature) is not None

    def speaks_to(self, check: str) -> bool:
        """Whether a finding of `check` (`suite/test_name[params]`) could match this waiver."""
        return _pattern(self.finding.split(": ", 1)[0]).fullmatch(check) is not None


@functools.cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.S)


@dataclass(frozen=True)
class Profile:
    path: Path
    name: str
    data: dict[str, Any]  # merged, validated, defaults filled
    vehicle: dict[str, Any]
    link: dict[str, Any]
    suites: dict[str, dict[str, Any]]
    requirements: list[str]
    waivers: list[Waiver]
    strict_waivers: bool  # a waiver that matched nothing in a run fails the run
    sources: list[Path]  # every file merged, in merge order; `path` is last

    def vehicle_hash(self) -> str:
        """Identifies the "where" half: same hash, same vehicle and link settings."""
        return _digest({"vehicle": self.vehicle, "link": self.link})

    def verification_hash(self) -> str:
        """Identifies the "what" half: same hash, same checks, thresholds and waivers."""
        data = self.data
        keys = ("suites", "requirements", "waivers", "strict_waivers")
        return _digest({k: data[k] for k in keys})


def load_profile(path: str | Path) -> Profile:
    """Load, merge, validate and complete a profile; raise ProfileError with every problem."""
    path = Path(path)
    if not path.is_file():
        raise ProfileError(_no_such_profile(path))
    docs = read_chain(path)
    data = merge_all(docs)
    schema = profile_schema(_requirement_sets())
    if found := to_issues(errors(data, schema), docs, data):
        raise ProfileError(found)
    fill_defaults(data, schema)
    return Profile(
        path=docs[-1].file,
        name=data["name"],
        data=data,
        vehicle=data["vehicle"],
        link=data["link"],
        suites=data["suites"],
        requirements=data["requirements"],
        waivers=[Waiver(w["finding"], w["reason"], date.fromisoformat(w["expires"]))
                 for w in data["waivers"]],
        strict_waivers=data["strict_waivers"],
        sources=[doc.file for doc in docs],
    )


@functools.cache
def _requirement_sets() -> tuple[str, ...]:
    # The shipped registry does not change while we run; parsing it is most of a load's time.
    return tuple(load_registry().sets)


def _no_such_profile(path: Path) -> Issue:
    if path.is_dir():
        return issue(path, None, (), "is a folder; give a profile file inside it")
    folder = path.parent if path.parent.is_dir() else Path(__file__).parent
    found = _profiles_in(folder) or _profiles_in(Path(__file__).parent)
    close = difflib.get_close_matches(display(path), found, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    available = ", ".join(found) or "none"
    return issue(path, None, (), f"no such profile file; {hint}available: {available}")


def _profiles_in(folder: Path) -> list[str]:
    """YAML files in `folder` that look like profiles (a top-level `skyproof:` key)."""
    def is_profile(file: Path) -> bool:
        try:
            return bool(re.search(r"^skyproof:", file.read_text("utf-8", errors="replace"), re.M))
        except OSError:  # a dangling link or an unreadable file is simply not offered
            return False

    return sorted(display(p) for p in folder.glob("*.yaml") if is_profile(p))


def _digest(value: Any) -> str:
    """12 hex digits of sha256 over canonical JSON; 2 and 2.0 hash alike."""
    text = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
