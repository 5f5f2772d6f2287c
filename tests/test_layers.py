"""The layers' imports point one way (tests/layers.py has the graph and the rules): drivers'
rooms only downward, sim/ alone, suites never from another suite, and no import cycle between
modules anywhere in drivers/ (TYPE_CHECKING imports count)."""

from tests.layers import ALLOWED, graph, imports, known_modules, module_of, sources


def test_every_import_between_layers_is_allowed():
    wrong = []
    for src, targets in graph().items():
        for dst, modules in targets.items():
            if src.startswith("suites.") or src == "fixtures":
                ok = not dst.startswith("suites.") and dst != "sim"
            else:
                ok = dst in ALLOWED[src]
            if not ok:
                wrong.append(f"{src} -> {dst} ({', '.join(sorted(modules))})")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_import_cycle_in_drivers():
    known = known_modules()
    deps = {
        module_of(p): {i for i in imports(p) if i in known and i.startswith("drivers")}
        for p in sources()
        if module_of(p).startswith("drivers")
    }
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(mod: str, path: list[str]) -> None:
        state[mod] = 1
        for dep in sorted(deps.get(mod, ())):
            if dep == mod or dep not in deps:
                continue
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*path[path.index(dep):], dep]))
            elif dep not in state:
                visit(dep, [*path, dep])
        state[mod] = 2

    for mod in sorted(deps):
        if mod not in state:
            visit(mod, [mod])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_graph_sees_the_rooms():
    # a guard against a graph that passes because it sees nothing
    edges = graph()
    assert "drivers.link" in edges["drivers.services"]
    assert "drivers.attack" in edges["suites.security"]
    assert {"profiles", "reports", "drivers.services"} <= set(edges["fixtures"])
