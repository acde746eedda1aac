import json
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True,
                          timeout=300)


def test_info_prints_counts_as_json(capsys):
    assert main(["info", "--space", "darts"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["weights"] == 1_930_618 and out["alphas"] == 224


@pytest.mark.parametrize("args, words", [
    (["search", "--strategy", "third-order"], "valid strategies are"),
    (["search", "--dataset", "imagenet"], "valid datasets are"),
    (["search", "--space", "nasbench"], "valid spaces are"),
    (["search", "--set", "xi"], "KEY=VALUE"),
    (["search", "--ops", "conv_9x9"], "valid operations"),
    (["evaluate", "--genotype", "DARTS_V9", "--dry-run"], "known genotype name"),
    (["evaluate", "--genotype", "DARTS_V2", "--dataset", "cifar10", "--data-root", "/nonexistent"],
     "cifar10 was not found"),
    (["plot-cell", "--genotype", "DARTS_V1"], "is now `python analysis/plotting.py`"),
    (["toy"], "is now `python -m studies toy`"),
    (["search", "--device", "tpu"], "unknown device"),
])
def test_bad_input_ends_in_one_sentence_and_status_2(args, words, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and err.startswith("error: ") and "\n" not in err


def test_evaluate_dry_run_counts_parameters(capsys):
    assert main(["evaluate", "--genotype", "DARTS_V2", "--dataset", "cifar10", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 3_349_342


def test_plot_cell_writes_both_cells(tmp_path, capsys):
    from analysis.plotting import main as draw

    assert draw(["--genotype", "Genotype(normal=[('x', 0)]"]) == 2
    assert "not of the form" in capsys.readouterr().err
    assert draw(["--genotype", "DARTS_V1", "--out", str(tmp_path / "c")]) == 0
    for kind in ("normal", "reduce"):
        for fmt in ("png", "pdf"):
            assert (tmp_path / f"c_{kind}.{fmt}").stat().st_size > 1000


def test_search_then_plot_then_evaluate_from_the_command_line(tmp_path):
    out = tmp_path / "s"
    r = run("search", "--dataset", "digits", "--epochs", "1", "--channels", "4", "--layers", "2",
            "--nodes", "2", "--batch-size", "128", "--device", "cpu", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Genotype(")
    assert "search epoch 1" in r.stderr
    r = subprocess.run([sys.executable, str(ROOT / "analysis" / "plotting.py"), "--genotype", str(out),
                        "--out", str(out / "cell")], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (out / "cell_normal.png").is_file()
    r = run("evaluate", "--genotype", str(out), "--dataset", "digits", "--epochs", "1",
            "--channels", "4", "--layers", "3", "--device", "cpu", "--out", str(out / "eval.json"))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert 0.0 <= result["test_acc"] <= 1.0 and result["params"] > 0
    assert json.loads((out / "eval.json").read_text())["history"]


def test_the_dense_dag_space_from_the_command_line(tmp_path, capsys):
    assert main(["info", "--space", "dense-dag", "--space-set", "blocks=16", "--in-channels", "1",
                 "--image-size", "8"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["alphas"] == 16 and out["options"]["blocks"] == 16
    assert main(["search", "--space", "dense-dag", "--space-set", "blocks=3", "--dataset", "digits",
                 "--epochs", "1", "--out", str(tmp_path / "dd")]) == 0
    assert (tmp_path / "dd" / "genotype.txt").read_text().startswith("DAG(layers=4")
    assert main(["info", "--space", "dense-dag", "--space-set", "depth=3"]) == 2
    assert "depth" in capsys.readouterr().err
