"""The library stays a library: `nas` imports none of the packages built on it, nor Ray, pandas or
plotting, and nothing sets matplotlib's global backend."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("studies", "analysis", "benchmark", "ray", "pandas", "matplotlib", "seaborn")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "nas").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_imports_nothing_built_on_it(path):
    assert not _imports(path) & set(FORBIDDEN)


def test_no_module_sets_the_global_matplotlib_backend():
    for folder in ("nas", "studies", "analysis", "benchmark"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "matplotlib.use(" not in path.read_text(), path
