"""Tables of cells: lookups (exact and by canonical form), the protocol check, the noise ceiling,
percentiles, NAS-Bench-201's file through its official API, and a trial that evaluates by lookup
(hit, miss, train on miss, and the per-epoch lookups)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import chi2_contingency

from analysis.lookups import collapse_differences
from analysis.stats import homogeneity_exact
from benchmark.trial_state import TrialState
from nas.spaces.nb201_cell import Cell
from resultstore.cells import CellTable, TableError, import_published, open_published, resolve_table
from resultstore.experiment import Experiment

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
POOL = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"
# its convolution leads nowhere (node 2 is read by a `none` only): it computes the identity
DEAD_CONV = "|skip_connect~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"


def row(arch: str, seed: int, acc: float, dataset: str = "digits") -> dict:
    cell = Cell.parse(arch)
    return {"dataset": dataset, "arch": arch, "canonical": cell.canonical(), "train_seed": seed,
            "test_acc": acc, "test_loss": 1.0, "train_acc": acc, "params": 100.0, "epochs": 2,
            "train_wall_s": 3.0, "train_cpu_s": 3.0, "device": "cpu", "source": "trained"}


def test_a_lookup_finds_the_string_or_a_cell_of_its_canonical_form(tmp_path):
    table = CellTable(tmp_path / "t")
    table.require({"space": "nb201", "source": "trained here"}, create=True)
    table.add([row(BEST, 0, 0.9), row(BEST, 1000, 0.8), row(ALL_SKIP, 0, 0.5)])
    hit = table.lookup(BEST, Cell.parse(BEST).canonical(), "digits")
    assert hit.match == "exact" and hit.accs == (0.9, 0.8) and hit.seeds == (0, 1000)
    assert hit.mean == pytest.approx(0.85) and hit.sd == pytest.approx(np.std([0.9, 0.8], ddof=1))
    assert hit.cost_s == 6.0 and hit.n == 2
    # a string the table lacks, whose computation it has: node 1 a skip of the input, then a
    # convolution of node 1 is the convolution of the input
    twin = "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|"
    other = "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert Cell.parse(twin).canonical() == Cell.parse(other).canonical()
    table.add([row(other, 0, 0.7)])
    got = table.lookup(twin, Cell.parse(twin).canonical(), "digits")
    assert got.match == "canonical" and got.accs == (0.7,)
    assert table.lookup(POOL, Cell.parse(POOL).canonical(), "digits") is None
    assert table.lookup(BEST, Cell.parse(BEST).canonical(), "cifar10") is None
    # percentile among the table's architectures (ties half), on its own dataset
    assert table.percentile(0.85, "digits") == pytest.approx(100 * 2.5 / 3)
    assert table.percentile(0.1, "digits") == 0.0
    assert np.isnan(table.percentile(0.5, "cifar10"))
    # a retraining of the same (dataset, arch, seed) replaces its row instead of adding one
    table.add([row(BEST, 0, 0.95)])
    assert table.lookup(BEST, Cell.parse(BEST).canonical(), "digits").accs == (0.95, 0.8)


def test_a_table_serves_only_its_own_protocol(tmp_path):
    table = CellTable(tmp_path / "t")
    with pytest.raises(TableError, match="no table of cells at"):
        table.require({"space": "nb201", "train": {"epochs": 2}}, create=False)
    table.require({"space": "nb201", "train": {"epochs": 2}}, create=True)
    table.require({"space": "nb201", "train": {"epochs": 2}}, create=False)   # the same: fine
    with pytest.raises(TableError, match=r"another protocol than this profile's \(they differ in train\)"):
        table.require({"space": "nb201", "train": {"epochs": 3}}, create=True)


def test_the_noise_ceiling_of_a_table_is_computed_from_its_trainings(tmp_path):
    table = CellTable(tmp_path / "t")
    table.require({"space": "nb201"}, create=True)
    ops = ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    cells = [str(Cell((op,) * 6)) for op in ops]
    means = [0.5, 0.7, 0.9, 0.3]
    rows = []
    for arch, m in zip(cells, means):
        rows += [row(arch, 0, m + 0.01), row(arch, 1000, m - 0.01)]
    table.add(rows)
    ceiling = table.noise_ceiling("digits")
    assert ceiling["cells"] == 4 and ceiling["twice"] == 4
    assert ceiling["sd"] == pytest.approx(np.std([0.01, -0.01], ddof=1))      # every cell's
    assert ceiling["split_half_rho"] == pytest.approx(1.0)
    assert ceiling["separable_pairs"] == 1.0     # 0.2 apart at least, against 2 × 0.014
    # a fifth cell as good as the pooling one: 1 of the 10 pairs cannot be told apart
    table.add([row(str(Cell(("none",) * 6)), 0, 0.31), row(str(Cell(("none",) * 6)), 1000, 0.29)])
    assert table.noise_ceiling("digits")["separable_pairs"] == pytest.approx(9 / 10)


def test_table_references_resolve_to_folders(tmp_path):
    assert resolve_table(None, tmp_path) is None
    assert resolve_table("mine", tmp_path) == str(tmp_path / "mine")
    assert resolve_table(str(tmp_path / "x" / "y"), tmp_path / "z") == str(tmp_path / "x" / "y")
    a = resolve_table("nb201:/data/NATS-tss-v1_0-3ffb9-simple", tmp_path)
    assert a.startswith(str(tmp_path / "nb201-")) and a == resolve_table(
        "nb201:/data/NATS-tss-v1_0-3ffb9-simple", tmp_path)
    assert a != resolve_table("nb201:/other", tmp_path)


def fake_published(archs: list[str], acc, api: str = "nats_bench") -> dict:
    """A benchmark in NATS-Bench's topology format (`api` nats_bench), or in NAS-Bench-201's .pth
    format (`api` nas_201_api: the same results under 'full' and 'less'), made with the API's own
    classes: each cell trained on CIFAR-10 (train + valid, tested on ori-test), CIFAR-100 and
    ImageNet16-120 (tested on x-test) with seeds 777 and 888, for 2 "epochs" under the key of the
    200-epoch protocol."""
    import importlib

    utils = importlib.import_module(f"{api}.api_utils")
    ArchResults, ResultsCount = utils.ArchResults, utils.ResultsCount
    infos = {}
    for i, arch in enumerate(archs):
        result = ArchResults(i, arch)
        for dataset, split in (("cifar10", "ori-test"), ("cifar100", "x-test"),
                               ("ImageNet16-120", "x-test")):
            for seed in (777, 888):
                count = ResultsCount(dataset, None, {0: 10.0, 1: 20.0}, {0: 2.0, 1: 1.5}, 0.5,
                                     10.0, {}, seed, 2, [0.01])
                count.update_train_info({0: 10.0, 1: 20.0}, None, {0: 2.0, 1: 1.5}, {0: 1.0, 1: 1.0})
                names = [split] + ([] if dataset == "cifar10" else ["x-valid"])
                count.update_eval({f"{n}@{e}": acc(arch, dataset, seed) for n in names for e in range(2)},
                                  {f"{n}@{e}": 1.0 for n in names for e in range(2)},
                                  {f"{n}@{e}": 0.1 for n in names for e in range(2)})
                result.update(dataset, seed, count)
        infos[i] = ({"200": result.state_dict()} if api == "nats_bench" else
                    {"full": result.state_dict(), "less": result.state_dict()})
    return {"meta_archs": archs, "arch2infos": infos, "evaluated_indexes": list(range(len(archs)))}


def test_nas_bench_201s_file_is_read_through_its_official_api(tmp_path):
    pytest.importorskip("nats_bench")
    archs = [BEST, ALL_SKIP, POOL]
    base = {"cifar10": 90.0, "cifar100": 70.0, "ImageNet16-120": 40.0}

    def acc(arch, dataset, seed):
        return base[dataset] - 10.0 * archs.index(arch) + (0.5 if seed == 888 else -0.5)

    api = open_published(fake_published(archs, acc))
    assert api.meta_archs == archs
    table = CellTable(tmp_path / "nb201-x")
    assert import_published(fake_published(archs, acc), table) == 3 * 3 * 2
    assert table.protocol()["source"].startswith("NAS-Bench-201")
    for ours, theirs in (("cifar10", "cifar10"), ("cifar100", "cifar100"),
                         ("imagenet16-120", "ImageNet16-120")):
        hit = table.lookup(ALL_SKIP, Cell.parse(ALL_SKIP).canonical(), ours)
        assert hit.match == "exact" and hit.seeds == (777, 888)
        assert hit.accs == pytest.approx(((base[theirs] - 10.5) / 100, (base[theirs] - 9.5) / 100))
        assert hit.params == pytest.approx(0.5e6)
    assert table.percentile(table.lookup(BEST, "", "cifar10").mean, "cifar10") == pytest.approx(100 * 2.5 / 3)
    # imported once: a second import reads nothing
    assert import_published("/nonexistent/file", table) == 18
    with pytest.raises(TableError, match="does not exist"):
        open_published(str(tmp_path / "missing"))


def test_a_missing_api_is_named_in_one_sentence(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def no_api(name, *args, **kwargs):
        if name in ("nats_bench", "nas_201_api"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_api)
    (tmp_path / "b.pth").write_bytes(b"")
    for path in (tmp_path, tmp_path / "b.pth"):
        with pytest.raises(TableError, match=r"pip install 'hyperdarts-bench\[nb201\]'"):
            open_published(str(path))


# ---------------------------------------------------------------- a trial that looks its cell up

def lookup_spec(tmp_path, strategy: str = "first-order", **profile):
    from benchmark.grids import get_grid

    grid = get_grid("nb201-smoke")
    grid = dataclasses.replace(grid, profile=dataclasses.replace(
        grid.profile, **{"search_epochs": 2, "train": dataclasses.replace(grid.profile.train, epochs=1),
                         **profile}))
    (spec,) = [s for s in grid.trials("t", tables_root=tmp_path / "tables") if s.strategy == strategy]
    return spec


def test_a_search_s_steps_do_not_depend_on_what_its_table_held(tmp_path, tiny_digits, monkeypatch):
    """hyperDARTS draws its α-noise from the global random generator, which training a cell
    seeds (with the table's training seed): an epoch's lookup that trains a missing cell between
    two search epochs must leave that generator as it found it, so that the search takes the same
    steps whether its table lacked every cell (trained mid-search) or held them all."""
    from benchmark import trial

    monkeypatch.setattr(trial, "load_for_trial", lambda name, spec, search=False: tiny_digits)
    spec = lookup_spec(tmp_path, "hyperdarts-mlp", search_epochs=3)
    empty = trial.run_trial(spec, "cpu")
    trained = len(CellTable(spec.table_path).rows())
    full = trial.run_trial(spec, "cpu")
    assert trained > 2 and len(CellTable(spec.table_path).rows()) == trained   # (the second trained none)
    keys = ("genotype", "train_loss", "val_loss", "response_change")
    assert [[h[k] for k in keys] for h in empty.search_history] == \
        [[h[k] for k in keys] for h in full.search_history]


def test_a_trial_trains_its_missing_cells_into_the_table_and_then_looks_them_up(tmp_path, tiny_digits,
                                                                                 monkeypatch):
    from benchmark import trial

    monkeypatch.setattr(trial, "load_for_trial", lambda name, spec, search=False: tiny_digits)
    spec = lookup_spec(tmp_path)
    shown = []
    state = trial.run_trial(spec, "cpu", on_progress=lambda m, st: shown.append(m))
    assert state.status == "finished"
    table = CellTable(spec.table_path)
    assert table.protocol()["train"]["epochs"] == 1 and table.protocol()["source"] == "trained here"
    rows = table.rows()
    epoch_cells = [h["genotype"] for h in state.search_history]
    # every epoch's computation, trained twice (a cell of a computation the table has is not)
    computations = {Cell.parse(c).canonical() for c in epoch_cells}
    assert set(rows["canonical"]) == computations and set(rows["train_seed"]) == {0, 1000}
    assert len(rows) == 2 * len(computations)
    assert any(m.get("phase") == "table" for m in shown)
    # the found cell's evaluations are the table's trainings of it
    final = rows[rows["canonical"] == Cell.parse(state.genotype).canonical()].sort_values("train_seed")
    evals = sorted(state.evals.values(), key=lambda e: e["repeat"])
    assert [e["test_acc"] for e in evals] == list(final["test_acc"])
    assert [e["eval_seed"] for e in evals] == [0, 1000]
    assert {e["evaluated_by"] for e in evals} == {"lookup"}   # trained at the last epoch's lookup
    tables = state.rows(spec)
    search_rows = [r for r in tables["epochs"] if r["phase"] == "search"]
    assert [r["genotype"] for r in search_rows] == epoch_cells
    for r in search_rows:
        trained = rows[rows["canonical"] == Cell.parse(r["genotype"]).canonical()]
        assert r["lookup_n"] == 2 and r["lookup_acc"] == pytest.approx(trained["test_acc"].mean())
        # (the score a tuning chooses by: the first training's accuracy on its training images)
        assert r["lookup_train_acc"] == trained.sort_values("train_seed")["train_acc"].iloc[0]
        assert r["lookup_train_acc"] != pytest.approx(r["lookup_acc"])
    reported = [m for m in shown if m.get("phase") == "search"]
    assert [m["cell_train_acc"] for m in reported] == [r["lookup_train_acc"] for r in search_rows]
    assert {r["table"] for r in tables["trials"]} == {table.name}
    # the same search again, from nothing: it finds every cell in the table and trains none
    before = len(table.rows())
    again = trial.run_trial(spec, "cpu")
    assert len(CellTable(spec.table_path).rows()) == before and again.status == "finished"
    assert {e["evaluated_by"] for e in again.evals.values()} == {"lookup"}
    assert all(e["eval_wall_s"] == 0.0 and e["table_train_s"] > 0 for e in again.evals.values())


def test_a_grid_with_cifar100_at_hand_makes_its_cifar100_table(tmp_path, tiny_digits, fake_cifar100,
                                                               monkeypatch):
    """`--transfer-datasets cifar100` with CIFAR-100 in the data root (issue 32: the same grid makes
    its CIFAR-100 table): each found cell is trained into the table on CIFAR-100 too, at the
    table's protocol, and the trial scores it there by those trainings."""
    from benchmark import run as run_module
    from benchmark import trial

    load = trial.load_for_trial
    monkeypatch.setattr(trial, "load_for_trial", lambda name, spec, search=False:
                        tiny_digits if name == "digits" else load(name, spec, search))
    args = run_module.parse_args(["--grid", "nb201-smoke", "--strategies", "first-order",
                                  "--transfer-datasets", "cifar100", "--data-root", str(fake_cifar100),
                                  "--search-epochs", "2", "--eval-epochs", "1"])
    (spec,) = run_module.declared_grid(args).trials("t", tables_root=tmp_path / "tables")
    assert spec.eval_datasets == ("digits", "cifar100")
    state = trial.run_trial(spec, "cpu")
    assert state.status == "finished"
    rows = CellTable(spec.table_path).rows()
    found = Cell.parse(state.genotype).canonical()
    c100 = rows[rows["dataset"] == "cifar100"].sort_values("train_seed")
    assert set(c100["canonical"]) == {found}
    assert list(c100["train_seed"]) == [trial.table_seed(r) for r in range(spec.repeats("cifar100"))]
    evals = sorted((e for e in state.evals.values() if e["eval_dataset"] == "cifar100"),
                   key=lambda e: e["repeat"])
    assert [e["test_acc"] for e in evals] == list(c100["test_acc"])
    assert {e["evaluated_by"] for e in evals} == {"trained on miss"}
    # (the search's epochs are looked up on the search dataset only)
    assert set(rows.loc[rows["canonical"] != found, "dataset"]) <= {"digits"}


def test_a_miss_that_may_not_train_ends_the_trial_in_one_sentence(tmp_path, tiny_digits, monkeypatch):
    from benchmark import trial

    monkeypatch.setattr(trial, "load_for_trial", lambda name, spec, search=False: tiny_digits)
    spec = lookup_spec(tmp_path, on_miss="error", lookup_epochs=False)
    state = trial.run_trial(spec, "cpu")
    assert state.status == "missed" and "no table of cells at" in state.reason
    CellTable(spec.table_path).require(trial.table_protocol(spec), create=True)   # an empty table
    state = trial.run_trial(spec, "cpu")
    assert state.status == "missed"
    assert f"has no training of {state.genotype}" in state.reason
    (only,) = state.rows(spec)["trials"]
    assert only["status"] == "missed" and only["genotype"] == state.genotype
    # a table trained at another protocol is refused
    other = dataclasses.replace(spec, profile=dataclasses.replace(
        spec.profile, train=dataclasses.replace(spec.profile.train, epochs=3)))
    state = trial.run_trial(other, "cpu")
    assert state.status == "missed" and "another protocol" in state.reason


def test_a_profile_declares_its_table_consistently():
    from benchmark.grids import get_grid

    base = get_grid("nb201-smoke").profile
    with pytest.raises(ValueError, match="on_miss is 'error' or 'train'"):
        dataclasses.replace(base, on_miss="skip")
    with pytest.raises(ValueError, match="lookup_epochs and on_miss need a table"):
        dataclasses.replace(base, table=None)
    with pytest.raises(ValueError, match="cannot be trained into"):
        dataclasses.replace(base, table="nb201:/x")
    grid = get_grid("nb201-smoke").override(table="other", on_miss="error", lookup_epochs=False)
    assert (grid.profile.table, grid.profile.on_miss, grid.profile.lookup_epochs) == ("other", "error", False)


def test_a_cell_with_fewer_trainings_than_asked_is_topped_up_and_isomorphs_are_never_mixed(
        tmp_path, tiny_digits, monkeypatch):
    from benchmark import trial

    monkeypatch.setattr(trial, "load_for_trial", lambda name, spec, search=False: tiny_digits)
    spec = lookup_spec(tmp_path)
    table = CellTable(spec.table_path)
    table.require(trial.table_protocol(spec), create=True)
    twin = "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|"
    other = "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|skip_connect~2|"
    table.add([row(other, 0, 0.7)])       # a trial killed after its first training of `other`
    shown = []
    found, trained = trial.lookup_or_train(spec, table, Cell.parse(twin), "digits", torch.device("cpu"),
                                           lambda m, st: shown.append(st), {"mine": 1}, train=True)
    assert trained and found.match == "canonical" and found.seeds == (0, 1000)
    assert found.source_arch == other and found.accs[0] == 0.7      # the seed it had is kept
    assert set(table.rows().arch) == {other}                         # topped up, not a second string
    assert shown and all(st == {"mine": 1} for st in shown)          # the trial's state checkpoints
    # two isomorphic strings in the table (two trials at once): a lookup reads one, never a mix
    table.add([row(twin, 0, 0.1)])
    got = table.lookup(twin, Cell.parse(twin).canonical(), "digits")
    assert got.match == "exact" and got.accs == (0.1,)
    third = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"
    assert Cell.parse(third).canonical() == Cell.parse(twin).canonical()
    mixed = table.lookup(third, Cell.parse(third).canonical(), "digits")
    assert mixed.source_arch == other and mixed.n == 2               # the one trained most
    assert len(table.means("digits")) == 1                            # one computation, one cell


def test_the_split_half_correlation_pairs_each_cells_own_trainings(tmp_path):
    table = CellTable(tmp_path / "t")
    table.require({"space": "nb201"}, create=True)
    ops = ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "none")
    rows = []
    for i, op in enumerate(ops):   # each cell its own pair of seeds, ranks the same in both halves
        seeds = (777, 888) if i % 2 else (888, 999)
        arch = str(Cell((op,) * 6))
        rows += [row(arch, seeds[0], 0.1 * i + 0.01), row(arch, seeds[1], 0.1 * i)]
    table.add(rows)
    assert table.noise_ceiling("digits")["split_half_rho"] == pytest.approx(1.0)


