"""The Ray Tune trainable: one grid trial, reporting and checkpointing after every unit of work.

A unit of work is a search epoch, an evaluation epoch or an evaluation's test. Each one's state
goes to Ray as the trial's checkpoint and, atomically, to `<results>/checkpoints/<trial id>.pt`
beside the result parts. Ray records a trial's latest checkpoint in its experiment state, which
the driver saves every few seconds, so after a kill -9 of the driver Ray may offer an older one:
the trial starts from whichever of the two has done more units (`units` in the state), and no
finished epoch is done again. The file goes when the trial's rows are written (the `trials`
part last: it marks the trial finished). A tuning run's samples keep no file (they share the
grid trial's id); Ray restores a failed one from its last checkpoint, taken at a search epoch.

The trial's rows also go into its last checkpoint (`parts/<table>.parquet`), which Ray keeps in
its storage (`--storage`: a shared folder or a cloud URI on a cluster). A trial writes its parts
and its own checkpoint file into the results folder itself only where it sees that folder (its
grid.json, written by the driver before any trial starts): on the driver's machine or on a
shared file system. Elsewhere the driver copies the parts from the last checkpoints
(`harvest_parts`), also after a kill -9, when it resumes.

It lives in an importable module (not in run.py) so that Ray workers can import it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

import ray
import torch
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler

from benchmark.codec import decode_spec, decode_state, encode_state
from benchmark.grids import TrialSpec, trial_id
from benchmark.trial import run_trial
from benchmark.trial_state import TrialState
from nas.checkpoint import load_checkpoint
from nas.files import FileError, atomic_write
from resultstore.schema import MARKING, dataset_id
from resultstore.store import ResultStore


def own_checkpoint(results_dir: str | Path, trial_id: str) -> Path:
    """The trial's own checkpoint file (see the module's docstring)."""
    return Path(results_dir) / "checkpoints" / f"{trial_id}.pt"


def latest_state(spec: TrialSpec, own: Path | None) -> TrialState | None:
    """The state to resume from: Ray's checkpoint or the trial's own file, whichever has done
    more units of work (None: start the trial)."""
    state = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            state = decode_state(torch.load(Path(d) / "state.pt", weights_only=False,
                                            map_location="cpu"), "Ray's checkpoint")
    if own is not None and own.is_file():
        try:
            mine = decode_state(load_checkpoint(own, "the trial goes on without it"), str(own))
        except FileError as e:   # (written atomically: a full disk or a hand at work)
            print(f"warning: {e}", file=sys.stderr)
            mine = None
        # (a file of another trial, e.g. one renamed from an ambiguous id of before, is not ours)
        if mine is not None and mine.owner == trial_key(spec) and (
                state is None or mine.units > state.units):
            state = mine
    return state


def trial_device(config: dict) -> torch.device:
    """The GPU Ray gave the trial, else the CPU with the threads it gave."""
    use_gpu = torch.cuda.is_available() and os.environ.get("CUDA_VISIBLE_DEVICES", "") != ""
    if not use_gpu and config.get("cpu_threads"):
        torch.set_num_threads(int(config["cpu_threads"]))
    return torch.device("cuda" if use_gpu else "cpu")


def trainable(config: dict) -> None:
    spec = decode_spec(config["spec"])
    if config.get("options"):  # sampled by a tuning run
        spec = dataclasses.replace(spec, strategy_options={**spec.strategy_options,
                                                           **config["options"]})
    # a tuning run's samples share the grid trial's id: no file of their own (Ray's checkpoint)
    # the results folder is this node's where the driver's grid.json is in it (one machine, or a
    # shared file system); elsewhere the rows reach it through the trial's last checkpoint
    visible = (Path(config["results_dir"]) / "grid.json").is_file()
    own = (None if config.get("options") or not visible
           else own_checkpoint(config["results_dir"], spec.trial_id))
    marker = Path(config["fail_once_marker"]) if config.get("fail_once_marker") else None
    start = latest_state(spec, own)
    # every report says whether the trial went on from a state (Ray's time_total_s then counts
    # only the time since: the progress printer leaves such a trial out of its time left)
    resumed = int(start is not None)

    def progress(metrics: dict, st: TrialState) -> None:
        st.units += 1
        st.owner = trial_key(spec)
        if config.get("options"):
            metrics = tuning_report(metrics)
            if metrics is None:
                return
        with tempfile.TemporaryDirectory() as d:
            torch.save(encode_state(st), Path(d) / "state.pt")   # serialised once, copied to the own file
            if own is not None:
                atomic_write(own, lambda tmp: shutil.copyfile(Path(d) / "state.pt", tmp))
            tune.report({**metrics, "trial_id": spec.trial_id, "done": False, "resumed": resumed},
                        checkpoint=tune.Checkpoint.from_directory(d))
        if marker is not None and not marker.exists():  # tests: crash once, after a checkpoint
            marker.write_text(f"{spec.trial_id} crashed after {metrics}")
            raise RuntimeError("injected failure (tests)")

    state = run_trial(spec, trial_device(config), start, progress)
    # the part of `trials` (or `ground_truth`) marks the trial finished, so it is written last: a
    # kill between the parts leaves the trial to be run again, not rows missing
    tables = state.rows(spec)
    if visible:
        ResultStore(config["results_dir"]).write_parts(spec.trial_id, tables)
    if own is not None:
        own.unlink(missing_ok=True)
    report_final(spec, state, tables, resumed)


def tuning_report(metrics: dict) -> dict | None:
    """What a tuning's sample reports to Ray of a unit of work: its search epochs alone (ASHA counts
    reports as epochs and reads its metric in each; a cell trained into the table has none), a
    diverged search as the worst of every metric; None: not reported."""
    if metrics.get("phase") != "search":
        return None
    if metrics.get("status") == "diverged":
        return {**metrics, **DIVERGED}
    if "cell_train_acc" in metrics and metrics["cell_train_acc"] is None:
        raise RuntimeError(f"the table has no training accuracy for the cell of search epoch "
                           f"{metrics.get('epoch')}, which the tuning chooses by")
    return metrics


# a tuning's metrics of a search that diverged: below any other sample's
DIVERGED = {"val_acc": float("-inf"), "cell_train_acc": float("-inf")}


def report_final(spec: TrialSpec, state: TrialState, tables: dict, resumed: int = 0) -> None:
    """The trial's last report to Ray: its test accuracies, and a checkpoint that holds its rows
    and its finished state (a trial restarted from it ends at once); `resumed`: 1 where the trial
    went on from an earlier state."""
    final = {"phase": "done", "status": state.status, "trial_id": spec.trial_id, "done": True,
             "node_id": ray.get_runtime_context().get_node_id(), "resumed": resumed}
    # metric names that every logger accepts (MLflow's: letters, digits, _-. /:)
    accs = ({f"test_acc/{metric_suffix(k)}": v["test_acc"] for k, v in state.evals.items()}
            if spec.kind == "search" else {})
    history = state.search_history or [{}]
    # the tuner's metrics at the last epoch: the supernet's search-validation accuracy, and where
    # the epochs were looked up, the derived cell's training accuracy in the table
    last = state.epoch_lookups.get(str(history[-1].get("epoch")), {})
    cell = {"cell_train_acc": last.get("lookup_train_acc")} if state.epoch_lookups else {}
    scores = {"val_acc": history[-1].get("val_acc", 0.0), **cell}
    if state.status == "diverged":   # (not the last epoch that did not diverge)
        scores = DIVERGED
    with tempfile.TemporaryDirectory() as d:
        ResultStore(d).write_parts(spec.trial_id, tables)
        torch.save(encode_state(state), Path(d) / "state.pt")
        tune.report({**final, **accs, **scores},
                    checkpoint=tune.Checkpoint.from_directory(d))


class PartsHarvester(tune.Callback):
    """Driver side: as each trial completes, copy the parts in its last checkpoint into the
    results folder (a no-op where the trial wrote them there itself)."""

    def __init__(self, results_dir: str | Path):
        self.results_dir = str(results_dir)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        try:   # (the driver copies them again after the run: a failure here loses nothing)
            harvest_checkpoint(trial.checkpoint, self.results_dir,
                               (trial.last_result or {}).get("trial_id"))
        except Exception as e:   # (never stop the grid for a copy)
            print(f"warning: the rows of {trial.trial_id} were not copied from its checkpoint yet "
                  f"({e}); the driver tries again when the grid ends", file=sys.stderr)


def harvest_checkpoint(checkpoint, results_dir: str | Path, trial_id: str | None = None) -> int:
    """`harvest_parts` of a Ray checkpoint (local or in cloud storage) that holds parts; not even
    fetched where the trial's marking part is in the results folder already."""
    store = ResultStore(results_dir)
    if checkpoint is None or (trial_id and any(store.has_part(t, trial_id) for t in MARKING)):
        return 0
    with checkpoint.as_directory() as d:
        return harvest_parts(d, results_dir)


