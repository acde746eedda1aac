import pandas as pd
import pytest

from benchmark.grids import GRIDS, SMOKE, Grid, get_grid
from benchmark.store import KEYS, ResultStore
from nas.strategies import STRATEGIES


def test_shipped_grids_cover_every_strategy():
    for name in ("smoke", "cpu", "full"):
        assert set(GRIDS[name].strategies) == set(STRATEGIES)
    full = GRIDS["full"]
    assert full.seeds == (0, 1, 2, 3) and full.profile.search_epochs == 50
    assert full.profile.eval_epochs == 600 and full.trials()[0].eval_datasets == ("cifar10", "cifar100")


def test_trials_are_the_product_with_unique_ids():
    grid = Grid("g", ("first-order", "one-level"), ("digits", "imagefolder:/x/y"), (0, 1), SMOKE)
    trials = grid.trials()
    assert len(trials) == 8 and len({t.trial_id for t in trials}) == 8
    assert trials[0].key() == {"experiment": "g", "strategy": "first-order",
                               "search_dataset": "digits", "seed": 0, "profile": "smoke"}


def test_overrides():
    grid = get_grid("smoke").override(seeds=[3, 4], strategies=["first-order"], search_epochs=2,
                                      data_root="/data")
    assert grid.seeds == (3, 4) and grid.strategies == ("first-order",)
    assert grid.profile.search_epochs == 2 and grid.data_root == "/data"
    assert get_grid("smoke").profile.search_epochs == 1  # the declared grid is unchanged


def test_bad_names_list_the_valid_choices():
    with pytest.raises(ValueError, match="valid grids are smoke, cpu, full"):
        get_grid("huge")
    with pytest.raises(ValueError, match="valid strategies"):
        get_grid("smoke").override(strategies=["zeroth-order"])


def _rows(strategy, seed, acc):
    return [{"experiment": "e", "strategy": strategy, "search_dataset": "digits", "seed": seed,
             "profile": "smoke", "eval_dataset": "digits", "test_acc": acc}]


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
    with pytest.raises(FileNotFoundError, match="no trial"):
        store.read("epochs")


def test_progress_lines_say_phase_epoch_and_metric():
    from benchmark.progress import describe, trial_label

    spec = {"strategy": "implicit-cg", "search_dataset": "imagefolder:~/.cache/cifar10-jpeg", "seed": 1}
    assert trial_label(spec) == "implicit-cg cifar10-jpeg s1"
    assert describe({"phase": "search", "epoch": 1, "train_acc": 0.5, "val_acc": 0.25}, 4) == \
        "search 2/4  train 0.500 val 0.250"
    assert describe({"phase": "eval", "eval_dataset": "cifar100", "test_acc": 0.7}, 4) == \
        "eval cifar100  test 0.700"
    assert describe({"phase": "search", "status": "diverged"}, 4).startswith("diverged")


def test_a_spec_survives_a_json_round_trip_with_its_speed_switches():
    import json

    from benchmark.grids import CPU
    from benchmark.tune_trainable import spec_from_dict, spec_to_dict

    spec = get_grid("cpu").trials()[0]
    back = spec_from_dict(json.loads(json.dumps(spec_to_dict(spec))))
    assert back == spec and back.profile.eval_speed == CPU.eval_speed == ("channels_last",)


def test_a_profile_checks_its_speed_switches_when_declared():
    from benchmark.grids import Profile

    with pytest.raises(ValueError, match="evaluation network only"):
        Profile("x", search_speed=("compile",))
    with pytest.raises(ValueError, match="unknown speed option 'turbo'"):
        Profile("x", eval_speed=("turbo",))
