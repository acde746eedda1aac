"""Switches that make a run faster; each is off unless a profile or option turns it on.

- `amp`: bf16 autocast of the networks' forward passes (and so of their backward). The
  parameters, α, the softmax of the mixing weights (autocast runs softmax in fp32) and every
  optimiser state stay fp32. Passes whose result is used as a finite difference (second-order's
  mixed product and the implicit strategies' finite-difference Hessian-vector products) run in
  fp32: a difference of two bf16 gradients (8-bit mantissa) would be mostly rounding error.
- `channels_last`: NHWC memory format for the network's 4-d weights and its inputs.
- `cudnn_benchmark`: let cuDNN time its convolution algorithms per input shape (CUDA only).
- `compile`: `torch.compile` the evaluation network's forward (never the supernet: the
  strategies differentiate through `functional_call` and double backward).
- `keep_activations`: the batched DARTS search cells keep every depthwise output for the
  backward instead of computing it again there (`SearchCell.recompute = "none"`), in the
  forwards of the exact Hessian-vector products too (`DartsSupernet.for_double_backward` leaves
  "none" alone). Time for memory: at 8 cells × 16 channels, batch 64, on the CPU, the exact
  products' strategies went from 1.15–1.16× their passes to 0.97–0.99× and their peak RSS from
  14,643–16,461 to 17,708–20,829 MiB (benchmark/README.md, "Where the exact products' time
  goes"; measured as `perf.py --cell batched-keep`, the same cells), before the BatchNorm's
  input gradient became one node (25ee21e), since which the default costs 0.98–1.11× at
  12,113–13,123 MiB; not measured again since. For a device with the memory.

None of them changes what is computed beyond floating-point rounding; `amp` changes the
rounding most, which is why it is off by default (tests compare search steps with and
without each switch on the CPU).

One setting is not a switch: on the CPU, `setup` makes the C allocator keep freed memory for
reuse (`keep_freed_memory`). It changes no number, only how often the kernel hands the
process fresh pages.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from dataclasses import dataclass, fields

import torch
from torch import nn


@dataclass(frozen=True)
class Speed:
    amp: bool = False
    channels_last: bool = False
    cudnn_benchmark: bool = False
    compile: bool = False
    keep_activations: bool = False

    @classmethod
    def from_names(cls, names) -> Speed:
        """A Speed with the named switches on; an unknown name is an error that lists the valid ones."""
        valid = [f.name for f in fields(cls)]
        names = [n.replace("-", "_") for n in (names or ())]
        unknown = [n for n in names if n not in valid]
        if unknown:
            raise ValueError(f"unknown speed option {unknown[0]!r}; valid options are {', '.join(valid)}")
        return cls(**{n: True for n in names})

    def names(self) -> tuple[str, ...]:
        """The switches that are on, the inverse of `from_names`."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name))

    def autocast(self, device: torch.device | str, enabled: bool = True):
        """bf16 autocast on `device` when `amp` is on and `enabled`; otherwise a no-op context.

        Inside an outer autocast, `enabled=False` switches it off for the block.
        """
        if not self.amp:
            return contextlib.nullcontext()
        device_type = torch.device(device).type
        return torch.autocast(device_type, dtype=torch.bfloat16, enabled=enabled)

    def model(self, model: nn.Module) -> nn.Module:
        """The model with its 4-d parameters in channels-last format (in place) and its batched
        search cells keeping every activation (`SearchCell.recompute`), as asked."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if self.keep_activations:
            for m in model.modules():
                if hasattr(m, "recompute"):
                    m.recompute = "none"
        return model

    def input(self, x):
        """An image batch in channels-last format if asked (other tensors pass unchanged)."""
        if self.channels_last and isinstance(x, torch.Tensor) and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def setup(self, device: torch.device | str) -> None:
        """Process-wide settings for `device`: cuDNN's autotuner on CUDA, the C allocator's
        policy on the CPU (`keep_freed_memory`)."""
        if torch.device(device).type == "cuda":
            torch.backends.cudnn.benchmark = self.cudnn_benchmark
        else:
            keep_freed_memory()


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4    # glibc's malloc.h


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep the memory a process frees and hand it out again, instead of
    giving it back to the kernel; True where it applied (Linux with glibc), False elsewhere.

    glibc serves a request over its mmap threshold (at most 32 MiB) with a fresh mapping and
    unmaps it when freed, so the next tensor of that size costs a page fault per 4 KiB page,
    each one zeroed by the kernel. A supernet at the DARTS search size allocates many such
    tensors: at 8 cells × 16 channels, batch 64, one exact Hessian-vector product faulted in
    20.6 GiB and took 27.8 s, 17.1 s with the same policy set through GLIBC_TUNABLES
    (benchmark/README.md, "Where the exact products' time goes"). With mmap off and no
    trimming (up to 2 GiB free at the heap's top) the heap keeps what it has, so the process
    does not shrink after a peak, and the heap's holes may raise the peak RSS itself.
    `HYPERDARTS_KEEP_FREED_MEMORY=0` in the environment leaves glibc's default.
    """
    if os.environ.get("HYPERDARTS_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):   # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
