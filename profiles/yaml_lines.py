"""Parse YAML into plain data plus the line on which each value was written.

We compose the text to nodes (which carry marks) and build the data ourselves,
so that every field path maps to a line and duplicate keys are errors rather
than a silent "last one wins".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import FieldPath, Issue, ProfileError, issue


class _Loader(yaml.SafeLoader):
    """SafeLoader that yields only JSON-like values, so the schema judges everything.

    Dates stay text (the schema checks their format, so `2027-13-45` becomes a clear
    message instead of a ValueError), and .nan/.inf stay text (JSON has no such numbers).
    """

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float | str:
        value = super().construct_yaml_float(node)
        return value if math.isfinite(value) else node.value


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


@dataclass(frozen=True)
class Parsed:
    file: Path
    data: Any
    lines: dict[FieldPath, int]  # field path -> 1-based line; () is the document itself


def load(file: Path) -> Parsed:
    """Read and parse a YAML file; raise ProfileError if it cannot be read or parsed."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProfileError(issue(file, None, (), "not UTF-8 text; save it as UTF-8")) from None
    except OSError as e:
        raise ProfileError(issue(file, None, (), f"cannot read: {e.strerror}")) from None
    return parse(text, file)


def parse(text: str, file: Path) -> Parsed:
    """Parse one YAML document; raise ProfileError for bad YAML or duplicate keys."""
    loader = _Loader(text)
    builder = _Builder(file, loader)
    try:
        node = loader.get_single_node()
        data = builder.build(node, ()) if node is not None else None
    except yaml.MarkedYAMLError as e:
        raise ProfileError(issue(file, None, (), f"not valid YAML: {_describe(e)}")) from None
    finally:
        loader.dispose()
    if builder.issues:
        raise ProfileError(builder.issues)
    return Parsed(file, data, builder.lines)


def _describe(e: yaml.MarkedYAMLError) -> str:
    what = ", ".join(part for part in (e.context, e.problem) if part)
    mark = e.problem_mark or e.context_mark
    return f"{what} at line {mark.line + 1}, column {mark.column + 1}" if mark else what


class _Builder:
    """Turns composed nodes into dicts/lists/scalars, recording each path's line."""

    def __init__(self, file: Path, loader: _Loader) -> None:
        self.file, self.loader = file, loader
        self.lines: dict[FieldPath, int] = {(): 1}
        self.issues: list[Issue] = []
        self.active: set[int] = set()  # nodes being built, to catch `&a [*a]`

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        # setdefault: a mapping entry already holds its key's line, the better place to point at
        self.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self.active:  # an alias inside itself would recurse forever
            self._report(path, "an alias refers to itself; write the value out")
            return None
        if isinstance(node, yaml.ScalarNode):
            return self.loader.construct_object(node, deep=True)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self._report(path, "a key must be plain text; write `name: value`", line)
                continue
            key = key_node.value  # the text as written: `on:` stays "on", `1:` stays "1"
            here = (*path, key)
            if key in data:
                first = self.lines[here]
                self._report(here, f"duplicate key (first at line {first}); keep only one", line)
                continue
            self.lines[here] = line
            data[key] = self.build(value_node, here)
        return data

    def _report(self, path: FieldPath, text: str, line: int | None = None) -> None:
        self.issues.append(issue(self.file, line or self.lines[path], path, text))
