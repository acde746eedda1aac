"""NAS-Bench-201's network for one cell (Dong & Zhou, ICLR 2020), built as its published code
builds it, so that its parameter counts equal the benchmark's (tested against
tests/golden/nb201_params.json, counted with that code).

- Operations, each from C channels to C at stride 1 (every cell of the network keeps its width):
  `none` a zero; `skip_connect` the identity; `nor_conv_1x1` and `nor_conv_3x3` ReLU → convolution
  (no bias) → BatchNorm (affine, running statistics); `avg_pool_3x3` a 3×3 average with padding 1
  that does not count the padding.
- The cell: node j sums one operation of every earlier node; the last node is the output.
- The skeleton: a 3×3 convolution stem to C channels and its BatchNorm; three stages of N cells at
  C, 2C and 4C channels, with a residual basic block of stride 2 between stages (two ReLU-conv-BN
  of 3×3, the shortcut a 2×2 average pool and a 1×1 convolution); BatchNorm and ReLU; global
  average pooling; a linear classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.ops import BoxAverage
from nas.spaces.nb201_cell import Cell


class ReLUConvBN(nn.Sequential):
    """ReLU → convolution (no bias) → BatchNorm; the supernet's cells normalise without affine
    parameters or running statistics (`affine`, `track`), as the DARTS space's do."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, affine: bool = True,
                 track: bool = True):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track))


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def operation(name: str, channels: int, affine: bool = True, track: bool = True) -> nn.Module:
    """One of NAS-Bench-201's operations, from `channels` to `channels` at stride 1."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, affine=affine, track=track)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, affine=affine, track=track)
    if name == "avg_pool_3x3":
        return BoxAverage(3)          # nn.AvgPool2d(3, 1, 1, count_include_pad=False), faster
    raise ValueError(f"unknown operation {name!r}")


class InferCell(nn.Module):
    """The discrete cell: one module per edge, in NAS-Bench-201's edge order."""

    def __init__(self, cell: Cell, channels: int):
        super().__init__()
        self.cell = cell
        self.edges = cell.edges()
        self.ops = nn.ModuleList(operation(op, channels) for _, _, op in self.edges)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, self.cell.nodes):
            # a `none` edge adds nothing; a node whose every input is `none` is zero
            terms = [m(nodes[i]) for (to, i, op), m in zip(self.edges, self.ops)
                     if to == j and op != "none"]
            node = terms[0] if terms else torch.zeros_like(x)
            for t in terms[1:]:
                node = node + t
            nodes.append(node)
        return nodes[-1]


class ResidualBlock(nn.Module):
    """The stride-2 residual basic block between stages."""

    def __init__(self, c_in: int, c_out: int, track: bool = True):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2, track=track)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, track=track)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The network of one cell: C channels, N cells per stage (the benchmark's: C = 16, N = 5)."""

    def __init__(self, cell: Cell, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10,
                 in_channels: int = 3):
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        for stage in range(3):
            if stage:
                layers.append(ResidualBlock(c, 2 * c))
                c *= 2
            layers += [InferCell(cell, c) for _ in range(cells_per_stage)]
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(c, num_classes))

        self.is_channels_last = False

    def channels_last(self) -> NB201Network:
        """Hold the weights, and take the input, in channels-last order: the same network, about
        1.5 times faster to train on a CPU (benchmark/nb201_throughput.py)."""
        self.to(memory_format=torch.channels_last)
        self.is_channels_last = True
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.head(self.cells(self.stem(x)))
