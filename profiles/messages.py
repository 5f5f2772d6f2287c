"""Turn jsonschema's errors into `<file>:<line>: <field.path>: <problem>; <fix>` issues."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from jsonschema import ValidationError

from .errors import FieldPath, Issue, dotted, issue
from .merge import locate
from .schema import Relation
from .yaml_lines import Parsed

_KINDS = {
    "number": "a number",
    "integer": "an integer",
    "string": "text",
    "object": "a mapping",
    "array": "a list",
    "boolean": "true or false",
}
_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def to_issues(errors: Iterable[ValidationError], docs: Sequence[Parsed], data: Any) -> list[Issue]:
    """One issue per problem, placed at the file and line that wrote the offending value."""
    found: list[Issue] = []
    for error in errors:
        if error.validator == "x-below":
            found.append(_relation_issue(error, docs, data))
            continue
        for path, text in explain(error):
            file, line = locate(docs, data, path)
            found.append(issue(file, line, path, text))
    return found


def _relation_issue(error: ValidationError, docs: Sequence[Parsed], data: Any) -> Issue:
    """A tolerance not below what it tolerates, told at whichever of the two keys the profile
    wrote last (the one the user just changed), naming both values and the fix."""
    r: Relation = error.relation  # type: ignore[attr-defined]
    parent = tuple(error.absolute_path)[:-1]
    key, other = (*parent, r.key), (*parent, r.other)
    below, above = ("below", "above") if r.strict else ("at most", "at least")
    low, high = _yaml(r.low), _yaml(r.high)
    at_key, at_other = locate(docs, data, key), locate(docs, data, other)
    files = [doc.file for doc in docs]
    if key not in _written(docs) or files.index(at_other[0]) > files.index(at_key[0]):
        fix = f"{r.other} {above} {low}, or {r.key} {below} {high}"
        text = f"{high} is not {above} {r.key} ({low}): {r.why}; give {fix}"
        return issue(*at_other, other, text)
    fits = isinstance(r.default, int | float) and (
        r.default < r.high or (not r.strict and r.default == r.high)
    )
    example = f", e.g. {r.key}: {_yaml(r.default)}" if fits else ""
    fix = f"{r.key} {below} {high}{example}"
    return issue(*at_key, key, f"{low} is not {below} {r.other} ({high}): {r.why}; give {fix}")


def _written(docs: Sequence[Parsed]) -> set[FieldPath]:
    return {path for doc in docs for path in doc.lines}


def explain(error: ValidationError) -> list[tuple[FieldPath, str]]:
    """(field path, "<what is wrong>; <what was expected / the fix>") for one error."""
    path, schema, value = tuple(error.absolute_path), error.schema, error.instance
    kind = error.validator
    if kind == "additionalProperties":
        known, retired = list(schema.get("properties", {})), schema.get("x-retired", {})
        return [((*path, key), retired.get(key) or _unknown(key, known))
                for key in value if key not in known]
    if kind == "required":
        # jsonschema yields one such error per missing key without naming it; we name every
        # missing key each time and ProfileError drops the repeats.
        props = schema.get("properties", {})
        return [((*path, key), _missing(path, key, props.get(key, {})))
                for key in error.validator_value if key not in value]
    if kind == "enum":
        choices = [_yaml(v) for v in error.validator_value]
        close = difflib.get_close_matches(_yaml(value), choices, n=1)
        return [(path, f"{_problem(error)}; {_choices(close, choices)}")]
    return [(path, f"{_problem(error)}; {_expected(path, schema)}")]


def _problem(error: ValidationError) -> str:
    kind, value = error.validator, error.instance
    if value is None:
        return "no value given"
    if isinstance(value, str) and not value.strip() and kind in ("pattern", "minLength"):
        return "is empty"
    if kind == "type":
        if isinstance(value, dict | list):
            written = _KINDS["object" if isinstance(value, dict) else "array"]
            return f"is {written}, not {_kind(error.schema)}"
        return f"{_show(value)} is not {_kind(error.schema)}"
    if kind == "enum":
        return f"unknown value {_show(value)}"
    if kind == "const":
        return f"{_show(value)} is not supported"
    if kind in _BOUNDS:
        return f"{_show(value)} is out of range"
    if kind in ("minItems", "maxItems"):
        return f"has {len(value)} item{'s' * (len(value) != 1)}"
    if kind == "format":
        return f"{_show(value)} is not a valid {error.validator_value}"
    if kind == "uniqueItems":
        return "lists an item more than once"
    return error.message  # x-range and anything rarer speak for themselves


def _expected(path: FieldPath, schema: dict[str, Any]) -> str:
    """What the schema wants at `path`, with an example taken from it."""
    if schema.get("x-range"):
        return f"give [min, max]{_example(path, schema)}"
    if "const" in schema:
        return f"expected `{path[-1]}: {_yaml(schema['const'])}`"
    return f"expected {_describe(schema)}{_example(path, schema)}"


def _describe(schema: dict[str, Any]) -> str:
    text = _kind(schema)
    if schema.get("format") == "date":
        text = "a date YYYY-MM-DD"
    elif schema.get("pattern") == r"\S":
        text = "non-empty text"
    if schema.get("minItems") is not None and schema.get("minItems") == schema.get("maxItems"):
        text = f"a list of {schema['minItems']}"
    if bounds := [f"{op} {_yaml(schema[key])}" for key, op in _BOUNDS.items() if key in schema]:
        text += " " + " and ".join(bounds)
    return f"{schema['title']}, {text}" if "title" in schema else text


def _kind(schema: dict[str, Any]) -> str:
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    return " or ".join(_KINDS[t] for t in types) or "a value"


def _unknown(key: str, known: list[str]) -> str:
    return f"unknown key; {_choices(difflib.get_close_matches(key, known, n=1), known)}"


def _choices(close: list[str], known: list[str]) -> str:
    listed = ", ".join(known) or "none"
    if close:
        return f"did you mean '{close[0]}'? (known: {listed})"
    return f"expected one of: {listed}"


def _missing(path: FieldPath, key: str, schema: dict[str, Any]) -> str:
    example = _first_example(schema)
    text = f"add `{key}: {_yaml(example)}`" if example is not None else f"add `{key}:`"
    if path == () and key == "skyproof":
        return f"missing; {text} as the first line"
    return f"missing; {text}" + (f" under {dotted(path)}" if path else "")


def _example(path: FieldPath, schema: dict[str, Any]) -> str:
    example = _first_example(schema)
    if example is None:
        return ""
    key = f"{path[-1]}: " if path and isinstance(path[-1], str) else ""
    return f", e.g. {key}{_yaml(example)}"


def _first_example(schema: dict[str, Any]) -> Any:
    if schema.get("examples"):
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    return schema.get("default")


def _show(value: Any) -> str:
    """A value as the user wrote it, strings quoted so `'two'` reads as text."""
    return repr(value) if isinstance(value, str) else _yaml(value)


def _yaml(value: Any) -> str:
    """Flow-style YAML for messages: [0.8, 1.2], {name: RTL_ALT, value: 2500}."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(map(_yaml, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)
