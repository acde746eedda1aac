"""What a regular (non-editable) install gets: every package, the published numbers the report
reads, the console scripts; and results in the current directory rather than inside site-packages."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(out), str(ROOT)], capture_output=True, text=True,
                           timeout=300)
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("hyperdarts_bench-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_holds_every_package_and_the_published_numbers(wheel):
    names = set(wheel.namelist())
    for module in ("nas/search.py", "nas/checkpoint.py", "benchmark/run.py",
                   "benchmark/tune_trainable.py", "analysis/report.py", "analysis/reference.csv"):
        assert module in names, module
    assert not any(n.startswith(("tests/", "results/")) for n in names)


def test_the_wheel_declares_the_console_scripts_and_the_ray_floor(wheel):
    (entry,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    scripts = wheel.read(entry).decode()
    for line in ("hyperdarts-grid = benchmark.run:main", "hyperdarts-report = analysis.report:main",
                 "hyperdarts-perf = benchmark.perf:main"):
        assert line in scripts
    (meta,) = [n for n in wheel.namelist() if n.endswith("METADATA")]
    assert "Requires-Dist: ray[tune]>=2.41" in wheel.read(meta).decode()


def test_results_go_to_the_project_in_a_checkout_and_to_the_current_directory_when_installed(
        tmp_path, monkeypatch):
    from benchmark import store

    assert store.default_results_dir() == ROOT / "results"
    installed = tmp_path / "site-packages" / "benchmark"
    installed.mkdir(parents=True)
    monkeypatch.setattr(store, "__file__", str(installed / "store.py"))
    monkeypatch.chdir(tmp_path)
    assert store.default_results_dir() == tmp_path / "results"