def harvest_parts(checkpoint_dir: str | Path, results_dir: str | Path) -> int:
    """Copy the result parts in a finished trial's last checkpoint (a folder) into the results
    folder, unless the trial's marking part (trials, or ground_truth) is there already: its
    parts are then all there, from this run or an earlier one, and mixing two runs' tables is
    worse than keeping either. The marking part is copied last. Returns how many it copied."""
    src = ResultStore(checkpoint_dir)
    dst = ResultStore(results_dir)
    parts = sorted((Path(checkpoint_dir) / "parts").glob("*/*.parquet"),   # the marking part last
                   key=lambda p: (p.parent.name in MARKING, str(p)))
    if any(p.parent.name in MARKING and dst.has_part(p.parent.name, p.stem) for p in parts):
        return 0
    for table, part in ((p.parent.name, p.stem) for p in parts):
        atomic_write(dst.part_path(table, part), lambda tmp, table=table, part=part: shutil.copyfile(
            src.part_path(table, part), tmp))
    return len(parts)


def trial_key(spec: TrialSpec) -> dict:
    """What a state file says about whose it is."""
    return {"strategy": spec.strategy, "search_dataset": spec.search_dataset, "seed": spec.seed,
            "kind": spec.kind}


def metric_suffix(eval_key: str) -> str:
    """'imagefolder:~/x#1' -> 'imagefolder_x-<hash>/r1'."""
    dataset, _, repeat = eval_key.rpartition("#")
    return f"{dataset_id(dataset)}/r{repeat}"


class InOrder(FIFOScheduler):
    """First in, first out in the grid's declared order (seed by seed, so that a grid stopped early
    holds whole seeds, whose strategies pair), however Ray lists its trials: a run restored from
    Ray's saved state lists them in an arbitrary order (Ray 2.60 saves them from a set), and
    Ray's own FIFO scheduler then ran seed 31 before seed 21. `order`: the trial ids, in order;
    a trial not among them goes last."""

    def __init__(self, order: list[str]):
        super().__init__()
        self.rank = {t: i for i, t in enumerate(order)}

    def _rank(self, trial) -> int:
        spec = trial.config.get("spec") or {}
        key = (spec.get("strategy"), spec.get("search_dataset"), spec.get("seed"))
        return self.rank.get(trial_id(*key), len(self.rank)) if None not in key else len(self.rank)

    def choose_trial_to_run(self, tune_controller):
        for status in (Trial.PENDING, Trial.PAUSED):
            ready = [t for t in tune_controller.get_trials() if t.status == status]
            if ready:
                return min(ready, key=self._rank)
        return None

    def debug_string(self) -> str:
        return "Using FIFO scheduling in the grid's declared order."
