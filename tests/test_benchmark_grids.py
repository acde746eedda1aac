import dataclasses
import json

import pandas as pd
import pytest

from benchmark.grids import GRIDS, SMOKE, Grid, get_grid
from nas.files import FileError
from nas.strategies import STRATEGIES
from resultstore.schema import KEYS
from resultstore.store import ResultStore


def test_shipped_grids_cover_every_strategy():
    for name in ("smoke", "cpu", "full"):
        assert set(GRIDS[name].strategies) == set(STRATEGIES)
    full = GRIDS["full"]
    assert full.seeds == (0, 1, 2, 3) and full.profile.search_epochs == 50
    assert full.profile.train.epochs == 600 and full.trials()[0].eval_datasets == ("cifar10", "cifar100")


def test_trials_are_the_product_with_unique_ids():
    grid = Grid("g", ("first-order", "one-level"), ("digits", "imagefolder:/x/y"), (0, 1), SMOKE)
    trials = grid.trials()
    assert len(trials) == 8 and len({t.trial_id for t in trials}) == 8
    assert trials[0].key() == {"experiment": "g", "strategy": "first-order",
                               "search_dataset": "digits", "seed": 0, "profile": "smoke"}


def test_datasets_whose_paths_read_alike_once_made_file_safe_get_distinct_ids():
    grid = Grid("g", ("first-order",), ("imagefolder:~/data/cifar", "imagefolder:/data/cifar",
                                        "imagefolder:/data_cifar", "digits"), (0,), SMOKE)
    ids = [t.trial_id for t in grid.trials()]
    assert len(set(ids)) == 4
    assert ids[3] == "first-order__digits__s0"          # a plain name keeps its id
    assert ids[0].startswith("first-order__imagefolder_data_cifar-") and "~" not in ids[0]
    # the ids of before were the same for the first two: that is what a rerun migrates from
    legacy = [t.legacy_trial_id for t in grid.trials()]
    assert legacy[0] == legacy[1] and legacy[3] == ids[3]


def test_trials_run_seed_by_seed_so_a_stopped_grid_holds_whole_seeds():
    grid = Grid("g", ("first-order", "one-level", "random"), ("digits",), (0, 1), SMOKE)
    assert [(t.seed, t.strategy) for t in grid.trials()[:3]] == [
        (0, "first-order"), (0, "one-level"), (0, "random")]


def test_the_default_grids_hold_the_random_baseline_and_the_hyperdarts_control():
    for name in ("smoke", "cpu", "full"):
        assert {"random", "first-order-smoothed"} <= set(GRIDS[name].strategies)


def test_repeats_are_per_dataset_and_the_profile_alpha_lr_yields_to_a_grid_option():

    profile = dataclasses.replace(SMOKE, eval_repeats=3, transfer_repeats=1, search_alpha_lr=0.05)
    grid = Grid("g", ("first-order", "hyperdarts-mlp"), ("digits",), (2,), profile,
                transfer_datasets=("fashion-mnist",), strategy_options={"hyperdarts-mlp": {"alpha_lr": 0.01}})
    fo, hd = grid.trials()
    assert fo.repeats("digits") == 3 and fo.repeats("fashion-mnist") == 1
    assert [fo.train_config(r).seed for r in range(3)] == [2, 1002, 2002]
    assert fo.options == {"alpha_lr": 0.05} and fo.search.strategy_config.alpha_lr == 0.05
    assert hd.options == {"alpha_lr": 0.01} and hd.search.strategy_config.alpha_lr == 0.01
    assert fo.search.strategy_config.epochs == fo.search.epochs == SMOKE.search_epochs


