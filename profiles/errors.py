"""ProfileError and the one-line issues it is made of.

Every problem with a profile becomes an Issue that renders as
`<file>:<line>: <field.path>: <what is wrong>; <the fix>`, so a test engineer
reads the message and never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

FieldPath = tuple[str | int, ...]


def display(file: str | Path) -> str:
    """A file name as the user would type it: relative to the working directory if inside it."""
    path = Path(file)
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def dotted(path: FieldPath) -> str:
    """('waivers', 0, 'expires') -> 'waivers[0].expires'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


@dataclass(frozen=True)
class Issue:
    file: str
    line: int | None  # None when no line applies (the file is missing, or not YAML at all)
    path: str  # dotted field path; "" for the file as a whole
    text: str  # "<what is wrong>; <what was expected / the fix>"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.text}" if self.path else f"{where}: {self.text}"


def issue(file: str | Path, line: int | None, path: FieldPath, text: str) -> Issue:
    return Issue(display(file), line, dotted(path), text)


class ProfileError(Exception):
    """str(e) is the whole user-facing message (one line per issue); no traceback needed."""

    def __init__(self, issues: Issue | Iterable[Issue]) -> None:
        found = [issues] if isinstance(issues, Issue) else issues
        # Sorted by file then line, duplicates dropped (jsonschema can report a fact twice).
        self.issues: list[Issue] = sorted(set(found), key=lambda i: (i.file, i.line or 0, i.path))
        super().__init__("\n".join(map(str, self.issues)))
