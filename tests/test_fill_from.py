"""The cells an experiment's searches found, trained into its table on a dataset its trials did not
evaluate (`benchmark/run.py --fill-from`), and its report reading them there as a transfer dataset
(`analysis/report.py --table-datasets`): CIFAR-100 transfer without searching again (here on
digits, which the tests make; tests/test_cell_tables.py reads a fake CIFAR-100)."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from analysis.lookups import with_table_datasets
from analysis.report import main as report_main
from analysis.tables import transfer_numbers
from benchmark import run as run_module
from benchmark.codec import FORMAT
from benchmark.grids import get_grid
from nas.spaces.nb201_cell import Cell
from resultstore.cells import CellTable
from resultstore.experiment import ReportError, load_experiment
from resultstore.store import ResultStore

SKIP = str(Cell(("skip_connect",) * 6))
CONV = str(Cell(("nor_conv_3x3",) * 6))
POOL = str(Cell(("avg_pool_3x3",) * 6))
# two strings of one computation (node 1 a skip of the input, then a convolution of node 1)
TWIN = "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|"
OTHER = "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|skip_connect~2|"
FOUND = {("first-order", 0): SKIP, ("first-order", 1): TWIN, ("first-order", 2): POOL,
         ("hyperdarts-mlp", 0): OTHER, ("hyperdarts-mlp", 1): CONV, ("hyperdarts-mlp", 2): SKIP}
MISSED = ("hyperdarts-mlp", 1)      # its cell was not in the table: found, not scored


def row(arch: str, seed: int, acc: float, dataset: str = "digits") -> dict:
    """One training of `arch` as a table of cells stores it."""
    return {"dataset": dataset, "arch": arch, "canonical": Cell.parse(arch).canonical(),
            "train_seed": seed, "test_acc": acc, "test_loss": 1.0, "train_acc": acc, "params": 100.0,
            "epochs": 2, "train_wall_s": 3.0, "train_cpu_s": 3.0, "device": "cpu", "source": "trained"}


def source_experiment(results, table: str, found: dict = FOUND):
    """An experiment folder of nb201 searches as benchmark/run.py writes one: each search's cell
    scored on CIFAR-10 by two trainings (one row for a missed search), its grid.json naming the
    table the searches looked their cells up in."""
    root = results / "src"
    store = ResultStore(root)
    for i, ((strategy, seed), cell) in enumerate(found.items()):
        key = {"experiment": "src", "strategy": strategy, "search_dataset": "cifar10", "seed": seed,
               "profile": "nb201-smoke", "eval_dataset": "cifar10", "genotype": cell, "reason": "",
               "strategy_options": "{}", "search_wall_s": 60.0, "search_cpu_s": 50.0,
               "search_device": "cpu", "search_epochs": 3, "params": 1e4, "eval_wall_s": 0.0,
               "eval_device": "cpu", "eval_cpu_s": None, "eval_epochs": 1, "test_loss": None,
               "table": "t", "table_train_s": 5.0,
               "lookup_match": "exact", "canonical": Cell.parse(cell).canonical()}
        rows = ([{**key, "repeat": 0, "status": "missed", "test_acc": None}] if (strategy, seed) == MISSED
                else [{**key, "repeat": r, "eval_seed": 1000 * r, "status": "finished",
                       "test_acc": 0.2 + 0.05 * i + 0.01 * r, "evaluated_by": "lookup"} for r in (0, 1)])
        store.write_part("trials", f"{strategy}__cifar10__s{seed}", rows)
    manifest = {"format": FORMAT, "grid": "nb201-smoke", "profile": {"space": "nb201"}, "trials": [],
                "table_path": str(results / "tables" / table)}
    (root / "grid.json").write_text(json.dumps(manifest))
    return root


def test_the_cells_an_experiment_found_are_trained_on_a_new_dataset_and_its_report_reads_them(
        ray_tmp, capsys):
    results = ray_tmp / "results"
    source_experiment(results, "tiny")   # (a table of its own: the shipped one is at another protocol)
    argv = ["--grid", "nb201-table", "--table", "tiny", "--fill-from", "src", "--results", str(results),
            "--datasets", "digits", "--eval-epochs", "1", "--num-cpus", "1",
            "--train-set", "channels=4", "--train-set", "cells_per_stage=1"]
    args = run_module.parse_args(argv)
    grid = run_module.declared_grid(args)
    cells = grid.profile.fill_list
    # one string per computation, the missed search's cell too, sorted
    assert grid.profile.fill == "found" and list(cells) == sorted(cells)
    assert sorted(Cell.parse(c).canonical() for c in cells) == sorted(
        {Cell.parse(c).canonical() for c in FOUND.values()}) and len(cells) == 4
    assert run_module.default_experiment(args, grid) == "nb201-table-from-src"
    # through Ray (the list of cells travels in the trial's profile), into the grid's own table
    assert run_module.main(argv) == 0
    fills = load_experiment(results / "nb201-table-from-src").fills
    assert list(fills.cells) == [4] and (fills.search_dataset == "digits").all()
    table = CellTable(results / "tables" / "tiny")
    rows = table.rows()
    assert set(rows.dataset) == {"digits"} and len(rows) == 4 * 2

    src = load_experiment(results / "src")
    with_new = with_table_datasets(src, table, ["digits"])
    added = with_new.trials[with_new.trials.eval_dataset == "digits"]
    assert len(added) == 5 * 2 and set(added.evaluated_by) == {"table after the search"}
    for r in added.itertuples():    # each the table's training of its cell, by canonical form
        mine = rows[(rows.canonical == Cell.parse(r.genotype).canonical()) & (rows.train_seed == r.eval_seed)]
        assert list(mine.test_acc) == [r.test_acc]
    numbers = transfer_numbers(with_new)
    assert set(numbers.transfer_dataset) == {"digits"} and set(numbers.n) == {2, 3}
    # the command line's report, in a folder of its own: the status line says where the dataset's
    # numbers come from, and they join the comparisons (a Holm-corrected difference on digits)
    assert report_main([str(results / "src"), "--no-toy", "--table-datasets", "digits"]) == 0
    out = results / "src" / "report-with-digits"
    assert "**Looked up after the searches** (`--table-datasets`): digits" in (out / "report.md").read_text()
    accuracy = pd.read_csv(out / "tables" / "accuracy.csv").set_index(["strategy", "eval_dataset"])
    assert accuracy.loc[("hyperdarts-mlp", "digits"), "vs_first_order_p_holm"] >= 0
    assert not (results / "src" / "report").exists()
    # without the option, the report says the table could add it
    assert "holds trainings on digits too" in with_table_datasets(src, table, ()).notes[0]
    # the same command again trains nothing; once the experiment has found another cell, it is
    # refused with what to do
    assert run_module.main(argv) == 0 and len(CellTable(results / "tables" / "tiny").rows()) == 4 * 2
    capsys.readouterr()
    source_experiment(results, "tiny", {("first-order", 3): str(Cell(("nor_conv_1x1",) * 6))})
    assert run_module.main(argv) == 2
    assert "have found others since" in capsys.readouterr().err


def test_fill_from_refuses_what_it_cannot_do_in_one_sentence(tmp_path, capsys):
    results = tmp_path / "results"
    source_experiment(results, "another-table")

    def refused(*argv) -> str:
        assert run_module.main([*argv, "--results", str(results), "--plan"]) == 2
        return capsys.readouterr().err

    assert "goes with a grid that fills a table of cells" in refused(
        "--grid", "nb201-smoke", "--fill-from", "src")
    assert "looked its cells up in the table another-table, not nb201-c8-n3-e2; give --table " \
           "another-table" in refused("--grid", "nb201-table", "--fill-from", "src")
    assert "no experiment 'nope'" in refused("--grid", "nb201-table", "--fill-from", "nope")
    assert "--seeds has no meaning there" in refused("--grid", "nb201-table", "--fill-from", "src",
                                                     "--seeds", "1")
    manifest = json.loads((results / "src" / "grid.json").read_text())
    (results / "src" / "grid.json").write_text(json.dumps({**manifest, "table_path": None}))
    assert "looked its cells up in no table of cells" in refused(
        "--grid", "nb201-table", "--fill-from", "src")
    # a profile of another fill than "found" holds no list, and "found" needs one
    profile = get_grid("nb201-table").profile
    for changes in ({"fill": "found"}, {"fill_list": (SKIP,)}):
        with pytest.raises(ValueError, match="fill 'found' and a fill_list go together"):
            dataclasses.replace(profile, **changes)


def test_fill_cells_trains_the_named_cells_once_per_computation_and_refuses_in_one_sentence(
        tmp_path, capsys):
    results = tmp_path / "results"
    conv_alone = "|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|skip_connect~2|"   # TWIN's computation
    argv = ["--grid", "nb201-table", "--results", str(results), "--fill-cells", SKIP, TWIN, conv_alone, CONV]
    args = run_module.parse_args(argv)
    grid = run_module.declared_grid(args)
    assert grid.profile.fill == "found" and grid.profile.fill_list == (SKIP, TWIN, CONV)
    name = run_module.default_experiment(args, grid)
    other = run_module.parse_args(argv[:-1])
    assert name.startswith("nb201-table-cells-") and name != run_module.default_experiment(
        other, run_module.declared_grid(other))
    assert run_module.main([*argv, "--plan"]) == 0
    assert "3 cells (listed) on cifar10-jpeg, 2 training(s) each" in capsys.readouterr().out

    def refused(*more) -> str:
        assert run_module.main([*more, "--results", str(results), "--plan"]) == 2
        return capsys.readouterr().err

    assert "--fill-cells goes with a grid that fills a table of cells" in refused(
        "--grid", "nb201-smoke", "--fill-cells", SKIP)
    assert "give one" in refused("--grid", "nb201-table", "--fill-cells", SKIP, "--fill-from", "src")
    assert "--seeds has no meaning there" in refused("--grid", "nb201-table", "--fill-cells", SKIP,
                                                     "--seeds", "1")
    assert "unknown operation 'conv'" in refused("--grid", "nb201-table", "--fill-cells", "|conv~0|")
    assert not results.exists()   # (a plan or a refusal writes nothing)


def test_a_report_reads_from_a_table_only_datasets_it_holds_every_found_cell_on(tmp_path):
    results = tmp_path / "results"
    source_experiment(results, "t")
    table = CellTable(results / "tables" / "t")
    table.require({"space": "nb201", "source": "trained here"}, create=True)
    src = load_experiment(results / "src")
    with pytest.raises(ReportError, match="evaluated cifar10 themselves"):
        with_table_datasets(src, table, ["cifar10"])
    with pytest.raises(ReportError, match=r"no training on digits of the cells that 5 of src's 5 "
                                          r"scored searches found; train them first: .* --fill-from "):
        with_table_datasets(src, table, ["digits"])
    scored = [c for k, c in FOUND.items() if k != MISSED]
    table.add([row(c, 0, 0.5) for c in scored])         # every scored cell once, some twice
    table.add([row(c, 1000, 0.4) for c in scored[:2]])
    with pytest.raises(ReportError, match=r"fewer trainings on digits .* \(1 against 2\); let the fill"):
        with_table_datasets(src, table, ["digits"])
    assert with_table_datasets(src, table, ()).notes[0].startswith("The table t holds trainings on digits")
    table.add([row(str(Cell(("nor_conv_1x1",) * 6)), 0, 0.5, dataset="svhn")])   # not the found cells
    assert "svhn" not in with_table_datasets(src, table, ()).notes[0]