def test_the_report_counts_missed_searches_and_their_collapse(tmp_path):
    import pandas as pd

    from analysis.lookups import lookup_table, lookups_by_seed
    from analysis.report import status_lines
    from resultstore.experiment import Experiment

    table = CellTable(tmp_path / "tables" / "t")
    table.require({"space": "nb201"}, create=True)
    table.add([row(BEST, 0, 0.9), row(BEST, 1000, 0.8), row(POOL, 0, 0.4), row(POOL, 1000, 0.5)])
    key = {"experiment": "e", "search_dataset": "digits", "profile": "p"}
    trials = pd.DataFrame([
        {**key, "strategy": "first-order", "seed": s, "eval_dataset": "digits", "repeat": r,
         "status": "finished", "genotype": g, "test_acc": acc, "reason": ""}
        for s, g, accs in ((0, BEST, (0.9, 0.8)), (1, POOL, (0.4, 0.5))) for r, acc in enumerate(accs)
    ] + [{**key, "strategy": "hyperdarts-mlp", "seed": 0, "eval_dataset": "", "repeat": 0,
          "status": "missed", "genotype": ALL_SKIP, "test_acc": None,
          "reason": "the table t has no training of ALL_SKIP on digits"}])
    exp = Experiment(tmp_path / "e", trials, pd.DataFrame(), pd.DataFrame(), space="nb201",
                     table_path=str(table.root))
    t = lookup_table(exp, table)
    (heading, frame), = t.blocks
    assert ("ranked among 2 cells, the cells the table holds (not a sample of the space: the "
            "searches filled it); the best of them 85.00%") in heading
    fo, hd = (frame[frame.strategy == s].iloc[0] for s in ("first-order", "hyperdarts-mlp"))
    assert fo["searches scored"] == 2 and fo["missed"] == 0 and fo["collapsed"].startswith("1/2")
    assert fo["regret (pts)"].startswith("20.00") and fo["percentile"].startswith("50.0")
    assert fo["input cut off"] == "0/2"
    assert hd["searches scored"] == 0 and hd["missed"] == 1 and hd["collapsed"].startswith("1/1")
    assert hd["looked-up accuracy (%)"] == "—"
    assert any(line.startswith("**Missed**") and "hyperdarts-mlp on digits, seed 0" in line
               for line in status_lines(exp))
    # per seed: the accuracy, marked where the cell collapsed or the table lacked it
    (_, by_seed), = lookups_by_seed(exp, table).blocks
    assert by_seed.to_dict("records") == [
        {"seed": 0, "first-order": "85.00", "hyperdarts-mlp": "missed"},
        {"seed": 1, "first-order": "45.00 (collapsed)", "hyperdarts-mlp": "—"}]


