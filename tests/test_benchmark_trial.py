import dataclasses
import math

import pytest

from benchmark.codec import decode_state, encode_state
from benchmark.grids import SMOKE, Grid
from benchmark.trial import run_trial
from resultstore.store import ResultStore

TINY = dataclasses.replace(SMOKE, train_subset=256, train=dataclasses.replace(SMOKE.train, epochs=1),
                           search_epochs=2, search_batch_size=64, eval_repeats=1)


def _spec(strategy="first-order", profile=TINY, options=None):
    grid = Grid("t", (strategy,), ("digits",), (0,), profile,
                strategy_options={strategy: options or {}})
    return grid.trials()[0]


def _saved(through_a_file):
    """What a trial state becomes in a checkpoint: the codec's form through torch.save/load."""
    return lambda state: decode_state(through_a_file(encode_state(state)))


def test_a_trial_searches_evaluates_and_becomes_rows(tmp_path):
    seen = []
    spec = _spec()
    state = run_trial(spec, on_progress=lambda m, s: seen.append(m["phase"]))
    assert seen == ["search", "search", "eval", "eval"]   # the evaluation's one epoch, then its test
    rows = state.rows(spec)
    (trial,) = rows["trials"]
    assert trial["status"] == "finished" and 0 <= trial["test_acc"] <= 1 and trial["params"] > 0
    assert trial["search_epochs"] == 2 and trial["eval_epochs"] == 1     # TINY's, as run
    assert len(rows["epochs"]) == 2 + 1
    assert len(rows["alphas"]) == 2 * 2 * 5 * 8  # epochs × cells × edges (2 nodes) × ops
    store = ResultStore(tmp_path)
    for table, table_rows in rows.items():
        store.write_part(table, spec.trial_id, table_rows)
    frames = store.collect()
    assert frames["trials"]["test_acc"].iloc[0] == pytest.approx(trial["test_acc"])
    sums = frames["alphas"].groupby(["epoch", "cell", "edge"])["weight"].sum()
    assert all(math.isclose(v, 1.0, rel_tol=1e-5) for v in sums)


def test_a_trial_resumes_from_its_last_state(through_a_file):
    spec = _spec()
    states = []
    full = run_trial(spec, on_progress=lambda m, s: states.append(_saved(through_a_file)(s)))
    assert states[0].evals == {}
    resumed = run_trial(spec, state=states[0])  # after the first search epoch
    assert resumed.genotype == full.genotype
    assert resumed.evals["digits#0"]["test_acc"] == full.evals["digits#0"]["test_acc"]


def test_a_trial_resumes_in_the_middle_of_an_evaluation_from_its_last_epoch(through_a_file):
    """A crash during an evaluation costs at most the epoch in progress: the resumed trial trains
    the remaining epochs only and ends with the uninterrupted trial's numbers."""
    profile = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, epochs=3))
    spec = _spec(profile=profile)
    reports = []
    full = run_trial(spec, on_progress=lambda m, s: reports.append((m, _saved(through_a_file)(s))))
    eval_epochs = [(m, s) for m, s in reports if m["phase"] == "eval" and "test_acc" not in m]
    assert [m["epoch"] for m, _ in eval_epochs] == [0, 1, 2]
    assert all(m["epochs"] == 3 for m, _ in eval_epochs)
    crashed = eval_epochs[0][1]             # the checkpoint after the evaluation's first epoch
    assert crashed.eval_partial["digits#0"]["epoch"] == 1 and crashed.evals == {}
    seen = []
    resumed = run_trial(spec, state=crashed, on_progress=lambda m, s: seen.append(m))
    assert [m.get("epoch") for m in seen if m["phase"] == "eval" and "test_acc" not in m] == [1, 2]
    assert resumed.eval_partial == {}
    assert resumed.evals["digits#0"]["test_acc"] == full.evals["digits#0"]["test_acc"]
    assert [h["train_loss"] for h in resumed.evals["digits#0"]["history"]] == \
        [h["train_loss"] for h in full.evals["digits#0"]["history"]]
    rows = resumed.rows(spec)
    # the costs: the process CPU time of every epoch, those before the crash included
    (trial,) = rows["trials"]
    history = resumed.evals["digits#0"]["history"]
    assert trial["eval_cpu_s"] == pytest.approx(sum(h["epoch_cpu_s"] for h in history))
    assert trial["search_cpu_s"] == pytest.approx(
        sum(r["epoch_cpu_s"] for r in resumed.search_history))
    assert trial["eval_cpu_s"] > 0 and trial["search_cpu_s"] > 0
    assert [r["cpu_s"] for r in rows["epochs"] if r["phase"] == "eval"] == [
        h["epoch_cpu_s"] for h in history]
    assert [r["epoch"] for r in rows["epochs"] if r["phase"] == "eval"] == [0, 1, 2]


