"""The import graph of the app, read from the source: no cycle, and Streamlit only in app.py and pages/.

What counts as an edge: every ``import`` and ``from … import`` of a first-party module, wherever it stands —
at module level, inside a function, under ``if``/``try``. Function-level imports count too: a lazy import
only hides a cycle from the interpreter, the two modules still need each other, and the fix is to move the
shared knowledge to the module it belongs in (as ``imagenet_labels`` moved from ``models.embedded.efficientnet`` to
``models.sources.labels``). Lazy imports stay fine for what they are for (heavy or optional libraries, start-up time)
as long as they close no cycle.

How names resolve: ``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``
(the package's ``__init__``, which defines ``c``); ``import a.b`` is an edge to ``a.b``; relative imports
resolve against the importing module's package. Importing ``a.b`` also runs ``a/__init__.py``, but that
implicit edge is not counted: a package's ``__init__`` re-exporting its own submodules would otherwise be
a cycle with each of them, which is the ordinary layout of a package, not a tangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("app.py", "cli.py", "pages", "explainers", "models", "reports")
STREAMLIT_ALLOWED = ("app", "pages")  # the app and its pages; the libraries below never import streamlit


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> dict[str, Path]:
    files = {}
    for source in SOURCES:
        path = ROOT / source
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            files[module_name(file)] = file
    return files


def imported_names(module: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement in ``path``, at any depth."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub if sub in known else base, node.lineno))
    return out


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    """First-party edges (module → modules it imports), and every import of an outside module."""
    files = source_files()
    graph: dict[str, set[str]] = {name: set() for name in files}
    outside = []
    for name, path in files.items():
        for target, line in imported_names(name, path, set(files)):
            if target in files:
                if target != name:
                    graph[name].add(target)
            else:
                outside.append((name, target, line))
    return graph, outside


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read_from_the_source():
    graph, outside = import_graph()
    assert {"app", "cli", "pages.image", "pages.widgets", "explainers.core.registry", "models.adapters.image",
            "reports.report"} <= set(graph)
    assert "pages.widgets" in graph["app"] and "pages.widgets" in graph["pages.image"]
    assert "models.sources.labels" in graph["models.embedded.efficientnet"]  # from … import of a function: the module that holds it
    assert ("app", "streamlit") in {(module, target) for module, target, _ in outside}


def test_imports_at_any_depth_and_relative_ones_are_read(tmp_path):
    (tmp_path / "pkg").mkdir()
    path = tmp_path / "pkg" / "mod.py"
    path.write_text("import os\nfrom . import sibling\nfrom .sibling import thing\n\n\n"
                    "def later():\n    if True:\n        from models.sources.labels import imagenet_labels\n")
    names = imported_names("pkg.mod", path, {"pkg", "pkg.sibling", "models.sources.labels"})
    assert names == [("os", 1), ("pkg.sibling", 2), ("pkg.sibling", 3), ("models.sources.labels", 8)]


def test_cycles_finds_a_cycle_and_only_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_cycle():
    graph, _ = import_graph()
    assert cycles(graph) == []


def test_labels_do_not_need_the_embedded_models():
    graph, _ = import_graph()
    assert "models.embedded.efficientnet" not in graph["models.sources.labels"]


def test_streamlit_only_in_the_app_and_its_pages():
    _, outside = import_graph()
    found = [(module, line) for module, target, line in outside
             if target.split(".")[0] == "streamlit" and module.split(".")[0] not in STREAMLIT_ALLOWED]
    assert found == []
