"""NAS-Bench-201's cell space (Dong & Zhou, ICLR 2020) behind the `SearchSpace` interface: `nb201`.

The architecture is one cell (`nas/spaces/nb201_cell.py`: its string form, enumeration and
canonical form), repeated through the published skeleton (`nas/spaces/nb201_net.py`). The supernet
is the published search network (AutoDL-Projects' `TinyNetworkDarts`): the same skeleton with every
edge of every cell a mixed operation, softmax(α) over the operations, one α [edges, operations]
shared by all cells. As in this project's DARTS space, the cells' BatchNorms have neither affine
parameters nor running statistics, and the supernet's other BatchNorms keep no running statistics
either (a forward pass never mutates a buffer, so extra passes for hypergradients are free of side
effects; the published search network tracks running statistics in its cells, which only its
evaluation-mode passes read).

The derived cell takes the operation of largest α on every edge. `derive = "all"` (the default)
ranks all operations, `none` included: NAS-Bench-201's protocol for DARTS and its kin, the one
under which their collapse to `none` and skips shows. `derive = "no-none"` ranks all but `none`
(DARTS's own rule in its space).

A found cell is trained from scratch in the network of `NB201TrainConfig` (the benchmark's 200-epoch
protocol by default: C = 16, N = 5, SGD with Nesterov momentum 0.9, lr 0.1 cosine-annealed per step,
weight decay 5e-4, batch 256, random crop and flip).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from nas.checkpoint import check_training_state, seed_everything
from nas.data import Augment, Batches, ImageData
from nas.options import check_ranges
from nas.spaces.base import SearchSpace, tidy_alphas
from nas.spaces.nb201_cell import OPS, Cell, CellError, distinct_cells, edge_count
from nas.spaces.nb201_net import NB201Network, ResidualBlock, operation
from nas.training import fit_and_test

DERIVATIONS = ("all", "no-none")
# operations without weights: a cell of only these is a collapse
PARAMETER_FREE = frozenset({"none", "skip_connect", "avg_pool_3x3"})


@dataclass(frozen=True)
class NB201Config:
    """The supernet's shape; the defaults are NAS-Bench-201's search network (C 16, N 5)."""

    nodes: int = 4                  # node 0 the input, the last the output: 4 nodes, 6 edges
    channels: int = 16              # C: channels of the first stage (2C, 4C after)
    cells_per_stage: int = 5        # N
    ops: tuple[str, ...] = field(default=OPS)
    derive: str = "all"             # "all" (NAS-Bench-201's protocol) or "no-none"
    alpha_init_std: float = 1e-3    # α ~ alpha_init_std · N(0, 1), as the published code draws it

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        for name in ("nodes", "channels", "cells_per_stage"):
            if getattr(self, name) < (2 if name == "nodes" else 1):
                raise ValueError(f"{name} must be at least {2 if name == 'nodes' else 1}, "
                                 f"got {getattr(self, name)}")
        unknown = [o for o in self.ops if o not in OPS]
        if unknown or not self.ops or len(set(self.ops)) != len(self.ops):
            raise ValueError(f"the nb201 space's ops are distinct ones of {', '.join(OPS)}, "
                             f"got {', '.join(self.ops) or 'none'}")
        if self.derive not in DERIVATIONS:
            raise ValueError(f"derive must be one of {', '.join(DERIVATIONS)}, got {self.derive!r}")
        if self.derive == "no-none" and set(self.ops) <= {"none"}:
            raise ValueError("derive no-none needs an operation other than none")

    @property
    def num_edges(self) -> int:
        return edge_count(self.nodes)

    def derivable(self) -> list[int]:
        """The indices of the operations the derivation ranks."""
        return [i for i, o in enumerate(self.ops) if self.derive == "all" or o != "none"]


@dataclass(frozen=True)
class NB201TrainConfig:
    """Training one cell from scratch; the defaults are NAS-Bench-201's 200-epoch protocol."""

    channels: int = 16
    cells_per_stage: int = 5
    epochs: int = 200
    batch_size: int = 256
    lr: float = 0.1                 # cosine-annealed per step to lr_min
    lr_min: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    seed: int = 0

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("channels", "cells_per_stage", "epochs", "batch_size"),
                     positive=("lr",), non_negative=("lr_min", "weight_decay"),
                     fraction=("momentum",))
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min ({self.lr_min}) cannot exceed lr ({self.lr})")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs a momentum above 0; give momentum or nesterov=false")


class MixedOp(nn.Module):
    """Σ_o softmax(α)_o · o(x) over one edge's operations; `none` is skipped (it adds zero), its α
    still enters the softmax."""

    def __init__(self, channels: int, ops: tuple[str, ...]):
        super().__init__()
        self.ops = nn.ModuleList(operation(o, channels, affine=False, track=False) for o in ops)
        self.active = [i for i, o in enumerate(ops) if o != "none"]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x) if not self.active else None
        for i in self.active:
            y = weights[i] * self.ops[i](x)
            out = y if out is None else out + y
        return out


