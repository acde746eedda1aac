"""Tuning a strategy's own hyperparameters: the search spaces, and the tuned configs a grid uses.

`python benchmark/run.py --tune STRATEGY --grid G --samples N` samples N configurations with
Optuna's TPE (Ray Tune's OptunaSearch), stops poor ones early with ASHA on the tuning's metric
(benchmark/plan.py `tuning_metric`: the supernet's search-validation accuracy, or on a grid that
looks every epoch's cell up in a table, that cell's training accuracy there), and writes the best
to results/tuned/<grid>/<strategy>.json; `--tuned results/tuned/<grid>` then gives every strategy
of a grid its tuned options. Every strategy gets the same budget N.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from ray import tune

from nas.files import FileError, read_json, write_json
from nas.strategies import STRATEGIES, get_strategy
from nas.strategies.base import Range


def distribution(r: Range):
    """The Ray Tune distribution of a strategy's `Range` (integer ranges include `high`)."""

    if r.integer:
        return (tune.lograndint if r.log else tune.randint)(int(r.low), int(r.high) + 1)
    return (tune.loguniform if r.log else tune.uniform)(r.low, r.high)


def search_space(strategy: str) -> dict:
    """Ray Tune distributions of the strategy's own options: its class's `tunable` ranges."""
    return {name: distribution(r) for name, r in get_strategy(strategy).tunable.items()}


def read_samples(ray_dir: str | Path) -> list[tuple[dict, pd.DataFrame]]:
    """(options, reported history) of every sample of a tuning from Ray's trial folders in
    `ray_dir` (params.json, progress.csv), for a tuning whose driver is gone (cut short, or run by
    an earlier version); a running tuning has them from Ray's results."""
    samples = []
    for trial in sorted(Path(ray_dir).glob("*/params.json")):
        options = (read_json(trial, "a tuning's trial folder") or {}).get("options") or {}
        progress = trial.parent / "progress.csv"
        ok = progress.is_file() and progress.stat().st_size
        samples.append((options, pd.read_csv(progress) if ok else pd.DataFrame()))
    return samples


def tuning_samples(samples: list[tuple[dict, pd.DataFrame]], chosen: dict | None,
                   rung: int | None = None, metric: str = "val_acc") -> pd.DataFrame:
    """One row per sample: its options, the search epochs it ran (ASHA stops the poorer ones), its
    last and best search-validation accuracy (`last_val_acc`, `best_val_acc`) and, where the tuning
    chose by the derived cell's training accuracy in a table (`metric` cell_train_acc), the same of
    that (`last_cell_train_acc`, `best_cell_train_acc`); with `rung` (ASHA's grace period) each at
    that epoch, which every sample reached (`rung_val_acc`, `rung_cell_train_acc`: where ASHA first
    compared them); and whether it is `chosen`; by the last value of `metric` (the tuner's
    objective), best first, the chosen one first among equals."""
    names = ["val_acc"] + ([metric] if metric != "val_acc" else [])
    rows = []
    for options, history in samples:
        search = history[history["phase"] == "search"] if "phase" in history else history.iloc[0:0]
        row = {**options}
        for name in names:
            values = (pd.to_numeric(search[name], errors="coerce").dropna() if name in search
                      else pd.Series(dtype=float))
            if name == "val_acc":
                row["epochs"] = len(values)
            row[f"last_{name}"] = float(values.iloc[-1]) if len(values) else float("nan")
            row[f"best_{name}"] = float(values.max()) if len(values) else float("nan")
            if rung:
                row["rung"] = rung
                row[f"rung_{name}"] = float(values.iloc[rung - 1]) if len(values) >= rung else float("nan")
        rows.append({**row, "chosen": options == chosen})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values([f"last_{metric}", "chosen"], ascending=False, ignore_index=True)


def write_tuned(folder: Path, strategy: str, options: dict, score: float,
                metric: str = "val_acc") -> Path:
    """<strategy>.json: the chosen options, and the value of the metric the tuning chose by."""
    return write_json(Path(folder) / f"{strategy}.json",
                      {"strategy": strategy, "options": options, metric: score})


def load_tuned(folder: str | Path, metric: str | None = None) -> dict[str, dict]:
    """{strategy: options} from the <strategy>.json files of a tuning folder; with `metric` (the
    grid's tuning objective, benchmark/plan.py `tuning_metric`), a file whose tuning chose by
    another objective (the key beside its options) is refused."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"the tuned-config folder {folder} does not exist")
    tuned = {}
    for path in sorted(folder.glob("*.json")):
        d = read_json(path, "run the tuning again, or delete it")
        if not isinstance(d, dict) or not isinstance(d.get("options"), dict):
            raise FileError(f"{path} is not a tuned configuration ({{\"strategy\": …, \"options\": "
                            "{…}}); run the tuning again, or mend or delete it")
        chosen_by = [k for k in d if k not in ("strategy", "options")]
        if metric is not None and chosen_by and metric not in chosen_by:
            raise FileError(f"{path} was tuned by {chosen_by[0]}, not by this grid's objective "
                            f"{metric}; tune {d.get('strategy')} again on this grid, or move the "
                            "file out of the folder")
        if d.get("strategy") in STRATEGIES:
            tuned[d["strategy"]] = dict(d["options"])
    if not tuned:
        raise ValueError(f"{folder} holds no tuned configuration (<strategy>.json)")
    return tuned


def tuned_lines(folder: str | Path, tuned: dict[str, dict], strategies) -> list[str]:
    """What a grid's strategies run at with `--tuned FOLDER`: a line each, and the searching
    strategies the folder has no options for."""
    lines = [f"tuned options from {folder}:"]
    lines += [f"  {name}: {tuned[name]}" for name in strategies if name in tuned]
    untuned = [n for n in strategies if n not in tuned and get_strategy(n).searches]
    if untuned:
        lines.append(f"  not tuned (the profile's options, else the strategy's defaults): "
                     f"{', '.join(untuned)}")
    return lines