def test_a_search_only_trial_records_its_search_and_trains_nothing(tmp_path):
    from resultstore.experiment import load_experiment

    grid = Grid("t", ("first-order",), ("digits",), (0,), TINY).override(search_only=True)
    spec = grid.trials()[0]
    seen = []
    state = run_trial(spec, on_progress=lambda m, s: seen.append(m["phase"]))
    assert seen == ["search", "search"] and state.status == "searched" and state.evals == {}
    rows = state.rows(spec)
    (trial,) = rows["trials"]
    assert trial["status"] == "searched" and trial["genotype"] == state.genotype
    assert "test_acc" not in trial and len(rows["epochs"]) == 2
    store = ResultStore(tmp_path)
    for table, table_rows in rows.items():
        store.write_part(table, spec.trial_id, table_rows)
    exp = load_experiment(tmp_path)
    assert exp.finished.empty and len(exp.epochs) == 2


def test_a_diverging_search_is_recorded_not_raised(monkeypatch):
    import torch

    from nas.strategies.first_order import FirstOrder

    real = FirstOrder.step

    def nan_step(self, train_batch, val_batch):
        metrics = real(self, train_batch, val_batch)
        return {**metrics, "train_loss": torch.tensor(float("nan"))}

    monkeypatch.setattr(FirstOrder, "step", nan_step)
    spec = _spec()
    state = run_trial(spec)
    assert state.status == "diverged" and "diverged" in state.reason
    (row,) = state.rows(spec)["trials"]
    assert row["status"] == "diverged"


def test_eval_repeats_train_the_genotype_with_paired_seeds_and_land_in_the_parquet(tmp_path):
    profile = dataclasses.replace(TINY, eval_repeats=2)
    spec = _spec(profile=profile)
    seen = []
    state = run_trial(spec, on_progress=lambda m, s: seen.append(
        (m["phase"], m.get("repeat"), "test_acc" in m)))
    # each training's one epoch, then its test
    assert seen[-4:] == [("eval", 0, False), ("eval", 0, True), ("eval", 1, False), ("eval", 1, True)]
    store = ResultStore(tmp_path)
    for table, rows in state.rows(spec).items():
        store.write_part(table, spec.trial_id, rows)
    trials = store.collect()["trials"].sort_values("repeat")
    assert list(trials["repeat"]) == [0, 1]
    assert list(trials["eval_seed"]) == [spec.seed, spec.seed + 1000]   # the same for every strategy
    assert trials["genotype"].nunique() == 1
    # other training seeds, other networks: the two trainings differ
    assert trials["test_loss"].iloc[0] != trials["test_loss"].iloc[1]
    epochs = store.read("epochs")
    assert sorted(epochs[epochs.phase == "eval"]["repeat"].unique()) == [0, 1]


def test_eval_repeats_must_be_positive():
    with pytest.raises(ValueError, match="eval_repeats must be at least 1"):
        dataclasses.replace(TINY, eval_repeats=0)


def test_the_random_baseline_takes_no_step_and_is_evaluated_like_the_others():
    spec = _spec("random")
    phases = []
    state = run_trial(spec, on_progress=lambda m, s: phases.append(m["phase"]))
    # one record of the drawn α, then the evaluation (its one epoch, then its test)
    assert phases == ["search", "eval", "eval"]
    rows = state.rows(spec)
    assert rows["trials"][0]["status"] == "finished"
    assert rows["epochs"][0]["train_loss"] is None


def test_a_state_of_another_format_starts_the_trial_again(through_a_file, capsys):
    spec = _spec()
    state = run_trial(spec)
    assert _saved(through_a_file)(state) == state
    old = {k: v for k, v in encode_state(state).items() if k != "format"}
    assert decode_state(old, "old.pt") is None
    assert "old.pt holds a trial state of another format" in capsys.readouterr().err


def test_a_damaged_own_checkpoint_is_named_and_passed_over(tmp_path, capsys):
    """A trial's own state file cut short (a full disk) is not a reason to fail the trial: it goes
    on from Ray's checkpoint, or starts, and says which file it passed over."""
    import torch

    from benchmark.trial_state import TrialState
    from benchmark.tune_trainable import latest_state, trial_key

    spec, own = _spec(), tmp_path / "own.pt"
    torch.save(encode_state(TrialState(status="searching", owner=trial_key(spec))), own)
    assert latest_state(spec, own).owner == trial_key(spec)       # (outside Ray: no checkpoint of its)
    own.write_bytes(own.read_bytes()[:100])
    assert latest_state(spec, own) is None
    err = capsys.readouterr().err
    assert f"warning: {own} is not a readable checkpoint (" in err
    assert "the trial goes on without it" in err and len(err.strip().splitlines()) == 1


