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
    (["info", "--space", "dense-dag", "--channels", "3"], "not an option of the dense-dag space"),
    (["evaluate", "--space", "nb201", "--genotype", "|conv~0|", "--dry-run"], "unknown operation 'conv'"),
    (["evaluate", "--space", "nb201", "--genotype", "missing.txt", "--dry-run"],
     "neither a NAS-Bench-201 cell"),
    (["evaluate", "--space", "nb201", "--genotype", "|skip_connect~0|", "--cutout", "16", "--dry-run"],
     "--cutout is an option of the darts evaluation network"),
    (["evaluate", "--genotype", "DARTS_V2", "--num-classes", "100"], "only counts parameters"),
])
def test_bad_input_ends_in_one_sentence_and_status_2(args, words, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and err.startswith("error: ") and "\n" not in err


def test_evaluate_dry_run_counts_parameters(capsys):
    assert main(["evaluate", "--genotype", "DARTS_V2", "--dataset", "cifar10", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 3_349_342


def test_the_nb201_space_from_the_command_line(capsys, tmp_path):
    """`info` at the published search network's size, and `evaluate --dry-run` at the published
    network's (C 16, N 5): the parameter counts of tests/golden/nb201_params.json, which
    NAS-Bench-201's own network code (AutoDL-Projects f46486e) counted."""
    assert main(["info", "--space", "nb201"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["alpha_shapes"] == [[6, 5]] and out["options"]["cells_per_stage"] == 5
    assert main(["info", "--space", "nb201", "--nodes", "3", "--layers", "1", "--channels", "8"]) == 0
    small = json.loads(capsys.readouterr().out)
    assert small["alpha_shapes"] == [[3, 5]] and small["weights"] < out["weights"]
    golden = json.loads((ROOT / "tests" / "golden" / "nb201_params.json").read_text())["rows"]
    for row in golden:
        # (the command: nb201's dataset is CIFAR-10's shape unless --dataset says otherwise)
        assert main(["evaluate", "--space", "nb201", "--genotype", row["arch"], "--channels", "16",
                     "--layers", "5", "--num-classes", str(row["classes"]), "--dry-run"]) == 0
        got = json.loads(capsys.readouterr().out)
        assert got["params"] == row["params"] and got["genotype"] == row["arch"], row
    (tmp_path / "genotype.txt").write_text(golden[0]["arch"] + "\n")   # a search's output folder
    assert main(["evaluate", "--space", "nb201", "--genotype", str(tmp_path), "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == golden[0]["params"]


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
    # two cells are both reduction cells: said, not refused (the tests search such tiny supernets)
    assert "warning: a DARTS supernet of 2 cell(s) has no normal cell" in r.stderr
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


def test_the_command_line_search_and_evaluation_are_the_library_runs_of_their_flags(tmp_path, capsys):
    """Every flag reaches the config: the command line's outputs equal the library's run of the
    config those flags spell (not only 'it finished'). Exactly: both run in this process, with the
    same torch threads (a run in another process or with other threads may differ in the last
    bits)."""
    from nas.data import load_dataset
    from nas.evaluate import EvalConfig, train_and_test
    from nas.genotype import resolve_genotype
    from nas.search import SearchConfig, run_search

    out = tmp_path / "s"
    assert main(["search", "--dataset", "digits", "--strategy", "one-level", "--seed", "3",
                 "--epochs", "2", "--batch-size", "96", "--channels", "2", "--layers", "2",
                 "--nodes", "2", "--set", "w_lr=0.05", "--device", "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip()
    config = SearchConfig.of(strategy="one-level", dataset="digits", epochs=2, batch_size=96, seed=3,
                          space_options={"channels": 2, "layers": 2, "nodes": 2, "multiplier": 2},
                          strategy_options={"w_lr": 0.05})
    lib = run_search(config)
    assert printed == str(lib.genotype) == (out / "genotype.txt").read_text().strip()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["steps"] for r in records] == [r["steps"] for r in lib.history] == [7, 7]
    alphas = json.loads((out / "alphas.json").read_text())["epochs"]
    for r, a, want in zip(records, alphas, lib.history):
        assert a["normal"] == want["alpha_normal"] and a["reduce"] == want["alpha_reduce"]
        assert r["train_loss"] == want["train_loss"] and r["w_lr"] == want["w_lr"]
    assert records[0]["w_lr"] == 0.05                     # --set reached the strategy
    assert main(["evaluate", "--genotype", str(out), "--dataset", "digits", "--epochs", "2",
                 "--channels", "4", "--layers", "3", "--batch-size", "200", "--lr", "0.04",
                 "--no-auxiliary", "--drop-path", "0.3", "--cutout", "2", "--seed", "7",
                 "--device", "cpu", "--out", str(tmp_path / "e.json")]) == 0
    result = json.loads(capsys.readouterr().out)
    cfg = EvalConfig(channels=4, layers=3, epochs=2, batch_size=200, lr=0.04, auxiliary=False,
                     drop_path_prob=0.3, cutout=2, seed=7)
    want = train_and_test(resolve_genotype(str(out)), load_dataset("digits"), cfg)
    assert result["config"] == json.loads(json.dumps(want["config"]))
    for k in ("test_acc", "test_loss", "train_acc", "params"):
        assert result[k] == want[k], k
    saved = json.loads((tmp_path / "e.json").read_text())
    assert [h["train_loss"] for h in saved["history"]] == [h["train_loss"] for h in want["history"]]
