"""Read an experiment folder of the benchmark (see results/README.md) into pandas frames.

The per-trial parts (`parts/<table>/*.parquet`) are read when they exist, since
they are current while a grid is still running; the joined `<table>.parquet`
otherwise. `grid.json`, written by `benchmark/run.py` when a grid starts,
declares the trials, so that the ones without results can be named.

Each found genotype may be trained from scratch several times (`repeat` 0, 1, …, with training
seed `eval_seed`; a trial's row without an evaluation, diverged or missed, reads as repeat 0 with
the search's seed). The unit of the statistics is one search: `Experiment.searches` averages its
repeats.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nas.options import program
from resultstore.schema import KEYS, SEARCH_KEY, read_manifest
from resultstore.store import ResultStore


class ReportError(Exception):
    """Bad input to the report; the message is one sentence that says what to do."""


@dataclass
class Experiment:
    root: Path
    trials: pd.DataFrame
    epochs: pd.DataFrame
    alphas: pd.DataFrame
    declared: list[dict] = field(default_factory=list)   # grid.json's trials ([] when absent)
    ground_truth: pd.DataFrame = field(default_factory=pd.DataFrame)   # spaces with candidates
    space: str = "darts"                                 # grid.json's profile's space
    table_path: str | None = None                        # grid.json's table of cells, if any
    fills: pd.DataFrame = field(default_factory=pd.DataFrame)   # a grid that fills its table
    space_options: dict = field(default_factory=dict)    # grid.json's profile's search_space
    left_out: tuple[str, ...] = ()                       # strategies `only_strategies` removed
    notes: tuple[str, ...] = ()                          # what a report adds to its status lines

    @property
    def fills_table(self) -> bool:
        """Whether the experiment fills a table of cells (its report is the table's) rather than
        searching."""
        return bool(self.declared) and all(d.get("kind") == "table-fill" for d in self.declared)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def finished(self) -> pd.DataFrame:
        """Rows of finished evaluations, with `acc` = test accuracy in percent."""
        t = self.trials
        t = t[t["status"] == "finished"].copy()
        t["acc"] = 100.0 * (t["test_acc"].astype(float) if "test_acc" in t else float("nan"))
        return t

    @property
    def searches(self) -> pd.DataFrame:
        """One row per search and evaluation dataset (SEARCH_KEY): `acc` = mean test accuracy (%)
        over its repeated trainings from scratch, `repeats` = how many; the other columns from
        its first repeat."""
        f = self.finished.sort_values([*SEARCH_KEY, "repeat"])
        if f.empty:
            return f.assign(repeats=pd.Series(dtype=int))
        g = f.groupby(SEARCH_KEY, sort=False)
        out = g.first().reset_index()
        out["acc"] = g["acc"].mean().to_numpy()
        out["repeats"] = g["acc"].count().to_numpy()
        return out

    @property
    def found(self) -> pd.DataFrame:
        """One row per search that found a cell, scored or missed by its table (the trial's first
        row, with its `genotype`)."""
        t = self.trials
        if t.empty or "genotype" not in t:
            return pd.DataFrame(columns=[*t.columns.union(["strategy", "search_dataset", "seed",
                                                           "status", "genotype"], sort=False)])
        t = t[t.status.isin(["finished", "missed"]) & t.genotype.notna()]
        return t.drop_duplicates(["strategy", "search_dataset", "seed"])

    @property
    def diverged(self) -> pd.DataFrame:
        return self.trials[self.trials["status"] == "diverged"]

    def missing(self) -> list[str]:
        """Declared trials, evaluations or repeats with no row yet: 'trial_id', 'trial_id: eval ds'
        or 'trial_id: eval ds repeat r' (grid.json's repeats, per trial and dataset)."""
        rows = self.trials[[*SEARCH_KEY, "repeat"]].itertuples(index=False)
        have = {(*r[:4], int(r[4])) for r in rows}
        ended = {k[:3] for k in have}
        evaluated = {k[:4] for k in have}
        out = []
        gt = self.ground_truth
        for d in self.declared:
            if d.get("kind") == "table-fill":     # its row is in fills
                f = self.fills
                if f.empty or not ((f.search_dataset == d["search_dataset"]) & (f.seed == d["seed"])).any():
                    out.append(d["trial_id"])
                continue
            if d.get("kind") == "ground-truth":   # its rows are in ground_truth, not in trials
                mine = gt.empty or ((gt.search_dataset == d["search_dataset"]) & (gt.seed == d["seed"]))
                if gt.empty or not mine.any():
                    out.append(d["trial_id"])
                continue
            key = (d["strategy"], d["search_dataset"], d["seed"])
            if key not in ended:
                out.append(d["trial_id"])
                continue
            if (*key, "") in evaluated:        # diverged: no evaluation is expected
                continue
            for e in d.get("eval_datasets", []):
                if (*key, e) not in evaluated:
                    out.append(f"{d['trial_id']}: {e}")
                    continue
                out += [f"{d['trial_id']}: {e} repeat {r}" for r in range(_repeats(d, e))
                        if (*key, e, r) not in have]
        return out


def only_strategies(exp: Experiment, names) -> Experiment:
    """The experiment with the rows (trials, epochs, α) and the declared trials of the strategies
    `names` only: a report's pre-declared comparison among some of them, whose Holm family is
    theirs alone. ReportError (one sentence) for a name the experiment has no row of."""
    names = list(dict.fromkeys(names))
    held = sorted(set(exp.trials.strategy)) if not exp.trials.empty else []
    unknown = [n for n in names if n not in held]
    if unknown:
        raise ReportError(f"--strategies names {', '.join(unknown)}, of which {exp.root} holds no "
                          f"rows; it holds {', '.join(held) or 'none'}")

    def keep(df: pd.DataFrame) -> pd.DataFrame:
        return df[df.strategy.isin(names)] if not df.empty and "strategy" in df else df
    declared = [d for d in exp.declared if d.get("strategy") in names
                or d.get("kind") in ("ground-truth", "table-fill")]
    return dataclasses.replace(exp, trials=keep(exp.trials), epochs=keep(exp.epochs),
                               alphas=keep(exp.alphas), declared=declared,
                               left_out=tuple(n for n in held if n not in names))


def _repeats(declared: dict, dataset: str) -> int:
    """Trainings declared for one evaluation dataset of a trial (grid.json's per-trial `repeats`)."""
    return int(declared["repeats"][dataset])


def _with_repeats(df: pd.DataFrame, eval_seed: bool) -> pd.DataFrame:
    """Rows without an evaluation (a diverged or missed trial's, a search epoch's): `repeat` 0
    (and `eval_seed` the search's seed), so that the columns are whole numbers."""
    if df.empty:
        return df
    df["repeat"] = df["repeat"].fillna(0).astype(int)
    if eval_seed:
        if "eval_seed" not in df:
            df["eval_seed"] = df["seed"]
        df["eval_seed"] = df["eval_seed"].fillna(df["seed"]).astype(int)
    return df


def load_experiment(root: str | Path) -> Experiment:
    """Load an experiment folder; ReportError if it does not exist or holds no trial yet."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ReportError(f"there is no experiment folder at {root}; run `"
                          f"{program('benchmark/run.py')} --grid NAME` first, or name an existing one")
    store = ResultStore(root)
    frames = {t: store.read(t) for t in KEYS}
    frames["trials"] = _with_repeats(frames["trials"], eval_seed=True)
    frames["epochs"] = _with_repeats(frames["epochs"], eval_seed=False)
    declared, space, table_path, options = [], "darts", None, {}
    manifest = read_manifest(root, "restore it from a copy, or delete it (the report then cannot "
                             "name the trials that have no results yet)")
    if manifest is not None:
        profile = manifest.get("profile") or {}
        space = profile.get("space", "darts")
        options = profile.get("search_space") or {}
        declared = list(manifest.get("trials", []))
        table_path = manifest.get("table_path")
    # (a folder of `python -m studies ... --out` alone has no trials: its report is the studies')
    fill = bool(declared) and all(d.get("kind") == "table-fill" for d in declared)
    if (frames["fills"].empty if fill else frames["trials"].empty) and (
            declared or all(store.read(t).empty for t in ("fidelity", "toy"))):
        state = (f"{len(declared)} trials are declared but none has finished" if declared
                 else "it has no trials.parquet and no parts/trials/")
        raise ReportError(f"{root} holds no results yet: {state}")
    return Experiment(root, frames["trials"], frames["epochs"], frames["alphas"], declared,
                      frames["ground_truth"], space, table_path, frames["fills"], options)


def find_experiment(name: str | None, results: str | Path) -> Path:
    """A folder path, a name under `results`, or (None) the experiment most recently written."""
    results = Path(results)
    if name:
        p = Path(name).expanduser()
        if p.is_dir():
            return p
        if (results / name).is_dir():
            return results / name
        raise ReportError(f"no experiment {name!r} in {results}; experiments there: "
                          f"{', '.join(_experiments(results)) or 'none'}")
    found = _experiments(results)
    if not found:
        raise ReportError(f"{results} holds no experiment with results; run "
                          f"`{program('benchmark/run.py')} --grid smoke` first")
    return max((results / f for f in found), key=_last_written)


def _experiments(results: Path) -> list[str]:
    if not results.is_dir():
        return []
    return sorted(p.name for p in results.iterdir() if p.is_dir()
                  and ((p / "trials.parquet").is_file() or (p / "parts" / "trials").is_dir()))


def _last_written(p: Path) -> float:
    files = [*p.glob("*.parquet"), *p.glob("parts/trials/*.parquet")]
    return max((f.stat().st_mtime for f in files), default=p.stat().st_mtime)