def test_the_driver_refuses_a_table_that_cannot_serve_the_grid_before_any_search(tmp_path):
    from benchmark import run as run_module
    from benchmark.grids import get_grid
    from benchmark.trial import table_protocol

    # (a table of a name the repository does not ship: nb201-smoke's would start as its copy)
    grid = get_grid("nb201-smoke").override(on_miss="error", lookup_epochs=False, table="unshipped")
    specs = grid.trials(tables_root=tmp_path)
    with pytest.raises(run_module.UsageError, match="there is no table of cells at"):
        run_module.prepare_table(grid, specs)
    table = CellTable(specs[0].table_path)
    table.require(table_protocol(specs[0]), create=True)
    table.add([row(BEST, 0, 0.9, dataset="fashion-mnist")])
    with pytest.raises(run_module.UsageError, match="holds no cell on digits, which this grid evaluates on"):
        run_module.prepare_table(grid, specs)
    other = get_grid("nb201-smoke").override(eval_epochs=5, table="unshipped")   # trains on a miss, at 5
    with pytest.raises(run_module.UsageError, match="another protocol"):
        run_module.prepare_table(other, other.trials(tables_root=tmp_path))
    fresh = get_grid("nb201-smoke").override(table="new")        # made now, at its protocol
    run_module.prepare_table(fresh, fresh.trials(tables_root=tmp_path))
    assert CellTable(tmp_path / "new").protocol()["train"]["epochs"] == 2
    shipped = get_grid("nb201-smoke").override(on_miss="error")  # starts as the shipped copy
    run_module.prepare_table(shipped, shipped.trials(tables_root=tmp_path))
    assert len(CellTable(tmp_path / "nb201-smoke").rows()) == 44


