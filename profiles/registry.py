"""The requirement registry: requirement IDs and the named sets a profile can select."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ProfileError, display
from .messages import to_issues
from .schema import errors
from .yaml_lines import load

REQUIREMENTS_FILE = Path(__file__).with_name("requirements.yaml")

_TEXT = {"type": "string", "pattern": r"\S"}


def _schema(set_names: list[str]) -> dict[str, Any]:
    """The registry file's schema; a requirement's `set` must be one of `set_names`."""
    entry = {"type": "object", "additionalProperties": False}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["sets", "requirements"],
        "properties": {
            "sets": {"type": "object", "additionalProperties": {
                **entry, "required": ["title", "source"],
                "properties": {"title": _TEXT, "source": _TEXT}}},
            "requirements": {"type": "object", "additionalProperties": {
                **entry, "required": ["set", "title", "source"],
                "properties": {"set": {**_TEXT, "enum": set_names} if set_names else _TEXT,
                               "title": _TEXT, "source": _TEXT, "note": _TEXT,
                               "verifiable": {"type": "boolean"}, "reason": _TEXT},
                # What cannot be verified over MAVLink must say why, so a report can say so.
                "if": {"properties": {"verifiable": {"const": False}}, "required": ["verifiable"]},
                "then": {"required": ["reason"]}}},
        },
    }


@dataclass(frozen=True)
class RequirementSet:
    name: str
    title: str
    source: str


@dataclass(frozen=True)
class Requirement:
    id: str
    set: str
    title: str
    source: str
    verifiable: bool = True  # over MAVLink; False means a report must say it was not verified
    reason: str | None = None  # why it is not verifiable
    note: str | None = None


class UnknownName(KeyError):
    """A KeyError whose str() is the plain message (KeyError's own would quote it)."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Registry:
    path: Path
    sets: dict[str, RequirementSet]
    requirements: dict[str, Requirement]  # by ID, in file order

    @property
    def ids(self) -> list[str]:
        return list(self.requirements)

    def get(self, id: str) -> Requirement:
        if id not in self.requirements:
            raise UnknownName(_unknown("requirement ID", id, self.ids, self.path))
        return self.requirements[id]

    def in_sets(self, names: Iterable[str]) -> list[Requirement]:
        """The requirements of the named sets, in file order."""
        wanted = set(names)
        if unknown := sorted(wanted - set(self.sets)):
            raise UnknownName(_unknown("requirement set", unknown[0], list(self.sets), self.path))
        return [r for r in self.requirements.values() if r.set in wanted]


def load_registry(path: str | Path | None = None) -> Registry:
    """Load requirements.yaml (the shipped one by default); raise ProfileError if malformed."""
    doc = load(Path(path) if path else REQUIREMENTS_FILE)
    sets = doc.data.get("sets") if isinstance(doc.data, dict) else None
    schema = _schema(list(sets) if isinstance(sets, dict) else [])
    if found := to_issues(errors(doc.data, schema), [doc], doc.data):
        raise ProfileError(found)
    return Registry(
        doc.file,
        {name: RequirementSet(name, **fields) for name, fields in doc.data["sets"].items()},
        {rid: Requirement(rid, **fields) for rid, fields in doc.data["requirements"].items()},
    )


def _unknown(what: str, name: str, known: list[str], path: Path) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {what} '{name}'; {hint}(see {display(path)})"
