"""The profile schema: loading it, validating against it, filling its defaults."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError, validators

SCHEMA_FILE = Path(__file__).with_name("schema.yaml")


def _range(validator: Any, enabled: bool, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """`x-range: true`: a [min, max] pair must not be upside down (JSON Schema cannot say so)."""
    if enabled and validator.is_type(instance, "array") and len(instance) == 2:
        low, high = instance
        if validator.is_type(low, "number") and validator.is_type(high, "number") and low > high:
            yield ValidationError(f"min {low} > max {high}")


def _below(validator: Any, rules: dict, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """`x-below`: a tolerance or bound must be smaller than what it tolerates (a sibling key),
    which JSON Schema cannot say. Absent keys count at their defaults, so a profile that sets
    only one of the two is judged too; the error sits at the key the profile wrote."""
    if not validator.is_type(instance, "object"):
        return
    props = schema.get("properties", {})

    def value(key: str) -> Any:
        got = instance.get(key, props.get(key, {}).get("default"))
        if isinstance(got, list) and got and all(validator.is_type(v, "number") for v in got):
            return min(got)  # e.g. the nearest of several range points
        return got

    for key, rule in rules.items():
        other = rule["than"]
        low, high = value(key), value(other)
        if not (validator.is_type(low, "number") and validator.is_type(high, "number")):
            continue  # a type error speaks for itself
        if low < high or (rule.get("or_equal") and low == high):
            continue
        error = ValidationError(f"{low:g} is not below {other} ({high:g})", path=[key])
        # profiles/messages.py words it, at whichever of the two the profile wrote last
        error.relation = Relation(key, other, rule["why"], not rule.get("or_equal"), low, high,
                                  props.get(key, {}).get("default"))  # fmt: skip
        yield error


@dataclass(frozen=True)
class Relation:
    """An `x-below` rule a profile broke: `key` (value `low`) must be below `other` (`high`)."""

    key: str
    other: str
    why: str
    strict: bool  # False: `key` may equal `other`
    low: float
    high: float
    default: Any  # `key`'s default, offered as the fix when it fits


def _strict_integer(checker: Any, instance: Any) -> bool:
    # Draft 2020-12 counts 1.0 as an integer; a sysid of 1.0 would reach MAVLink as a float.
    return isinstance(instance, int) and not isinstance(instance, bool)


Validator = validators.extend(
    Draft202012Validator,
    validators={"x-range": _range, "x-below": _below},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


@functools.cache
def _load() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))


def profile_schema(requirement_sets: Iterable[str] = ()) -> dict[str, Any]:
    """The schema, with the registry's set names as the allowed `requirements` items."""
    schema = copy.deepcopy(_load())
    if names := list(requirement_sets):
        schema["properties"]["requirements"]["items"]["enum"] = names
    return schema


def header_schema() -> dict[str, Any]:
    """What every file needs on its own, before any merge: its version and its `extends`."""
    props = _load()["properties"]
    return {
        "type": "object",
        "required": ["skyproof"],
        "properties": {key: props[key] for key in ("skyproof", "extends")},
    }


def errors(data: Any, schema: dict[str, Any]) -> list[ValidationError]:
    checker = Draft202012Validator.FORMAT_CHECKER  # checks `format: date`
    return list(Validator(schema, format_checker=checker).iter_errors(data))


def fill_defaults(data: Any, schema: dict[str, Any]) -> None:
    """Fill `default`s in place, into objects that are present (and into defaults just added)."""
    if isinstance(data, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in data and "default" in sub:
                data[key] = copy.deepcopy(sub["default"])
            if key in data:
                fill_defaults(data[key], sub)
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for item in data:
            fill_defaults(item, schema["items"])
