"""Tables of cells (tabular benchmarks): a canonical architecture, under one training protocol and
dataset, mapped to every training of it.

A table is a folder (`<results>/tables/<name>/`, or any folder a profile names):

    table.json            its protocol: the space, the training config but its seed, the data
                          (training subset, image size) and where its rows came from
    parts/cells/*.parquet one part per training (the results layer's `cells` table,
                          results/README.md), written atomically; a part is never half there
    cells.parquet         the parts folded into one file (`CellTable.compact`, which the driver
                          runs before and after a grid): read first, the parts after it win

A profile with a table evaluates a search by looking its derived architecture up (benchmark/trial.py)
instead of training it. A miss is an error in one sentence, or, where the profile says
`on_miss = "train"`, a training of the missing cell at the table's protocol (its trainings: the
profile's repeats, with the table's training seeds 0, 1000, …, shared by every cell), stored in the
table: a table fills lazily with the cells the searches need. A cell found with fewer trainings than
the profile asks for is topped up (a trial killed halfway leaves it so). Two trials that miss the
same string at once both train it (their parts have the same key and the last one written stays);
two that miss isomorphic strings both store theirs, and a lookup reads one of them, never a mix.

NAS-Bench-201's own benchmark file (the 200-epoch trainings of all 15,625 cells on CIFAR-10,
CIFAR-100 and ImageNet16-120), read through its official API (NATS-Bench's topology file through
`nats_bench`, NAS-Bench-201's own .pth through `nas_201_api`; the extra `.[nb201]`), is imported
into a table of this form once (`import_published`): `--table nb201:PATH` in `benchmark/run.py`
does it on first use. It keeps one row per cell string and seed
(the benchmark trained isomorphic strings separately), so a lookup there matches the string
exactly, and its percentiles count strings; in a table made here a cell is its canonical form
(`Cell.canonical()`): a lookup of a string the table lacks reads a trained string of the same form,
and percentiles count computations.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from nas.files import FileError, read_json, write_json
from nas.spaces import get_space
from nas.spaces.nb201 import cell_stats
from nas.spaces.nb201_cell import Cell
from resultstore.schema import dataset_id
from resultstore.store import ResultStore

PUBLISHED_PREFIX = "nb201:"
# this project's names of NAS-Bench-201's datasets -> the API's, with the split its test accuracy
# is read from (NAS-Bench-201's protocol: CIFAR-10 trained on train + valid, tested on its test
# set; CIFAR-100 and ImageNet16-120 trained on train, tested on their x-test half)
PUBLISHED_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}


class TableError(ValueError):
    """A table that cannot serve the request, said in one sentence."""


@dataclass(frozen=True)
class Lookup:
    """The trainings of one cell in a table: its accuracies (one per training seed)."""

    arch: str               # the string looked up
    canonical: str
    dataset: str
    match: str              # "exact" (the same string) or "canonical" (an isomorphic one)
    accs: tuple[float, ...]
    seeds: tuple[int, ...]
    params: float
    cost_s: float           # the trainings' wall time, summed
    epochs: int = 0         # of each training
    device: str = ""        # where they were trained
    source_arch: str = ""   # the string whose trainings these are (`arch`, or an isomorphic one)
    train_accs: tuple[float, ...] = ()   # the same trainings' accuracies on their training images

    @property
    def n(self) -> int:
        return len(self.accs)

    @property
    def mean(self) -> float:
        return float(np.mean(self.accs))

    @property
    def first_train_acc(self) -> float:
        """The training accuracy of the first training (the lowest training seed; NaN where the
        table has none): a cell's score that no test image enters, from one training, so that the
        others' test accuracies are free of its luck (a tuning chooses by it, as random search
        does)."""
        return float(self.train_accs[0]) if self.train_accs else float("nan")

    @property
    def sd(self) -> float:
        return float(np.std(self.accs, ddof=1)) if self.n > 1 else float("nan")


def canonical_form(arch) -> str:
    """The architecture's canonical form where its space has one (nb201), else its string: the
    key by which a table finds a cell it holds under another string."""
    return arch.canonical() if hasattr(arch, "canonical") else str(arch)


def part_name(dataset: str, arch: str, seed: int) -> str:
    return f"{dataset_id(dataset)}__{hashlib.sha1(arch.encode()).hexdigest()[:16]}__s{seed}"


class CellTable:
    """One table of cells (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self.store = ResultStore(self.root)
        self._rows: pd.DataFrame | None = None

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def manifest(self) -> Path:
        return self.root / "table.json"

    def protocol(self) -> dict | None:
        """The table's protocol (table.json), or None for a table not yet made."""
        if not self.manifest.is_file():
            return None
        return read_json(self.manifest, "restore it from a copy; its rows in parts/cells are intact")

    def exists(self) -> bool:
        return self.manifest.is_file()

    def require(self, protocol: dict, create: bool) -> None:
        """Check that the table was (or, with `create`, make it to be) trained at `protocol`;
        TableError in one sentence otherwise."""
        have = self.protocol()
        if have is None:
            if not create:
                raise TableError(f"there is no table of cells at {self.root} (no table.json); fill "
                                 "it first, or let the profile train on a miss (on_miss = 'train')")
            self.root.mkdir(parents=True, exist_ok=True)
            write_json(self.manifest, {**protocol, "name": self.name})
            return
        mine = {k: v for k, v in have.items() if k != "name"}
        if json.loads(json.dumps(protocol)) != mine:
            differ = sorted(k for k in set(mine) | set(protocol) if mine.get(k) != protocol.get(k))
            raise TableError(f"the table {self.root} was trained at another protocol than this "
                             f"profile's (they differ in {', '.join(differ)}); name another table")

    # -- rows -------------------------------------------------------------
    def rows(self) -> pd.DataFrame:
        if self._rows is None:
            self._rows = self.store.read("cells")
        return self._rows

    def add(self, rows: list[dict]) -> None:
        """Store trainings: one part per (dataset, arch, training seed), atomically. The rows read
        so far are kept, with these joined (a fill of thousands of cells does not read the table
        again after every training; trainings other processes store meanwhile are not seen)."""
        rows = [{"table": self.name, **row} for row in rows]
        for row in rows:
            self.store.write_part("cells", part_name(row["dataset"], row["arch"], row["train_seed"]),
                                  [row])
        if self._rows is not None and rows:
            key = ["table", "dataset", "arch", "train_seed"]
            joined = pd.concat([self._rows, pd.DataFrame(rows)], ignore_index=True)
            self._rows = joined.drop_duplicates(subset=key, keep="last").reset_index(drop=True)

    def compact(self) -> int:
        """Fold the table's parts (one per training) into its cells.parquet: a table of thousands of
        trainings then opens in one read. Safe while trials write to it. Returns the parts folded."""
        self._rows = None
        return self.store.compact("cells")

    def datasets(self) -> list[str]:
        rows = self.rows()
        return sorted(rows["dataset"].unique()) if not rows.empty else []

    def published(self) -> bool:
        """Whether the table is NAS-Bench-201's file (one row per string) rather than made here."""
        return (self.protocol() or {}).get("source", "").startswith("NAS-Bench-201")

    @property
    def unit(self) -> str:
        """What the table's cells are: `canonical` forms in a table made here (isomorphic strings
        are one computation, trained once), `arch` strings in NAS-Bench-201's file (it trained
        every string, and reports every string's accuracy)."""
        return "arch" if self.published() else "canonical"

    def lookup(self, arch: str, canonical: str, dataset: str) -> Lookup | None:
        """The trainings of `arch` on `dataset`: of the same string where the table has it, else of
        one string of its canonical form (the one trained most often; the first in sort order
        among those), never of several mixed; None where it has neither."""
        rows = self.rows()
        if rows.empty:
            return None
        rows = rows[rows["dataset"] == dataset]
        exact = rows[rows["arch"] == arch]
        match, hit = "exact", exact
        if exact.empty:
            match, hit = "canonical", rows[rows["canonical"] == canonical]
            if not hit.empty:
                counts = hit.groupby("arch").size()
                chosen = sorted(counts[counts == counts.max()].index)[0]
                hit = hit[hit["arch"] == chosen]
        if hit.empty:
            return None
        hit = hit.sort_values("train_seed")
        device = hit["device"].dropna() if "device" in hit else pd.Series(dtype=str)
        return Lookup(arch, canonical, dataset, match, tuple(float(a) for a in hit["test_acc"]),
                      tuple(int(s) for s in hit["train_seed"]), float(hit["params"].mean()),
                      float(hit["train_wall_s"].fillna(0).sum()),
                      int(hit["epochs"].max()) if "epochs" in hit else 0,
                      str(device.iloc[0]) if len(device) else "", str(hit["arch"].iloc[0]),
                      tuple(float(a) for a in pd.to_numeric(hit["train_acc"], errors="coerce"))
                      if "train_acc" in hit else ())

    def means(self, dataset: str) -> pd.Series:
        """Mean test accuracy per cell of the table on `dataset` (per `unit`: canonical form, or
        string in NAS-Bench-201's file)."""
        rows = self.rows()
        if rows.empty:
            return pd.Series(dtype=float)
        return rows[rows["dataset"] == dataset].groupby(self.unit)["test_acc"].mean()

    def percentile(self, acc: float, dataset: str, among: pd.Series | None = None) -> float:
        """The share (0-100) of the table's cells (`unit`) on `dataset`, or of the cell means
        `among` (`uniform_sample`), whose mean accuracy is below `acc` (ties count half)."""
        means = (self.means(dataset) if among is None else among).to_numpy()
        if not len(means):
            return float("nan")
        tie = np.isclose(means, acc, rtol=0.0, atol=1e-9)   # (a mean summed in another order)
        return float(100.0 * (np.sum((means < acc) & ~tie) + 0.5 * np.sum(tie)) / len(means))

    # cells whose pairs `noise_ceiling` compares at most (a random sample of them beyond: all
    # 15,625 strings would take n² memory)
    PAIR_CELLS = 2000

    def noise_ceiling(self, dataset: str) -> dict:
        """How well the table's trainings replicate on `dataset`, over its cells (`unit`) trained at
        least twice: the pooled sd between trainings; the split-half rank correlation (each
        cell's trainings sorted by seed, the mean of the odd ones against the mean of the even
        ones, Spearman's ρ over cells, raised by Spearman-Brown to the reliability of the whole
        mean, 2ρ/(1 + ρ)); and the share of pairs of cells whose means differ by more than twice
        the standard error of their difference (on a random sample of PAIR_CELLS cells where
        there are more)."""
        nan = float("nan")
        rows = self.rows()
        rows = rows[rows["dataset"] == dataset] if not rows.empty else rows
        if rows.empty:
            return {"cells": 0, "twice": 0, "sd": nan, "split_half_rho": nan, "separable_pairs": nan}
        by = rows.groupby(self.unit)["test_acc"]
        n, var, mean = by.count(), by.var(ddof=1), by.mean()
        rep = n[n >= 2].index
        sd = float(np.sqrt(var[rep].mean())) if len(rep) else nan
        rho = nan
        if len(rep) >= 3:
            ordered = rows[rows[self.unit].isin(rep)].sort_values("train_seed")
            ordered = ordered.assign(half=ordered.groupby(self.unit).cumcount() % 2)
            halves = ordered.pivot_table(index=self.unit, columns="half", values="test_acc")
            r = float(stats.spearmanr(halves[0], halves[1]).statistic)
            rho = 2 * r / (1 + r) if np.isfinite(r) and r > -1 else r
        sep = nan
        if len(rep) >= 2 and np.isfinite(sd):
            cells = np.asarray(rep)
            if len(cells) > self.PAIR_CELLS:
                cells = np.random.default_rng(0).choice(cells, self.PAIR_CELLS, replace=False)
            m, k = mean[cells].to_numpy(), n[cells].to_numpy()
            upper = np.triu_indices(len(m), 1)
            diff = np.abs(m[upper[0]] - m[upper[1]])
            se = sd * np.sqrt(1.0 / k[upper[0]] + 1.0 / k[upper[1]])
            sep = float(np.mean(diff > 2 * se))
        return {"cells": len(n), "twice": len(rep), "sd": sd, "split_half_rho": rho,
                "separable_pairs": sep}


def resolve_table(ref: str | None, tables_root: str | Path) -> str | None:
    """A profile's table reference as a folder: a name (a folder of `tables_root`), a path (it has
    a slash or starts with ~ or .), or nb201:PATH (NAS-Bench-201's file, imported once into
    `tables_root`/nb201-<hash of PATH>)."""
    if ref is None:
        return None
    if ref.startswith(PUBLISHED_PREFIX):
        path = str(Path(ref[len(PUBLISHED_PREFIX):]).expanduser().resolve())
        return str(Path(tables_root) / f"nb201-{hashlib.sha1(path.encode()).hexdigest()[:8]}")
    if "/" in ref or ref.startswith(("~", ".")):
        return str(Path(ref).expanduser().resolve())
    return str(Path(tables_root) / ref)


# tables shipped with the repository (a copy starts a table of the same name on first use)
SHIPPED_TABLES = Path(__file__).resolve().parents[1] / "results" / "examples" / "tables"


def start_from_shipped(ref: str | None, folder: str | Path, shipped: Path = SHIPPED_TABLES) -> int:
    """Where a profile names its table by name and that table does not exist yet, copy the one of
    that name shipped in results/examples/tables (a checkout's), so that a first search reads the
    shipped trainings and trains its misses into its own copy, never into the repository's.
    Returns the trainings copied (0: nothing to copy)."""
    folder = Path(folder)
    if (ref is None or ref.startswith(PUBLISHED_PREFIX) or "/" in ref or ref.startswith(("~", "."))
            or (folder / "table.json").exists() or not (shipped / ref / "table.json").is_file()):
        return 0
    if folder.exists() and any(folder.iterdir()):
        return 0
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(folder.name + ".copying")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(shipped / ref, tmp)
    if folder.exists():
        folder.rmdir()
    tmp.rename(folder)
    return len(CellTable(folder).rows())


def published_protocol(path: str) -> dict:
    return {"space": "nb201", "source": "NAS-Bench-201 (NATS-Bench topology) benchmark file",
            "file": path, "train": {"channels": 16, "cells_per_stage": 5, "epochs": 200},
            "datasets": sorted(PUBLISHED_DATASETS)}


def open_published(path):
    """The official API over NAS-Bench-201's results: NATS-Bench's topology file or folder (or a
    dict in its format) through `nats_bench`, or NAS-Bench-201's own `.pth` file (v1.0, v1.1)
    through `nas_201_api`; TableError in one sentence where the API or the file is missing. (A
    `.pth` file is a pickle: it is loaded with `weights_only=False`, as its API does; read only a
    file you trust.)"""
    hint = ("pip install 'hyperdarts-bench[nb201]' (the nats_bench and nas-bench-201 packages)")
    if isinstance(path, str) and not Path(path).expanduser().exists():
        raise TableError(f"{path} does not exist; give the path of NATS-Bench's topology file "
                         "(NATS-tss-v1_0-3ffb9-simple/ or its .pickle.pbz2) or of NAS-Bench-201's "
                         "NAS-Bench-201-v1_1-096897.pth")
    if isinstance(path, str) and path.endswith(".pth"):
        try:
            from nas_201_api import NASBench201API  # (optional: .[nb201])
        except ImportError:
            raise TableError(f"reading NAS-Bench-201's .pth file needs its official API: {hint}") from None

        return NASBench201API(torch.load(Path(path).expanduser(), map_location="cpu", weights_only=False),
                              verbose=False)
    try:
        from nats_bench import create  # (optional: .[nb201])
    except ImportError:
        raise TableError(f"reading NAS-Bench-201's file needs its official API: {hint}") from None
    source = str(Path(path).expanduser()) if isinstance(path, str) else path
    fast = isinstance(source, str) and Path(source).is_dir()
    return create(source, "tss", fast_mode=fast, verbose=False)


def published_rows(api, hp: str = "200") -> list[dict]:
    """Every training in NAS-Bench-201's file at `hp` epochs: one row per cell string, dataset and
    seed, with its test accuracy (in %, as the API gives it, divided by 100)."""
    rows = []
    for index in range(len(api)):
        arch = api.meta_archs[index]
        cell = Cell.parse(arch)
        info = api.query_meta_info_by_index(index, hp=hp)
        for ours, theirs in PUBLISHED_DATASETS.items():
            if theirs not in info.get_dataset_names():
                continue
            cost = info.get_compute_costs(theirs)
            for seed in info.get_dataset_seeds(theirs):
                more = api.get_more_info(index, theirs, hp=hp, is_random=seed)
                rows.append({"dataset": ours, "arch": arch, "canonical": cell.canonical(),
                             "train_seed": int(seed), "test_acc": more["test-accuracy"] / 100.0,
                             "test_loss": more.get("test-loss"),
                             "train_acc": more["train-accuracy"] / 100.0,
                             "params": float(cost["params"]) * 1e6, "epochs": int(hp),
                             "train_wall_s": more.get("train-all-time"), "train_cpu_s": None,
                             "device": "NAS-Bench-201", "source": "published",
                             **cell_stats(cell)})
    return rows


def import_published(path, table: CellTable, hp: str = "200") -> int:
    """Import NAS-Bench-201's file into `table` (once: a table that has rows is left as it is);
    returns the rows it holds."""
    if table.exists():   # (table.json is written last: a table that has it is whole)
        return len(table.rows())
    api = open_published(path)
    rows = published_rows(api, hp)
    if not rows:
        raise TableError(f"{path} holds no {hp}-epoch results")
    # one part per dataset (15,625 cells × 3 seeds: one file per training would be ~140,000 files)
    for dataset in sorted({r["dataset"] for r in rows}):
        table.store.write_part("cells", f"published-{dataset}",
                               [{"table": table.name, **r} for r in rows if r["dataset"] == dataset])
    table.require(published_protocol(str(path)), create=True)
    table._rows = None
    return len(table.rows())


def fill_order(space_name: str, space_config) -> list[str]:
    """Every distinct cell of the space (one string per canonical form, `SearchSpace.cells`) in
    the order a fill of the whole space takes them: a random permutation, seed 0."""
    cells = [str(c) for c in get_space(space_name).cells(space_config)]
    return [cells[i] for i in np.random.default_rng(0).permutation(len(cells))]


# The fill's order taken in blocks of this many cells (the nb201-table grid's chunk): a block the
# table holds whole is in the uniform sample.
SAMPLE_BLOCK = 16


def uniform_sample(table: CellTable, dataset: str, order: list[str],
                   block: int | None = None) -> tuple[pd.Series, str]:
    """The cells to rank a search's cell among on `dataset`, and what they are:
    - "space": every cell of `order` (`fill_order`: the space's cells) is in the table, or the table
      is NAS-Bench-201's file (every string);
    - "sample": the cells of every block of `block` (default SAMPLE_BLOCK) consecutive cells of
      `order` that the table holds whole, a uniform random sample of the space's cells: which
      blocks a fill has done does not depend on the cells (Ray may take a fill's chunks in any
      order), while the cells the searches trained into the table besides would bias it towards
      what searches find; they are left out unless they complete a block whose every other cell
      is there;
    - "table": no whole block (a table the searches alone filled): every cell the table holds.
    Each as the mean accuracy per cell (canonical form; string in NAS-Bench-201's file)."""
    means = table.means(dataset)
    if table.unit == "arch":
        return means, "space"
    block = block or SAMPLE_BLOCK
    forms = [Cell.parse(text).canonical() for text in order]
    whole = [f for k in range(0, len(forms), block) for f in forms[k:k + block]
             if all(g in means.index for g in forms[k:k + block])]
    if not whole:
        return means, "table"
    return means.loc[whole], "space" if len(whole) == len(forms) else "sample"


def describe(table: CellTable, dataset: str) -> str:
    """One line: the table, its cells and its noise ceiling on `dataset`."""
    c = table.noise_ceiling(dataset)
    protocol = table.protocol() or {}
    unit = "strings" if table.unit == "arch" else "cells (canonical forms)"
    head = (f"table {table.name} ({protocol.get('source', 'trained here')}): {c['cells']} {unit} on "
            f"{dataset}, {c['twice']} trained at least twice")
    if not c["twice"]:
        return head + "; no noise ceiling (no cell trained twice)"
    rho = "n/a (fewer than 3 cells trained twice)" if not np.isfinite(c["split_half_rho"]) else \
        f"{c['split_half_rho']:.2f}"
    return (f"{head}; sd between trainings {100 * c['sd']:.2f} points, split-half ρ (Spearman-Brown) "
            f"{rho}, pairs of cells apart beyond training noise {c['separable_pairs']:.0%}")


__all__ = ["CellTable", "FileError", "Lookup", "TableError", "describe", "import_published",
           "resolve_table"]
