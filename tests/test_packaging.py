"""What a regular (non-editable) install gets: every package, the published numbers the report
reads, the console scripts; and results in the current directory rather than inside site-packages."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The project's wheel, built from a copy of the checkout: a build writes build/ and the
    egg-info into its source folder, which tests in other pytest-xdist workers read meanwhile."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", "results", "mutants", "__pycache__", ".ruff_cache"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(out), str(source)], capture_output=True, text=True,
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


def test_an_installed_wheel_runs_a_grid_and_its_report_from_any_folder(wheel, tmp_path):
    """`pip install` of the wheel (not editable) into a new environment: the console scripts run
    a grid and its report, the code comes from the environment, the results go to ./results."""
    venv = tmp_path / "venv"
    # The project comes from the wheel; its dependencies from the site-packages of the interpreter
    # that runs these tests, which a .pth file adds to the new environment's path. (Not
    # `--system-site-packages`: that reaches the base interpreter's, which has none of them when
    # the tests run inside a virtual environment.) A path in a .pth file is only appended, its
    # own .pth files are not read, so this checkout's editable install stays out of it.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = [p for p in sys.path if p.endswith("-packages") and Path(p).is_dir()]
    Path(purelib, "test-dependencies.pth").write_text("\n".join(ours) + "\n")
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                          wheel.filename], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    work = tmp_path / "work"
    work.mkdir()
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import nas; print(nas.__file__)"],
                           capture_output=True, text=True, cwd=work, check=True)
    assert where.stdout.startswith(str(venv)), where.stdout        # not this checkout
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("RAY_ADDRESS", "PYTHONPATH")}
    grid = subprocess.run([str(venv / "bin" / "hyperdarts-grid"), "--grid", "smoke", "--strategies",
                           "first-order", "--search-epochs", "1", "--eval-epochs", "1",
                           "--num-cpus", "2"], capture_output=True, text=True, cwd=work, env=env,
                          timeout=600)
    assert grid.returncode == 0, grid.stdout[-2000:] + grid.stderr[-2000:]
    assert (work / "results" / "smoke" / "trials.parquet").is_file()
    report = subprocess.run([str(venv / "bin" / "hyperdarts-report", ), "smoke", "--no-toy"],
                            capture_output=True, text=True, cwd=work, env=env, timeout=600)
    assert report.returncode == 0, report.stderr[-2000:]
    text = (work / "results" / "smoke" / "report" / "report.md").read_text()
    assert "first-order" in text and "Published" in text     # the wheel's reference.csv was read
    assert not list(venv.rglob("results/smoke"))             # nothing written into the environment


def test_the_tested_versions_satisfy_every_declared_floor():
    """constraints.txt (the versions CI tested) pins every dependency pyproject.toml declares, each
    at or above its floor: a floor raised past what was tested, or a dependency added without a
    tested version, fails here."""
    import re

    import tomllib
    from packaging.version import Version

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = dict(re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line).groups()
                for line in (ROOT / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    pins = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    for dep in deps:
        name, floor = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[\w+\])?>=([0-9.]+)", dep).groups()
        assert name.lower() in pins, f"{name} has no tested version in constraints.txt"
        assert Version(pins[name.lower()]) >= Version(floor), (name, pins[name.lower()], floor)
