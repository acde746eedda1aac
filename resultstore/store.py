"""The results layer: every table this project writes, its key, and how it is written and read.

Every writer (a grid's trials, the perf harness, the toy problem, the fidelity tool) writes its
rows as a whole part of a table, `<folder>/parts/<table>/<part>.parquet`, atomically
(`nas.files.atomic_write`): a retried trial or a rerun replaces its part instead of adding rows,
and a crash never leaves half a file. Reading joins the parts, dropping duplicate keys (the last
part written wins); `collect()` also writes the joined `<table>.parquet` for other tools. The
report reads only these files. The columns are documented in results/README.md.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nas.files import FileError, atomic_write
from resultstore.schema import KEYS, MARKING, OTHER_KEYS, TABLES

# reads of a table whose part vanished meanwhile (a concurrent `compact`), before giving up
READ_ATTEMPTS = 3

def default_results_dir() -> Path:
    """Where results go unless a command is told otherwise: results/ of the project in a source
    checkout (a pyproject.toml beside the packages), ./results of the current directory for an
    installed copy (never inside site-packages)."""
    root = Path(__file__).resolve().parents[1]
    return root / "results" if (root / "pyproject.toml").is_file() else Path.cwd() / "results"

def read_parquet(path: str | Path, **kwargs) -> pd.DataFrame:
    """A parquet file; FileError in one sentence, naming the file, where it cannot be read."""
    try:
        return pd.read_parquet(path, **kwargs)
    except FileNotFoundError:
        raise FileError(f"{path} does not exist") from None
    except (pa.ArrowException, OSError) as e:
        reason = re.sub(r"^Could not open Parquet input source '.*?': ", "",
                        str(e).split("\n")[0]).split(". ")[0].rstrip(".")
        table = Path(path).parent.name if Path(path).parent.parent.name == "parts" else None
        fix = ("restore it from a copy, or delete it and run the same `benchmark/run.py` command "
               "again (its rows come back from the trial's last checkpoint, or the trial runs again)"
               if table in MARKING else
               f"restore it from a copy, or delete it and parts/trials/{Path(path).name} (or "
               f"parts/ground_truth/{Path(path).name}), then run the same `benchmark/run.py` "
               "command again" if table in KEYS else "restore it from a copy")
        raise FileError(f"{path} is not a readable parquet file ({reason}); {fix}") from None


def write_parquet_atomic(rows: list[dict] | pd.DataFrame, path: Path) -> None:
    """Write `rows` to `path` atomically. Every key of any row is a column (pyarrow's from_pylist
    would keep only the first row's keys: a metric recorded on some epochs only would vanish)."""
    if isinstance(rows, pd.DataFrame):
        table = pa.Table.from_pandas(rows, preserve_index=False)
    else:
        keys = list(dict.fromkeys(k for row in rows for k in row))
        table = pa.Table.from_pydict({k: [row.get(k) for row in rows] for k in keys})
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """An exclusive lock on the file `path` (made where missing) for the with-block; another
    process's waits. The kernel releases it when a process ends, however it ends. (No lock where
    `fcntl` is missing: Windows.)"""
    try:
        import fcntl  # (POSIX only)
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX)
        except OSError as e:   # (a file system without locks, e.g. some NFS mounts: go on without)
            print(f"warning: {path} cannot be locked ({e.strerror}); going on without the lock",
                  file=sys.stderr)
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read_listed(path: Path) -> pd.DataFrame:
    """A listed file of a table; FileNotFoundError where it has gone since the listing."""
    try:
        return read_parquet(path)
    except FileError:
        if not path.exists():
            raise FileNotFoundError(path) from None
        raise


