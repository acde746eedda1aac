"""What a checkpoint holds beside a model's own state: the random states, and copies.

A search or a training that resumes from a checkpoint must draw the same random numbers as the
run that was not interrupted: the data's own generators are saved by their owners (`Batches`);
`rng_state` saves the global ones, which draw drop-path masks, initialisations and anything a
library draws: Python's, NumPy's, torch's CPU generator and, where CUDA has been used, every
CUDA device's generator (drop-path masks on a GPU come from CUDA's). `cpu_copy` makes a state
that later steps cannot change (a model's `state_dict()` holds the live tensors).
"""

from __future__ import annotations

import random

import numpy as np
import torch


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
