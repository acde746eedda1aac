"""Whether a network can fit before it is built: its parameters counted on PyTorch's meta device
(shapes without storage), against the memory of the device it would run on.

Only the weights and what scales with them (gradients, optimiser state) are counted, not the
activations, which depend on the batch: a network refused here cannot run; one accepted may still
run out of memory at a large batch."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

from nas.spaces import get_space

# weights, their gradients, momentum and one more copy (a strategy's backup or Adam's second
# moment): the least that a training step holds per parameter
COPIES = 4


def parameter_bytes(build: Callable[[], nn.Module]) -> int | None:
    """Bytes of the parameters and buffers of the module `build()` makes, counted on the meta
    device; None where `build` gives none or the module cannot be built there (it reads a
    tensor's values while built)."""
    try:
        with torch.device("meta"):
            net = build()
    except (RuntimeError, NotImplementedError):
        return None
    if net is None:
        return None
    tensors = [*net.parameters(), *net.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def available_bytes(device: str | torch.device) -> tuple[int, str] | None:
    """The memory of `device` and its name: a GPU's total memory where one is there, else this
    machine's physical memory; None where it cannot be read."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(device)
        return props.total_memory, props.name
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory"
    except (ValueError, OSError, AttributeError):   # (not POSIX)
        return None


def check_fits(build: Callable[[], nn.Module], what: str, device: str | torch.device = "cpu",
               copies: int = COPIES) -> None:
    """ValueError in one sentence where `copies` of the parameters of `build()` exceed the memory
    of `device`; nothing is allocated."""
    need, have = parameter_bytes(build), available_bytes(device)
    if need is None or have is None or need * copies <= have[0]:
        return
    held = "weights" if copies == 1 else "weights, their gradients and optimiser state"
    raise ValueError(f"{what} would need {need * copies / 1e9:,.1f} GB for its {held} alone, more "
                     f"than the {have[0] / 1e9:,.1f} GB of {have[1]}; give it fewer channels or cells")


def check_space_fits(space: str, *, space_config=None, train_config=None,
                     device: str | torch.device = "cpu", copies: int = COPIES) -> None:
    """ValueError in one sentence where the supernet of `space_config` or the largest network
    trained under `train_config` (either may be None) cannot fit the memory of `device`."""
    s = get_space(space)
    if space_config is not None:
        check_fits(lambda: s.build(space_config, 3, 100, 32),
                   f"the {space} supernet ({s.describe(space_config)})", device, copies)
    if train_config is not None:
        check_fits(lambda: s.largest_network(train_config, 3, 100),
                   f"the {space} network trained ({s.describe_training(train_config)})", device, copies)
