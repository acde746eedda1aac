"""Tuning a strategy's own hyperparameters: the search spaces, and the tuned configs a grid uses.

`python benchmark/run.py --tune STRATEGY --grid G --samples N` samples N configurations with
Optuna's TPE (Ray Tune's OptunaSearch), stops poor ones early with ASHA on the search-validation
accuracy, and writes the best to results/tuned/<grid>/<strategy>.json; `--tuned results/tuned/<grid>`
then gives every strategy of a grid its tuned options. Every strategy gets the same budget N.
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


def tuning_samples(ray_dir: str | Path) -> pd.DataFrame:
    """Every sample of a tuning, from Ray's trial folders in `ray_dir` (its params.json and
    progress.csv, so a tuning cut short reads too): its options, the search epochs it ran (ASHA
    stops the poorer ones), its best and last search-validation accuracy; best first."""
    rows = []
    for trial in sorted(Path(ray_dir).glob("*/params.json")):
        options = (read_json(trial, "a tuning's trial folder") or {}).get("options") or {}
        progress = trial.parent / "progress.csv"
        history = pd.read_csv(progress) if progress.is_file() and progress.stat().st_size else None
        val = (history.loc[history.get("phase", pd.Series(dtype=str)) == "search", "val_acc"]
               if history is not None and "val_acc" in history else pd.Series(dtype=float))
        rows.append({**options, "epochs": len(val),
                     "best_val_acc": float(val.max()) if len(val) else float("nan"),
                     "last_val_acc": float(val.iloc[-1]) if len(val) else float("nan")})
    frame = pd.DataFrame(rows)
    return frame.sort_values("best_val_acc", ascending=False, ignore_index=True) if rows else frame


def write_tuned(folder: Path, strategy: str, options: dict, score: float) -> Path:
    return write_json(Path(folder) / f"{strategy}.json",
                      {"strategy": strategy, "options": options, "val_acc": score})


def load_tuned(folder: str | Path) -> dict[str, dict]:
    """{strategy: options} from the <strategy>.json files of a tuning folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"the tuned-config folder {folder} does not exist")
    tuned = {}
    for path in sorted(folder.glob("*.json")):
        d = read_json(path, "run the tuning again, or delete it")
        if not isinstance(d, dict) or not isinstance(d.get("options"), dict):
            raise FileError(f"{path} is not a tuned configuration ({{\"strategy\": …, \"options\": "
                            "{…}}); run the tuning again, or mend or delete it")
        if d.get("strategy") in STRATEGIES:
            tuned[d["strategy"]] = dict(d["options"])
    if not tuned:
        raise ValueError(f"{folder} holds no tuned configuration (<strategy>.json)")
    return with_controls(tuned)


def with_controls(tuned: dict[str, dict]) -> dict[str, dict]:
    """`tuned` with every control strategy (`Strategy.tuned_as`) that has no options of its own
    given the options of the strategy it controls, those it has too (first-order-smoothed takes
    hyperdarts-mlp's α lr and σ): a control is tuned with what it controls, not apart."""
    out = dict(tuned)
    for name, cls in STRATEGIES.items():
        source = cls.tuned_as
        if source and name not in out and source in tuned:
            out[name] = {k: v for k, v in tuned[source].items() if k in cls.tunable}
    return out


def tuned_lines(folder: str | Path, tuned: dict[str, dict], strategies) -> list[str]:
    """What a grid's strategies run at with `--tuned FOLDER`: a line each, a control's naming the
    strategy whose options it took, and the strategies with none (their defaults)."""
    files = {p.stem for p in Path(folder).glob("*.json")}
    lines = [f"tuned options from {folder}:"]
    for name in strategies:
        if name not in tuned:
            continue
        source = get_strategy(name).tuned_as
        took = f" ({source}'s: {name} is its control)" if name not in files and source else ""
        lines.append(f"  {name}: {tuned[name]}{took}")
    untuned = [n for n in strategies if n not in tuned and get_strategy(n).searches]
    if untuned:
        lines.append(f"  not tuned, at their defaults: {', '.join(untuned)}")
    return lines
