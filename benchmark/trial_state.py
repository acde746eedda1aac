"""What a trial has done so far (`TrialState`), and the rows of the results tables it makes.

`run_trial` (benchmark/trial.py) fills a state one unit of work at a time and resumes from one;
the codec (benchmark/codec.py) writes it into checkpoints; `TrialState.rows(spec)` turns a
finished (or diverged, missed, search-only) trial into the rows of trials, epochs and alphas, of
ground_truth for a ground-truth trial, or of fills for a trial that fills a table of cells (see
results/README.md).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch

import nas
from benchmark.grids import FILL, GROUND_TRUTH, TrialSpec

# The keys of a search epoch's record (nas/search.py) that the epochs table has its own columns
# for, or that are not metrics.
SEARCH_RECORD_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "w_lr", "steps",
                      "epoch_time_s", "epoch_cpu_s", "wall_time_s", "genotype", "architectures"}
# the columns of a looked-up evaluation (benchmark/trial.py's evaluate_by_lookup)
LOOKUP_KEYS = ("evaluated_by", "lookup_match", "canonical", "table", "table_train_s")


def eval_key(dataset: str, repeat: int) -> str:
    """The key of one evaluation in a trial's state."""
    return f"{dataset}#{repeat}"


@dataclass
class TrialState:
    """A trial's progress: enough to resume it after any unit of work, and to write its rows."""

    # running; at the end finished, searched (a search-only grid), diverged or missed (a table
    # that lacks the found cell), with the reason for the last two
    status: str = "running"
    reason: str = ""
    search: dict | None = None          # the search in progress (`Search.state_dict()`)
    search_history: list[dict] = field(default_factory=list)   # the search's epoch records
    genotype: str | None = None         # the found architecture's text, once the search ends
    search_wall_s: float | None = None
    search_device: str | None = None
    # every search epoch's derived cell looked up in the profile's table: epoch → lookup_acc, _n
    epoch_lookups: dict[str, dict] = field(default_factory=dict)
    # the evaluations that ended, by `eval_key` (a ground truth's: "<eval_key>|<architecture>")
    evals: dict[str, dict] = field(default_factory=dict)
    # an evaluation in progress: its last epoch's checkpoint, by eval_key (dropped when it ends)
    eval_partial: dict[str, dict] = field(default_factory=dict)
    cells: dict[str, dict] = field(default_factory=dict)        # a fill's trained cells
    # a ground truth's architectures: text → {"roles": [...], "blocks": [...]}
    architectures: dict[str, dict] | None = None
    units: int = 0                      # units of work done (which of two checkpoints is newer)
    owner: dict = field(default_factory=dict)   # whose state this is (`trial_key`)

    def end(self, status: str, reason: str = "") -> TrialState:
        self.status, self.reason = status, reason
        return self

    # -- rows ------------------------------------------------------------------------------------
    def rows(self, spec: TrialSpec) -> dict[str, list[dict]]:
        """The rows of the results tables for this (ended) trial of `spec`."""
        common = {"torch_version": torch.__version__, "nas_version": nas.__version__,
                  "git_commit": git_commit(),
                  "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if spec.kind == GROUND_TRUTH:
            return {"ground_truth": self.ground_truth_rows(spec, common)}
        if spec.kind == FILL:   # the cells are in the table; this row says the chunk is done
            return {"fills": [{**spec.key(), "eval_dataset": spec.search_dataset,
                               "status": "finished", "table": Path(spec.table_path).name,
                               "cells": len(self.cells),
                               "trained_now": sum(c["trained"] for c in self.cells.values()),
                               **common}]}
        # the epochs in effect (a profile's, or --search-epochs / --eval-epochs)
        common["search_epochs"] = spec.profile.search_epochs
        epochs, alphas = self.search_rows(spec)
        if self.status in ("diverged", "missed", "searched"):
            return {"trials": [self.unevaluated_row(spec, common)], "epochs": epochs, "alphas": alphas}
        trials, eval_epochs = self.eval_rows(spec, common)
        return {"trials": trials, "epochs": epochs + eval_epochs, "alphas": alphas}

    def search_rows(self, spec: TrialSpec) -> tuple[list[dict], list[dict]]:
        """The epochs table's search rows and the alphas table's rows."""
        key = spec.key()
        epochs, alphas = [], []
        for r in self.search_history:
            # a strategy's own per-step metrics (implicit-cg's cg_iterations, averaged over the
            # epoch) and the collapse diagnostics (on the epochs they were computed)
            extra = {k: v for k, v in r.items() if k not in SEARCH_RECORD_KEYS and isinstance(v, float)}
            # the epoch's derived architecture, and its lookup in the profile's table where asked
            extra["genotype"] = r.get("genotype")
            extra.update(self.epoch_lookups.get(str(r["epoch"]), {}))
            epochs.append({**key, "phase": "search", "eval_dataset": "", "repeat": 0,
                           "epoch": r["epoch"], "train_loss": r.get("train_loss"),
                           "train_acc": r.get("train_acc"), "val_loss": r.get("val_loss"),
                           "val_acc": r.get("val_acc"), "lr": r["w_lr"], "time_s": r["epoch_time_s"],
                           "cpu_s": r.get("epoch_cpu_s"), **extra})
            alphas += [{**key, "epoch": r["epoch"], **row} for row in r["alpha_rows"]]
        return epochs, alphas

    def search_columns(self) -> dict:
        """The trials table's columns of the search: its time, where it ran."""
        return {"search_wall_s": self.search_wall_s, "search_cpu_s": cpu_seconds(self.search_history),
                "search_device": self.search_device}

    def unevaluated_row(self, spec: TrialSpec, common: dict) -> dict:
        """The one trials row of a trial that evaluated nothing: diverged, missed or searched."""
        row = {**spec.key(), "eval_dataset": "", "repeat": 0, "status": self.status,
               "reason": self.reason}
        if self.status != "searched":
            return {**row, "genotype": self.genotype, **common}
        # a search-only grid: the search, no evaluation
        return {**row, "strategy_options": json.dumps(spec.options, sort_keys=True),
                "genotype": self.genotype, **self.search_columns(), **common}

    def eval_rows(self, spec: TrialSpec, common: dict) -> tuple[list[dict], list[dict]]:
        """The trials rows of the evaluations (one per dataset and repeat) and their epochs."""
        key = spec.key()
        options = json.dumps(spec.options, sort_keys=True)
        trials, epochs = [], []
        for res in self.evals.values():
            name, repeat = res["eval_dataset"], res["repeat"]
            trials.append({**key, "eval_dataset": name, "repeat": repeat, "eval_seed": res["eval_seed"],
                           "status": "finished", "reason": "", "strategy_options": options,
                           "genotype": self.genotype, "test_acc": res["test_acc"],
                           "test_loss": res["test_loss"], "params": res["params"],
                           **self.search_columns(),
                           "eval_wall_s": res["eval_wall_s"], "eval_cpu_s": cpu_seconds(res["history"]),
                           "eval_device": res["eval_device"],
                           "eval_epochs": res.get("config", {}).get("epochs", len(res["history"])),
                           **{k: res[k] for k in LOOKUP_KEYS if k in res},
                           **common})
            epochs += [{**key, "phase": "eval", "eval_dataset": name, "repeat": repeat,
                        "epoch": h["epoch"], "train_loss": h["train_loss"],
                        "train_acc": h["train_acc"], "val_loss": None, "val_acc": None,
                        "lr": h["lr"], "time_s": h["epoch_time_s"], "cpu_s": h.get("epoch_cpu_s")}
                       for h in res["history"]]
        return trials, epochs

    def ground_truth_rows(self, spec: TrialSpec, common: dict) -> list[dict]:
        """One row of the ground_truth table per trained architecture, dataset and repeat."""
        space = spec.space
        rows = []
        for res in self.evals.values():
            text = res["architecture"]
            entry = self.architectures[text]
            rows.append({**spec.key(), "eval_dataset": res["eval_dataset"], "repeat": res["repeat"],
                         "eval_seed": res["eval_seed"], "architecture": text,
                         "roles": ",".join(entry["roles"]), "blocks": json.dumps(entry["blocks"]),
                         **space.properties(space.parse(text)),
                         "test_acc": res["test_acc"], "test_loss": res["test_loss"],
                         "params": res["params"], "eval_wall_s": res["eval_wall_s"],
                         "eval_cpu_s": cpu_seconds(res.get("history", [])),
                         "eval_device": res["eval_device"], **common})
        return rows


def cpu_seconds(history: list[dict]) -> float | None:
    """The process CPU time of a search's or a training's epochs (their `epoch_cpu_s`, summed);
    None without epochs (a looked-up evaluation), or where a space's training does not record it
    (the space contract, nas/spaces/base.py, asks for epoch_time_s only)."""
    if not history or any("epoch_cpu_s" not in h for h in history):
        return None
    return float(sum(h["epoch_cpu_s"] for h in history))


def git_commit() -> str:
    try:
        root = Path(__file__).resolve().parents[1]
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