def test_the_plan_counts_trials_and_projects_power_and_cost_from_an_earlier_run(tmp_path):

    from benchmark.plan import plan

    grid = Grid("g", ("first-order", "one-level"), ("digits",), (0, 1, 2), SMOKE)
    text = plan(grid, tmp_path / "none", None, 1.0, cpus=2)
    assert "2 strategies × 1 search dataset(s) × 3 seeds = 6 searches" in text
    assert "12 trainings" in text and "no earlier results" in text and "cannot project" in text
    # an earlier run: one-level = first-order + 1 + noise of sd 0.5 per seed
    store = ResultStore(tmp_path / "g")
    diffs = [0.6, 1.4, 0.5, 1.5]
    for seed, d in enumerate(diffs):
        for strategy, acc in (("first-order", 50.0 + seed), ("one-level", 50.0 + seed + d)):
            store.write_part("trials", f"{strategy}{seed}", [{
                "experiment": "g", "strategy": strategy, "search_dataset": "digits", "seed": seed,
                "profile": "smoke", "eval_dataset": "digits", "repeat": 0, "status": "finished",
                "test_acc": acc / 100, "search_wall_s": 100.0 if strategy == "first-order" else 50.0,
                "eval_wall_s": 10.0, "search_device": "cpu"}])
    # a seed first-order alone ran pairs with nothing: the sd is of 4 paired seeds, not 5
    store.write_part("trials", "first-order4", [{
        "experiment": "g", "strategy": "first-order", "search_dataset": "digits", "seed": 4,
        "profile": "smoke", "eval_dataset": "digits", "repeat": 0, "status": "finished",
        "test_acc": 0.9, "search_wall_s": 100.0, "eval_wall_s": 10.0, "search_device": "cpu"}])
    from benchmark.run import write_manifest

    other = dataclasses.replace(grid, profile=dataclasses.replace(SMOKE, search_epochs=9))
    write_manifest(tmp_path / "g", other, other.trials())
    assert "come from another profile: not used" in plan(grid, tmp_path / "g", None, 1.0, cpus=2)
    write_manifest(tmp_path / "g", grid, grid.trials())
    text = plan(grid, tmp_path / "g", None, 1.0, cpus=2)
    import numpy as np
    from statsmodels.stats.power import TTestPower

    sd = float(np.std(diffs, ddof=1))
    assert f"sd of the paired differences {sd:.2f} points (from 4 paired seeds × 1 strategies in g, " \
           "itself uncertain with 3 degrees of freedom)" in text
    need = TTestPower().solve_power(effect_size=1.0 / sd, alpha=0.05, power=0.8)
    assert f"detecting 1 points needs {int(np.ceil(need))} seeds" in text   # one comparison: no Holm
    # 3 seeds × (100 + 50) s of search + 6 searches × 2 trainings × 10 s = 570 s; 2 at a time
    assert "10 min of trial time in all; about 5 min of wall time" in text
    assert "have results in" not in text       # the parts above are under other trials' ids
    done = grid.trials()[0]                     # first-order, seed 0: 100 s + 2 trainings × 10 s
    store.write_part(done.result_table, done.trial_id, store.read("trials").iloc[:1].to_dict("records"))
    assert ("1 of the 6 trials have results in " in (text := plan(grid, tmp_path / "g", None, 1.0, cpus=2))
            and ": the 5 left take about 8 min of trial time, 4 min of wall time" in text)
    # the sds of another experiment, named as such, and its times where the grid has none
    other = plan(grid, tmp_path / "none", None, 1.0, cpus=2, power_dir=tmp_path / "g")
    assert "standard deviations from" in other and f"{sd:.2f} points" in other
    assert "10 min of trial time in all" in other
    assert "measured in g (--power-from: another experiment)" in other
    grid = get_grid("smoke").override(seeds=[3, 4], strategies=["first-order"], search_epochs=2,
                                      data_root="/data")
    assert grid.seeds == (3, 4) and grid.strategies == ("first-order",)
    assert grid.profile.search_epochs == 2 and grid.data_root == "/data"
    assert get_grid("smoke").profile.search_epochs == 6  # the declared grid is unchanged


def test_bad_names_list_the_valid_choices():
    with pytest.raises(ValueError, match="valid grids are smoke, cpu, full"):
        get_grid("huge")
    with pytest.raises(ValueError, match="valid strategies"):
        get_grid("smoke").override(strategies=["zeroth-order"])


def _rows(strategy, seed, acc):
    return [{"experiment": "e", "strategy": strategy, "search_dataset": "digits", "seed": seed,
             "profile": "smoke", "eval_dataset": "digits", "repeat": 0, "test_acc": acc}]