class ResultStore:
    """A results folder: an experiment's (`results/<experiment>/`) or a tool's (`results/perf/`)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def part_path(self, table: str, part: str) -> Path:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}; tables are {', '.join(TABLES)}")
        return self.root / "parts" / table / f"{part}.parquet"

    def write_part(self, table: str, part: str, rows: list[dict]) -> None:
        """Replace the part `part` of `table` with `rows` (nothing is written for no rows)."""
        path = self.part_path(table, part)   # (an unknown table is refused here)
        missing = sorted({k for row in rows for k in TABLES[table] if k not in row})
        if missing:
            raise ValueError(f"rows of {table} lack the key column(s) {', '.join(missing)}")
        if rows:
            write_parquet_atomic(rows, path)

    def write_parts(self, part: str, tables: dict[str, list[dict]]) -> None:
        """One trial's rows of every table as part `part`; the part of `trials` or
        `ground_truth`, which marks the trial finished, is written last."""
        for table in sorted(tables, key=lambda t: t in MARKING):
            self.write_part(table, part, tables[table])

    def has_part(self, table: str, part: str) -> bool:
        return self.part_path(table, part).is_file()

    def read(self, table: str) -> pd.DataFrame:
        """The table: its parts joined (duplicate keys dropped, the last part written wins), or the
        joined <table>.parquet where there are no parts; empty if neither exists. A part that
        vanishes while it is read (`compact` folded it into <table>.parquet) makes it read again."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}; tables are {', '.join(TABLES)}")
        for attempt in range(READ_ATTEMPTS):
            try:
                return self._join(table, self._listing(table))
            except FileNotFoundError:
                if attempt == READ_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _listing(self, table: str) -> list[tuple[Path, float]]:
        """The files `read` joins, in the order it joins them, each with its modification time."""
        listed = []
        for p in (self.root / "parts" / table).glob("*.parquet"):
            try:
                listed.append((p, p.stat().st_mtime))
            except FileNotFoundError:   # (compacted away since the listing)
                continue
        listed.sort(key=lambda pm: pm[1])
        joined = self.root / f"{table}.parquet"
        if table in OTHER_KEYS and joined.is_file():   # what `compact` folded: read first
            listed.insert(0, (joined, joined.stat().st_mtime))
        return listed

    def _join(self, table: str, listed: list[tuple[Path, float]]) -> pd.DataFrame:
        joined = self.root / f"{table}.parquet"
        if listed:
            df = pd.concat([_read_listed(p) for p, _ in listed], ignore_index=True)
            key = [k for k in TABLES[table] if k in df]
            return df.drop_duplicates(subset=key, keep="last").reset_index(drop=True)
        return read_parquet(joined) if joined.is_file() else pd.DataFrame()

    def compact(self, table: str) -> int:
        """Fold the parts of `table` (one of OTHER_KEYS, whose joined file is read before its
        parts) into <table>.parquet and delete them, so that reading it opens one file instead of
        thousands; returns the parts folded. Safe beside writers and readers: the joined file is
        replaced atomically before any part goes, a part written or rewritten meanwhile stays (it
        is read after the joined file, so it still wins), and a reader that finds a part gone
        reads again. Two compactions of one folder (two grids that share a table, started
        together) take turns: the second would otherwise read parts the first deletes, or replace
        the joined file with one that lacks what the first folded."""
        if table not in OTHER_KEYS:
            raise ValueError(f"only {', '.join(OTHER_KEYS)} can be compacted, not {table!r}")
        with exclusive(self.root / ".compact.lock"):
            return self._compact(table)

    def _compact(self, table: str) -> int:
        joined = self.root / f"{table}.parquet"
        listed = self._listing(table)
        parts = [(p, m) for p, m in listed if p != joined]
        if not parts:
            return 0
        df = self._join(table, listed)
        write_parquet_atomic(df, joined)
        folded = 0
        for p, mtime in parts:
            try:
                if p.stat().st_mtime == mtime:
                    p.unlink()
                    folded += 1
            except FileNotFoundError:
                continue
        return folded

    def collect(self) -> dict[str, pd.DataFrame]:
        """Join the benchmark tables' parts into <table>.parquet; returns the frames (empty if none)."""
        frames = {}
        for table, key in KEYS.items():
            df = self.read(table) if (self.root / "parts" / table).is_dir() else pd.DataFrame()
            if df.empty:
                frames[table] = pd.DataFrame(columns=key)
                continue
            write_parquet_atomic(df, self.root / f"{table}.parquet")
            frames[table] = df
        return frames


def read_results(path: str | Path, table: str) -> pd.DataFrame:
    """`table` from a results folder (its parts, or its joined <table>.parquet), or from one parquet
    file (e.g. a perf.parquet copied out of a results folder); empty if there is none."""
    path = Path(path).expanduser()
    if path.is_file():
        return read_parquet(path)
    return ResultStore(path).read(table)
