"""The results layer's schema: every table this project writes and its key (the columns are
documented in results/README.md), grid.json's shape, and the names a dataset goes by in files and
tables."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from nas.files import read_json_object

GRID_KEY = ["experiment", "strategy", "search_dataset", "seed", "profile"]
# The benchmark's tables: one part per trial.
KEYS: dict[str, list[str]] = {
    "trials": [*GRID_KEY, "eval_dataset", "repeat"],
    "epochs": [*GRID_KEY, "phase", "eval_dataset", "repeat", "epoch"],
    "alphas": [*GRID_KEY, "epoch", "cell", "edge", "op"],
    "ground_truth": [*GRID_KEY, "eval_dataset", "repeat", "architecture"],
    # a trial that filled a chunk of a table of cells (its cells are in the table's `cells`)
    "fills": [*GRID_KEY, "eval_dataset"],
}
# The studies' and tools' tables: one part per run of the command that writes them.
OTHER_KEYS: dict[str, list[str]] = {
    "toy": ["label", "lr", "tol", "max_iter", "seed", "options"],
    "fidelity": ["strategy", "options", "search_step", "measured_at"],
    "perf": ["device", "kind", "strategy", "batch", "layers", "channels", "image_size", "speed",
             "hvp", "partial_channels", "measured_at"],
    # a table of cells (resultstore/cells.py): one part per training (or per dataset, imported)
    "cells": ["table", "dataset", "arch", "train_seed"],
}
TABLES: dict[str, list[str]] = {**KEYS, **OTHER_KEYS}
# the tables whose part marks a trial finished (written last)
MARKING = ("trials", "ground_truth", "fills")
# one search (a trial of a grid), and one search evaluated on one dataset: the report's units
TRIAL_KEY = ["strategy", "search_dataset", "seed"]
SEARCH_KEY = [*TRIAL_KEY, "eval_dataset"]


def dataset_id(dataset: str) -> str:
    """A file-name-safe, unique name of a dataset: the name itself where it is already safe
    (`digits`, `cifar10`), else its safe reading plus a short hash of the name."""
    if re.fullmatch(r"[A-Za-z0-9._-]+", dataset):
        return dataset
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset).strip("_.")
    return f"{safe}-{hashlib.sha1(dataset.encode()).hexdigest()[:6]}"


def short_name(dataset: str) -> str:
    """'imagefolder:~/.cache/cifar10-jpeg' -> 'cifar10-jpeg'; other names unchanged."""
    return str(dataset).rstrip("/").split(":")[-1].split("/")[-1] or str(dataset)


# grid.json (written by benchmark/run.py, benchmark/codec.py's encode_manifest): the keys that
# readers use, and what each holds
GRID_JSON_SHAPE = {"trials": list, "profile": dict, "strategy_options": dict}


def read_manifest(root: str | Path, hint: str) -> dict | None:
    """`root`/grid.json as an object (None without one); FileError naming it where it is not
    valid JSON or not of grid.json's shape (a hand's edit)."""
    path = Path(root) / "grid.json"
    return read_json_object(path, hint, GRID_JSON_SHAPE) if path.is_file() else None
