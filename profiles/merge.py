"""Merge a profile with the files it extends, and find who wrote each merged value."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import FieldPath
from .yaml_lines import Parsed


def deep_merge(base: Any, over: Any) -> Any:
    """Mappings merge key by key; anything else (lists, scalars) in `over` replaces `base`."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    merged = dict(base)
    for key, value in over.items():
        merged[key] = deep_merge(base[key], value) if key in base else value
    return merged


def merge_all(docs: Sequence[Parsed]) -> dict[str, Any]:
    """Fold the documents left to right; `extends` is consumed by the loader, not kept."""
    merged: dict[str, Any] = {}
    for doc in docs:
        merged = deep_merge(merged, {k: v for k, v in doc.data.items() if k != "extends"})
    return merged


def locate(docs: Sequence[Parsed], merged: Any, path: FieldPath) -> tuple[Path, int]:
    """The file and line where the merged value at `path` was written.

    A path that does not exist (a missing key) is shortened to its deepest existing
    parent. An existing value came from the last file that wrote that path: a later
    file can only have replaced it by writing the same path or an ancestor.
    """
    while not _exists(merged, path):
        path = path[:-1]
    for doc in reversed(docs):
        if path in doc.lines:
            return doc.file, doc.lines[path]
    return docs[-1].file, 1


def _exists(data: Any, path: FieldPath) -> bool:
    for part in path:
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and part < len(data)
        if not (in_dict or in_list):
            return False
        data = data[part]
    return True
