"""The live view of a grid: one line per reported unit of work, with the grid's tally.

Ray's own table shows the (long, nested) trial config truncated to 20 characters,
so `run.py` silences it and prints these lines instead:

    19:05:27 [ 2 running,  3 done, 0 failed / 16] first-order cifar10-jpeg s0  search 1/2  train 0.31…
    19:08:40 [ 2 running,  3 done, 0 failed / 16] first-order cifar10-jpeg s0  eval cifar10-jpeg  epoch 4/4…
    19:09:02 [ 2 running,  3 done, 0 failed / 16] first-order cifar10-jpeg s0  eval cifar10-jpeg  test 0.4…
"""

from __future__ import annotations

import sys
import time

from ray.tune import Callback

from resultstore.schema import short_name


def trial_label(spec: dict) -> str:
    """strategy, a short dataset name and the seed of a trial's spec dict."""
    dataset = short_name(spec.get("search_dataset", "?"))
    return f"{spec.get('strategy', '?')} {dataset} s{spec.get('seed', '?')}"


def describe(result: dict, search_epochs: int | None) -> str:
    """What one reported result says: phase, epoch, the metric of that phase."""
    phase = result.get("phase")
    if result.get("status") == "diverged":
        return "diverged (a loss became NaN or infinite)"
    if phase == "search":
        of = f"/{search_epochs}" if search_epochs else ""
        accs = " ".join(f"{k.split('_')[0]} {result[k]:.3f}" for k in ("train_acc", "val_acc")
                        if isinstance(result.get(k), float))
        epoch = result.get("epoch")
        shown = epoch + 1 if isinstance(epoch, int) else "?"  # epochs count from 0 in the records
        return f"search {shown}{of}  {accs}".rstrip()
    if phase == "eval":
        n = result.get("repeats", 1)
        rep = f" #{result.get('repeat', 0) + 1}/{n}" if isinstance(n, int) and n > 1 else ""
        what = f"eval {short_name(result.get('eval_dataset', '?'))}{rep}"
        if "test_acc" not in result and isinstance(result.get("epoch"), int):   # an epoch of it
            train = result.get("train_acc")
            train = f"  train {train:.3f}" if isinstance(train, float) else ""
            return f"{what}  epoch {result['epoch'] + 1}/{result.get('epochs', '?')}{train}"
        return f"{what}  test {result.get('test_acc', float('nan')):.3f}"
    if phase == "ground-truth":
        return (f"ground truth {short_name(result.get('eval_dataset', '?'))}  "
                f"{result.get('trained', '?')}/{result.get('of', '?')} trained  "
                f"test {result.get('test_acc', float('nan')):.3f}")
    if phase == "fill":
        return (f"fill {short_name(result.get('eval_dataset', '?'))}  {result.get('trained', '?')}/"
                f"{result.get('of', '?')} cells  test {result.get('test_acc', float('nan')):.3f}")
    if phase == "table":   # a cell the table lacked, trained into it
        return (f"training a missing cell into the table on {short_name(result.get('eval_dataset', '?'))} "
                f"#{result.get('repeat', 0) + 1}/{result.get('repeats', '?')}  "
                f"test {result.get('test_acc', float('nan')):.3f}")
    if phase == "lookup":
        if result.get("status") == "missed":
            return f"lookup {short_name(result.get('eval_dataset', '?'))}  missed (not in the table)"
        now = ", trained now" if result.get("trained") else ""
        return (f"lookup {short_name(result.get('eval_dataset', '?'))}  test "
                f"{result.get('test_acc', float('nan')):.3f} ({result.get('trainings', '?')} trainings{now})")
    if phase == "done":
        return f"done ({result.get('status', '?')})"
    return str(phase)


def time_left(took: dict[str, list[float]], pending: list[str], parallel: int) -> float | None:
    """Seconds the `pending` trials (their strategies) take, `parallel` at a time, at the mean wall
    time of the trials of each strategy that finished (`took`), or of all that finished where a
    strategy has none yet; None before any finished."""
    every = [t for ts in took.values() for t in ts]
    if not every:
        return None
    mean = {s: sum(ts) / len(ts) for s, ts in took.items() if ts}
    overall = sum(every) / len(every)
    return sum(mean.get(s, overall) for s in pending) / max(1, parallel)