def test_nas_bench_201s_own_pth_file_is_read_through_its_api(tmp_path):
    pytest.importorskip("nas_201_api")
    archs = [BEST, ALL_SKIP]

    def acc(arch, dataset, seed):
        return {"cifar10": 94.0, "cifar100": 73.0, "ImageNet16-120": 46.0}[dataset] - 40 * archs.index(arch)

    path = tmp_path / "NAS-Bench-201-v1_1-test.pth"
    torch.save(fake_published(archs, acc, api="nas_201_api"), path)
    table = CellTable(tmp_path / "nb201-pth")
    assert import_published(str(path), table) == 2 * 3 * 2
    hit = table.lookup(ALL_SKIP, "", "imagenet16-120")
    assert hit.accs == pytest.approx((0.06, 0.06)) and hit.seeds == (777, 888)
    assert table.protocol()["file"] == str(path)


# ---------------------------------------------------------------- a grid that fills its table

def test_a_fill_grid_is_chunks_of_its_cells_and_each_trains_them_into_the_table(tmp_path, tiny_digits,
                                                                               monkeypatch):
    from benchmark import trial
    from benchmark.fills import fill_cells
    from benchmark.grids import get_grid
    from nas.spaces.nb201_cell import NB201_BEST

    grid = get_grid("nb201-pilot")
    cells = fill_cells(grid.profile)
    assert len(cells) == 21 and cells[4] == NB201_BEST and len(set(cells)) == 21
    assert cells[:4] == [str(Cell((op,) * 6)) for op in ("skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                                                         "avg_pool_3x3")]
    assert len({Cell.parse(c).canonical() for c in cells}) == 21       # distinct computations
    specs = grid.trials(tables_root=tmp_path)
    assert [s.seed for s in specs] == [0, 1, 2, 3, 4, 5] and {s.kind for s in specs} == {"table-fill"}
    assert [c for s in specs for c in trial.fill_chunk(s)] == cells
    with pytest.raises(ValueError, match="fill is all, pilot, random:N .* or found"):
        dataclasses.replace(grid.profile, fill="some")
    with pytest.raises(ValueError, match="name one"):
        dataclasses.replace(grid.profile, table=None)
    assert len(fill_cells(dataclasses.replace(grid.profile, fill="all"))) == 6_466

    monkeypatch.setattr(trial, "load_for_trial", lambda name, spec, search=False: tiny_digits)
    profile = dataclasses.replace(grid.profile, fill="random:3", fill_chunk=2,
                                  train=dataclasses.replace(grid.profile.train, epochs=1, channels=4))
    small = dataclasses.replace(grid, profile=profile, search_datasets=("digits",))
    first, second = small.trials(tables_root=tmp_path)
    state = trial.run_trial(first, "cpu")
    table = CellTable(first.table_path)
    assert state.status == "finished" and len(table.rows()) == 2 * 2      # 2 cells, 2 trainings
    assert set(table.rows().train_seed) == {0, 1000}
    (row_,) = state.rows(first)["fills"]
    assert row_["cells"] == 2 and row_["trained_now"] == 2 and row_["table"] == table.name
    # a chunk stopped after its first cell goes on from the second; the first is not trained again
    partial = TrialState(cells={trial.fill_chunk(second)[0]: {"test_acc": 0.5, "trainings": 2,
                                                              "trained": True}})
    again = trial.run_trial(second, "cpu", state=partial)
    assert again.status == "finished" and len(CellTable(first.table_path).rows()) == 2 * 2
    assert trial.run_trial(first, "cpu").cells and len(CellTable(first.table_path).rows()) == 4


def test_a_tables_report_says_what_it_can_rank_and_what_it_costs(tmp_path):
    from analysis.lookups import named_cells, table_numbers, table_summary

    table = CellTable(tmp_path / "t")
    table.require({"space": "nb201"}, create=True)
    rows = []
    for i, op in enumerate(("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")):
        arch = str(Cell((op,) * 6))
        rows += [{**row(arch, s, 0.3 + 0.1 * i + d), "train_cpu_s": 10.0 + i}
                 for s, d in ((0, 0.01), (1000, -0.01))]
    table.add(rows)
    n = table_numbers(table, "digits")
    # only named cells: the cost of the space from theirs
    assert n["cpu_s_mean"] == pytest.approx(11.5) and n["cpu_s_mean_of"] == 8
    assert n["core_hours_all"] == pytest.approx(6466 * 2 * 11.5 / 3600)
    # a drawn cell: the space's cost from the drawn cells alone (the uniform ones are extremes)
    drawn = "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|"
    table.add([{**row(drawn, s, 0.5 + d), "train_cpu_s": 20.0} for s, d in ((0, 0.01), (1000, -0.01))])
    n = table_numbers(table, "digits")
    assert n["cells"] == 5 and n["trainings"] == 10 and n["trainings_per_cell"] == 2
    assert n["all_skip"] == pytest.approx(30.0) and n["best"] == pytest.approx(60.0)
    assert n["gap_best_skip"] == pytest.approx(30.0)
    assert n["sd_train"] == pytest.approx(100 * np.std([0.01, -0.01], ddof=1))
    assert n["gap_in_sds"] == pytest.approx(30.0 / n["sd_train"])
    assert n["anova_p"] < 1e-3 and n["cpu_s_median"] == pytest.approx(12.0)
    assert n["cpu_s_mean"] == pytest.approx(20.0) and n["cpu_s_mean_of"] == 2
    assert n["core_hours_all"] == pytest.approx(6466 * 2 * 20.0 / 3600)
    assert set(named_cells(table)) == {"all-skip_connect", "all-nor_conv_1x1", "all-nor_conv_3x3",
                                       "all-avg_pool_3x3"}
    t = table_summary(table)
    assert "the best cell is 30.00 points above the all-skip cell (30.00%)" in t.text[0]
    assert t.blocks[0][1]["accuracy (%)"].iloc[0] == "31.00, 29.00"


def test_a_table_keeps_its_rows_across_adds_and_compacts_into_one_file(tmp_path, monkeypatch):
    """A fill adds thousands of trainings: the table is not read again after each (its rows so far
    are joined with the new ones), and compacting it leaves one file that reads the same."""
    from resultstore.store import ResultStore

    table = CellTable(tmp_path / "t")
    table.require({"space": "nb201", "source": "trained here"}, create=True)
    table.add([row(BEST, 0, 0.9)])
    assert len(table.rows()) == 1
    reads = []
    real = ResultStore.read
    monkeypatch.setattr(ResultStore, "read", lambda self, t: reads.append(t) or real(self, t))
    table.add([row(ALL_SKIP, 0, 0.5), row(ALL_SKIP, 1000, 0.4)])
    table.add([row(BEST, 0, 0.95)])                       # a retraining replaces its row
    kept = table.rows().sort_values(["arch", "train_seed"]).reset_index(drop=True)
    assert reads == []
    fresh = CellTable(tmp_path / "t").rows().sort_values(["arch", "train_seed"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(kept[fresh.columns], fresh)
    assert table.lookup(BEST, Cell.parse(BEST).canonical(), "digits").accs == (0.95,)
    assert table.compact() == 3                           # one part per training
    assert [p.name for p in (tmp_path / "t").iterdir() if p.suffix == ".parquet"] == ["cells.parquet"]
    assert not list((tmp_path / "t" / "parts" / "cells").glob("*.parquet"))
    again = CellTable(tmp_path / "t")
    assert again.lookup(ALL_SKIP, Cell.parse(ALL_SKIP).canonical(), "digits").accs == (0.5, 0.4)
    assert again.lookup(BEST, Cell.parse(BEST).canonical(), "digits").accs == (0.95,)


def test_a_whole_space_is_filled_in_a_seeded_random_order():
    """So that a table filled part of the way holds a uniform sample of the space's cells."""
    from benchmark.fills import fill_cells
    from benchmark.grids import get_grid
    from nas.spaces.nb201_cell import distinct_cells

    profile = dataclasses.replace(get_grid("nb201-pilot").profile, fill="all")
    order = fill_cells(profile)
    index_order = [str(c) for c in distinct_cells(4)]
    assert sorted(order) == sorted(index_order) and order != index_order
    assert fill_cells(profile) == order                    # the same order every time
    # the first tenth is spread over the space like the whole; NAS-Bench-201's index order is not
    def share(cells, op):
        return sum(Cell.parse(c).ops[0] == op for c in cells) / len(cells)   # on the first edge

    for op in ("skip_connect", "nor_conv_3x3", "avg_pool_3x3"):
        assert abs(share(order[:647], op) - share(order, op)) < 0.05
    assert share(index_order[:647], "skip_connect") > 0.8 > 0.2 > share(order, "skip_connect")


def test_a_search_is_ranked_among_a_uniform_sample_of_the_space_not_among_what_searches_found(
        tmp_path, monkeypatch):
    """While a fill of the whole space is under way, percentile and regret count only the blocks of
    the fill's random order that the table holds whole, in whatever order the fill did them; cells
    the searches trained into the table besides are left out; a complete table ranks among every
    cell."""
    import pandas as pd

    import resultstore.cells
    from analysis.lookups import lookup_numbers
    from nas.spaces import space_config
    from resultstore.cells import fill_order, uniform_sample
    from resultstore.experiment import Experiment

    monkeypatch.setattr(resultstore.cells, "SAMPLE_BLOCK", 3)    # (the tiny space has 9 cells)

    options = {"nodes": 3, "ops": ["none", "skip_connect", "nor_conv_3x3"]}
    order = fill_order("nb201", space_config("nb201", **options))
    assert len(order) == len({Cell.parse(c).canonical() for c in order}) >= 6
    table = CellTable(tmp_path / "tables" / "t")
    table.require({"space": "nb201", "source": "trained here"}, create=True)
    accs = {c: 0.1 * (i + 1) for i, c in enumerate(order)}
    table.add([row(c, 0, accs[c]) for c in order[:3]])         # the fill's first three cells
    searched = order[-1]                                      # a cell a search trained, far on
    table.add([row(searched, 0, 0.99)])
    means, among = uniform_sample(table, "digits", order)
    assert among == "sample" and sorted(means.round(2)) == [0.1, 0.2, 0.3]
    key = {"experiment": "e", "search_dataset": "digits", "profile": "p", "strategy": "first-order",
           "eval_dataset": "digits", "repeat": 0, "status": "finished", "reason": ""}
    trials = pd.DataFrame([{**key, "seed": 0, "genotype": searched, "test_acc": 0.99},
                           {**key, "seed": 1, "genotype": order[1], "test_acc": 0.2}])
    exp = Experiment(tmp_path / "e", trials, pd.DataFrame(), pd.DataFrame(), space="nb201",
                     table_path=str(table.root), space_options=options)
    num = lookup_numbers(exp, table).set_index("seed")
    assert (num.ranked_among == "sample").all() and (num.table_cells == 3).all()
    assert num.percentile[0] == 100.0 and num.regret[0] == pytest.approx(30 - 99)
    assert num.percentile[1] == pytest.approx(100 * 1.5 / 3) and num.regret[1] == pytest.approx(10)
    # a block with a gap is left out; a whole block after it counts
    table.add([row(c, 0, accs[c]) for c in order[4:]])
    means, among = uniform_sample(table, "digits", order)
    whole = [Cell.parse(c).canonical() for c in order[:3] + order[6:]]
    assert among == "sample" and sorted(means.index) == sorted(whole)
    table.add([row(order[3], 0, accs[order[3]])])
    means, among = uniform_sample(table, "digits", order)
    assert among == "space" and len(means) == len(order)
    # without a space to order (no options recorded), every cell the table holds
    bare = Experiment(tmp_path / "e", trials, pd.DataFrame(), pd.DataFrame(), space="darts",
                      table_path=str(table.root))
    assert (lookup_numbers(bare, table).ranked_among == "table").all()


def test_the_plan_of_a_fill_grid_counts_what_the_table_holds_and_costs_the_rest(tmp_path):
    from benchmark.grids import get_grid
    from benchmark.plan import plan

    grid = get_grid("nb201-pilot")
    text = plan(grid, tmp_path / "nb201-pilot", None, None, cpus=2, tables_root=tmp_path)
    assert "21 cells (pilot) on cifar10-jpeg, 2 training(s) each" in text
    assert "42 trainings, in 6 trials of 4 cells" in text
    assert "the table holds 0 of them; 42 to train" in text and "no training of this table yet" in text
    table = CellTable(tmp_path / grid.profile.table)
    table.require({"space": "nb201"}, create=True)
    from benchmark.fills import fill_cells

    first = fill_cells(grid.profile)[0]
    table.add([{**row(first, s, 0.3, dataset=grid.search_datasets[0]), "train_cpu_s": 90.0}
               for s in (0, 1000, 2000)])          # a third training counts for no other cell
    text = plan(grid, tmp_path / "nb201-pilot", None, None, cpus=2, tables_root=tmp_path)
    assert "the table holds 2 of them; 40 to train" in text
    assert "90.0 CPU-seconds a training (mean of the table's 3)" in text
    assert "1.0 h of CPU for the rest, about 30 min of wall time on 2 slot(s)" in text
    # a dataset the table has no training on yet is costed at the others' trainings
    other = grid.override(datasets=["digits"])
    text = plan(other, tmp_path / "nb201-pilot", None, None, cpus=2, tables_root=tmp_path)
    assert "the table holds 0 of them; 42 to train" in text
    assert "90.0 CPU-seconds a training (mean of the table's 3 on cifar10-jpeg; none on digits yet)" in text


def test_collapse_shares_are_compared_with_the_baselines_with_intervals_and_holm(tmp_path):
    import pandas as pd
    from scipy.stats import fisher_exact

    from analysis.lookups import collapse_differences
    from resultstore.experiment import Experiment

    cells = {True: ALL_SKIP, False: BEST}
    key = {"experiment": "e", "search_dataset": "digits", "profile": "p", "eval_dataset": "digits",
           "repeat": 0, "status": "finished", "test_acc": 0.5, "reason": ""}
    plan = {"first-order": 8, "hyperdarts-mlp": 1, "first-order-smoothed": 6, "random": 0}
    trials = pd.DataFrame([{**key, "strategy": s, "seed": i, "genotype": cells[i < k]}
                           for s, k in plan.items() for i in range(10)])
    exp = Experiment(tmp_path / "e", trials, pd.DataFrame(), pd.DataFrame(), space="nb201")
    t = collapse_differences(exp)
    n = t.numbers.set_index(["strategy", "baseline"])
    assert len(n) == 6          # fo-random; mlp-fo, mlp-random, mlp-smoothed; smoothed-fo, smoothed-random
    r = n.loc[("hyperdarts-mlp", "first-order")]
    assert (r.collapsed, r.searches, r.baseline_collapsed) == (1, 10, 8)
    assert r["diff"] == pytest.approx(-70.0) and r.diff_lo < -70 < r.diff_hi < 0
    assert r.p == pytest.approx(fisher_exact([[1, 9], [8, 2]]).pvalue)
    assert r.p_holm >= r.p and r.verdict == "differs"
    assert r.mde_holm > r.mde > 0
    same = n.loc[("first-order-smoothed", "first-order")]
    assert same.p_holm == 1.0 and same.verdict in {"not detectable", "not significant"}
    (heading, frame), = t.blocks
    assert heading == "Searched on digits: 6 comparisons"
    row = frame[(frame.strategy == "hyperdarts-mlp") & (frame.against == "first-order")].iloc[0]
    assert row["collapsed"] == "1/10 vs 8/10" and row["difference (pts)"].startswith("-70 [")


def test_a_second_collapse_count_reads_the_computation_and_says_it_came_after_the_fact(tmp_path):
    # hyperdarts-mlp's cells on seeds 0-4 have convolutions, all dead ends: the output is the input
    dead = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
    key = {"experiment": "e", "search_dataset": "digits", "profile": "p", "eval_dataset": "digits",
           "repeat": 0, "status": "finished", "test_acc": 0.5, "reason": ""}
    cells = {"first-order": lambda i: ALL_SKIP if i < 6 else BEST,
             "hyperdarts-mlp": lambda i: dead if i < 5 else BEST,
             "first-order-smoothed": lambda i: BEST, "random": lambda i: BEST}
    trials = pd.DataFrame([{**key, "strategy": s, "seed": i, "genotype": f(i)}
                           for s, f in cells.items() for i in range(10)])
    exp = Experiment(tmp_path / "e", trials, pd.DataFrame(), pd.DataFrame(), space="nb201")
    edges = collapse_differences(exp).numbers.set_index(["strategy", "baseline"])
    t = collapse_differences(exp, by_computation=True)
    computed = t.numbers.set_index(["strategy", "baseline"])
    assert t.name == "collapse_by_computation" and "not pre-declared" in t.note
    assert "with probability 10.5% (1,642 of 15,625 cells), by the pre-declared one 4.7% (729)" in t.note
    assert edges.loc[("hyperdarts-mlp", "first-order"), "collapsed"] == 0
    r = computed.loc[("hyperdarts-mlp", "first-order")]
    assert (r.collapsed, r.baseline_collapsed) == (5, 6) and r["diff"] == pytest.approx(-10.0)
    assert computed.loc[("first-order", "random"), "collapsed"] == 6   # (the same as by its edges)
    # its heading carries the tests across the searching strategies (random is a baseline)
    chi2 = chi2_contingency([[6, 4], [5, 5], [0, 10]], correction=False).pvalue
    exact = homogeneity_exact([(6, 10), (5, 10), (0, 10)])
    (heading, _), = t.blocks
    assert heading.startswith("Searched on digits: 6 comparisons; across the 3 searching strategies")
    assert f"exact test p = {exact:.3f}, χ² test of homogeneity p = {chi2:.3f}" in heading
    # one searching strategy: no test across strategies
    alone = Experiment(tmp_path / "e", trials[trials.strategy.isin(["first-order", "random"])],
                       pd.DataFrame(), pd.DataFrame(), space="nb201")
    assert collapse_differences(alone, by_computation=True).blocks[0][0] == "Searched on digits: 1 comparison"


def test_a_table_named_but_not_made_starts_from_the_shipped_copy(tmp_path):
    """A fresh clone's first search reads the table shipped in results/examples/tables; its misses
    go into its own copy, never into the repository's."""
    from resultstore.cells import SHIPPED_TABLES, start_from_shipped

    shipped = tmp_path / "shipped"
    source = CellTable(shipped / "t")
    source.require({"space": "nb201", "source": "trained here"}, create=True)
    source.add([row(BEST, 0, 0.9), row(BEST, 1000, 0.8)])
    source.compact()
    mine = tmp_path / "results" / "tables" / "t"
    assert start_from_shipped("t", mine, shipped) == 2
    assert CellTable(mine).lookup(BEST, Cell.parse(BEST).canonical(), "digits").n == 2
    CellTable(mine).add([row(ALL_SKIP, 0, 0.3)])
    assert len(CellTable(shipped / "t").rows()) == 2             # the shipped copy is untouched
    # never over a table that exists, for a path, for another name or for NAS-Bench-201's file
    assert start_from_shipped("t", mine, shipped) == 0 and len(CellTable(mine).rows()) == 3
    assert start_from_shipped(str(shipped / "t"), tmp_path / "x", shipped) == 0
    assert start_from_shipped("other", tmp_path / "y", shipped) == 0 and not (tmp_path / "y").exists()
    assert start_from_shipped("nb201:/some/file", tmp_path / "z", shipped) == 0
    # the repository ships the tables of its examples, and issue 32's table of cells at CPU scale
    assert (SHIPPED_TABLES / "nb201-smoke" / "table.json").is_file()
    assert (SHIPPED_TABLES / "nb201-c8-n3-e2" / "table.json").is_file()


def test_a_trial_reads_its_data_once_per_process(monkeypatch):
    """A fill trial trains many cells on the same data: it is read and cut once."""
    import dataclasses

    from benchmark import trial
    from benchmark.grids import get_grid

    calls = []
    real = trial.load_dataset
    monkeypatch.setattr(trial, "load_dataset", lambda *a, **k: calls.append(a) or real(*a, **k))
    trial._load_cut.cache_clear()
    spec = get_grid("nb201-smoke").trials()[0]
    spec = dataclasses.replace(spec, profile=dataclasses.replace(spec.profile, train_subset=100,
                                                                 image_size=6))
    first = trial.load_for_trial("digits", spec)
    assert trial.load_for_trial("digits", spec) is first and len(calls) == 1
    assert len(first.train_y) == 100 and first.image_size == 6
    other = dataclasses.replace(spec, profile=dataclasses.replace(spec.profile, train_subset=50))
    assert len(trial.load_for_trial("digits", other).train_y) == 50 and len(calls) == 2
    trial._load_cut.cache_clear()


def test_the_plan_of_a_grid_with_a_table_gives_the_scale_of_its_cells(tmp_path):
    from benchmark.grids import get_grid
    from benchmark.plan import plan

    grid = get_grid("nb201-smoke").override(seeds=(0, 1, 2))
    table = CellTable(tmp_path / "nb201-smoke")
    table.require({"space": "nb201"}, create=True)
    table.add([row(c, 0, acc) for c, acc in ((BEST, 0.9), (ALL_SKIP, 0.5), (POOL, 0.4))])
    text = plan(grid, tmp_path / "x", None, None, cpus=2, tables_root=tmp_path)
    sd = 100 * np.std([0.9, 0.5, 0.4], ddof=1)
    assert f"the cells of the table nb201-smoke differ by an sd of {sd:.2f} points (3 cells" in text
    assert "DARTS's published test errors" not in text
    assert "30 points need 43 searches per strategy" in text


def test_a_found_cell_whose_output_ignores_its_input_is_counted(tmp_path):
    """`none` on every edge out of the input: the network predicts one class whatever its
    convolutions (issue 32's first fresh-clone search found one after 10 epochs)."""
    import pandas as pd

    from analysis.lookups import lookup_table
    from resultstore.experiment import Experiment

    cut = "|none~0|+|none~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    assert Cell.parse(cut).is_zero() and not Cell.parse(BEST).is_zero()
    table = CellTable(tmp_path / "t")
    table.require({"space": "nb201"}, create=True)
    table.add([row(cut, 0, 0.1), row(BEST, 0, 0.9)])
    key = {"experiment": "e", "search_dataset": "digits", "profile": "p", "strategy": "first-order",
           "eval_dataset": "digits", "repeat": 0, "status": "finished", "reason": ""}
    trials = pd.DataFrame([{**key, "seed": 0, "genotype": cut, "test_acc": 0.1},
                           {**key, "seed": 1, "genotype": BEST, "test_acc": 0.9}])
    exp = Experiment(tmp_path / "e", trials, pd.DataFrame(), pd.DataFrame(), space="nb201")
    t = lookup_table(exp, table)
    (_, frame), = t.blocks
    assert frame.iloc[0]["input cut off"] == "1/2" and frame.iloc[0]["collapsed"].startswith("0/2")
    assert t.numbers.iloc[0]["cut_off"] == 1


def test_random_search_chooses_by_one_training_scores_by_the_other_at_a_search_s_budget(tmp_path):
    """Random search, the lookups' control: as many cells as a first-order search costs trainings,
    drawn per seed from the cells ranked against; the one whose first training reached the highest
    training accuracy is chosen (not the highest test accuracy) and scored by its other training,
    so a cell lucky in its first training does not keep its luck."""
    from analysis.lookups import lookup_table, lookups_by_seed, random_search, search_budget
    from nas.spaces import space_config
    from resultstore.cells import fill_order
    from resultstore.experiment import Experiment

    options = {"nodes": 3, "ops": ["none", "skip_connect", "nor_conv_3x3"]}
    order = fill_order("nb201", space_config("nb201", **options))
    table = CellTable(tmp_path / "tables" / "t")
    table.require({"space": "nb201", "source": "trained here"}, create=True)
    n = len(order)
    # the first training: training accuracy rising along `order`, test accuracy falling; the
    # second: test accuracy falling along `order`
    first = [{**row(c, 0, 0.5 - 0.01 * i), "train_acc": 0.1 + 0.01 * i} for i, c in enumerate(order)]
    table.add(first + [row(c, 1000, 0.4 - 0.01 * i) for i, c in enumerate(order)])
    means = table.means("digits")
    # a budget of every cell: the last of `order` is chosen (the best training accuracy, the worst
    # test accuracy), and scored by its second training
    r = random_search(table, "digits", means, n, seeds=[0, 1])
    last = Cell.parse(order[-1]).canonical()
    assert list(r.cell) == [last, last] and (r.pool == n).all()
    assert r.acc.tolist() == pytest.approx([100 * (0.4 - 0.01 * (n - 1))] * 2)
    assert r.regret.tolist() == pytest.approx([100 * means.max() - r.acc[0]] * 2)
    # a budget of one: one drawn cell a seed, the same for the same seed
    one = random_search(table, "digits", means, 1, seeds=[0, 1, 2, 0])
    assert one.cell[0] == one.cell[3] and len(set(one.cell)) > 1
    # the budget: the finished first-order searches' median CPU-seconds over the trainings' (3 s)
    key = {"experiment": "e", "search_dataset": "digits", "profile": "p", "eval_dataset": "digits",
           "repeat": 0, "status": "finished", "reason": "", "test_acc": 0.3}
    searches = [{**key, "strategy": "first-order", "seed": s, "genotype": order[s],
                 "search_cpu_s": cpu} for s, cpu in enumerate((6.0, 12.0, 90.0))]
    diverged = {**searches[0], "seed": 3, "status": "diverged", "search_cpu_s": 0.1}
    baseline = {**key, "strategy": "random", "seed": 0, "genotype": order[1], "search_cpu_s": 0.0}
    exp = Experiment(tmp_path / "e", pd.DataFrame([*searches, diverged, baseline]), pd.DataFrame(),
                     pd.DataFrame(), space="nb201", table_path=str(table.root), space_options=options)
    assert search_budget(exp, table, "digits") == 4 < n
    lookups = lookup_table(exp, table)
    rs = lookups.numbers[lookups.numbers.strategy == "random-search"]
    assert len(rs) == 1 and rs.budget.iloc[0] == 4 and rs.pool.iloc[0] == n
    assert rs.searches.iloc[0] == 3          # (seeds 0-2: the diverged seed 3 was not scored)
    assert lookups.blocks[0][1].strategy.iloc[-1] == f"random search (best of 4 of {n} cells)"
    by_seed = lookups_by_seed(exp, table)    # and each seed's draw beside that seed's searches
    draws = random_search(table, "digits", means, 4, seeds=[0, 1, 2]).acc
    assert by_seed.blocks[0][1]["random search"].tolist() == [f"{a:.2f}" for a in draws]
    # a budget that reaches the whole pool would choose the same cell on every seed: no row
    slow = exp.trials.assign(search_cpu_s=exp.trials.search_cpu_s * 100)
    exp = dataclasses.replace(exp, trials=slow)
    assert "random-search" not in set(lookup_table(exp, table).numbers.strategy)


def test_an_accuracy_s_and_a_percentile_s_interval_stay_on_their_scale_a_regret_s_does_not():
    from analysis.lookups import on_scale

    assert on_scale((50.0, -20.0, 120.0, 2), "percentile") == (50.0, 0.0, 100.0, 2)
    assert on_scale((30.0, -5.0, 65.0, 2), "acc") == (30.0, 0.0, 65.0, 2)
    assert on_scale((3.0, -20.0, 26.0, 2), "regret") == (3.0, -20.0, 26.0, 2)
    mean, lo, hi, n = on_scale((30.0, float("nan"), float("nan"), 1), "acc")
    assert (mean, n) == (30.0, 1) and np.isnan(lo) and np.isnan(hi)


def test_whether_the_searching_strategies_differ_at_all_is_tested(tmp_path):
    """Friedman's test by seed (the ANOVA beside it) of the looked-up accuracy and a χ² test of
    the collapse share across the searching strategies; the random cell, a strategy that did not run
    as configured and one with a single search are left out, the last two named."""
    import pandas as pd
    from scipy import stats

    from analysis.lookups import strategies_differ
    from analysis.stats import holm
    from resultstore.experiment import Experiment

    table = CellTable(tmp_path / "t")
    table.require({"space": "nb201", "source": "trained here"}, create=True)
    table.add([row(c, s, acc) for c, acc in ((BEST, 0.9), (ALL_SKIP, 0.3), (POOL, 0.5))
               for s in (0, 1000)])
    key = {"experiment": "e", "search_dataset": "digits", "profile": "p", "eval_dataset": "digits",
           "repeat": 0, "status": "finished", "reason": ""}
    found = {"first-order": [ALL_SKIP] * 4 + [BEST], "hyperdarts-mlp": [BEST] * 4 + [POOL],
             "first-order-smoothed": [POOL, BEST, ALL_SKIP, POOL, POOL], "one-level": [BEST] * 5,
             "random": [BEST] * 5, "second-order": [ALL_SKIP]}
    acc = {BEST: 0.9, ALL_SKIP: 0.3, POOL: 0.5}
    trials = pd.DataFrame([{**key, "strategy": s, "seed": i, "genotype": g, "test_acc": acc[g]}
                           for s, cells in found.items() for i, g in enumerate(cells)])

    def differ(frame, flags):
        return strategies_differ(Experiment(tmp_path / "e", frame, pd.DataFrame(), pd.DataFrame(),
                                            space="nb201", table_path=str(table.root)), table, flags)

    flags = {("digits", "one-level"): "no: α did not move (5 of 5)",
             ("digits", "first-order"): "not recorded"}            # not recorded is not flagged
    t = differ(trials, flags)
    n = t.numbers.set_index("outcome")
    names = ("first-order", "hyperdarts-mlp", "first-order-smoothed")
    kept = [[100 * acc[g] for g in found[s]] for s in names]
    a = n.loc["looked-up accuracy"]
    assert (a.strategies, a.searches) == (3, 15)
    assert a.left_out == "one-level (did not run as configured); second-order (1 search)"
    assert a.test == "Friedman" and a.blocks == 5 and a.exact
    assert a.statistic == pytest.approx(stats.friedmanchisquare(*kept).statistic)
    assert a.p == a.friedman_p > 0
    assert a.anova_p == pytest.approx(stats.f_oneway(*kept).pvalue)
    shown = t.blocks[0][1]
    assert shown.test.iloc[0] == "Friedman, by seed (5 seeds; exact)"
    assert shown.p.iloc[0].endswith(f"(one-way ANOVA {a.anova_p:.3f})")
    c = n.loc["collapse share"]                          # pooling collapses too
    chi = stats.chi2_contingency([[4, 1], [1, 4], [4, 1]], correction=False)
    assert c.p == pytest.approx(chi.pvalue) and c.approximate
    assert "(expected counts < 5: rough)" in t.blocks[0][1].test.iloc[1]
    # the verdict reads Holm's correction over the search dataset's rows, not each row's own p
    assert list(t.numbers.p_holm) == pytest.approx(list(holm(t.numbers.p)))
    assert (t.numbers.p_holm >= t.numbers.p).all() and (t.numbers.p_holm > t.numbers.p).any()
    # accuracy p 0.027 alone would reject; with the collapse row's 0.051 Holm makes it 0.053
    pair = {"first-order": [ALL_SKIP] * 5 + [BEST] * 5, "hyperdarts-mlp": [BEST] * 9 + [POOL]}
    held = differ(pd.DataFrame([{**key, "strategy": s, "seed": i, "genotype": g, "test_acc": acc[g]}
                                for s, cells in pair.items() for i, g in enumerate(cells)]), None)
    assert held.numbers.p.iloc[0] < 0.05 < held.numbers.p_holm.iloc[0]
    assert set(held.blocks[0][1].verdict) == {"no difference detectable among them at this n"}
    # no spread at all: nothing differs; fewer than two strategies left: no test
    same = trials.assign(genotype=BEST, test_acc=0.9)
    assert set(differ(same, None).numbers.p) == {1.0}
    assert differ(trials[trials.strategy.isin(["first-order", "random"])], None) is None
    two = differ(trials[trials.strategy.isin(["first-order", "hyperdarts-mlp"])], None)   # no Friedman
    two = two.numbers.set_index("outcome").loc["looked-up accuracy"]
    assert two.test == "one-way ANOVA" and two.p == pytest.approx(stats.f_oneway(*kept[:2]).pvalue)


def test_each_search_epoch_s_cell_is_counted_for_collapse_and_drawn(tmp_path):
    """The lookup curves' rows: per search and epoch (from 1) the looked-up accuracy in %, the
    derived cell's parameter-free edges, whether it collapsed and whether it computes what a
    collapse does; an epoch the table lacked keeps its cell's numbers; the figure has the three
    panels' file."""
    import pandas as pd

    from analysis.lookups import epoch_cells, lookup_curves
    from resultstore.experiment import Experiment

    table = CellTable(tmp_path / "tables" / "t")
    table.require({"space": "nb201"}, create=True)
    table.add([row(BEST, 0, 0.9), row(ALL_SKIP, 0, 0.3)])
    key = {"experiment": "e", "search_dataset": "digits", "profile": "p", "phase": "search",
           "eval_dataset": "", "repeat": 0}
    epochs = pd.DataFrame([{**key, "strategy": "first-order", "seed": seed, "epoch": ep, "genotype": g,
                            "lookup_acc": acc}
                           for seed, ep, g, acc in ((0, 0, BEST, 0.9), (0, 1, ALL_SKIP, 0.3),
                                                    (1, 0, BEST, 0.9), (1, 1, POOL, None),
                                                    (1, 2, DEAD_CONV, None))]
                          + [{**key, "strategy": "random", "seed": 0, "epoch": 0, "genotype": BEST,
                              "lookup_acc": 0.9}])   # a baseline: one cell, drawn across the epochs
    exp = Experiment(tmp_path / "e", pd.DataFrame(), epochs, pd.DataFrame(), space="nb201",
                     table_path=str(table.root))
    per = epoch_cells(exp).query("strategy == 'first-order'").sort_values(["seed", "epoch"])
    assert per.epoch.tolist() == [1, 2, 1, 2, 3]
    assert per.lookup_acc.tolist()[:3] == pytest.approx([90.0, 30.0, 90.0])
    assert pd.isna(per.lookup_acc.iloc[3])
    assert per.param_free_cell.tolist() == [1.0, 6.0, 1.0, 6.0, 5.0]
    assert per.collapsed.tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]
    # (its one convolution feeds a node the output never reads: the input passed on, counted apart)
    assert per.collapsed_computation.tolist() == [0.0, 1.0, 0.0, 1.0, 1.0]
    assert [p.suffix for p in lookup_curves(exp, table, tmp_path / "curves")] == [".png", ".pdf"]