class SearchCell(nn.Module):
    def __init__(self, nodes: int, channels: int, ops: tuple[str, ...]):
        super().__init__()
        self.nodes = nodes
        self.pairs = [(j, i) for j in range(1, nodes) for i in range(j)]
        self.edges = nn.ModuleList(MixedOp(channels, ops) for _ in self.pairs)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [x]
        k = 0
        for j in range(1, self.nodes):
            s = None
            for i in range(j):
                y = self.edges[k](states[i], weights[k])
                s = y if s is None else s + y
                k += 1
            states.append(s)
        return states[-1]


class NB201Supernet(nn.Module):
    """The search network: the published skeleton with search cells sharing one α."""

    space = "nb201"

    def __init__(self, config: NB201Config, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        self.config = c = config
        C = c.channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(C, track_running_stats=False))
        layers: list[nn.Module] = []
        for stage in range(3):
            if stage:
                layers.append(ResidualBlock(C, 2 * C, track=False))
                C *= 2
            layers += [SearchCell(c.nodes, C, c.ops) for _ in range(c.cells_per_stage)]
        self.cells = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.BatchNorm2d(C, track_running_stats=False), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(C, num_classes))
        self.alpha = nn.Parameter(c.alpha_init_std * torch.randn(c.num_edges, len(c.ops)))

    # -- parameters -------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def named_alphas(self) -> dict[str, nn.Parameter]:
        return {"cell": self.alpha}

    def named_weight_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.named_parameters() if n != "alpha"]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for _, p in self.named_weight_parameters()]

    # -- forward ----------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.alpha, dim=-1)
        h = self.stem(x)
        for layer in self.cells:
            h = layer(h, weights) if isinstance(layer, SearchCell) else layer(h)
        return self.head(h)

    # -- architecture -----------------------------------------------------
    def edge_names(self) -> list[str]:
        """'i->j' per edge, in α's row order (NAS-Bench-201's edge order)."""
        return [f"{i}->{j}" for j in range(1, self.config.nodes) for i in range(j)]

    def genotype(self) -> Cell:
        """Per edge the operation of largest α among those the derivation ranks."""
        keep = self.config.derivable()
        ranked = self.alpha.detach()[:, keep]
        return Cell(tuple(self.config.ops[keep[int(k)]] for k in ranked.argmax(dim=1)))

    def softmax_alphas(self) -> dict[str, torch.Tensor]:
        return {"cell": torch.softmax(self.alpha.detach().float(), -1).cpu()}

    def alpha_rows(self) -> list[dict]:
        return tidy_alphas("cell", self.softmax_alphas()["cell"], self.edge_names(), list(self.config.ops))

    def candidates(self) -> list:
        """None listed: 5⁶ cells are too many to train as one seed's ground truth (a table of
        cells is the space's ground truth instead)."""
        return []

    def end_epoch(self, epoch: int) -> bool:
        return False

    def discrete_alphas(self) -> list[torch.Tensor]:
        """α one-hot (after the softmax) on the derived operation of every edge."""
        a = torch.full_like(self.alpha.detach(), -1e4)
        for k, op in enumerate(self.genotype().ops):
            a[k, self.config.ops.index(op)] = 0.0
        return [a]

    def architecture_stats(self) -> dict[str, float]:
        """The derived cell's parameter-free edges and whether it collapsed (module `cell_stats`)."""
        return cell_stats(self.genotype())


def cell_stats(cell: Cell) -> dict[str, float]:
    """Numbers of one cell: its parameter-free edges (`none`, skip, pooling), its convolutions,
    whether its output is cut off from its input (`zero_output`) and whether it is a collapse
    (`collapsed`: every edge parameter-free, the end DARTS reaches on NAS-Bench-201)."""
    free = sum(op in PARAMETER_FREE for op in cell.ops)
    return {"param_free_cell": float(free),
            "convolutions": float(sum(op.startswith("nor_conv") for op in cell.ops)),
            "zero_output": float(cell.is_zero()), "collapsed": float(free == len(cell.ops))}


def collapsed_by_computation(cell: Cell) -> bool:
    """Whether the cell computes what a collapse computes: its output depends on its input, and
    only through parameter-free operations (`Cell.live_ops`). Unlike `cell_stats`'s `collapsed`
    (every edge parameter-free, the pre-declared outcome), it counts a cell whose convolutions
    are all on no path from input to output, e.g.
    `|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|`, which computes the
    identity; a cell whose output is cut off is not one (`collapsed` counts one whose edges are
    all parameter-free)."""
    live = cell.live_ops()
    return bool(live) and all(op in PARAMETER_FREE for op in live)


