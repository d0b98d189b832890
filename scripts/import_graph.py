"""The package import graph of `nas`, read from the source with `ast` (nothing is imported).

    python scripts/import_graph.py            # print the package graph as Mermaid (graph TD)
    python scripts/import_graph.py --check    # list every import that breaks the layout; exit 1 if any

Every ``.py`` file under ``nas/``, ``db/``, ``workers/`` and ``search_spaces/`` is parsed, and every
import in it counts: at module level, inside functions (lazy imports) and under
``if TYPE_CHECKING:`` (labelled, but held to the same direction). ``importlib.import_module`` and
``__import__`` with a literal module name count as imports too; ``from nas import NAME`` of a name
the lazy facade (`nas/__init__.py`'s ``_LAZY``) resolves counts as importing the module it comes from.

Each module belongs to one package of the layout (`PACKAGES`); `ALLOWED` says which other packages
each may import, `ONLY_MODULES` narrows some of those to named modules. ``nas/__main__.py`` (the
``python -m nas`` entry point, the same as the ``nas`` command) belongs to ``nas.cli``. The root
package ``nas`` is only the lazy facade ``nas/__init__.py`` and ``nas/version.py``.

`violations()` is what tests/test_layout.py calls.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The source trees that are scanned.
SOURCE_DIRS = ("nas", "db", "workers", "search_spaces")

#: The packages of the layout, from the top of the graph to the bottom.
PACKAGES = ("nas.cli", "nas.search", "nas.final", "nas.viz", "db", "workers", "search_spaces", "nas.ir", "nas")
#: The modules of the root package `nas`: the lazy facade and the version (allowed from anywhere but
#: `db` and `nas.ir`, whose contracts say they import nothing of the project outside themselves).
ROOT_MODULES = ("nas", "nas.version")
#: Modules placed in a package other than the one their path says.
PLACED = {"nas.__main__": "nas.cli"}

_BELOW_CLI = frozenset(p for p in PACKAGES if p != "nas.cli")

#: package -> the other packages it may import (its own modules it always may). Acyclic.
ALLOWED: dict[str, frozenset[str]] = {
    "nas.cli": _BELOW_CLI,
    "nas.search": frozenset({"db", "workers", "search_spaces", "nas.ir", "nas"}),
    "nas.final": frozenset({"nas.search", "db", "workers", "search_spaces", "nas.ir", "nas"}),
    "nas.viz": frozenset({"db", "workers", "search_spaces", "nas.ir", "nas"}),
    "workers": frozenset({"nas.ir", "nas"}),
    "search_spaces": frozenset({"nas.ir", "nas"}),
    # db imports the IR only to recompute canonical forms and hashes (migrations 0004 and 0005, lazily)
    "db": frozenset({"nas.ir"}),
    "nas.ir": frozenset(),
    "nas": frozenset(),
}
#: (importer package, imported package) -> the only modules of the imported package allowed.
ONLY_MODULES: dict[tuple[str, str], frozenset[str]] = {
    ("nas.final", "nas.search"): frozenset({"nas.search.config"}),
    ("db", "nas.ir"): frozenset({"nas.ir"}),
}

KINDS = ("import-time", "lazy", "TYPE_CHECKING")


@dataclass(frozen=True)
class Import:
    """One project import: `importer` (in `file` at `line`) imports `target`."""

    file: str  # relative to the repository root
    line: int
    importer: str
    target: str
    kind: str  # one of KINDS
    src: str | None  # the importer's package (None: in no package of the layout)
    dst: str | None  # the target's package

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def package_of(module: str) -> str | None:
    """The layout package `module` belongs to; None for a project module in none of them."""
    if module in PLACED:
        return PLACED[module]
    if module in ROOT_MODULES:
        return "nas"
    for pkg in PACKAGES:
        if pkg != "nas" and (module == pkg or module.startswith(pkg + ".")):
            return pkg
    return None


def is_project(module: str) -> bool:
    return module.split(".")[0] in SOURCE_DIRS


def source_files(root: Path = REPO) -> list[Path]:
    files: list[Path] = []
    for d in SOURCE_DIRS:
        files += [p for p in (root / d).rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(files)


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _lazy_facade(root: Path) -> dict[str, str]:
    """`nas/__init__.py`'s ``_LAZY`` (name -> module), read from its source."""
    tree = ast.parse((root / "nas" / "__init__.py").read_text())
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets) and node.value is not None:
            value = ast.literal_eval(node.value)
            return {str(k): str(v) for k, v in value.items()}
    return {}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    """Every import statement (and literal import_module call) with its kind."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str, ast.AST]] = []  # (line, kind, node)
        self._depth = 0  # function nesting
        self._typing = 0  # `if TYPE_CHECKING:` nesting

    def _kind(self) -> str:
        return "TYPE_CHECKING" if self._typing else "lazy" if self._depth else "import-time"

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 - the NodeVisitor protocol
    visit_Lambda = visit_FunctionDef  # noqa: N815

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.visit(node.test)
        self._typing += 1
        for child in node.body:
            self.visit(child)
        self._typing -= 1
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append((node.lineno, self._kind(), node))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append((node.lineno, self._kind(), node))

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        if name in ("import_module", "__import__") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                self.found.append((node.lineno, self._kind(), node))
        self.generic_visit(node)


def _targets(node: ast.AST, module: str, is_package: bool, known: set[str], facade: dict[str, str]) -> Iterator[str]:
    """The modules one import statement imports."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            parts = module.split(".") if is_package else module.split(".")[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in known:
                yield sub
            elif base == "nas" and alias.name in facade:
                yield facade[alias.name]
            else:
                yield base
    elif isinstance(node, ast.Call):
        arg = node.args[0]
        assert isinstance(arg, ast.Constant)
        yield str(arg.value)


