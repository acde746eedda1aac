"""Parquet results, written so that a crash loses nothing and a retry duplicates nothing.

Each trial writes its own part of each table, `parts/<table>/<trial_id>.parquet`,
atomically (a temporary name, then a rename) and whole: a retried trial replaces
its part instead of adding rows. `collect()` joins the parts into
`<table>.parquet` (again atomically), dropping duplicate keys, keeping the last.
The tables and their columns are documented in results/README.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

GRID_KEY = ["experiment", "strategy", "search_dataset", "seed", "profile"]
KEYS: dict[str, list[str]] = {
    "trials": [*GRID_KEY, "eval_dataset", "repeat"],
    "epochs": [*GRID_KEY, "phase", "eval_dataset", "repeat", "epoch"],
    "alphas": [*GRID_KEY, "epoch", "cell", "edge", "op"],
    "ground_truth": [*GRID_KEY, "eval_dataset", "repeat", "architecture"],
}


def manifest_matches(root: str | Path, grid, specs=()) -> bool | None:
    """Whether `root`/grid.json declares `grid`'s profile, its strategy options (where recorded)
    and, for the trials of `specs` it lists, the same evaluation datasets; None without one."""
    import json

    from benchmark.grids import profile_from_dict

    manifest = Path(root) / "grid.json"
    if not manifest.is_file():
        return None
    old = json.loads(manifest.read_text())
    new = json.loads(json.dumps({"profile": grid.profile.to_dict(),
                                 "strategy_options": grid.strategy_options}))
    try:   # (a grid.json of before the typed configs is read into today's form)
        old_profile = profile_from_dict(old.get("profile") or {}).to_dict()
    except (ValueError, TypeError):
        old_profile = None
    evals = {t["trial_id"]: t.get("eval_datasets") for t in old.get("trials", [])}
    return (old_profile == new["profile"]
            and ("strategy_options" not in old or old["strategy_options"] == new["strategy_options"])
            and all(evals.get(s.trial_id, list(s.eval_datasets)) == list(s.eval_datasets) for s in specs))


def write_parquet_atomic(rows: list[dict] | pd.DataFrame, path: Path) -> None:
    """Write `rows` to `path` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = (pa.Table.from_pandas(rows, preserve_index=False) if isinstance(rows, pd.DataFrame)
             else pa.Table.from_pylist(rows))
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


class ResultStore:
    """The results folder of one experiment: `results/<experiment>/`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def part_path(self, table: str, trial_id: str) -> Path:
        if table not in KEYS:
            raise ValueError(f"unknown table {table!r}; tables are {', '.join(KEYS)}")
        return self.root / "parts" / table / f"{trial_id}.parquet"

    def write_part(self, table: str, trial_id: str, rows: list[dict]) -> None:
        """Replace the trial's part of `table` with `rows` (nothing is written for no rows)."""
        missing = [k for k in KEYS[table] if rows and k not in rows[0]]
        if missing:
            raise ValueError(f"rows of {table} lack the key column(s) {', '.join(missing)}")
        if rows:
            write_parquet_atomic(rows, self.part_path(table, trial_id))

    def has_part(self, table: str, trial_id: str) -> bool:
        return self.part_path(table, trial_id).is_file()

    def collect(self) -> dict[str, pd.DataFrame]:
        """Join every table's parts into <table>.parquet; returns the frames (empty if none)."""
        frames = {}
        for table, key in KEYS.items():
            parts = sorted((self.root / "parts" / table).glob("*.parquet"))
            if not parts:
                frames[table] = pd.DataFrame(columns=key)
                continue
            df = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
            df = df.drop_duplicates(subset=key, keep="last").reset_index(drop=True)
            write_parquet_atomic(df, self.root / f"{table}.parquet")
            frames[table] = df
        return frames

    def read(self, table: str) -> pd.DataFrame:
        path = self.root / f"{table}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; no trial of this experiment has "
                                    "finished yet")
        return pd.read_parquet(path)
