"""The bad inputs tried against the command lines (issue 34), each with the exit status and the one
sentence it ends in, and nothing written: the table that documents how each command refuses.

Every row runs the command's `main` in this process, and only inputs refused before any data is
loaded or Ray is started are here (the rest are tested beside what they exercise: an interrupt in
test_benchmark_run.py, a damaged file in test_store.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from analysis import report
from benchmark import perf
from benchmark import run as run_module
from nas import cli as nas_cli
from studies import cli as studies_cli

MAINS = {"run": run_module.main, "nas": nas_cli.main, "studies": studies_cli.main, "perf": perf.main,
         "report": report.main}
BIG = "1000000"
NB201_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"

# (command, arguments, the sentence's words); every row ends with exit status 2. {tmp} is the
# folder a row runs in, with the files of `_hand_made`; {cpu} the shipped cpu experiment (read).
BAD_INPUTS = [
    ("run", ["--num-cpus", "0"], "argument --num-cpus: must be at least 1, got 0"),
    ("run", ["--max-failures", "-1"], "argument --max-failures: must be at least 0, got -1"),
    ("run", ["--max-concurrent", "0"], "argument --max-concurrent: must be at least 1, got 0"),
    ("run", ["--tune", "first-order", "--samples", "0"], "argument --samples: must be at least 1"),
    ("run", ["--seeds", "-1"], "argument --seeds: must be at least 0, got -1"),
    ("run", ["--seeds", "1", "0", "1"], "grid 'smoke' names the seed 1 more than once"),
    ("run", ["--strategies", "random", "random"], "grid 'smoke' names the strategy random more than once"),
    ("run", ["--search-epochs", "0"], "argument --search-epochs: must be at least 1, got 0"),
    ("run", ["--eval-epochs", "two"], "argument --eval-epochs: expected a whole number, got 'two'"),
    ("run", ["--plan", "--detect", "-3"], "argument --detect: must be above 0, got -3"),
    ("run", ["--train-set", "lr=-0.1"], "lr must be positive, got -0.1"),
    ("run", ["--train-set", "momentum=1"], "momentum must be in [0, 1), got 1"),
    ("run", ["--train-set", "lr_min=1"], "lr_min (1) cannot exceed lr (0.025)"),
    ("run", ["--grid", "nb201-cpu", "--train-set", "momentum=1"], "momentum must be in [0, 1), got 1"),
    ("run", ["--grid", "nb201-cpu", "--train-set", "momentum=0"], "nesterov needs a momentum above 0"),
    ("run", ["--grid", "nb201-cpu", "--train-set", "weight_decay=-1"], "weight_decay must be at least 0"),
    ("run", ["--grid", "dense-dag", "--train-set", "momentum=1.5"], "momentum must be in [0, 1), got 1.5"),
    ("run", ["--space-set", f"channels={BIG}"], "the darts supernet (3 cells × 1000000 channels"),
    ("run", ["--train-set", f"channels={BIG}"], "the darts network trained (3 cells × 1000000 channels"),
    ("run", ["--train-set", f"batch_size={BIG}"],
     "the darts network trained (3 cells × 8 channels, 3 epochs of batch 1000000"),
    # (its CIFAR-10 is an image folder, whose image shape is known once it is read: the first check,
    # before any data loads, is on the transfer dataset, Fashion-MNIST at the profile's 16 × 16)
    ("run", ["--grid", "nb201-cpu", "--train-set", f"batch_size={BIG}"],
     "at batch 1,000,000 of 1×16×16 images would need at least"),
    ("nas", ["info", "--channels", BIG], "GB for its weights alone, more than the"),
    ("nas", ["search", "--batch-size", BIG], "the darts supernet (8 cells × 16 channels, 4 nodes (4 "
     "concatenated)) at batch 1,000,000 of 1×8×8 images would need at least"),
    ("nas", ["evaluate", "--space", "nb201", "--genotype", NB201_CELL, "--batch-size", BIG],
     "GB of the activations its backward keeps, 0.0 GB of weights and optimiser state), more than"),
    ("nas", ["search", "--channels", BIG], "GB for its weights, their gradients and optimiser state"),
    ("nas", ["search", "--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
    ("nas", ["search", "--set", "alpha_lr=0"], "alpha_lr must be positive, got 0"),
    ("nas", ["search", "--set", "w_momentum=-0.5"], "w_momentum must be in [0, 1), got -0.5"),
    ("nas", ["evaluate", "--genotype", "DARTS", "--lr", "0"], "argument --lr: must be above 0, got 0"),
    ("nas", ["evaluate", "--genotype", "DARTS", "--channels", BIG, "--dry-run"],
     "the darts network trained (20 cells × 1000000 channels"),
    ("nas", ["evaluate", "--space", "nb201", "--genotype", NB201_CELL, "--channels", BIG],
     "the nb201 network trained (5 cells per stage × 1000000 channels"),
    ("studies", ["fidelity", "--points", "-5"], "argument --points: must be at least 0, got -5"),
    ("studies", ["fidelity", "--repeats", "0"], "repeats must be at least 1, got 0"),
    ("studies", ["toy", "--lr", "-1"], "argument --lr: must be above 0, got -1"),
    ("studies", ["toy", "--max-iter", "0"], "argument --max-iter: must be at least 1, got 0"),
    ("perf", ["--steps", "0"], "argument --steps: must be at least 1, got 0"),
    ("perf", ["--batch", "0"], "argument --batch: must be at least 1, got 0"),
    ("run", ["--results", "{file}"], "--results {file} is a file, not a folder"),
    ("run", ["--results", "{file}/results"], "--results {file}/results lies under {file}, which is a file"),
    ("run", ["--storage", "{file}"], "--storage {file} is a file, not a folder"),
    ("run", ["--storage", "gopher://host/runs"],
     "--storage gopher://host/runs cannot be reached (Unrecognized filesystem type"),
    ("nas", ["search", "--out", "{file}"], "--out {file} is a file, not a folder"),
    ("nas", ["search", "--out", "{folder}", "--layers", "3", "--channels", "2", "--nodes", "2"],
     "{folder}/checkpoint.pt is not a readable checkpoint (PytorchStreamReader failed reading zip "
     "archive: not a ZIP archive); delete it to start the search in {folder} again"),
    ("nas", ["evaluate", "--genotype", "DARTS", "--out", "{folder}"],
     "--out {folder} is a folder, not a file"),
    ("studies", ["toy", "--plot", "{file}/toy"], "--plot {file}/toy.png lies under {file}, which is a file"),
    ("studies", ["toy", "--out", "{file}"], "--out {file} is a file, not a folder"),
    ("studies", ["fidelity", "--out", "{file}"], "--out {file} is a file, not a folder"),
    ("report", ["--results", "{tmp}", "--out", "{file}", "smoke"],
     "report: --out {file} is a file, not a folder"),
    ("run", ["--results", "{tmp}/hand"], "{tmp}/hand/smoke/grid.json holds a JSON list, not an object"),
    ("report", ["{tmp}/hand/smoke"],
     "report: {tmp}/hand/smoke/grid.json holds a JSON list, not an object"),
    ("run", ["--tuned", "{tmp}/tuned"], "{tmp}/tuned/first-order.json is not a tuned configuration"),
    ("report", ["{cpu}", "--out", "{tmp}/out", "--reference", "{tmp}/ref.csv"],
     "report: {tmp}/ref.csv: the reference table lacks the column(s) method, eval_dataset, test_error"),
    ("report", ["{cpu}", "--out", "{tmp}/out", "--edge", "9->9"],
     "report: --edge 9->9 is not an edge of the normal cell; its edges are 0->2, 0->3,"),
    ("report", ["{cpu}", "--out", "{tmp}/out", "--perf", "{file}"],
     "report: {file} is not a readable parquet file"),
    ("perf", ["--device", "cuda"], "device 'cuda' was asked for but this machine has no CUDA device"),
    ("studies", ["fidelity", "--device", "cuda"], "device 'cuda' was asked for but this machine has no"),
    ("nas", ["search", "--device", "cuda"], "device 'cuda' was asked for but this machine has no"),
]


def _hand_made(tmp: Path) -> None:
    """The files the rows name: an empty file, a folder with a checkpoint cut short, and files
    edited by hand into another form (a grid.json that is a list, a tuned configuration that is a
    list, a reference table with other columns)."""
    (tmp / "file").write_text("")
    (tmp / "folder").mkdir()
    (tmp / "folder" / "checkpoint.pt").write_bytes(b"PK\x03\x04 cut short")
    (tmp / "hand" / "smoke" / "parts").mkdir(parents=True)
    (tmp / "hand" / "smoke" / "grid.json").write_text("[1, 2]")
    (tmp / "tuned").mkdir()
    (tmp / "tuned" / "first-order.json").write_text("[]")
    (tmp / "ref.csv").write_text("a,b\n1,2\n")


@pytest.mark.parametrize(("command", "argv", "sentence"), BAD_INPUTS,
                         ids=[f"{c} {' '.join(a)}"[:60] for c, a, _ in BAD_INPUTS])
def test_a_bad_input_ends_in_one_sentence_with_status_2_and_writes_nothing(
        command, argv, sentence, tmp_path, monkeypatch, capsys):
    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("a CUDA device is there")
    monkeypatch.chdir(tmp_path)
    _hand_made(tmp_path)
    paths = {"file": str(tmp_path / "file"), "folder": str(tmp_path / "folder"), "tmp": str(tmp_path),
             "cpu": str(Path(report.__file__).parents[1] / "results" / "examples" / "cpu")}
    argv, sentence = [a.format(**paths) for a in argv], sentence.format(**paths)
    if command == "run" and "--results" not in argv:
        argv = [*argv, "--results", str(tmp_path / "results")]
    if command == "report":
        (tmp_path / "smoke" / "parts").mkdir(parents=True)    # an experiment folder, empty
    before = sorted(tmp_path.rglob("*"))
    try:
        code = MAINS[command](argv)
    except SystemExit as e:          # argparse's refusals
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    *before_it, last = err.splitlines()   # (a search says where it writes before it reads that)
    assert sentence in last and "error" not in " ".join(before_it) and "Traceback" not in err, err
    # (a driver takes its experiment's lock before it reads the experiment's files)
    assert sorted(p for p in tmp_path.rglob("*") if p.name != ".driver.lock") == before


def test_a_console_script_names_itself_and_the_others_in_its_refusals_and_hints(monkeypatch, capsys):
    """Started as hyperdarts-grid (an installed console script), a refusal and a hint name the
    console scripts, not `python benchmark/run.py`, which an installed copy does not have."""
    from nas.options import program
    from resultstore.experiment import ReportError, load_experiment

    monkeypatch.setattr("sys.argv", ["/usr/local/bin/hyperdarts-grid"])
    assert program("benchmark/run.py") == "hyperdarts-grid"
    with pytest.raises(SystemExit):
        run_module.main(["--num-cpus", "0"])
    assert capsys.readouterr().err.startswith("hyperdarts-grid: error: argument --num-cpus:")
    with pytest.raises(ReportError, match="run `hyperdarts-grid --grid NAME` first"):
        load_experiment("/no/such/experiment")
    monkeypatch.setattr("sys.argv", ["benchmark/run.py"])
    assert program("analysis/report.py") == "python analysis/report.py"
