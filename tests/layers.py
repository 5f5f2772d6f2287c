"""The import graph between skyproof's layers and drivers' rooms, from the source (ast), with
TYPE_CHECKING imports included. `python -m tests.layers` prints it; tests/test_layers.py holds
it to the rules below.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("attack", "impair", "vehicles", "services", "link")
# unit -> the units it may import (besides itself and third-party packages)
BASE = "drivers (root)"
ALLOWED = {
    "drivers.link": {BASE},
    "drivers.services": {"drivers.link", BASE},
    "drivers.vehicles": {"drivers.services", "drivers.link", BASE},
    "drivers.impair": {"drivers.services", "drivers.link", BASE},
    "drivers.attack": {"drivers.services", "drivers.link", BASE},
    BASE: {BASE},
    "sim": {"sim"},
    "profiles": {"profiles"},
    "reports": {"reports", "profiles"},
}


def unit_of(module: str) -> str | None:
    """The layer or room a module belongs to (None: outside the graph: tests, benchmarks). The
    pytest plugins (pytest_*.py, conftest.py, skyproof_plugins.py) are one layer, "fixtures",
    wherever they live: between the suites and everything else."""
    parts = module.split(".")
    if parts[-1].startswith("pytest_") or module in ("conftest", "skyproof_plugins"):
        return "fixtures"
    if parts[0] == "drivers":
        return f"drivers.{parts[1]}" if len(parts) > 2 and parts[1] in ROOMS else BASE
    if parts[0] in ("sim", "profiles", "reports", "suites"):
        return parts[0] if parts[0] != "suites" else ".".join(parts[:2])
    return None


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (inside functions and TYPE_CHECKING too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from drivers import x`
    return found


def sources() -> list[Path]:
    folders = ("drivers", "sim", "profiles", "reports", "suites")
    plugins = [ROOT / "conftest.py", ROOT / "skyproof_plugins.py"]
    return [p for f in folders for p in sorted((ROOT / f).rglob("*.py"))] + plugins


def known_modules() -> set[str]:
    return {module_of(p) for p in sources()}


def graph() -> dict[str, dict[str, set[str]]]:
    """unit -> imported unit -> the modules of `unit` that import it."""
    known = known_modules()
    edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sources():
        mod = module_of(path)
        src = unit_of(mod)
        for imp in imports(path):
            if imp not in known or src is None:
                continue
            dst = unit_of(imp)
            if dst is not None and dst != src:
                edges[src][dst].add(mod)
    return edges


def main() -> int:
    edges = graph()
    for src in sorted(edges):
        print(src)
        for dst in sorted(edges[src]):
            print(f"  -> {dst}   ({', '.join(sorted(edges[src][dst]))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