def _strategy(trial) -> str:
    spec = trial.config.get("spec")
    return spec.get("strategy", "?") if isinstance(spec, dict) else "?"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


class ProgressPrinter(Callback):
    """Prints a line per result and per trial start, completion and failure (to `stream`); with
    `eta`, after each trial that finishes, how long the rest take at the finished trials' times."""

    def __init__(self, total: int, stream=None, eta: bool = False):
        self.total = total
        self.stream = stream   # None: sys.stdout at print time (the callback is pickled with the run)
        self.eta = eta
        self.took: dict[str, list[float]] = {}
        self.parallel = 1      # the most trials seen running at once

    def __setstate__(self, state: dict) -> None:
        """A run Ray resumes brings back the printer it pickled, perhaps an earlier version's,
        without the attributes added since: those start afresh (a resumed grid shows its time
        left from the trials that finish after it resumed)."""
        self.__dict__.update({"eta": True, "took": {}, "parallel": 1, **state})

    def _tally(self, trials) -> str:
        count = {s: sum(1 for t in trials if t.status == s) for s in ("RUNNING", "TERMINATED", "ERROR")}
        return (f"[{count['RUNNING']:2d} running, {count['TERMINATED']:2d} done, "
                f"{count['ERROR']} failed / {self.total}]")

    def _print(self, trials, trial, what: str, seconds: float | None = None) -> None:
        spec = trial.config.get("spec", {})
        label = trial_label(spec) if isinstance(spec, dict) else trial.trial_id
        if trial.config.get("options"):
            label += f" ({trial.trial_id})"
        tail = f"  {seconds:.0f}s" if seconds is not None else ""
        print(f"{time.strftime('%H:%M:%S')} {self._tally(trials)} {label}  {what}{tail}",
              file=self.stream or sys.stdout, flush=True)

    def _count_running(self, trials, trial) -> None:
        """The most trials seen running at once (`trial` among them: Ray marks a trial RUNNING
        only after it announces its start)."""
        self.parallel = max(self.parallel, sum(1 for t in trials if t.status == "RUNNING" or t is trial))

    def on_trial_start(self, iteration, trials, trial, **info):
        self._count_running(trials, trial)
        self._print(trials, trial, "started")

    def on_trial_complete(self, iteration, trials, trial, **info):
        """With `eta`: the time the trials not yet finished take, from the wall times
        (`time_total_s`) of the ones this run started and finished (a trial that went on from a
        state, Ray's checkpoint or its own file, reports only the time since, and is left out)."""
        if not self.eta:
            return
        last = trial.last_result or {}
        seconds = last.get("time_total_s")
        if isinstance(seconds, (int, float)) and not last.get("resumed"):   # (tune_trainable reports it)
            self.took.setdefault(_strategy(trial), []).append(float(seconds))
        pending = [_strategy(t) for t in trials if t is not trial and t.status not in ("TERMINATED", "ERROR")]
        left = time_left(self.took, pending, self.parallel)
        if left is None or not pending:
            return
        until = time.strftime("%a %H:%M", time.localtime(time.time() + left))
        n = sum(len(v) for v in self.took.values())
        print(f"{time.strftime('%H:%M:%S')} {self._tally(trials)} {len(pending)} trial(s) left: about "
              f"{_duration(left)} at {self.parallel} a time, at the mean times of the {n} finished in "
              f"this run by strategy (until about {until})", file=self.stream or sys.stdout, flush=True)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._count_running(trials, trial)
        spec = trial.config.get("spec", {})
        epochs = spec.get("profile", {}).get("search_epochs") if isinstance(spec, dict) else None
        self._print(trials, trial, describe(result, epochs), result.get("time_total_s"))

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._print(trials, trial, "crashed; retrying from its last checkpoint")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._print(trials, trial, f"FAILED ({getattr(trial, 'error_file', None) or 'see the trial log'})")