def test_parts_replace_on_retry_and_collect_without_duplicates(tmp_path):
    store = ResultStore(tmp_path)
    store.write_part("trials", "a", _rows("first-order", 0, 0.5))
    store.write_part("trials", "b", _rows("one-level", 0, 0.6))
    store.write_part("trials", "a", _rows("first-order", 0, 0.7))  # the retry
    frames = store.collect()
    df = frames["trials"]
    assert len(df) == 2
    assert df.set_index("strategy").loc["first-order", "test_acc"] == 0.7
    pd.testing.assert_frame_equal(store.read("trials"), df)
    assert not list(tmp_path.rglob(".*tmp*"))  # no temporary file left behind
    assert frames["alphas"].empty and list(frames["alphas"].columns) == KEYS["alphas"]


def test_rows_without_the_key_are_refused_and_missing_tables_explained(tmp_path):
    store = ResultStore(tmp_path)
    with pytest.raises(ValueError, match="key column"):
        store.write_part("trials", "a", [{"strategy": "x"}])
    assert store.read("epochs").empty          # nothing written yet: an empty table
    with pytest.raises(ValueError, match="unknown table 'epoch'; tables are trials"):
        store.read("epoch")


def test_progress_lines_say_phase_epoch_and_metric():
    from benchmark.progress import describe, trial_label

    spec = {"strategy": "implicit-cg", "search_dataset": "imagefolder:~/.cache/cifar10-jpeg", "seed": 1}
    assert trial_label(spec) == "implicit-cg cifar10-jpeg s1"
    assert describe({"phase": "search", "epoch": 1, "train_acc": 0.5, "val_acc": 0.25}, 4) == \
        "search 2/4  train 0.500 val 0.250"
    assert describe({"phase": "eval", "eval_dataset": "cifar100", "test_acc": 0.7}, 4) == \
        "eval cifar100  test 0.700"
    assert describe({"phase": "search", "status": "diverged"}, 4).startswith("diverged")
    assert describe({"phase": "eval", "eval_dataset": "digits", "repeat": 1, "repeats": 2,
                     "test_acc": 0.9}, 4) == "eval digits #2/2  test 0.900"


def test_after_each_finished_trial_the_progress_says_how_long_the_rest_take():
    """At each strategy's mean wall time so far (all finished trials' mean for a strategy with none
    yet), as many at a time as were seen running; nothing before a trial finished, or for a tuning;
    a trial restored from a checkpoint (Ray's clock restarts at its restore) does not count."""
    import io
    from types import SimpleNamespace

    from benchmark.progress import ProgressPrinter, time_left

    assert time_left({}, ["a"], 1) is None
    assert time_left({"a": [100.0, 300.0], "r": [10.0]}, ["a", "a", "r", "new"], 2) == \
        (200 + 200 + 10 + 410 / 3) / 2
    trials = [SimpleNamespace(trial_id=str(i), status="PENDING", last_result={"time_total_s": t},
                              config={"spec": {"strategy": s, "search_dataset": "digits", "seed": i}})
              for i, (s, t) in enumerate([("fo", 600.0), ("random", 60.0), ("fo", None), ("hd", None)])]
    out = io.StringIO()
    printer = ProgressPrinter(4, out, eta=True)
    for t in trials[:2]:        # Ray marks a trial RUNNING after it announces its start
        printer.on_trial_start(0, trials, t)
        t.status = "RUNNING"
    trials[0].status = "TERMINATED"
    printer.on_trial_complete(0, trials, trials[0])    # left: random, fo, hd at 600 s each; 2 at a time
    assert "3 trial(s) left: about 15 min at 2 a time" in out.getvalue()
    quiet = io.StringIO()
    ProgressPrinter(4, quiet).on_trial_complete(0, trials, trials[0])
    assert quiet.getvalue() == ""
    # the printer a resumed run unpickles may be an earlier version's, without these attributes
    old = ProgressPrinter.__new__(ProgressPrinter)
    old.__setstate__({"total": 4, "stream": out})
    old.on_trial_start(0, trials, trials[1])
    old.on_trial_complete(0, trials, trials[0])
    assert old.parallel == 1 and old.took == {"fo": [600.0]}
    own_file = ProgressPrinter(4, io.StringIO(), eta=True)   # went on from its own checkpoint file
    trials[0].last_result = {"time_total_s": 60.0, "resumed": 1}
    own_file.on_trial_complete(0, trials, trials[0])
    assert own_file.took == {}


