"""Checkpoints: the random states, copies that later steps cannot change, and a training's state.

A search or a training that resumes from a checkpoint must draw the same random numbers as the
run that was not interrupted: the data's own generators are saved by their owners (`Batches`);
`seed_everything` seeds the global ones, `rng_state` saves them and `preserved_rng` puts them back
after a block. They draw drop-path masks,
initialisations and anything a library draws: Python's, NumPy's, torch's CPU generator and, where
CUDA has been used, every CUDA device's generator (drop-path masks on a GPU come from CUDA's).
`cpu_copy` makes a state that later steps cannot change (a model's `state_dict()` holds the live
tensors).
`training_state` / `restore_training` are a training from scratch's checkpoint after an epoch
(the evaluation network's, `nas.evaluate.train_and_test`, and `nas.training.fit_and_test`, which the
dense-DAG and nb201 spaces train with).
"""

from __future__ import annotations

import pickle
import random
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from nas.files import FileError


def load_checkpoint(path: str | Path, hint: str, map_location: str | torch.device = "cpu"):
    """What torch.save wrote to `path`; FileError in one sentence naming the file and what to do
    (`hint`) where it cannot be read back (cut short by a full disk, damaged, not a checkpoint)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, ValueError) as e:
        reason = str(e).split(". ")[0].splitlines()[0] if str(e) else type(e).__name__
        raise FileError(f"{path} is not a readable checkpoint ({reason}); {hint}") from None


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (every CUDA device's with torch's)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The global random states: {'python', 'numpy', 'torch', 'cuda'} ('cuda': one state per
    device, or None where CUDA has not been initialised in this process)."""
    cuda = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.get_rng_state_all()
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(), "cuda": cuda}


def set_rng_state(state: dict) -> None:
    """Put back what `rng_state` captured. A CUDA state is restored only where CUDA is available
    (a checkpoint moved to a machine without a GPU resumes with its CPU states), on as many
    devices as both have."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available():
        for i, s in enumerate(cuda[:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s, i)


@contextmanager
def preserved_rng():
    """Run the block with the global random states put back afterwards (`rng_state`,
    `set_rng_state`): what it seeds or draws (a training of a cell, which seeds them with its own
    training seed) leaves the caller's draws as they would have been without it."""
    saved = rng_state()
    try:
        yield
    finally:
        set_rng_state(saved)


def cpu_copy(obj):
    """obj with every tensor in it (in dicts, lists and tuples) replaced by a detached CPU copy."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):    # a named tuple
        return type(obj)(*(cpu_copy(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


def training_state(config, epoch: int, model, optimizer, scheduler, batches, history: list,
                   elapsed: float) -> dict:
    """What a training from scratch resumes from after `epoch` epochs: CPU copies of the model,
    the optimiser, the schedule, the training batches' and the global random states, the history
    (the evaluation's and the dense-DAG space's standalone training)."""
    return cpu_copy({"config": asdict(config), "epoch": epoch, "model": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "batches": batches.get_state(), "rng": rng_state(), "history": history,
                     "elapsed": elapsed})


def check_training_state(state: dict | None, config) -> None:
    """ValueError where `state` was written by a training with another configuration."""
    if state is not None and state.get("config") != asdict(config):
        raise ValueError("the evaluation checkpoint belongs to a training with another "
                         "configuration")


def restore_training(state: dict, model, optimizer, scheduler, batches) -> tuple[list, int, float]:
    """Put a `training_state` back; returns (history, the next epoch, seconds trained so far).
    `state` itself is not changed (the optimiser would otherwise adopt its tensors and step them)."""
    state = cpu_copy(state)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    batches.set_state(state["batches"])
    set_rng_state(state["rng"])
    return list(state["history"]), state["epoch"], state["elapsed"]
