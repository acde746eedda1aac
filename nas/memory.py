"""Whether a network can fit before it is built: its parameters, and the outputs of its layers
on one batch, counted on PyTorch's meta device (shapes without storage), against the memory of the
device it would run on.

Two counts, each meant as a floor, so that a network refused here could not have run:
- the weights and what scales with them: `COPIES` of them (weights, gradients, momentum and one
  more copy);
- at the end of a forward pass, before the gradients exist (the training loops free them between
  steps): two copies of the weights (the weights and the optimiser's state) and `KEPT` of what one
  training-mode forward pass at the batch size outputs layer by layer (half that under `amp`'s
  bfloat16). A backward keeps most of those outputs; `KEPT` is a margin, not a measured bound:
  the batched DARTS cell computes some outputs again instead of keeping them, and the DARTS
  search at batch 64 (8 cells × 16 channels), whose layers output 7.26 GiB as counted here,
  peaked at 6,950–7,525 MiB of RSS across strategies (docs/performance.md).
A trained network's outputs depend on its cell: a grid's are counted on the space's smallest
network (`SearchSpace.smallest_network`), a given architecture's on its own. A network that
cannot be built or run on the meta device (the dense-DAG space's, which read tensors' values while
built) is not counted. One accepted may still run out of memory: a second-order step holds several
graphs at once."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

from nas.spaces import get_space

# weights, their gradients, momentum and one more copy (a strategy's backup or Adam's second
# moment): the least that a training step holds per parameter
COPIES = 4
# copies of the weights held at the end of a forward pass: the weights and the optimiser's state
# (the gradients are freed between steps)
AT_PEAK = 2
# the share of a forward pass's layer outputs taken as held for its backward (a margin: see above)
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
                base = t if t._base is None else t._base      # a view is its base's memory
                seen.setdefault(id(base), base)
    hooks = [m.register_forward_hook(keep) for m in net.modules()
             if not any(True for _ in m.children())]
    try:
        with torch.device("meta"):
            net.train()
            net(torch.empty(batch, in_channels, image_size, image_size))
    except (RuntimeError, NotImplementedError):   # (what the meta device cannot run)
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
               shape: tuple[int, int] | None = None, *,
               outputs_of: Callable[[], nn.Module | None] | None = None, half: bool = False) -> None:
    """ValueError in one sentence where `copies` of the parameters of `build()` exceed the memory
    of `device`, or, given a `batch` of images of `shape` (channels, side), where `AT_PEAK` copies
    and `KEPT` of the layers' outputs of `outputs_of()` (default: `build()`) on that batch do
    (half of them where `half`: bfloat16 under amp), with the weights of the network counted;
    nothing is allocated."""
    have = available_bytes(device)
    net = meta_network(build) if have is not None else None
    if net is None:
        return
    weights = parameter_bytes(net)
    held = "weights" if copies == 1 else "weights, their gradients and optimiser state"
    if weights * copies > have[0]:
        raise ValueError(f"{what} would need {weights * copies / 1e9:,.1f} GB for its {held} alone, "
                         f"more than the {have[0] / 1e9:,.1f} GB of {have[1]}; give it fewer "
                         "channels or cells")
    if not (batch and shape):
        return
    counted = net if outputs_of is None else meta_network(outputs_of)
    outputs = activation_bytes(counted, batch, *shape) if counted is not None else None
    if outputs is None:
        return
    kept = outputs * KEPT * (0.5 if half else 1.0)
    at_peak = parameter_bytes(counted) * min(copies, AT_PEAK)
    if at_peak + kept <= have[0]:
        return
    channels, side = shape
    raise ValueError(f"{what} at batch {batch:,} of {channels}×{side}×{side} images would need at "
                     f"least {(at_peak + kept) / 1e9:,.1f} GB ({kept / 1e9:,.1f} GB of the "
                     f"activations its backward keeps, {at_peak / 1e9:,.1f} GB of weights and "
                     f"optimiser state), more than the {have[0] / 1e9:,.1f} GB of {have[1]}; use a "
                     "smaller batch, or fewer channels or cells")


def check_space_fits(space: str, *, space_config=None, train_config=None,
                     device: str | torch.device = "cpu", copies: int = COPIES,
                     shape: tuple[int, int] | None = None, search_batch: int | None = None,
                     search_speed: tuple[str, ...] = (),
                     network: Callable[[int, int], nn.Module | None] | None = None) -> None:
    """ValueError in one sentence where the supernet of `space_config` or the network trained under
    `train_config` (either may be None) cannot fit the memory of `device`: their weights alone (the
    largest network's), and where the images' `shape` (channels, side) is given, with a batch (the
    search's `search_batch`, the training config's `batch_size`): the supernet's outputs, and
    those of `network(in_channels, num_classes)` where given (the architecture to be trained),
    else of the space's smallest network."""
    s = get_space(space)
    channels, side = shape or (3, 32)
    classes = 100       # (the most of the datasets at hand: the largest classifier)
    if space_config is not None:
        check_fits(lambda: s.counting_supernet(space_config, channels, classes, side),
                   f"the {space} supernet ({s.describe(space_config)})", device, copies,
                   search_batch, shape, half="amp" in search_speed)
    if train_config is not None:
        trained = network or (lambda c, k: s.smallest_network(train_config, c, k))
        check_fits(lambda: s.largest_network(train_config, channels, classes),
                   f"the {space} network trained ({s.describe_training(train_config)})", device,
                   copies, train_config.batch_size, shape,
                   outputs_of=lambda: trained(channels, classes),
                   half="amp" in getattr(train_config, "speed", ()))
