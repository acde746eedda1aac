"""The Ray Tune driver, on a private local Ray instance (2 CPUs)."""

import json
import re
import shutil
from types import SimpleNamespace

import pandas as pd
import pytest

from benchmark import run as run_module


def _argv(tmp_path, *extra):
    return ["--grid", "smoke", "--strategies", "first-order", "one-level", "--results",
            str(tmp_path / "results"), "--num-cpus", "2", "--search-epochs", "2", *extra]


def test_a_tiny_grid_end_to_end_with_a_crash_retried_and_a_resume(ray_tmp, capsys):
    marker = ray_tmp / "crashed"
    storage = ["--storage", str(ray_tmp / "storage")]    # Ray's state outside the results folder
    assert run_module.main(_argv(ray_tmp, *storage, "--fail-once-marker", str(marker))) == 0
    assert (ray_tmp / "storage" / "smoke").is_dir()
    assert not (ray_tmp / "results" / "smoke" / "ray" / "tune").exists()
    assert marker.exists()  # a trial did crash after its first checkpoint, and was retried
    live = capsys.readouterr().out  # the live view: a line per unit of work, with the tally
    assert "first-order digits s0  search 2/2  train " in live
    assert "crashed; retrying from its last checkpoint" in live
    assert "one-level digits s0  eval digits #2/2  test " in live and "/ 2]" in live
    # the retried trial's reports say it went on from a state (the time left leaves it out)
    last = [json.loads(f.read_text().splitlines()[-1])
            for f in (ray_tmp / "storage" / "smoke").glob("*/result.json")]
    assert sorted(r["resumed"] for r in last) == [0, 1]
    root = ray_tmp / "results" / "smoke"
    trials = pd.read_parquet(root / "trials.parquet")
    assert sorted(trials["strategy"]) == ["first-order", "first-order", "one-level", "one-level"]
    assert (trials["status"] == "finished").all() and (trials["test_acc"] > 0.3).all()
    assert sorted(trials["repeat"]) == [0, 0, 1, 1]     # the smoke grid trains each cell twice
    epochs = pd.read_parquet(root / "epochs.parquet")
    assert set(epochs["phase"]) == {"search", "eval"}
    # the trials Ray's run was given, which a rerun compares with its own before restoring it
    assert run_module.ray_trial_ids(root) == {"first-order__digits__s0", "one-level__digits__s0"}
    # Resume: nothing reruns, nothing is duplicated.
    assert run_module.main(_argv(ray_tmp, *storage)) == 0
    assert f"resuming smoke from {ray_tmp / 'storage' / 'smoke'}" in capsys.readouterr().err
    again = pd.read_parquet(root / "trials.parquet")
    pd.testing.assert_frame_equal(again[trials.columns], trials)
    # Rows written on a node whose disk the driver does not see (here: deleted) come back from
    # the finished trials' last checkpoints in Ray's storage, and nothing runs again.
    epochs = pd.read_parquet(root / "epochs.parquet")
    shutil.rmtree(root / "parts")
    for table in ("trials", "epochs", "alphas"):
        (root / f"{table}.parquet").unlink()
    assert run_module.main(_argv(ray_tmp, *storage)) == 0
    assert "search 1/2" not in capsys.readouterr().out
    harvested = pd.read_parquet(root / "trials.parquet")
    key = ["strategy", "repeat"]
    pd.testing.assert_frame_equal(harvested[trials.columns].sort_values(key).reset_index(drop=True),
                                  trials.sort_values(key).reset_index(drop=True))
    assert len(pd.read_parquet(root / "epochs.parquet")) == len(epochs)
    # Ray's saved run of a grid.json without a format (an earlier version's specs) is not resumed:
    # its unfinished trials (none here) would go on from their own checkpoint files
    manifest = json.loads((root / "grid.json").read_text())
    del manifest["format"]
    (root / "grid.json").write_text(json.dumps(manifest))
    assert run_module.main(_argv(ray_tmp, *storage)) == 0
    assert "holds trial specs an earlier version wrote" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["--grid", "huge"], "valid grids are"),
    (["--strategies", "zeroth-order"], "valid strategies are"),
    (["--datasets", "imagenet"], "valid datasets are"),
    (["--datasets", "cifar10", "--data-root", "/nonexistent"], "cifar10 was not found"),
    (["--address", "127.0.0.1:1"], "nothing answers at the Ray address"),
    (["--address", "somewhere"], "must be HOST:PORT"),
])
def test_bad_names_exit_2_with_one_sentence(argv, words, capsys, tmp_path):
    # (an empty results folder: with every trial's results present there would be nothing to run)
    assert run_module.main([*argv, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and words in err and "\n" not in err


def test_tuning_writes_a_config_that_a_grid_then_uses(ray_tmp):
    results = ray_tmp / "results"
    argv = ["--grid", "smoke", "--results", str(results), "--num-cpus", "2", "--search-epochs", "2",
            "--eval-epochs", "1"]
    assert run_module.main([*argv, "--tune", "first-order", "--samples", "2"]) == 0
    tuned_dir = results / "tuned" / "smoke"
    from benchmark.tuning import load_tuned

    tuned = load_tuned(tuned_dir)
    assert set(tuned) == {"first-order"} and 1e-4 <= tuned["first-order"]["alpha_lr"] <= 3e-3
    samples = pd.read_csv(tuned_dir / "first-order-samples.csv")      # every sample, best first
    assert len(samples) == 2 and samples.alpha_lr.between(1e-4, 3e-3).all()
    chosen = samples[samples.chosen]                                   # the json's, by its last epoch
    assert len(chosen) == 1 and chosen.alpha_lr.iloc[0] == pytest.approx(tuned["first-order"]["alpha_lr"])
    saved = json.loads((tuned_dir / "first-order.json").read_text())
    assert saved["val_acc"] == pytest.approx(chosen.last_val_acc.iloc[0])
    assert samples.last_val_acc.is_monotonic_decreasing and chosen.index[0] == 0
    assert samples.epochs.between(1, 2).all() and (samples.best_val_acc >= samples.last_val_acc).all()
    # Ray's TensorBoard files only where asked for
    assert not list((results / "tune-smoke-first-order").rglob("events.out.tfevents.*"))
    assert run_module.main([*argv, "--strategies", "first-order", "--tuned", str(tuned_dir),
                            "--experiment", "with-tuned", "--log", "tensorboard"]) == 0
    events = list((results / "with-tuned" / "ray" / "tune").glob("*/events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    trials = pd.read_parquet(results / "with-tuned" / "trials.parquet")
    assert list(trials["status"]) == ["finished", "finished"]    # the smoke grid's two trainings
    assert json.loads(trials["strategy_options"].iloc[0]) == tuned["first-order"]


def test_a_tuning_on_a_grid_with_a_table_chooses_by_its_cells_training_accuracy_there(ray_tmp, capsys):
    """nb201-smoke looks every epoch's cell up and trains the ones its table lacks; a tuning of it
    does the same, evaluates no found cell, and chooses by the last epoch's cell's training
    accuracy in the table (the supernet's own accuracy did not track the cells': issue 32); it
    warns on a seed the grid uses."""
    from benchmark.tuning import load_tuned
    from resultstore.cells import CellTable

    results = ray_tmp / "results"
    table = ray_tmp / "empty-table"   # (a table of its own, empty: every epoch's cell is trained)
    argv = ["--grid", "nb201-smoke", "--results", str(results), "--num-cpus", "2",
            "--search-epochs", "2", "--tune", "first-order", "--samples", "2", "--table", str(table)]
    assert run_module.main(argv) == 0
    assert "warning: seed 0 is one the grid nb201-smoke compares on" in capsys.readouterr().err
    tuned_dir = results / "tuned" / "nb201-smoke"
    assert set(load_tuned(tuned_dir)) == {"first-order"}
    samples = pd.read_csv(tuned_dir / "first-order-samples.csv")
    chosen = samples[samples.chosen]
    saved = json.loads((tuned_dir / "first-order.json").read_text())
    assert saved["cell_train_acc"] == pytest.approx(chosen.last_cell_train_acc.iloc[0])
    assert "val_acc" not in saved and chosen.index[0] == 0
    assert samples.last_cell_train_acc.is_monotonic_decreasing and samples.epochs.between(1, 2).all()
    assert samples.last_val_acc.notna().all()       # the supernet's, beside it
    # each sample's score is the training accuracy of a cell's first training (seed 0) in the
    # table, trained there by the tuning (each epoch's cell: twice, as the profile trains)
    rows = CellTable(table).rows()
    assert len(rows) >= 2 and set(rows.train_seed) == {0, 1000}
    first = rows[rows.train_seed == 0].train_acc
    for score in samples.last_cell_train_acc:
        assert (first - score).abs().min() < 1e-12
    # no found cell evaluated: each sample's rows (in its last checkpoint) say searched, no test
    parts = list((results / "tune-nb201-smoke-first-order").rglob("trials/*.parquet"))
    trials = pd.concat([pd.read_parquet(p) for p in parts])
    assert parts and set(trials.status) == {"searched"} and "test_acc" not in trials


def test_a_logger_whose_package_is_missing_is_refused_before_anything_is_written(
        tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    assert run_module.main(["--results", str(tmp_path / "r"), "--log", "mlflow"]) == 2
    assert "--log mlflow needs the mlflow package" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_tuning_rejects_an_unknown_strategy_and_a_missing_folder(capsys):
    assert run_module.main(["--tune", "zeroth-order"]) == 2
    assert run_module.main(["--tuned", "/nonexistent/tuned"]) == 2
    err = capsys.readouterr().err
    assert "valid strategies are" in err and "does not exist" in err


def test_a_tuning_in_a_grids_results_folder_is_refused_and_moves_nothing(tmp_path, capsys):
    grid_dir = tmp_path / "r" / "smoke"
    (grid_dir / "ray" / "tune").mkdir(parents=True)
    (grid_dir / "grid.json").write_text("{}")
    argv = ["--results", str(tmp_path / "r"), "--tune", "first-order", "--experiment", "smoke"]
    assert run_module.main(argv) == 2
    assert "holds a grid's results (grid.json); a tuning goes in a folder of its own" in \
        capsys.readouterr().err
    assert sorted(p.name for p in (grid_dir / "ray").iterdir()) == ["tune"]


def test_an_earlier_tuning_is_set_aside_under_a_name_of_its_own_each_time(tmp_path, capsys):
    path = tmp_path / "tune"
    for k in range(3):   # (three in one second: each its own name)
        (path / f"trial{k}").mkdir(parents=True)
        run_module.set_aside(str(path))
    aside = sorted(tmp_path.glob("tune-before-*"))
    assert len(aside) == 3 and not path.exists()
    assert sorted(p.name for a in aside for p in a.iterdir()) == ["trial0", "trial1", "trial2"]
    run_module.set_aside("s3://bucket/tune")   # nothing to move on a URI, and it says so
    assert "nothing is moved on a storage URI" in capsys.readouterr().err


def test_trials_with_result_parts_are_not_rerun_without_rays_state(ray_tmp, capsys):
    # Parts copied from another machine (no results/<experiment>/ray): the finished trials are
    # skipped, here all of them, so Ray never starts; another profile in grid.json is refused.
    from benchmark.grids import get_grid
    from resultstore.store import ResultStore

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
    (root / "grid.json").write_text((root / "grid.json").read_text()[:30])   # cut short
    assert run_module.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{root / 'grid.json'} is not valid JSON" in err and len(err.strip().splitlines()) == 1
    (root / "grid.json").unlink()                 # parts without the declaration that made them
    assert run_module.main(argv) == 2
    assert "no grid.json" in capsys.readouterr().err
    assert run_module.main([*argv, "--power-from", "x"]) == 2
    assert "--power-from goes with --plan" in capsys.readouterr().err


def test_the_dense_dag_grid_runs_its_ground_truth_and_searches_through_the_same_pipeline(ray_tmp):
    """`--grid dense-dag`: the ground truth of a seed is a declared trial of the grid, stored in
    the same results folder, and the report scores each search's choice against it."""
    from analysis.dense_dag import search_scores
    from analysis.report import report
    from resultstore.experiment import load_experiment

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


def _run_until(argv: list, cwd, marker: str, sig: int) -> tuple[int, str]:
    """Run `argv` in a process group of its own and send `sig` to the whole group (as a terminal's
    Ctrl-C does, or kill -9 of every process) at the first line of output holding `marker`; its
    exit status and output."""
    import os
    import subprocess

    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                os.killpg(proc.pid, sig)
                seen += proc.stdout.readlines() if sig != 9 else []
                break
    finally:
        if proc.poll() is None and sig == 9:
            os.killpg(proc.pid, sig)
        code = proc.wait(timeout=120)
    assert any(marker in line for line in seen), "".join(seen)
    return code, "".join(seen)


def test_a_tuning_interrupted_goes_on_where_it_stopped(ray_tmp):
    """Ctrl-C as a tuning's second sample starts: it exits 130 and writes no options; the
    same command goes on (the finished sample is not searched again) and chooses among as many
    samples as asked."""
    import signal
    import sys
    from pathlib import Path

    from benchmark.tuning import read_samples

    root = Path(run_module.__file__).resolve().parents[1]
    results = ray_tmp / "results"
    argv = [sys.executable, "benchmark/run.py", "--grid", "smoke", "--results", str(results),
            "--num-cpus", "1", "--search-epochs", "2", "--tune", "first-order", "--samples", "2",
            "--seeds", "100"]
    code, out = _run_until(argv, root, " 1 done, 0 failed / 2] first-order digits s100", signal.SIGINT)
    assert code == run_module.INTERRUPTED, out
    assert "interrupted: the tuning of first-order stopped with 1 of 2 samples finished" in out, out
    assert "A new study created" not in out and "Traceback" not in out, out   # (Optuna's: --verbose)
    assert not (results / "tuned").exists()
    again = run_module.main(argv[2:])
    assert again == 0
    ray_dir = results / "tune-smoke-first-order" / "ray" / "tune"
    assert len(read_samples(ray_dir)) == 2            # the first run's samples, none run twice
    samples = pd.read_csv(results / "tuned" / "smoke" / "first-order-samples.csv")
    assert len(samples) == 2 and samples.chosen.sum() == 1
    # another tuning in the same folder starts afresh; the earlier one's folders are moved aside
    assert run_module.main([*argv[2:-4], "--samples", "1", "--seeds", "100"]) == 0
    assert len(read_samples(ray_dir)) == 1
    (aside,) = ray_dir.parent.glob("tune-before-*")
    assert len(read_samples(aside)) == 2


def test_a_driver_killed_or_interrupted_during_an_evaluation_resumes_from_that_evaluations_epoch(
        ray_tmp):
    """kill -9 of the whole run (driver and Ray) in the middle of an evaluation, then Ctrl-C in
    the middle of the next; the same command again finishes the grid: each evaluation goes on from
    its last finished epoch, and every row is there once. The interrupted run says so and exits
    130, so that `run.py && report.py` stops."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(run_module.__file__).resolve().parents[1]
    argv = [sys.executable, "benchmark/run.py", "--grid", "smoke", "--strategies", "first-order",
            "--results", str(ray_tmp / "results"), "--num-cpus", "1", "--search-epochs", "1",
            "--eval-epochs", "4"]
    _run_until(argv, root, "eval digits #1/2  epoch 2/4", signal.SIGKILL)
    results = ray_tmp / "results" / "smoke"
    assert not list((results / "parts").glob("trials/*.parquet"))   # killed before a trial ended
    code, out = _run_until(argv, root, "eval digits #2/2  epoch 2/4", signal.SIGINT)
    assert code == run_module.INTERRUPTED, out
    assert "1 trials: 0 finished, 0 failed, 1 interrupted" in out, out
    assert "interrupted: 1 of 1 trials did not finish" in out and "Traceback" not in out, out
    # Ray's own lines (its start, its restore's and its Ctrl-C's warnings) only with --verbose
    assert not [line for line in out.splitlines() if re.search(r"\b(WARNING|INFO)\b", line)], out
    resumed = [int(line.split("epoch ")[1].split("/")[0]) for line in out.splitlines()
               if "eval digits #1/2  epoch" in line]
    # epoch 2 was finished and checkpointed before its line was printed: the rerun starts after it
    # (or later, where the killed run finished another epoch in the instant before the kill)
    assert resumed and resumed[0] >= 3 and resumed == list(range(resumed[0], 5)), out
    again = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    resumed = [int(line.split("epoch ")[1].split("/")[0]) for line in again.stdout.splitlines()
               if "eval digits #2/2  epoch" in line]
    assert resumed and resumed[0] >= 3 and resumed == list(range(resumed[0], 5)), again.stdout
    trials = pd.read_parquet(results / "trials.parquet")
    assert sorted(trials["repeat"]) == [0, 1] and (trials["status"] == "finished").all()
    epochs = pd.read_parquet(results / "epochs.parquet")
    evals = epochs[epochs["phase"] == "eval"]
    assert sorted(evals.groupby("repeat")["epoch"].apply(list).tolist()) == [list(range(4))] * 2
    assert not (results / "checkpoints").exists() or not any((results / "checkpoints").iterdir())


def test_a_second_driver_on_a_running_experiment_is_refused_and_a_killed_drivers_lock_goes(
        ray_tmp, capsys):
    import os
    import subprocess
    import sys

    results = ray_tmp / "results" / "smoke"
    held = run_module.lock_experiment(results)
    assert run_module.main(_argv(ray_tmp)) == 2
    err = capsys.readouterr().err
    assert f"another driver is running experiment smoke (pid {os.getpid()} on " in err
    assert "give this run another --experiment" in err and len(err.strip().splitlines()) == 1
    assert not (results / "grid.json").exists() and not (results / "ray").exists()
    held.close()
    # a driver killed with -9 while holding the lock leaves none behind
    code = ("import sys, time; from pathlib import Path; from benchmark.run import lock_experiment; "
            "f = lock_experiment(Path(sys.argv[1])); print('locked', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(results)], stdout=subprocess.PIPE,
                              text=True, cwd=os.path.dirname(os.path.dirname(run_module.__file__)))
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(run_module.UsageError, match="another driver"):
        run_module.lock_experiment(results)
    holder.kill()
    holder.wait(timeout=30)
    run_module.lock_experiment(results).close()


def test_results_under_the_ids_of_before_move_to_the_trial_whose_rows_they_hold(tmp_path):
    import json

    from benchmark.grids import SMOKE, Grid
    from resultstore.store import ResultStore

    grid = Grid("g", ("first-order",), ("imagefolder:~/data/cifar", "imagefolder:/data/cifar"),
                (0,), SMOKE)
    home, root = grid.trials("g")
    assert home.legacy_trial_id == root.legacy_trial_id != root.trial_id
    store = ResultStore(tmp_path)
    rows = [{**root.key(), "eval_dataset": root.search_dataset, "repeat": 0, "test_acc": 0.5}]
    store.write_part("trials", root.legacy_trial_id, rows)
    store.write_part("epochs", root.legacy_trial_id, [{**root.key(), "phase": "search", "eval_dataset": "",
                                                          "repeat": 0, "epoch": 0}])
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / f"{root.legacy_trial_id}.pt").write_text("ambiguous")
    run_module.write_manifest(tmp_path, grid, [root, home])
    manifest = json.loads((tmp_path / "grid.json").read_text())
    for t in manifest["trials"]:                                   # as the version before wrote it
        t["trial_id"] = root.legacy_trial_id
    (tmp_path / "grid.json").write_text(json.dumps(manifest))

    # a run of only one of them still leaves the checkpoint: grid.json declares the other too
    assert run_module.migrate_trial_ids(tmp_path, [root]) == 2
    assert store.has_part("trials", root.trial_id) and store.has_part("epochs", root.trial_id)
    assert not store.has_part("trials", home.trial_id) and not store.has_part("trials", root.legacy_trial_id)
    # two declared trials had that legacy id, and a checkpoint file does not say whose it is
    assert (tmp_path / "checkpoints" / f"{root.legacy_trial_id}.pt").is_file()
    # every entry gets its id, with files (root) or without (home)
    ids = [t["trial_id"] for t in json.loads((tmp_path / "grid.json").read_text())["trials"]]
    assert ids == [root.trial_id, home.trial_id]
    assert run_module.migrate_trial_ids(tmp_path, [home, root]) == 0   # nothing left to move
    # a checkpoint whose legacy id only one trial ever had moves
    (tmp_path / "checkpoints" / "one-level__digits_x__s0.pt").write_text("mine")
    only = Grid("g", ("one-level",), ("digits:x",), (0,), SMOKE).trials("g")
    assert only[0].legacy_trial_id == "one-level__digits_x__s0"
    assert run_module.migrate_trial_ids(tmp_path, only) == 1
    assert (tmp_path / "checkpoints" / f"{only[0].trial_id}.pt").read_text() == "mine"


def test_the_manifest_keeps_the_trials_of_earlier_runs(tmp_path):
    import json

    from benchmark.grids import get_grid

    grid = get_grid("smoke")
    first = grid.override(strategies=["first-order"])
    second = grid.override(strategies=["one-level"])
    run_module.write_manifest(tmp_path, first, first.trials("smoke"))
    run_module.write_manifest(tmp_path, second, second.trials("smoke"))
    ids = [t["trial_id"] for t in json.loads((tmp_path / "grid.json").read_text())["trials"]]
    assert sorted(ids) == sorted([*(s.trial_id for s in first.trials("smoke")),
                                  *(s.trial_id for s in second.trials("smoke"))])


def test_download_is_an_option_of_the_grid_and_reaches_the_loader_before_ray(monkeypatch):
    from benchmark.grids import get_grid

    calls = []
    monkeypatch.setattr(run_module, "load_dataset",
                        lambda name, root, download=False: calls.append((name, root, download))
                        or SimpleNamespace(in_channels=3, image_size=32))
    grid = get_grid("full")
    run_module.check_datasets(grid, "/data", run_module.parse_args(["--download"]).download)
    assert sorted(calls) == [("cifar10", "/data", True), ("cifar100", "/data", True)]
    assert run_module.parse_args([]).download is False


def test_a_batch_too_large_for_an_image_folder_s_images_is_refused_once_they_are_read(
        tmp_path, capsys):
    """An image folder's image shape is known once it is read: the batch is checked then, before
    Ray starts and before anything of the experiment is written."""
    from PIL import Image

    root = tmp_path / "imgs"
    for split in ("train", "test"):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(root / split / c / "0.png")
    code = run_module.main(["--grid", "smoke", "--datasets", f"imagefolder:{root}", "--train-set",
                            "batch_size=1000000", "--results", str(tmp_path / "results")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "at batch 1,000,000 of 3×8×8 images would need at least" in err[-1], err
    assert not (tmp_path / "results" / "smoke").exists() or not any(
        p.name != ".driver.lock" for p in (tmp_path / "results" / "smoke").rglob("*"))


def test_an_address_where_something_other_than_ray_listens_is_refused_within_seconds(tmp_path, capsys):
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    port = server.getsockname()[1]
    start = time.perf_counter()
    try:
        assert run_module.main(["--address", f"127.0.0.1:{port}", "--strategies", "first-order",
                                "--results", str(tmp_path)]) == 2
    finally:
        server.close()
    assert time.perf_counter() - start < 30
    err = capsys.readouterr().err
    assert f"something answers at 127.0.0.1:{port} but not Ray" in err
    assert not any(tmp_path.iterdir())                  # a refused run writes nothing


def test_a_server_that_opens_with_http2_settings_counts_as_ray():
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer():
        conn, _ = server.accept()
        conn.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))   # an empty SETTINGS frame, as gRPC's
        conn.recv(64)
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        assert run_module.speaks_http2("127.0.0.1", server.getsockname()[1], 5)
    finally:
        server.close()


def test_the_nb201_space_end_to_end_with_lookups_in_a_table_made_here(ray_tmp, capsys):
    """`--grid nb201-smoke`: strategies (a gradient, an implicit one and the random baseline; every
    strategy searches every space in tests/test_registry.py) search NAS-Bench-201's space and are
    scored by lookups in a small table the test makes; the cells it lacks are trained into it
    (train on miss), every epoch's cell is looked up, and the report shows the lookup views."""
    from analysis.report import report
    from benchmark.grids import get_grid
    from benchmark.trial import table_protocol
    from nas.spaces.nb201_cell import Cell
    from resultstore.cells import CellTable
    from resultstore.experiment import load_experiment

    results = ray_tmp / "results"
    grid = get_grid("nb201-smoke").override(search_epochs=1, eval_epochs=1)
    (spec, *_) = grid.trials(tables_root=results / "tables")
    table = CellTable(spec.table_path)
    table.require(table_protocol(spec), create=True)
    made = [{"dataset": "digits", "arch": str(Cell((op,) * 6)), "canonical": Cell((op,) * 6).canonical(),
             "train_seed": s, "test_acc": acc, "test_loss": 2.0, "train_acc": acc, "params": 1.0,
             "epochs": 1, "train_wall_s": 1.0, "source": "test"}
            for op, acc in (("skip_connect", 0.2), ("avg_pool_3x3", 0.3)) for s in (0, 1000)]
    table.add(made)
    strategies = ("first-order", "implicit-cg", "random")
    argv = ["--grid", "nb201-smoke", "--results", str(results), "--num-cpus", "2",
            "--search-epochs", "1", "--eval-epochs", "1", "--strategies", *strategies]
    assert run_module.main(argv) == 0
    out = capsys.readouterr()
    assert "table nb201-smoke (trained here): 2 cells (canonical forms) on digits" in out.err
    assert "training a missing cell into the table on digits #1/2" in out.out
    root = results / "nb201-smoke"
    trials = pd.read_parquet(root / "trials.parquet")
    assert set(trials.strategy) == set(strategies) and (trials.status == "finished").all()
    assert set(trials.evaluated_by) <= {"lookup", "trained on miss"} and set(trials.table) == {"nb201-smoke"}
    rows = CellTable(spec.table_path).rows()
    assert len(rows[rows.source == "test"]) == 4 and (rows.source == "trained").any()
    for r in trials.itertuples():    # each evaluation is one of the table's trainings of its cell
        mine = rows[(rows.canonical == r.canonical) & (rows.train_seed == r.eval_seed)]
        assert list(mine.test_acc) == [r.test_acc]
    epochs = pd.read_parquet(root / "epochs.parquet")
    search = epochs[epochs.phase == "search"]
    assert search.genotype.notna().all() and (search.lookup_n == 2).all()
    exp = load_experiment(root)
    assert exp.space == "nb201" and exp.table_path == spec.table_path and exp.missing() == []
    text = report(root, toy=False, log=lambda *a: None).read_text()
    assert "## Looked-up accuracy, regret, percentile and collapse" in text
    assert "## Looked-up accuracy and collapse over the search" in text
    assert (root / "report" / "figures" / "lookup_curves.png").is_file()
    # NAS-Bench-201's published results beside the measured ones, and no DARTS-space number
    assert "*Published (not measured here" in text and "| DARTS-V1 (first order) |" in text
    assert "DARTS-full" not in text
    # a rerun trains nothing more: every trial has its rows
    before = len(CellTable(spec.table_path).rows())
    assert run_module.main(argv) == 0
    assert "search 1/1" not in capsys.readouterr().out
    assert len(CellTable(spec.table_path).rows()) == before


def test_a_saved_run_whose_trial_checkpoint_is_gone_is_not_restored(tmp_path):
    """A driver stopped while Ray replaced a trial's checkpoints leaves Ray's state pointing at a
    deleted one; restoring it would fail the trial on every retry, so the trials go on from their
    own checkpoint files instead."""
    import json
    import types

    import cloudpickle

    def state(checkpoint: str) -> str:
        result = types.SimpleNamespace(checkpoint=types.SimpleNamespace(path=checkpoint))
        manager = {"_type": "CLOUDPICKLE_FALLBACK",
                   "value": cloudpickle.dumps(types.SimpleNamespace(latest_checkpoint_result=result)).hex()}
        return json.dumps({"trial_data": [["{}", json.dumps({"checkpoint_manager": manager})]]})

    kept = tmp_path / "t0" / "checkpoint_000003"
    kept.mkdir(parents=True)
    (tmp_path / "experiment_state-2026-12-06_04-00-00.json").write_text(state(str(kept)))
    assert not run_module.ray_checkpoints_gone(str(tmp_path))
    (tmp_path / "experiment_state-2026-12-06_04-00-09.json").write_text(state(str(tmp_path / "t0" / "gone")))
    assert run_module.ray_checkpoints_gone(str(tmp_path))          # the newest state counts
    assert not run_module.ray_checkpoints_gone(str(tmp_path / "nothing"))
    (tmp_path / "experiment_state-2026-12-06_04-00-10.json").write_text("{not json")
    assert not run_module.ray_checkpoints_gone(str(tmp_path))      # unreadable: Ray decides


def test_trials_are_taken_in_the_grids_order_however_ray_lists_them():
    """A run restored from Ray's saved state lists its trials in an arbitrary order; the grid's
    scheduler still takes the first pending one of the declared order (seed by seed), then the
    first paused one, and one it was not given last."""
    # (Ray loads where a grid starts, as in run.py)
    from ray.tune.experiment import Trial

    from benchmark.tune_trainable import InOrder

    def trial(strategy: str, seed: int, status: str):
        spec = {"strategy": strategy, "search_dataset": "digits", "seed": seed}
        return SimpleNamespace(config={"spec": spec}, status=status)

    order = [f"{s}__digits__s{seed}" for seed in (0, 1, 2) for s in ("first-order", "random")]
    scheduler = InOrder(order)
    listed = [trial("random", 2, Trial.PENDING), trial("stranger", 0, Trial.PENDING),
              trial("first-order", 1, Trial.PENDING), trial("random", 0, Trial.PAUSED),
              trial("first-order", 0, Trial.TERMINATED), trial("random", 1, Trial.PENDING)]
    controller = SimpleNamespace(get_trials=lambda: listed)
    assert scheduler.choose_trial_to_run(controller) is listed[2]      # first-order s1
    listed[2].status = Trial.RUNNING
    assert scheduler.choose_trial_to_run(controller) is listed[5]      # random s1
    for t in (listed[5], listed[0]):
        t.status = Trial.RUNNING
    assert scheduler.choose_trial_to_run(controller) is listed[1]      # not in the grid: last
    listed[1].status = Trial.RUNNING
    assert scheduler.choose_trial_to_run(controller) is listed[3]      # then the paused one
    listed[3].status = Trial.RUNNING
    assert scheduler.choose_trial_to_run(controller) is None