def test_a_strategys_own_metrics_land_in_the_epochs_table():
    spec = _spec("implicit-cg", options={"cg_k": 2, "hvp": "finite-difference"})
    rows = run_trial(spec).rows(spec)
    search = [r for r in rows["epochs"] if r["phase"] == "search"]
    assert search and all(1.0 <= r["cg_iterations"] <= 2.0 for r in search)


def test_the_harvest_copies_a_finished_trials_parts_unless_its_marking_part_is_there(tmp_path):
    """Rows that a trial could not write where the driver sees them come from its last
    checkpoint; a trial whose `trials` part is there already keeps all of its own tables."""
    from benchmark.tune_trainable import harvest_parts
    from resultstore.store import ResultStore

    key = {"experiment": "e", "strategy": "first-order", "search_dataset": "digits", "seed": 0,
           "profile": "smoke"}
    checkpoint, results = tmp_path / "checkpoint", tmp_path / "results"
    new = {"trials": [{**key, "eval_dataset": "digits", "repeat": 0, "test_acc": 0.9}],
           "epochs": [{**key, "phase": "search", "eval_dataset": "", "repeat": 0, "epoch": 0,
                       "val_acc": 0.9}]}
    ResultStore(checkpoint).write_parts("t", new)
    store = ResultStore(results)
    old_epochs = [{**new["epochs"][0], "val_acc": 0.1}]
    store.write_part("epochs", "t", old_epochs)      # an earlier run's, without its trials part
    assert harvest_parts(checkpoint, results) == 2
    assert store.read("epochs")["val_acc"].tolist() == [0.9]    # one run's tables, not two
    store.write_part("epochs", "t", old_epochs)      # now the trial counts as finished here
    assert harvest_parts(checkpoint, results) == 0
    assert store.read("epochs")["val_acc"].tolist() == [0.1]


_TRIAL_IN_A_PROCESS = """
import dataclasses, json, sys, torch
torch.set_num_threads(1)
from benchmark.grids import SMOKE, Grid
from benchmark.trial import run_trial
profile = dataclasses.replace(SMOKE, train_subset=256, search_epochs=2, eval_repeats=1,
                              train=dataclasses.replace(SMOKE.train, epochs=1))
spec = Grid("t", (sys.argv[1],), ("digits",), (0,), profile).trials()[0]
state = run_trial(spec)
print(json.dumps({"genotype": state.genotype, "test_acc": state.evals["digits#0"]["test_acc"],
                  "alpha": state.search_history[-1]["alpha_normal"]}))
"""


@pytest.mark.parametrize("strategy", ["first-order", "hyperdarts-linear"])
def test_a_trial_is_the_same_to_the_last_bit_in_a_new_process(strategy):
    """docs/testing.md: at one commit, on one machine and thread count, a run is reproducible bit
    for bit: two fresh processes search, derive and train to the same α, genotype and accuracy
    (hyperDARTS: its α noise comes from the seeded generators too)."""
    import json
    import subprocess
    import sys

    # (the two processes run side by side: each uses one thread)
    procs = [subprocess.Popen([sys.executable, "-c", _TRIAL_IN_A_PROCESS, strategy],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    first, second = (json.loads(out.strip().splitlines()[-1]) for out, _ in outs)
    assert first == second


def test_a_tuning_reports_its_search_epochs_alone_each_with_its_metric():
    """ASHA counts a sample's reports as its epochs and reads the metric in each: a cell trained
    into the table is not reported, a diverged search reports the worst of every metric, and an
    epoch whose cell has no training accuracy in the table is an error, not a silent None."""
    from benchmark.tune_trainable import tuning_report  # (imports Ray)

    epoch = {"phase": "search", "epoch": 3, "val_acc": 0.5, "cell_train_acc": 0.4}
    assert tuning_report(epoch) == epoch
    assert tuning_report({"phase": "search", "epoch": 3, "val_acc": 0.5}) == {
        "phase": "search", "epoch": 3, "val_acc": 0.5}           # a tuning without a table
    assert tuning_report({"phase": "table", "eval_dataset": "digits", "test_acc": 0.3}) is None
    diverged = tuning_report({"phase": "search", "status": "diverged"})
    assert diverged["val_acc"] == diverged["cell_train_acc"] == -math.inf
    with pytest.raises(RuntimeError, match="no training accuracy for the cell of search epoch 3"):
        tuning_report({**epoch, "cell_train_acc": None})
