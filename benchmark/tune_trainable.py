"""The Ray Tune trainable: one grid trial, reporting and checkpointing after every unit of work.

It lives in an importable module (not in run.py) so that Ray workers can import it.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import ray
import torch
from ray import tune

from benchmark.grids import TrialSpec, profile_from_dict
from benchmark.store import ResultStore
from benchmark.trial import run_trial, trial_rows


def spec_to_dict(spec: TrialSpec) -> dict:
    return {**dataclasses.asdict(spec), "profile": spec.profile.to_dict()}


def spec_from_dict(d: dict) -> TrialSpec:
    d = dict(d)
    # (a config that went through JSON holds lists where the profile has tuples)
    d["profile"] = profile_from_dict(d["profile"])
    d["eval_datasets"] = tuple(d["eval_datasets"])
    return TrialSpec(**d)


def trainable(config: dict) -> None:
    spec = spec_from_dict(config["spec"])
    if config.get("options"):  # sampled by a tuning run
        spec = dataclasses.replace(spec, strategy_options={**spec.strategy_options,
                                                           **config["options"]})
    store = ResultStore(config["results_dir"])
    state = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            state = torch.load(Path(d) / "state.pt", weights_only=False, map_location="cpu")
    use_gpu = torch.cuda.is_available() and os.environ.get("CUDA_VISIBLE_DEVICES", "") != ""
    device = torch.device("cuda" if use_gpu else "cpu")
    if not use_gpu and config.get("cpu_threads"):
        torch.set_num_threads(int(config["cpu_threads"]))
    marker = Path(config["fail_once_marker"]) if config.get("fail_once_marker") else None

    def progress(metrics: dict, st: dict) -> None:
        with tempfile.TemporaryDirectory() as d:
            torch.save(st, Path(d) / "state.pt")
            tune.report({**metrics, "trial_id": spec.trial_id, "done": False},
                        checkpoint=tune.Checkpoint.from_directory(d))
        if marker is not None and not marker.exists():  # tests: crash once, after a checkpoint
            marker.write_text(f"{spec.trial_id} crashed after {metrics}")
            raise RuntimeError("injected failure (tests)")

    state = run_trial(spec, device, state, progress)
    for table, rows in trial_rows(spec, state).items():
        store.write_part(table, spec.trial_id, rows)
    final = {"phase": "done", "status": state["status"], "trial_id": spec.trial_id, "done": True,
             "node_id": ray.get_runtime_context().get_node_id()}
    accs = ({f"test_acc/{k}": v["test_acc"] for k, v in state.get("evals", {}).items()}
            if spec.kind == "search" else {})
    history = state.get("search_history") or [{}]
    tune.report({**final, **accs, "val_acc": history[-1].get("val_acc", 0.0)})