def test_a_spec_survives_a_json_round_trip_with_its_speed_switches_and_another_format_is_refused():
    import json

    from benchmark.codec import FormatError, decode_spec, encode_spec
    from benchmark.grids import CPU

    spec = get_grid("cpu").trials()[0]
    back = decode_spec(json.loads(json.dumps(encode_spec(spec))))
    assert back == spec and back.profile.train.speed == CPU.train.speed == ("channels_last",)
    assert back.search == spec.search and back.space_config == spec.space_config
    with pytest.raises(FormatError, match="format none .an older version.; this version reads format 1"):
        decode_spec({k: v for k, v in encode_spec(spec).items() if k != "format"})


def test_a_profile_checks_its_speed_switches_when_declared():
    from benchmark.grids import Profile
    from nas.evaluate import EvalConfig

    with pytest.raises(ValueError, match="evaluation network only"):
        Profile("x", search_speed=("compile",))
    with pytest.raises(ValueError, match="unknown speed option 'turbo'"):
        Profile("x", train=EvalConfig(speed=("turbo",)))


def test_a_profile_survives_its_written_form():
    from benchmark.grids import CPU, profile_from_dict

    assert profile_from_dict(json.loads(json.dumps(CPU.to_dict()))) == CPU
    with pytest.raises(ValueError, match="a profile has no option.s. search_channels"):
        profile_from_dict({**CPU.to_dict(), "search_channels": 4})


@pytest.mark.parametrize("values, words", [
    (dict(space="darts", search_space="not a config"), "is a DartsSpaceConfig"),
    (dict(space="darts", ground_truth=True), "lists no candidates"),
    (dict(space="nowhere"), "valid spaces are"),
])
def test_a_profile_is_refused_when_declared_in_one_sentence(values, words):
    from benchmark.grids import Profile

    with pytest.raises(ValueError, match=words):
        Profile("x", **values)


def test_the_dense_dag_grid_declares_a_ground_truth_per_seed_before_its_searches():
    grid = get_grid("dense-dag")
    trials = grid.trials()
    assert [t.kind for t in trials[:2]] == ["ground-truth", "search"]
    assert sum(t.kind == "ground-truth" for t in trials) == len(grid.seeds) * len(grid.search_datasets)
    assert trials[0].trial_id == "ground-truth__digits__s0"


def test_the_stability_grid_searches_the_same_candidates_on_every_seed():
    same = [t.space_config.dag_seed for t in get_grid("dense-dag-stability").trials()]
    own = {t.seed: t.space_config.dag_seed for t in get_grid("dense-dag").trials()}
    assert set(same) == {0} and own == {0: 0, 1: 1, 2: 2}


def test_space_and_train_options_override_a_profile_and_a_misspelt_one_is_refused():
    grid = get_grid("dense-dag").override(space_options={"blocks": 16}, train_options={"init": "pytorch"})
    assert grid.profile.search_space.blocks == 16 and grid.profile.train.init == "pytorch"
    assert grid.profile.search_space.layers == get_grid("dense-dag").profile.search_space.layers
    with pytest.raises(ValueError, match="has no option"):
        get_grid("dense-dag").override(space_options={"blokcs": 16})
    # dag_seed follows the search seed there: a value given would be silently ignored
    with pytest.raises(ValueError, match="dag_seed follows the search seed"):
        get_grid("dense-dag").override(space_options={"dag_seed": 3})
    fixed = get_grid("dense-dag-stability").override(space_options={"dag_seed": 3})
    assert fixed.profile.search_space.dag_seed == 3
    # a search-only grid trains nothing, the ground truth included
    assert {t.kind for t in get_grid("dense-dag").override(search_only=True).trials()} == {"search"}


