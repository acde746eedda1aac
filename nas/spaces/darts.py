"""The DARTS cell search space and its supernet (Liu et al. 2019, `model_search.py`).

A cell has two input nodes (the outputs of the two previous cells), `nodes`
intermediate nodes, and outputs the channel concatenation of the last
`multiplier` intermediate nodes. Every intermediate node sums one mixed
operation per earlier node; a mixed operation is the softmax(α)-weighted sum of
all candidate operations. Normal and reduction cells have separate α.

BatchNorms inside cells have neither affine parameters (as in DARTS: the
mixing weights are the only per-operation scale) nor running statistics: the
search always normalises with batch statistics, so a forward pass never
mutates a buffer. That makes extra forward passes (unrolled steps, finite
differences, hypergradients for comparison) free of side effects.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from nas.data import ImageData
from nas.evaluate import EvalConfig, EvalNetwork, train_and_test
from nas.genotype import DARTS_V2, Genotype, derive_genotype, parse_genotype
from nas.ops import PRIMITIVES, FactorizedReduce, ReLUConvBN, check_primitives, make_op
from nas.spaces.base import SearchSpace, tidy_alphas
from nas.spaces.darts_batched import cell_forward, channel_shuffle

ALPHA_NAMES = ("alpha_normal", "alpha_reduce")


@dataclass(frozen=True)
class DartsSpaceConfig:
    """Shape of the DARTS supernet; the defaults are the DARTS CIFAR-10 search setting."""

    channels: int = 16          # C: channels of the first cell's nodes
    layers: int = 8             # cells; reductions at layers//3 and 2*layers//3
    nodes: int = 4              # intermediate nodes per cell
    multiplier: int = 4         # intermediate nodes concatenated into the cell output
    stem_multiplier: int = 3    # stem output = stem_multiplier * C channels
    primitives: tuple[str, ...] = field(default=PRIMITIVES)
    alpha_init_std: float = 1e-3  # α ~ alpha_init_std * N(0, 1); 0 gives zeros
    partial_channels: int = 1     # K of PC-DARTS: edges mix 1/K of the channels (1: all, DARTS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "primitives", check_primitives(tuple(self.primitives)))
        for name in ("channels", "layers", "nodes", "multiplier", "stem_multiplier"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.multiplier > self.nodes:
            raise ValueError(f"multiplier ({self.multiplier}) cannot exceed nodes ({self.nodes})")
        if self.channels % 2:
            raise ValueError(f"channels must be even (reductions halve them), got {self.channels}")
        if self.partial_channels < 1 or self.channels % self.partial_channels:
            raise ValueError(f"partial_channels must be a positive divisor of channels "
                             f"({self.channels}), got {self.partial_channels}")

    @property
    def num_edges(self) -> int:
        return sum(i + 2 for i in range(self.nodes))


class MixedOp(nn.Module):
    """Σ_o softmax(α)_o · o(x) over the candidate operations of one edge.

    `none` contributes exactly zero, so it is skipped rather than multiplied by
    zero; its α still enters the softmax and so still receives a gradient.

    With partial channels K > 1 (PC-DARTS, Xu et al. 2020) only the first C/K channels go
    through the operations; the rest bypass them (max-pooled where the edge reduces), the two
    parts are concatenated and the channels shuffled, so that each edge's operations see other
    channels in the next cell. Activations and weights of the operations shrink about K-fold.
    (PC-DARTS's edge normalisation is not included.)
    """

    def __init__(self, C: int, stride: int, primitives: tuple[str, ...], partial_channels: int = 1):
        super().__init__()
        self.k = partial_channels
        self.stride = stride
        C_op = C // partial_channels
        self.ops = nn.ModuleList()
        for p in primitives:
            op = make_op(p, C_op, stride, affine=False, track_running_stats=False)
            if "pool" in p:  # pooling has no scale of its own: normalise it like the convs
                op = nn.Sequential(op, nn.BatchNorm2d(C_op, affine=False, track_running_stats=False))
            self.ops.append(op)
        self.active = [i for i, p in enumerate(primitives) if p != "none"]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.k > 1:
            c = x.shape[1] // self.k
            x, rest = x[:, :c], x[:, c:]
        out = None
        for i in self.active:
            y = weights[i] * self.ops[i](x)
            out = y if out is None else out + y
        if self.k == 1:
            return out
        if self.stride == 2:
            rest = F.max_pool2d(rest, 2, 2, ceil_mode=True)
        return channel_shuffle(torch.cat([out, rest], dim=1), self.k)


class SearchCell(nn.Module):
    def __init__(self, nodes: int, multiplier: int, C_pp: int, C_p: int, C: int,
                 reduction: bool, reduction_prev: bool, primitives: tuple[str, ...],
                 partial_channels: int = 1):
        super().__init__()
        self.reduction = reduction
        self.nodes = nodes
        self.multiplier = multiplier
        # If the previous cell reduced, cell k-2's output is twice as large as
        # cell k-1's, so it is reduced first.
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(C_pp, C, affine=False, track_running_stats=False)
        else:
            self.preprocess0 = ReLUConvBN(C_pp, C, 1, 1, 0, affine=False, track_running_stats=False)
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0, affine=False, track_running_stats=False)
        self.edges = nn.ModuleList()
        for i in range(nodes):
            for j in range(i + 2):
                stride = 2 if reduction and j < 2 else 1
                self.edges.append(MixedOp(C, stride, primitives, partial_channels))

    # the edges batched by the state they read (nas/spaces/darts_batched.py); False: edge by edge
    batched: bool = True
    # batched cell, the depthwise outputs that the backward computes again instead of keeping:
    # "separable" (the separable convolutions' second ones: ~1% of a pass), "all" (~11%; what
    # DartsSupernet.for_double_backward sets) or "none" (benchmark/README.md, "The batched cell")
    recompute: str = "separable"

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """weights: [num_edges, num_ops], the softmaxed α of this cell type."""
        if self.batched:
            return cell_forward(self, s0, s1, weights)
        return self.forward_plain(s0, s1, weights)

    def forward_plain(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The reference: every operation of every edge on its own (pt.darts's cell)."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.nodes):
            s = None
            for j, h in enumerate(states):
                y = self.edges[offset + j](h, weights[offset + j])
                s = y if s is None else s + y
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self.multiplier:], dim=1)


class DartsSupernet(nn.Module):
    """The DARTS search network: stem, `layers` search cells, global pooling, classifier.

    Weights and α are kept apart: `weight_parameters()` yields everything but
    α, `arch_parameters()` the two α tensors [num_edges, num_ops].
    """

    space = "darts"

    def __init__(self, config: DartsSpaceConfig, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        self.config = config
        self.in_channels = in_channels
        self.num_classes = num_classes
        C = config.channels
        C_curr = config.stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(C_curr, track_running_stats=False),  # affine, as in DARTS
        )
        C_pp, C_p, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(config.layers):
            reduction = i in (config.layers // 3, 2 * config.layers // 3)
            if reduction:
                C_curr *= 2
            self.cells.append(SearchCell(config.nodes, config.multiplier, C_pp, C_p, C_curr,
                                         reduction, reduction_prev, config.primitives,
                                         config.partial_channels))
            reduction_prev = reduction
            C_pp, C_p = C_p, config.multiplier * C_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)
        shape = (config.num_edges, len(config.primitives))
        self.alpha_normal = nn.Parameter(config.alpha_init_std * torch.randn(shape))
        self.alpha_reduce = nn.Parameter(config.alpha_init_std * torch.randn(shape))

    # -- parameters -------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha_normal, self.alpha_reduce]

    def named_alphas(self) -> dict[str, nn.Parameter]:
        return {"normal": self.alpha_normal, "reduce": self.alpha_reduce}

    def named_weight_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.named_parameters() if n not in ALPHA_NAMES]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for _, p in self.named_weight_parameters()]

    @contextmanager
    def for_double_backward(self):
        """The forwards in this block will be differentiated twice (exact Hessian-vector
        products), so their graph stays alive through a larger backward graph: the batched cells
        recompute every depthwise output instead of keeping it (`SearchCell.recompute = "all"`,
        unless it is "none"), less memory for ~11% more time per pass."""
        before = [(c, c.__dict__.get("recompute")) for c in self.cells]
        for c, _ in before:
            if c.recompute != "none":
                c.recompute = "all"
        try:
            yield
        finally:
            for c, value in before:   # back to the cell's own setting, or the class's
                if value is None:
                    c.__dict__.pop("recompute", None)
                else:
                    c.recompute = value

    # -- forward ----------------------------------------------------------
    def forward(self, x: torch.Tensor,
                alphas: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits [N, num_classes]; `alphas` overrides the supernet's own α for this pass."""
        a_normal, a_reduce = alphas if alphas is not None else self.arch_parameters()
        w_normal = torch.softmax(a_normal, dim=-1)
        w_reduce = torch.softmax(a_reduce, dim=-1)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        return self.classifier(self.global_pooling(s1).flatten(1))

    # -- architecture -----------------------------------------------------
    def genotype(self) -> Genotype:
        return derive_genotype(self.alpha_normal, self.alpha_reduce, self.config.primitives,
                               self.config.nodes, self.config.multiplier)

    def softmax_alphas(self) -> dict[str, torch.Tensor]:
        """{'normal': [edges, ops], 'reduce': [edges, ops]} probabilities, detached, on the CPU."""
        return {"normal": torch.softmax(self.alpha_normal.detach().float(), -1).cpu(),
                "reduce": torch.softmax(self.alpha_reduce.detach().float(), -1).cpu()}

    def edge_names(self) -> list[str]:
        """'j->i' for every edge, in α's row order (nodes 0, 1 are the inputs)."""
        return [f"{j}->{i + 2}" for i in range(self.config.nodes) for j in range(i + 2)]

    def alpha_rows(self) -> list[dict]:
        """One row per cell type, edge and operation: {'cell', 'edge', 'op', 'weight'}."""
        ops = list(self.config.primitives)
        return [row for cell, probs in self.softmax_alphas().items()
                for row in tidy_alphas(cell, probs, self.edge_names(), ops)]

    def candidates(self) -> list:
        """None listed: the cell space is too large to enumerate."""
        return []

    def end_epoch(self, epoch: int) -> bool:
        """The cells never change between epochs."""
        return False

    def discrete_alphas(self) -> list[torch.Tensor] | None:
        """α whose softmax is one-hot on the derived cells: each kept edge on its operation, every
        other edge on `none` (which contributes nothing); None without a `none` operation."""
        ops = list(self.config.primitives)
        if "none" not in ops:
            return None
        genotype = self.genotype()
        out = []
        for gene, alpha in ((genotype.normal, self.alpha_normal), (genotype.reduce, self.alpha_reduce)):
            a = torch.full_like(alpha.detach(), -1e4)
            a[:, ops.index("none")] = 0.0
            offset = 0
            for i in range(self.config.nodes):
                for op, j in gene[2 * i:2 * i + 2]:
                    a[offset + j] = -1e4
                    a[offset + j, ops.index(op)] = 0.0
                offset += i + 2
            out.append(a)
        return out

    def architecture_stats(self) -> dict[str, float]:
        """Parameter-free operations (skip connections and pooling) in the derived cells: the
        signature of DARTS's collapse."""
        g = self.genotype()
        free = {"skip_connect", "max_pool_3x3", "avg_pool_3x3"}
        return {f"param_free_{kind}": float(sum(op in free for op, _ in gene))
                for kind, gene in (("normal", g.normal), ("reduce", g.reduce))}


class DartsSpace(SearchSpace):
    """The DARTS cell space; a found cell is trained in the DARTS evaluation network."""

    name = "darts"
    Config = DartsSpaceConfig
    TrainConfig = EvalConfig

    def build(self, config: DartsSpaceConfig, in_channels: int, num_classes: int,
              image_size: int) -> DartsSupernet:
        return DartsSupernet(config, in_channels=in_channels, num_classes=num_classes)

    def parse(self, text: str) -> Genotype:
        return parse_genotype(text)

    def counting_supernet(self, config: DartsSpaceConfig, in_channels: int, num_classes: int,
                          image_size: int) -> DartsSupernet:
        """With the plain cells: the batched cell's hand-written backward functions do not run on
        the meta device, and the batched cell keeps no more than the plain cell's layers output
        (it computes some of them again in its backward instead)."""
        net = self.build(config, in_channels, num_classes, image_size)
        for cell in net.cells:
            cell.batched = False
        return net

    def largest_network(self, config: EvalConfig, in_channels: int, num_classes: int) -> EvalNetwork:
        """DARTS V2's network (its cells' separable convolutions weigh about what any cell's do)."""
        return EvalNetwork(DARTS_V2, config.channels, config.layers, num_classes, in_channels,
                           config.auxiliary)

    def smallest_network(self, config: EvalConfig, in_channels: int, num_classes: int) -> EvalNetwork:
        """The network of cells of skip connections only (identities in a normal cell)."""
        skips = [("skip_connect", 0), ("skip_connect", 1)] * 4
        return EvalNetwork(Genotype(skips, (2, 3, 4, 5), skips, (2, 3, 4, 5)), config.channels,
                           config.layers, num_classes, in_channels, config.auxiliary)

    def caveats(self, config: DartsSpaceConfig) -> list[str]:
        if config.layers >= 3:
            return []
        return [f"a DARTS supernet of {config.layers} cell(s) has no normal cell (cells "
                f"layers//3 and 2·layers//3 reduce): the normal cell's α gets no gradient and the "
                "found normal cell is its initial α's; search 3 cells or more"]

    def describe(self, config: DartsSpaceConfig) -> str:
        ops = "" if config.primitives == PRIMITIVES else f", operations {', '.join(config.primitives)}"
        pc = f", partial channels 1/{config.partial_channels}" if config.partial_channels > 1 else ""
        return (f"{config.layers} cells × {config.channels} channels, {config.nodes} nodes "
                f"({config.multiplier} concatenated){pc}{ops}")

    def describe_training(self, config: EvalConfig) -> str:
        extras = [f"auxiliary {config.auxiliary_weight}" if config.auxiliary else "no auxiliary head",
                  f"drop path {config.drop_path_prob}",
                  "the dataset's cutout" if config.cutout is None else f"cutout {config.cutout}"] + (
                      [f"speed {', '.join(config.speed)}"]
                                                            if config.speed else [])
        return (f"{config.layers} cells × {config.channels} channels, {config.epochs} epochs of batch "
                f"{config.batch_size}, lr {config.lr}, {', '.join(extras)}")

    def train_and_test(self, arch: Genotype, data: ImageData, space_config: DartsSpaceConfig,
                       config: EvalConfig, device: torch.device, resume: dict | None = None,
                       on_checkpoint=None) -> dict:
        return train_and_test(arch, data, config, device=device, resume=resume,
                              on_checkpoint=on_checkpoint)
