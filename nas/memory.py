"""Whether a network can fit before it is built: its parameters, and the outputs of its layers
on one batch, counted on PyTorch's meta device (shapes without storage), against the memory of the
device it would run on.

The count is a floor, so that a network refused here cannot run: the weights and what scales with
them (gradients, optimiser state), and half of what one training-mode forward pass at the batch
size outputs layer by layer (`KEPT`). A backward keeps nearly all of those outputs; the batched
DARTS cell computes some again instead (the DARTS search at batch 64, 8 cells × 16 channels, peaks
at 7.5 GiB of RSS with 7.3 GiB of layer outputs counted here; docs/performance.md). One accepted
may still run out of memory: a second-order step holds several graphs at once."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

from nas.spaces import get_space

# weights, their gradients, momentum and one more copy (a strategy's backup or Adam's second
# moment): the least that a training step holds per parameter
COPIES = 4
# the share of a forward pass's layer outputs that a training step is sure to hold for its backward
KEPT = 0.5


def meta_network(build: Callable[[], nn.Module | None]) -> nn.Module | None:
    """`build()` on the meta device; None where it gives none or cannot be built there (it reads a
    tensor's values while built)."""
    try:
        with torch.device("meta"):
            return build()
    except (RuntimeError, NotImplementedError):
        return None


def parameter_bytes(build: Callable[[], nn.Module | None] | nn.Module) -> int | None:
    """Bytes of the parameters and buffers of a meta-device module, or of the one `build()` makes
    there; None where there is none."""
    net = build if isinstance(build, nn.Module) else meta_network(build)
    if net is None:
        return None
    return sum(t.numel() * t.element_size() for t in (*net.parameters(), *net.buffers()))


def activation_bytes(build: Callable[[], nn.Module | None] | nn.Module, batch: int,
                     in_channels: int, image_size: int) -> int | None:
    """Bytes of the distinct outputs of the layers (modules without children) of a meta-device
    module, or of the one `build()` makes there, in one training-mode forward pass of `batch`
    images of `in_channels` × `image_size`²; None where it cannot be built or run there."""
    net = build if isinstance(build, nn.Module) else meta_network(build)
    if net is None:
        return None
    seen: dict[int, torch.Tensor] = {}      # (held, so that an id is not reused)

    def keep(module, inputs, output) -> None:
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                seen.setdefault(id(t), t)
    hooks = [m.register_forward_hook(keep) for m in net.modules()
             if not any(True for _ in m.children())]
    try:
        with torch.device("meta"):
            net.train()
            net(torch.empty(batch, in_channels, image_size, image_size))
    except (RuntimeError, NotImplementedError, ValueError, TypeError):
        return None
    finally:
        for h in hooks:
            h.remove()
    return sum(t.numel() * t.element_size() for t in seen.values())


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


def check_fits(build: Callable[[], nn.Module | None], what: str,
               device: str | torch.device = "cpu", copies: int = COPIES, batch: int | None = None,
               shape: tuple[int, int] | None = None) -> None:
    """ValueError in one sentence where `copies` of the parameters of `build()` exceed the memory
    of `device`, or, given a `batch` of images of `shape` (channels, side), where they and `KEPT`
    of its layers' outputs on that batch do; nothing is allocated."""
    have = available_bytes(device)
    net = meta_network(build) if have is not None else None
    if net is None:
        return
    weights = parameter_bytes(net) * copies
    held = "weights" if copies == 1 else "weights, their gradients and optimiser state"
    if weights > have[0]:
        raise ValueError(f"{what} would need {weights / 1e9:,.1f} GB for its {held} alone, more "
                         f"than the {have[0] / 1e9:,.1f} GB of {have[1]}; give it fewer channels "
                         "or cells")
    outputs = activation_bytes(net, batch, *shape) if batch and shape else None
    if outputs is None or weights + outputs * KEPT <= have[0]:
        return
    channels, side = shape
    raise ValueError(f"{what} at batch {batch:,} of {channels}×{side}×{side} images would need at "
                     f"least {(weights + outputs * KEPT) / 1e9:,.1f} GB ({weights / 1e9:,.1f} GB "
                     f"for its {held}, {outputs * KEPT / 1e9:,.1f} GB of the activations its "
                     f"backward keeps), more than the {have[0] / 1e9:,.1f} GB of {have[1]}; use a "
                     "smaller batch, or fewer channels or cells")


def check_space_fits(space: str, *, space_config=None, train_config=None,
                     device: str | torch.device = "cpu", copies: int = COPIES,
                     shape: tuple[int, int] | None = None, search_batch: int | None = None,
                     num_classes: int = 100) -> None:
    """ValueError in one sentence where the supernet of `space_config` or the largest network
    trained under `train_config` (either may be None) cannot fit the memory of `device`: their
    weights alone, and where the images' `shape` (channels, side) is given, with a batch (the
    search's `search_batch`, the training config's `batch_size`)."""
    s = get_space(space)
    channels, side = shape or (3, 32)
    if space_config is not None:
        check_fits(lambda: s.counting_supernet(space_config, channels, num_classes, side),
                   f"the {space} supernet ({s.describe(space_config)})", device, copies,
                   search_batch, shape)
    if train_config is not None:
        check_fits(lambda: s.largest_network(train_config, channels, num_classes),
                   f"the {space} network trained ({s.describe_training(train_config)})", device,
                   copies, train_config.batch_size, shape)