def test_an_option_of_the_wrong_type_is_refused_in_one_sentence_and_a_whole_number_is_taken():
    from nas.strategies import strategy_config

    with pytest.raises(ValueError, match="training in the darts space's option lr must be a number, "
                                         "got 'abc'"):
        get_grid("smoke").override(train_options={"lr": "abc"})
    with pytest.raises(ValueError, match="option channels must be an integer, got 'x'"):
        get_grid("smoke").override(space_options={"channels": "x"})
    with pytest.raises(ValueError, match="option auxiliary must be true or false, got 1"):
        get_grid("smoke").override(train_options={"auxiliary": 1})
    grid = get_grid("smoke").override(space_options={"channels": 6.0}, train_options={"lr": 1,
                                                                                      "cutout": None})
    assert grid.profile.search_space.channels == 6 and type(grid.profile.search_space.channels) is int
    assert grid.profile.train.lr == 1 and grid.profile.train.cutout is None
    with pytest.raises(ValueError, match="option xi must be a number or null, got 'big'"):
        strategy_config("second-order", xi="big")


def test_truth_repeats_set_the_ground_truths_trainings_and_leave_the_found_blocks(tmp_path):
    from benchmark.plan import plan

    grid = get_grid("dense-dag").override(truth_repeats=16)
    truth, search = grid.trials()[:2]
    assert truth.kind == "ground-truth" and truth.eval_datasets == search.eval_datasets == ("digits",)
    assert truth.repeats("digits") == 16
    assert search.repeats("digits") == get_grid("dense-dag").profile.eval_repeats == 4
    assert "16 times per evaluation dataset" in plan(grid, tmp_path, None, None, cpus=1)
    with pytest.raises(ValueError, match="trains no ground truth"):
        get_grid("smoke").override(truth_repeats=4)
    with pytest.raises(ValueError, match="ground_truth_repeats must be at least 1"):
        get_grid("dense-dag").override(truth_repeats=0)


@pytest.mark.parametrize("options, words", [
    ({"implicit-cg": {"cg_kk": 3}}, r"strategy implicit-cg has no option\(s\) cg_kk; valid options are"),
    ({"implicit-cg": {"cg_k": -1}}, "cg_k, cg_damping and cg_tol must not be negative"),
    ({"third-order": {"xi": 0.1}}, "unknown strategy 'third-order'"),
])
def test_a_grid_with_a_bad_option_is_refused_when_declared(options, words):
    from benchmark.grids import SMOKE, Grid

    with pytest.raises(ValueError, match=words):
        Grid("g", ("implicit-cg",), ("digits",), (0,), SMOKE, strategy_options=options)


