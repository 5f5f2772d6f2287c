"""Read a profile file and every file it extends, in merge order."""

from __future__ import annotations

import difflib
from pathlib import Path

from .errors import FieldPath, ProfileError, display, issue
from .messages import to_issues
from .schema import errors, header_schema
from .yaml_lines import Parsed, load


def read_chain(path: Path) -> list[Parsed]:
    """The file at `path` last, after the files it extends (depth first, left to right).

    A file reached twice (a diamond) is merged once, at its first place, so a later
    sibling cannot silently undo what an earlier one changed on top of it.
    """
    order: list[Parsed] = []
    _visit(path.resolve(), (), order)
    return order


def _visit(path: Path, stack: tuple[Path, ...], order: list[Parsed]) -> None:
    doc = read_file(path)
    here = (*stack, path)
    for field, name, target in _extends(doc):
        line = doc.lines[field]
        if target in here:
            chain = " -> ".join(display(p) for p in (*here[here.index(target):], target))
            raise ProfileError(issue(path, line, field,
                                     f"extends cycle {chain}; remove one of these extends"))
        if not target.is_file():
            raise ProfileError(issue(path, line, field, _no_such_base(doc, name, target)))
        if all(done.file != target for done in order):
            _visit(target, here, order)
    order.append(doc)


def read_file(path: Path) -> Parsed:
    """Parse one file and check what it needs on its own: a mapping, `skyproof:`, `extends:`."""
    doc = load(path)
    if not isinstance(doc.data, dict):
        shape = "a list" if isinstance(doc.data, list) else "a single value"
        what = "an empty file" if doc.data is None else f"{shape} at the top level"
        raise ProfileError(issue(path, 1, (), f"{what}; a profile is a mapping that starts "
                                              "with `skyproof: 1`"))
    if found := to_issues(errors(doc.data, header_schema()), [doc], doc.data):
        raise ProfileError(found)
    return doc


def _extends(doc: Parsed) -> list[tuple[FieldPath, str, Path]]:
    """(field path, name as written, resolved file) per `extends` entry; relative to the file."""
    value = doc.data.get("extends", [])
    named = [(("extends",), value)] if isinstance(value, str) else [
        (("extends", i), name) for i, name in enumerate(value)]
    return [(field, name, (doc.file.parent / name).resolve()) for field, name in named]


def _no_such_base(doc: Parsed, name: str, target: Path) -> str:
    folder = doc.file.parent
    nearby = sorted(p.relative_to(folder).as_posix() for pattern in ("*.yaml", "*/*.yaml")
                    for p in folder.glob(pattern) if p != doc.file)
    close = difflib.get_close_matches(name, nearby, n=1)
    hint = f"did you mean '{close[0]}'?" if close else "paths are relative to this file"
    return f"no such file '{name}' (looked for {display(target)}); {hint}"