def parse_cell(text: str) -> Cell:
    """A cell in NAS-Bench-201's string form; ValueError (one sentence) otherwise."""
    try:
        return Cell.parse(text)
    except CellError as e:
        raise ValueError(str(e)) from None


def train_cell(cell: Cell, data: ImageData, config: NB201TrainConfig, device: torch.device, *,
               resume: dict | None = None,
               on_checkpoint: Callable[[dict], None] | None = None,
               network: Callable[[Cell, NB201TrainConfig, ImageData], nn.Module] | None = None) -> dict:
    """Train the network of `cell` from scratch (see NB201TrainConfig) and test it on the whole
    test set. On a CPU the network runs in channels-last order (`NB201Network.channels_last`: the
    same numbers, faster). `resume` / `on_checkpoint`: as `nas.evaluate.train_and_test`'s.
    `network` builds the network instead of `NB201Network` (the throughput benchmark's reference
    implementation); it is built right after the seed is set, so that both start from the same
    weights."""
    check_training_state(resume, config)
    seed_everything(config.seed)
    if network is not None:
        net = network(cell, config, data).to(device)
    else:
        net = NB201Network(cell, config.channels, config.cells_per_stage, data.num_classes,
                           data.in_channels).to(device)
        if device.type == "cpu":
            net.channels_last()
    opt = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                          weight_decay=config.weight_decay, nesterov=config.nesterov)
    augment = Augment(data.augment.crop_padding, data.augment.flip, 0)
    batches = Batches(data.train_x, data.train_y, config.batch_size, data.mean, data.std,
                      augment=augment, shuffle=True, drop_last=False, seed=config.seed, device=device)
    return fit_and_test(net, data, config, opt, batches, device, lr_min=config.lr_min, resume=resume,
                        on_checkpoint=on_checkpoint)


class NB201Space(SearchSpace):
    """NAS-Bench-201's cell space; a found cell is trained in the benchmark's network, or looked
    up in a table of cells (resultstore/cells.py)."""

    name = "nb201"
    Config = NB201Config
    TrainConfig = NB201TrainConfig

    def build(self, config: NB201Config, in_channels: int, num_classes: int,
              image_size: int) -> NB201Supernet:
        return NB201Supernet(config, in_channels, num_classes)

    def parse(self, text: str) -> Cell:
        return parse_cell(text)

    def train_and_test(self, arch: Cell, data: ImageData, space_config: NB201Config,
                       config: NB201TrainConfig, device: torch.device, resume: dict | None = None,
                       on_checkpoint=None) -> dict:
        return train_cell(arch, data, config, device, resume=resume, on_checkpoint=on_checkpoint)

    def largest_network(self, config: NB201TrainConfig, in_channels: int,
                        num_classes: int) -> NB201Network:
        """The network of the all-conv_3x3 cell, the most weights a cell has."""
        return NB201Network(Cell(("nor_conv_3x3",) * 6), config.channels, config.cells_per_stage,
                            num_classes, in_channels)

    def smallest_network(self, config: NB201TrainConfig, in_channels: int,
                         num_classes: int) -> NB201Network:
        """The network of the all-skip cell: its cells' layers output nothing of their own."""
        return NB201Network(Cell(("skip_connect",) * 6), config.channels, config.cells_per_stage,
                            num_classes, in_channels)

    def references(self, space_config: NB201Config) -> dict[str, Cell]:
        """The uniform cells of each operation but `none` (all-skip: DARTS's end on NAS-Bench-201)."""
        n = space_config.num_edges
        return {f"all-{op}": Cell((op,) * n) for op in space_config.ops if op != "none"}

    def properties(self, arch: Cell) -> dict[str, float]:
        return cell_stats(arch)

    def cells(self, config: NB201Config) -> list[Cell]:
        """One cell per distinct computation (NAS-Bench-201's rule), the first of its strings."""
        return distinct_cells(config.nodes, config.ops)

    def describe(self, config: NB201Config) -> str:
        ops = "" if config.ops == OPS else f", operations {', '.join(config.ops)}"
        rule = "argmax over all operations" if config.derive == "all" else "argmax without none"
        return (f"{config.cells_per_stage} cells per stage × {config.channels} channels, "
                f"{config.nodes} nodes ({config.num_edges} edges){ops}, derived by {rule}")

    def describe_training(self, config: NB201TrainConfig) -> str:
        return (f"{config.cells_per_stage} cells per stage × {config.channels} channels, {config.epochs} "
                f"epochs of batch {config.batch_size}, SGD lr {config.lr} (cosine), momentum "
                f"{config.momentum}{' Nesterov' if config.nesterov else ''}, weight decay "
                f"{config.weight_decay}")