def test_run_refuses_a_bad_tuned_option_before_ray_starts(tmp_path, capsys):
    import json

    from benchmark import run as run_module

    (tmp_path / "implicit-cg.json").write_text(json.dumps({"strategy": "implicit-cg",
                                                           "options": {"cg_kk": 2}, "val_acc": 0.5}))
    assert run_module.main(["--grid", "smoke", "--tuned", str(tmp_path), "--results",
                            str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "has no option(s) cg_kk" in err and not (tmp_path / "r").exists()


def test_a_column_that_only_later_rows_have_is_kept(tmp_path):
    """(The collapse diagnostics exist on some epochs only: the first row may lack them.)"""
    rows = [{**_rows("first-order", 0, 0.5)[0], "repeat": r} for r in (0, 1)]
    rows[1]["largest_eigenvalue"] = 0.7
    store = ResultStore(tmp_path)
    store.write_part("trials", "a", rows)
    df = store.read("trials")
    assert df.largest_eigenvalue.isna().tolist() == [True, False] and df.largest_eigenvalue.iloc[1] == 0.7


def test_the_plan_says_what_its_seeds_detect_without_any_earlier_run(tmp_path):
    """A fresh clone has no earlier results: the plan still says what n seeds detect, in units of
    the between-seed sd and in points at DARTS's published spread on CIFAR-10."""
    from analysis.stats import minimum_detectable_difference
    from benchmark.plan import plan

    text = plan(GRIDS["full"], tmp_path / "full", None, None, cpus=2)
    one = minimum_detectable_difference(1.0, 4)
    holm = minimum_detectable_difference(1.0, 4, alpha=0.05 / 38)    # 19 on each of 2 datasets
    assert (f"with 4 seeds one paired comparison detects ≥ {one:.1f} sd, ≥ {holm:.1f} sd after Holm "
            "over 38") in text
    assert f"at that sd: ≥ {0.09 * one:.2f}–{0.14 * one:.2f} points" in text
    one_seed = plan(GRIDS["smoke"], tmp_path / "smoke", None, None, cpus=2)
    assert "with 1 seed there is no sd over seeds: nothing is detectable" in one_seed
    # one strategy (a tuning's held-out seeds): no pair to compare, so no Holm family of 0
    alone = plan(GRIDS["nb201-cpu"].override(strategies=("first-order",), seeds=(100, 101)),
                 tmp_path / "alone", None, None, cpus=1)
    assert "the grid's strategies (first-order) hold no pair the report compares" in alone
    assert "Holm over 0" not in alone and "α/0" not in alone and "after Holm" not in alone
    assert "with 2 seeds one paired comparison detects ≥ 11.5 sd\n" in alone


def test_the_plan_of_a_tuning_says_what_it_samples_chooses_by_and_costs(tmp_path):
    """--tune's plan: the strategy's ranges, the objective (on a grid that looks its epochs' cells
    up, their training accuracy in the table; else the supernet's; never a test image), the cost
    from earlier searches of that strategy, and a warning where the seed is one the grid compares
    on."""
    from benchmark.plan import tuning_plan

    grid = GRIDS["nb201-cpu"].override(strategies=("hyperdarts-mlp",), seeds=(0,))
    store = ResultStore(tmp_path / "nb201-cpu")
    for seed, wall in ((0, 400.0), (1, 600.0)):
        for ev in ("cifar10", "fashion-mnist"):   # a search's row per evaluation dataset
            store.write_part("trials", f"h{seed}{ev}", [{
                "experiment": "nb201-cpu", "strategy": "hyperdarts-mlp",
                "search_dataset": grid.search_datasets[0],
                "seed": seed, "profile": "nb201-cpu", "eval_dataset": ev, "repeat": 0,
                "status": "finished", "test_acc": 0.3, "search_wall_s": wall, "eval_wall_s": 1.0,
                "search_device": "cpu"}])
    text = tuning_plan(grid, "hyperdarts-mlp", 4, GRIDS["nb201-cpu"].seeds, tmp_path / "nb201-cpu")
    assert "4 configurations of its own options (alpha_lr 0.0001–0.003 (log-uniform), sigma " \
           "0.05–1)" in text
    assert "by the training accuracy of each epoch's derived cell in the table nb201-c8-n3-e2" in text
    assert "search-validation accuracy" not in text and "no test image enters the choice" in text
    no_table = tuning_plan(GRIDS["cpu"].override(strategies=("first-order",), seeds=(100,)),
                           "first-order", 4, GRIDS["cpu"].seeds, tmp_path / "x")
    assert "by the supernet's search-validation accuracy" in no_table and "no table" in no_table
    # NAS-Bench-201's own file is the benchmark's answer: a tuning of that grid does not read it
    on_file = tuning_plan(GRIDS["nb201"].override(strategies=("first-order",), seeds=(100,)),
                          "first-order", 4, GRIDS["nb201"].seeds, tmp_path / "x")
    assert "by the supernet's search-validation accuracy" in on_file and "no table" in on_file
    assert "(seeded 0; its first 10 are drawn at random)" in text
    assert "(after 12 epochs at the first)" in text           # a quarter of nb201-cpu's 50
    assert "at most 33 min of search time (4 × 500 s, the mean of 2 finished search(es)" in text
    assert "the trainings of the epochs' cells the table lacks come on top" in text
    assert "warning: seed 0 is one the grid nb201-cpu compares on" in text
    held_out = tuning_plan(grid.override(seeds=(109,)), "hyperdarts-mlp", 4, (0, 1), tmp_path / "x")
    assert "warning" not in held_out and "no finished hyperdarts-mlp search in" in held_out


def test_a_grid_with_tuned_options_says_what_each_strategy_runs_at(tmp_path):
    """--tuned: every strategy takes only its own file (the noise control is tuned like any
    other), and the grid's first lines name the options and the searching strategies without."""
    import json

    from benchmark.tuning import load_tuned, tuned_lines

    folder = tmp_path / "tuned"
    folder.mkdir()
    for name, options in (("hyperdarts-mlp", {"alpha_lr": 2e-3, "sigma": 0.3}),
                          ("first-order", {"alpha_lr": 5e-4})):
        (folder / f"{name}.json").write_text(json.dumps({"strategy": name, "options": options}))
    tuned = load_tuned(folder)
    assert tuned == {"hyperdarts-mlp": {"alpha_lr": 2e-3, "sigma": 0.3},
                     "first-order": {"alpha_lr": 5e-4}}
    lines = tuned_lines(folder, tuned, ("first-order", "first-order-smoothed", "one-level", "random"))
    assert lines[1] == "  first-order: {'alpha_lr': 0.0005}"
    assert lines[-1] == ("  not tuned (the profile's options, else the strategy's defaults): "
                         "first-order-smoothed, one-level")
    # a grid whose tunings choose by the cell refuses options chosen by the supernet's accuracy
    (folder / "first-order.json").write_text(json.dumps(
        {"strategy": "first-order", "options": {"alpha_lr": 5e-4}, "val_acc": 0.6}))
    assert load_tuned(folder, metric="val_acc")["first-order"] == {"alpha_lr": 5e-4}
    with pytest.raises(FileError, match="first-order.json was tuned by val_acc, not by this grid's "
                                        "objective cell_train_acc"):
        load_tuned(folder, metric="cell_train_acc")


def test_a_tunings_samples_are_read_back_from_rays_trial_folders(tmp_path):
    """read_samples + tuning_samples: every sample's options and its search epochs from Ray's
    params.json and progress.csv; the final 'done' report and a NaN epoch are not epochs."""
    import json

    from benchmark.tuning import read_samples, tuning_samples

    for name, lr, vals in (("a", 1e-4, [0.2, 0.5, 0.4]), ("b", 3e-4, [0.3, 0.45]), ("c", 5e-4, [])):
        d = tmp_path / name
        d.mkdir()
        (d / "params.json").write_text(json.dumps({"options": {"alpha_lr": lr}}))
        rows = [f"search,{v}" for v in vals] + (["search,"] if name == "b" else [])
        (d / "progress.csv").write_text("phase,val_acc\n" + "\n".join([*rows, "done,0.9"]) + "\n")
    t = tuning_samples(read_samples(tmp_path), {"alpha_lr": 3e-4})
    assert list(t.alpha_lr[:2]) == [3e-4, 1e-4]                 # by the last epoch: 0.45 > 0.4
    assert list(t.epochs) == [2, 3, 0] and list(t.chosen) == [True, False, False]
    assert t.best_val_acc.iloc[1] == 0.5 and t.last_val_acc.iloc[1] == 0.4
    at = tuning_samples(read_samples(tmp_path), None, rung=2)   # ASHA's first rung: epoch 2
    assert list(at.rung_val_acc[:2]) == [0.45, 0.5] and pd.isna(at.rung_val_acc.iloc[2])
    assert set(at.rung) == {2} and "rung" not in t
    # chosen by the derived cell's training accuracy in a table: its columns beside val_acc's, and
    # the order is its, the reverse of val_acc's here (a lookup that missed is no value of it)
    for name, cells in (("a", [0.3, "", 0.36]), ("b", [0.35, 0.33]), ("c", [])):
        vals = {"a": [0.2, 0.5, 0.4], "b": [0.3, 0.45], "c": []}[name]
        rows = [f"search,{v},{c}" for v, c in zip(vals, cells)]
        (tmp_path / name / "progress.csv").write_text("phase,val_acc,cell_train_acc\n"
                                                      + "\n".join([*rows, "done,0.9,0.5"]) + "\n")
    c = tuning_samples(read_samples(tmp_path), {"alpha_lr": 1e-4}, rung=1, metric="cell_train_acc")
    assert list(c.alpha_lr[:2]) == [1e-4, 3e-4]                 # by the last epoch: 0.36 > 0.33
    assert list(c.last_cell_train_acc[:2]) == [0.36, 0.33] and list(c.last_val_acc[:2]) == [0.4, 0.45]
    assert list(c.rung_cell_train_acc[:2]) == [0.3, 0.35] and list(c.chosen) == [True, False, False]
