"""The results layer's schema: every table this project writes and its key (the columns are
documented in results/README.md), and the names a dataset goes by in files and tables."""

from __future__ import annotations

import hashlib
import re

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