def scan(root: Path = REPO) -> list[Import]:
    """Every import of a project module by a project module, intra-package ones included."""
    files = source_files(root)
    known = {module_name(p, root) for p in files}
    facade = _lazy_facade(root)
    out: list[Import] = []
    for path in files:
        module = module_name(path, root)
        tree = ast.parse(path.read_text(), filename=str(path))
        collector = _Collector()
        collector.visit(tree)
        rel = path.relative_to(root).as_posix()
        for line, kind, node in collector.found:
            for target in _targets(node, module, path.name == "__init__.py", known, facade):
                if is_project(target):
                    out.append(Import(rel, line, module, target, kind, package_of(module), package_of(target)))
    return out


def package_edges(imports: Iterable[Import]) -> dict[tuple[str, str], list[Import]]:
    """(src, dst) -> the imports behind that edge, between different layout packages."""
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for imp in imports:
        if imp.src is not None and imp.dst is not None and imp.src != imp.dst:
            edges[(imp.src, imp.dst)].append(imp)
    return dict(edges)


def _cycles(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[set[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(set(nodes) | set(graph)):
        if v not in index:
            visit(v)
    return found


def rule_cycles() -> list[set[str]]:
    """Cycles in `ALLOWED` itself (there must be none)."""
    return _cycles(ALLOWED, ((a, b) for a, bs in ALLOWED.items() for b in bs))


def violations(root: Path = REPO) -> list[str]:
    """Every import that breaks the layout, one line each (``file:line: ...``); [] when clean.

    Broken: a module in no layout package; an import of a package its package may not import
    (`ALLOWED`), or of a module outside `ONLY_MODULES`; an edge that closes a cycle between packages.
    """
    imports = scan(root)
    out: list[str] = []
    for path in source_files(root):
        module = module_name(path, root)
        if package_of(module) is None:
            out.append(f"{path.relative_to(root).as_posix()}:1: module {module} is in no package of the layout")
    for imp in imports:
        if imp.src is None or imp.src == imp.dst:
            continue
        head = f"{imp.where()}: {imp.importer} imports {imp.target} ({imp.kind}):"
        if imp.dst is None:
            out.append(f"{head} {imp.target} is in no package of the layout")
        elif imp.dst not in ALLOWED[imp.src]:
            allowed = ", ".join(p for p in PACKAGES if p in ALLOWED[imp.src]) or "none"
            out.append(f"{head} {imp.src} may not import {imp.dst} (may import: {allowed})")
        elif (imp.src, imp.dst) in ONLY_MODULES and imp.target not in ONLY_MODULES[(imp.src, imp.dst)]:
            only = ", ".join(sorted(ONLY_MODULES[(imp.src, imp.dst)]))
            out.append(f"{head} {imp.src} may import only {only} of {imp.dst}")
    edges = package_edges(imports)
    for component in _cycles(PACKAGES, edges):
        members = " <-> ".join(p for p in PACKAGES if p in component)
        for (a, b), behind in sorted(edges.items()):
            if a in component and b in component:
                for imp in behind:
                    out.append(
                        f"{imp.where()}: {imp.importer} imports {imp.target} ({imp.kind}): "
                        f"{a} -> {b} is part of a cycle between packages ({members})"
                    )
    for component in rule_cycles():
        out.append(f"{Path(__file__).name}: ALLOWED has a cycle: {' <-> '.join(sorted(component))}")
    return out


def _node_id(pkg: str) -> str:
    return pkg.replace(".", "_")


def _label(pkg: str) -> str:
    return "nas (root: facade, version)" if pkg == "nas" else pkg


def mermaid(root: Path = REPO) -> str:
    """The package graph as Mermaid: a plain arrow when some import runs at import time, ``lazy``
    when all run inside functions, dotted ``TYPE_CHECKING`` when all are for type checkers only."""
    edges = package_edges(scan(root))
    lines = ["graph TD"]
    lines += [f'    {_node_id(p)}["{_label(p)}"]' for p in PACKAGES]
    order = {p: i for i, p in enumerate(PACKAGES)}
    for (a, b), behind in sorted(edges.items(), key=lambda e: (order[e[0][0]], order[e[0][1]])):
        kinds = {imp.kind for imp in behind}
        if "import-time" in kinds:
            arrow = "-->"
        elif "lazy" in kinds:
            arrow = "-->|lazy|"
        else:
            arrow = "-.->|TYPE_CHECKING|"
        lines.append(f"    {_node_id(a)} {arrow} {_node_id(b)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="list imports that break the layout; exit 1 if any")
    args = parser.parse_args(argv)
    if not args.check:
        print(mermaid())
        return 0
    found = violations()
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} layout violation(s)", file=sys.stderr)
        return 1
    print("import layout: no violations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
