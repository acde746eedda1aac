"""The DARTS candidate operations (Liu et al. 2019, quark0/darts `operations.py`).

Every operation maps a tensor of shape [N, C, H, W] to [N, C, H/stride, W/stride].
`affine` is False in the search supernet (its BatchNorms have no learnable
scale and shift, so that the α mixing weights are the only per-op scale) and
True in the evaluation network.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)


def batch_norm(C: int, affine: bool, track_running_stats: bool = True) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(C, affine=affine, track_running_stats=track_running_stats)


class ReLUConvBN(nn.Module):
    """ReLU → Conv(k, stride) → BN: the preprocessing and stem-adjacent block of every cell."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            batch_norm(C_out, affine, track_running_stats),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU → depthwise dilated Conv → pointwise Conv → BN."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 dilation: int, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding,
                      dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, kernel_size=1, padding=0, bias=False),
            batch_norm(C_out, affine, track_running_stats),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked DilConvs with dilation 1: the separable convolution of DARTS.

    Only the first of the two applies the stride; the pair is what DARTS calls
    `sep_conv_kxk`.
    """

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            DilConv(C_in, C_in, kernel_size, stride, padding, 1, affine, track_running_stats),
            DilConv(C_in, C_out, kernel_size, 1, padding, 1, affine, track_running_stats),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """The `none` operation: zeros with the output shape (strided when reducing)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve H and W with two stride-2 1×1 convolutions, the second shifted by one pixel.

    Used for `skip_connect` in a reduction cell and to bring the output of cell
    k-2 to the resolution of cell k-1 after a reduction.
    """

    def __init__(self, C_in: int, C_out: int, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__()
        if C_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {C_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = batch_norm(C_out, affine, track_running_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # The shifted branch sees odd pixels; pad so that odd sizes still line up.
        shifted = x[:, :, 1:, 1:]
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            shifted = nn.functional.pad(shifted, (0, 1, 0, 1))
        out = torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1)
        return self.bn(out)


class BoxAverage(nn.Module):
    """nn.AvgPool2d(kernel, stride, kernel // 2, count_include_pad=False) computed as a depthwise
    convolution with a box of ones divided by the number of in-image pixels under it: the same
    numbers (tests/test_ops.py), about 4 times faster on a CPU for the 3×3 pool at stride 1
    (benchmark/nb201_throughput.py: the all-pooling cell's training). No parameters."""

    def __init__(self, kernel: int = 3, stride: int = 1):
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, stride, kernel // 2
        self._counts: dict[tuple, torch.Tensor] = {}

    def _inverse_count(self, x: torch.Tensor) -> torch.Tensor:
        key = (x.shape[-2], x.shape[-1], x.device, x.dtype)
        if key not in self._counts:
            ones = torch.ones(1, 1, *key[:2], device=x.device, dtype=x.dtype)
            box = torch.ones(1, 1, self.kernel, self.kernel, device=x.device, dtype=x.dtype)
            counts = nn.functional.conv2d(ones, box, stride=self.stride, padding=self.padding)
            self._counts[key] = counts.reciprocal()
        return self._counts[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        box = x.new_ones(c, 1, self.kernel, self.kernel)
        out = nn.functional.conv2d(x, box, stride=self.stride, padding=self.padding, groups=c)
        return out * self._inverse_count(x)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, count_include_pad=False"


OpFactory = Callable[[int, int, bool, bool], nn.Module]

# name -> factory(C, stride, affine, track_running_stats)
OPS: dict[str, OpFactory] = {
    "none": lambda C, stride, affine, trs: Zero(stride),
    "avg_pool_3x3": lambda C, stride, affine, trs: nn.AvgPool2d(
        3, stride=stride, padding=1, count_include_pad=False),
    "max_pool_3x3": lambda C, stride, affine, trs: nn.MaxPool2d(3, stride=stride, padding=1),
    "skip_connect": lambda C, stride, affine, trs: (
        Identity() if stride == 1 else FactorizedReduce(C, C, affine, trs)),
    "sep_conv_3x3": lambda C, stride, affine, trs: SepConv(C, C, 3, stride, 1, affine, trs),
    "sep_conv_5x5": lambda C, stride, affine, trs: SepConv(C, C, 5, stride, 2, affine, trs),
    "sep_conv_7x7": lambda C, stride, affine, trs: SepConv(C, C, 7, stride, 3, affine, trs),
    "dil_conv_3x3": lambda C, stride, affine, trs: DilConv(C, C, 3, stride, 2, 2, affine, trs),
    "dil_conv_5x5": lambda C, stride, affine, trs: DilConv(C, C, 5, stride, 4, 2, affine, trs),
    "conv_7x1_1x7": lambda C, stride, affine, trs: nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(C, C, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
        nn.Conv2d(C, C, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
        batch_norm(C, affine, trs),
    ),
}


def check_primitives(primitives: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Return `primitives` as a tuple, or raise ValueError naming the unknown operations."""
    unknown = [p for p in primitives if p not in OPS]
    if unknown:
        raise ValueError(
            f"unknown operation(s) {', '.join(map(repr, unknown))}; "
            f"valid operations are {', '.join(OPS)}")
    if len(set(primitives)) != len(primitives):
        raise ValueError(f"the operation set {list(primitives)} lists an operation twice")
    if not [p for p in primitives if p != "none"]:
        raise ValueError("the operation set needs at least one operation besides 'none'")
    return tuple(primitives)


def make_op(name: str, C: int, stride: int, affine: bool,
            track_running_stats: bool = True) -> nn.Module:
    """Build the candidate operation `name` on C channels (see OPS)."""
    if name not in OPS:
        raise ValueError(f"unknown operation {name!r}; valid operations are {', '.join(OPS)}")
    return OPS[name](C, stride, affine, track_running_stats)
