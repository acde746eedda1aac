"""The house's layout: `nas` is a library and imports none of the packages built on it (nor Ray,
pandas or plotting); the packages import each other in one direction only (nas ← resultstore ←
analysis ← studies, benchmark), no module imports one that imports it back, an import inside a
function says why it is not at the top, and nothing sets matplotlib's global backend."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("studies", "analysis", "benchmark", "resultstore", "ray", "pandas", "matplotlib", "seaborn")
# each package and the project packages it may import (besides itself)
LAYERS = {
    "nas": set(),
    "resultstore": {"nas"},
    "analysis": {"nas", "resultstore"},
    "studies": {"nas", "resultstore", "analysis"},
    "benchmark": {"nas", "resultstore", "analysis"},
}
SOURCES = sorted(p for pkg in LAYERS for p in (ROOT / pkg).rglob("*.py"))


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_nodes(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield node, [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import module` imports pkg.module where that is a module
            yield node, [node.module, *(f"{node.module}.{a.name}" for a in node.names)]


def _imports(path: Path) -> set[str]:
    return {name.split(".")[0] for _, names in _import_nodes(ast.parse(path.read_text())) for name in names}


def _module_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, anywhere in the file (a function's imports count)."""
    modules = {_module(p): p for p in SOURCES}
    graph = {}
    for name, path in modules.items():
        graph[name] = set()
        for _, targets in _import_nodes(ast.parse(path.read_text())):
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for v in graph:
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "nas").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_imports_nothing_built_on_it(path):
    assert not _imports(path) & set(FORBIDDEN)


def test_packages_import_each_other_in_one_direction():
    wrong = []
    for path in SOURCES:
        package = _module(path).split(".")[0]
        allowed = LAYERS[package] | {package}
        wrong += [f"{path.relative_to(ROOT)} imports {p}" for p in _imports(path) & set(LAYERS) - allowed]
    assert not wrong


def test_no_module_imports_one_that_imports_it_back():
    assert _cycles(_module_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _is_import(line: str) -> bool:
    return line.strip().startswith(("import ", "from "))


def test_an_import_inside_a_function_says_why():
    """Imports sit at the top of a module; one inside a function (an optional package, Ray kept out
    of a command's --help, a platform's module) carries a comment on its line, the line above or
    the enclosing `try:`'s line."""
    silent = []
    for path in SOURCES:
        lines = path.read_text().split("\n")
        tree = ast.parse("\n".join(lines))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                # the comment may sit on the line, above it, or above the group of imports it is in
                k = node.lineno - 1
                while k > 1 and (_is_import(lines[k - 1])
                                 or (not lines[k - 1].strip() and _is_import(lines[k - 2]))):
                    k -= 1
                near = [lines[node.lineno - 1], lines[node.lineno - 2], lines[k - 1],
                        lines[k - 2] if lines[k - 1].strip() == "try:" else ""]
                if not any("#" in line for line in near):
                    silent.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not silent


def test_no_module_sets_the_global_matplotlib_backend():
    for folder in LAYERS:
        for path in (ROOT / folder).rglob("*.py"):
            assert "matplotlib.use(" not in path.read_text(), path


LONG = 60   # code lines (no docstring, blank or comment-only line) a function may have unexplained


def _code_lines(node: ast.FunctionDef, lines: list[str]) -> int:
    body = node.body
    has_doc = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
        and isinstance(body[0].value.value, str)
    start = body[0].end_lineno + 1 if has_doc else body[0].lineno
    return sum(1 for line in lines[start - 1:node.end_lineno]
               if line.strip() and not line.strip().startswith("#"))


def _long_functions(source: str) -> list[tuple[str, int]]:
    """The functions of `source` longer than LONG code lines whose docstring gives no reason
    ("(Long: ...)"), with their lengths."""
    lines = source.splitlines()
    return [(node.name, n) for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (n := _code_lines(node, lines)) > LONG and "(Long:" not in (ast.get_docstring(node) or "")]


def test_the_length_rule_counts_code_not_docstrings_or_comments():
    body = "\n".join(f"    x{i} = {i}" for i in range(LONG))
    fits = f'def f():\n    """Doc.\n\n    More doc."""\n    # a comment\n\n{body}\n'
    assert _long_functions(fits) == []
    assert _long_functions(fits + "    return x0\n") == [("f", LONG + 1)]
    told = fits.replace("More doc.", "(Long: one table, one function.)") + "    return x0\n"
    assert _long_functions(told) == []


def test_no_function_is_long_without_a_reason():
    long = [f"{path.relative_to(ROOT)}: {name} ({n} code lines)" for path in SOURCES
            for name, n in _long_functions(path.read_text())]
    assert not long, "split these, or say why not in the docstring as (Long: ...): " + "; ".join(long)
