"""A researcher's own strategy and space, from a package installed beside the project (entry points,
nas/plugins.py) or named in $HYPERDARTS_PLUGINS: registered, refused where they do not fit, and
run through a grid into the report like a built-in strategy."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
"""A strategy and a space of one's own: first-order DARTS with a scaled α-gradient, and
NAS-Bench-201's space under another name."""

from dataclasses import dataclass

from nas.spaces.nb201 import NB201Space
from nas.strategies.base import Range, Strategy, StrategyConfig, grad


@dataclass(frozen=True)
class HalvedConfig(StrategyConfig):
    factor: float = 0.5


class HalvedFirstOrder(Strategy):
    name = "halved-first-order"
    Config = HalvedConfig
    tunable = {**Strategy.tunable, "factor": Range(0.25, 1.0)}

    def alpha_gradient(self, train_batch, val_batch):
        val_loss, val_acc = self.val_loss(val_batch)
        return [self.config.factor * g for g in grad(val_loss, self.alphas)], val_loss, val_acc


class TwinSpace(NB201Space):
    name = "nb201-twin"
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "hdb-halved"
version = "0.1"

[tool.setuptools]
py-modules = ["hdb_halved"]

[project.entry-points."hyperdarts_bench.strategies"]
halved-first-order = "hdb_halved:HalvedFirstOrder"

[project.entry-points."hyperdarts_bench.spaces"]
nb201-twin = "hdb_halved:TwinSpace"
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The plugin package installed with pip into a folder of its own (a fresh site, on
    PYTHONPATH); the environment a command sees it in."""
    root = tmp_path_factory.mktemp("plugin")
    (root / "pkg").mkdir()
    (root / "pkg" / "hdb_halved.py").write_text(PLUGIN)
    (root / "pkg" / "pyproject.toml").write_text(PYPROJECT)
    offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *offline,
                    "--target", str(root / "site"), str(root / "pkg")], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(root / "site"), str(ROOT),
                                                                   os.environ.get("PYTHONPATH")) if p)}
    env.pop("RAY_ADDRESS", None)
    return env


def _python(env, *args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_an_installed_package_registers_its_strategy_and_space(installed):
    code = ("from nas.strategies import STRATEGIES, SEARCHING; from nas.spaces import SPACES\n"
            "from nas.toy import XI_STRATEGIES, TOY_OPTIONS; from studies.toy import default_runs\n"
            "print(STRATEGIES['halved-first-order'].__module__, 'halved-first-order' in SEARCHING,\n"
            "      type(SPACES['nb201-twin']).__name__,\n"
            "      [r.strategy for r in default_runs(['halved-first-order'])])")
    out = _python(installed, "-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["hdb_halved", "True", "TwinSpace", "['halved-first-order']"]
    # without the package nothing is there
    bare = _python({k: v for k, v in installed.items() if k != "PYTHONPATH"}, "-c",
                   "from nas.strategies import STRATEGIES; print('halved-first-order' in STRATEGIES)")
    assert bare.stdout.strip() == "False"


def test_a_module_named_in_the_environment_registers_what_it_imports(tmp_path):
    (tmp_path / "mine.py").write_text(
        "from nas.strategies import register_strategy\n"
        "from nas.strategies.first_order import FirstOrder\n"
        "class Mine(FirstOrder):\n    name = 'mine'\n"
        "register_strategy(Mine)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(tmp_path), str(ROOT))),
           "HYPERDARTS_PLUGINS": "mine"}
    out = _python(env, "-c", "from nas.strategies import STRATEGIES; print('mine' in STRATEGIES)")
    assert out.stdout.strip() == "True", out.stderr
    env["HYPERDARTS_PLUGINS"] = "not_a_module_here"
    out = _python(env, "-c", "import nas.strategies")
    assert out.returncode != 0 and "$HYPERDARTS_PLUGINS names 'not_a_module_here'" in out.stderr


def test_an_installed_strategy_runs_through_a_grid_and_appears_in_the_report(installed, tmp_path):
    env = {**installed, "RAY_TMPDIR": tempfile.mkdtemp(prefix="ray", dir="/tmp")}
    results = tmp_path / "results"
    run = _python(env, "benchmark/run.py", "--grid", "nb201-smoke", "--strategies", "halved-first-order",
                  "--seeds", "0", "--search-epochs", "1", "--results", str(results), "--experiment", "plug",
                  "--num-cpus", "2", timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = _python(env, "analysis/report.py", "plug", "--results", str(results), "--no-toy", timeout=600)
    assert report.returncode == 0, report.stderr[-2000:]
    text = (results / "plug" / "report" / "report.md").read_text()
    assert "halved-first-order" in text
