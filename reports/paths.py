"""Paths as the reports show them, and file names made from node ids."""

import re
from pathlib import Path


def shown(path: Path | str) -> str:
    """Relative to the working directory when inside it (as the run writes paths), else
    absolute."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(Path(path).resolve())


def safe_name(text: str) -> str:
    """A file name from a node id or a figure's name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
