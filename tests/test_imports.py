"""The import graph of src/convlab has no cycle, and its layers point down only.

The graph is read from the source with ``ast`` (nothing is imported): one
node per module (a package is its ``__init__``), one edge per import
statement executed when the module loads, i.e. at module level
(``from pkg import submodule`` is an edge to the submodule only). Imports
inside functions run later, on first use; they are how optional extras
(torch, dask, Pillow) stay optional, and they are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import convlab

ROOT = Path(convlab.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _top_level_imports(tree: ast.Module):
    """Import statements run at load time: module level, and inside module-level if/try blocks."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            stack += node.body + node.orelse
        elif isinstance(node, ast.Try):
            stack += node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]


def _all_imports(tree: ast.Module):
    """Every import statement, including those inside functions (run on first use)."""
    return (node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))


def import_graph(*, inside_functions: bool = False) -> dict[str, set[str]]:
    """``module -> modules of convlab it imports at load time`` (or anywhere, with ``inside_functions``)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    statements = _all_imports if inside_functions else _top_level_imports
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in statements(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = _resolve(name, path.name == "__init__.py", node)
                submodules = [f"{source}.{alias.name}" for alias in node.names]
                # ``from pkg import submodule`` needs pkg's __init__ only for names it defines.
                targets = submodules + ([source] if not all(m in modules for m in submodules) else [])
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first repeated at the end), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_graph_is_read():
    graph = import_graph()
    assert "convlab.functional._conv" in graph["convlab.functional"]
    assert "convlab.shapes._window" in graph["convlab.functional._conv_args"] or (
        "convlab.shapes" in graph["convlab.functional._conv_args"]
    )
    assert len(graph) > 80


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_convlab():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_cycle_even_through_imports_inside_functions():
    # A cycle hidden in a function (tiling's _dask and _predict imported each
    # other that way) still couples two modules both ways.
    graph = import_graph(inside_functions=True)
    assert "convlab.tiling._tile" in graph["convlab.tiling._dask"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("lower", "upper"),
    [("convlab.shapes", "convlab.functional"), ("convlab.functional", "convlab.nn"),
     ("convlab.functional", "convlab.lowering"), ("convlab.shapes", "convlab.nn")],
)  # fmt: skip
def test_layers_point_down(lower, upper):
    graph = import_graph()
    wrong = sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        if a == lower or a.startswith(lower + ".")
        for b in targets
        if b == upper or b.startswith(upper + ".")
    )
    assert not wrong, wrong
