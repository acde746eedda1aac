"""The Ray Tune driver, on a private local Ray instance (2 CPUs)."""

import shutil
import tempfile

import pandas as pd
import pytest

from benchmark import run as run_module


@pytest.fixture
def ray_tmp(tmp_path, monkeypatch):
    # A private Ray: no stale cluster address, temp files under the test's folder.
    # Ray's socket paths must stay under 108 bytes, so its temp dir is short, not under tmp_path.
    short = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", short)
    yield tmp_path
    shutil.rmtree(short, ignore_errors=True)


def _argv(tmp_path, *extra):
    return ["--grid", "smoke", "--strategies", "first-order", "one-level", "--results",
            str(tmp_path / "results"), "--num-cpus", "2", "--search-epochs", "2", *extra]


def test_a_tiny_grid_end_to_end_with_a_crash_retried_and_a_resume(ray_tmp, capsys):
    marker = ray_tmp / "crashed"
    assert run_module.main(_argv(ray_tmp, "--fail-once-marker", str(marker))) == 0
    assert marker.exists()  # a trial did crash after its first checkpoint, and was retried
    live = capsys.readouterr().out  # the live view: a line per unit of work, with the tally
    assert "first-order digits s0  search 2/2  train " in live
    assert "crashed; retrying from its last checkpoint" in live
    assert "one-level digits s0  eval digits #2/2  test " in live and "/ 2]" in live
    root = ray_tmp / "results" / "smoke"
    trials = pd.read_parquet(root / "trials.parquet")
    assert sorted(trials["strategy"]) == ["first-order", "first-order", "one-level", "one-level"]
    assert (trials["status"] == "finished").all() and (trials["test_acc"] > 0.3).all()
    assert sorted(trials["repeat"]) == [0, 0, 1, 1]     # the smoke grid trains each cell twice
    epochs = pd.read_parquet(root / "epochs.parquet")
    assert set(epochs["phase"]) == {"search", "eval"}
    # Resume: nothing reruns, nothing is duplicated.
    assert run_module.main(_argv(ray_tmp)) == 0
    again = pd.read_parquet(root / "trials.parquet")
    pd.testing.assert_frame_equal(again[trials.columns], trials)


@pytest.mark.parametrize("argv, words", [
    (["--grid", "huge"], "valid grids are"),
    (["--strategies", "zeroth-order"], "valid strategies are"),
    (["--datasets", "imagenet"], "valid datasets are"),
    (["--datasets", "cifar10", "--data-root", "/nonexistent"], "cifar10 was not found"),
    (["--address", "127.0.0.1:1"], "nothing answers at the Ray address"),
    (["--address", "somewhere"], "must be HOST:PORT"),
])
def test_bad_names_exit_2_with_one_sentence(argv, words, capsys):
    assert run_module.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and words in err and "\n" not in err


def test_tuning_writes_a_config_that_a_grid_then_uses(ray_tmp):
    results = ray_tmp / "results"
    argv = ["--grid", "smoke", "--results", str(results), "--num-cpus", "2"]
    assert run_module.main([*argv, "--tune", "first-order", "--samples", "2"]) == 0
    tuned_dir = results / "tuned" / "smoke"
    from benchmark.tuning import load_tuned

    tuned = load_tuned(tuned_dir)
    assert set(tuned) == {"first-order"} and 1e-4 <= tuned["first-order"]["alpha_lr"] <= 3e-3
    assert run_module.main([*argv, "--strategies", "first-order", "--tuned", str(tuned_dir),
                            "--experiment", "with-tuned"]) == 0
    trials = pd.read_parquet(results / "with-tuned" / "trials.parquet")
    assert list(trials["status"]) == ["finished", "finished"]    # the smoke grid's two trainings
    import json

    assert json.loads(trials["strategy_options"].iloc[0]) == tuned["first-order"]


def test_tuning_rejects_an_unknown_strategy_and_a_missing_folder(capsys):
    assert run_module.main(["--tune", "zeroth-order"]) == 2
    assert run_module.main(["--tuned", "/nonexistent/tuned"]) == 2
    err = capsys.readouterr().err
    assert "valid strategies are" in err and "does not exist" in err


def test_trials_with_result_parts_are_not_rerun_without_rays_state(ray_tmp, capsys):
    # Parts copied from another machine (no results/<experiment>/ray): the finished trials are
    # skipped, here all of them, so Ray never starts; another profile in grid.json is refused.
    from benchmark.grids import get_grid
    from benchmark.store import ResultStore

    argv = _argv(ray_tmp)
    root = ray_tmp / "results" / "smoke"
    grid = get_grid("smoke").override(strategies=["first-order", "one-level"], search_epochs=2)
    store = ResultStore(root)
    for spec in grid.trials("smoke"):
        store.write_part("trials", spec.trial_id, [{**spec.key(), "eval_dataset": "digits", "repeat": 0,
                                                    "status": "finished", "test_acc": 0.5}])
    run_module.write_manifest(root, grid, grid.trials("smoke"))
    assert run_module.main(argv) == 0
    out = capsys.readouterr()
    assert "2 of 2 trials already have results" in out.err and "nothing to run" in out.out
    assert run_module.main([*argv[:-2], "--search-epochs", "3"]) == 2
    assert "with another profile" in capsys.readouterr().err
    (root / "grid.json").unlink()                 # parts without the declaration that made them
    assert run_module.main(argv) == 2
    assert "no grid.json" in capsys.readouterr().err
    assert run_module.main([*argv, "--power-from", "x"]) == 2
    assert "--power-from goes with --plan" in capsys.readouterr().err


def test_the_dense_dag_grid_runs_its_ground_truth_and_searches_through_the_same_pipeline(ray_tmp):
    """`--grid dense-dag`: the ground truth of a seed is a declared trial of the grid, stored in
    the same results folder, and the report scores each search's choice against it."""
    from analysis.dense_dag import search_scores
    from analysis.load import load_experiment
    from analysis.report import report

    argv = ["--grid", "dense-dag", "--strategies", "first-order", "random", "--seeds", "0",
            "--datasets", "digits", "--results", str(ray_tmp / "results"), "--num-cpus", "2",
            "--search-epochs", "2", "--eval-epochs", "2"]
    assert run_module.main(argv) == 0
    root = ray_tmp / "results" / "dense-dag"
    gt = pd.read_parquet(root / "ground_truth.parquet")
    assert set(gt["strategy"]) == {"ground-truth"} and set(gt["repeat"]) == {0, 1, 2, 3}
    roles = set(",".join(gt["roles"]).split(","))
    assert roles == {"chain", "complete", "candidate"}
    exp = load_experiment(root)
    assert exp.space == "dense-dag" and exp.missing() == []
    found = exp.alphas[exp.alphas.epoch == exp.alphas.epoch.max()]
    assert set(found.op) <= set(gt.architecture)     # every candidate has its ground truth
    scores = search_scores(exp)
    assert sorted(scores.strategy) == ["first-order", "random"]
    assert ((scores.regret >= 0) & (scores.chosen <= scores.best)).all()
    text = report(root, toy=False, log=lambda *a: None).read_text()
    assert "What each strategy chose, against the ground truth" in text
    assert "DAG properties against ground-truth accuracy" in text
    assert "noise ceiling (split-half τ" in text and "of 2 vs 2 trainings)" in text
    assert "How large a space must be" in text
    assert "Published" not in text      # the published numbers are of the DARTS space
