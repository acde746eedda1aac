"""A search space with few priors: blocks of densely connected layers wired by sampled DAGs.

k blocks share one input (the flattened image) and one output head (the class
logits). Block b has l layers ("vertices") of width d; vertex 0 is the input
layer h₀ = act(W_in x + b_in), shared by every block, and vertex j > 0 sums its
incoming edges, then applies the nonlinearity:

    h_j^b = act( Σ_{i<j, (i,j) ∈ DAG_b} W_ij h_i^b + b_j ),      logits^b = W_out h_{l−1}^b + b_out

The weights W_ij of edge (i, j) are shared by all blocks: a block uses an edge
only where its DAG has it, by masking. The network's output is the α-weighted
mix Σ_b softmax(α)_b logits^b. All k blocks run in one batched pass: per
vertex j, the previous vertices' activations [k, B, j·d] are masked per block
and multiplied by one stacked weight [d, j·d] (the W_ij side by side), so the
only Python loop is over the l vertices, never over blocks.

Stage 1 draws k DAGs once from a seeded generator (each edge with probability
`edge_prob`, optionally only edges that skip at most `max_skip` vertices, then
repaired so that every vertex is reachable from vertex 0 and reaches vertex
l − 1). Stage 2 (`resample_every` > 0) resamples the k DAGs after every such
number of epochs from a distribution over DAGs with independent edge
probabilities p_ij, updated from the α feedback as

    p_ij ← (1 − η) p_ij + η Σ_b softmax(α)_b [(i, j) ∈ DAG_b],       η = `feedback_rate`,

clipped to [p_min, 1 − p_min]; α is reset to zero for the new blocks, the shared
weights carry over. The found architecture is the block with the largest α.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nas.checkpoint import check_training_state, seed_everything
from nas.data import Augment, Batches, ImageData
from nas.options import check_ranges
from nas.spaces.base import SearchSpace
from nas.training import fit_and_test

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "tanh": torch.tanh}
INITS = ("he", "pytorch")
LAYERS = ("dense", "conv")


def he_std(fan_in: float, activation: str) -> float:
    """He et al. (2015)'s standard deviation for a layer with `fan_in` inputs: √(2 / fan_in) before
    a ReLU (or GELU), √(1 / fan_in) before tanh (LeCun's), so that activations keep their scale
    through depth."""
    return math.sqrt((1.0 if activation == "tanh" else 2.0) / max(fan_in, 1.0))


@dataclass(frozen=True)
class DenseDagConfig:
    blocks: int = 8                 # k
    layers: int = 4                 # l vertices (vertex 0 is the input layer)
    width: int = 64                 # d
    edge_prob: float = 0.5          # the initial edge probability of the sampler
    max_skip: int = 0               # longest edge j − i allowed (0: any)
    dag_seed: int = 0               # the DAG generator's seed (stage 1 and every resample)
    resample_every: int = 0         # stage 2: resample the DAGs after this many epochs (0: never)
    feedback_rate: float = 0.5      # η of the edge-probability update
    p_min: float = 0.05             # edge probabilities stay in [p_min, 1 − p_min]
    activation: str = "relu"
    # the shared weights' initialisation: "he" (`he_std`; the default) or "pytorch" (nn.Linear's
    # uniform ±1/√fan_in, which starves deep ReLU chains of signal)
    init: str = "he"
    # what an edge is: "dense" (W_ij a width × width matrix on the flattened image's features) or
    # "conv" (a 3×3 convolution of `width` channels on feature maps at the image's resolution: the
    # filters of a CNN; the input layer is a 3×3 convolution too, the head averages over space)
    layer: str = "dense"

    def __post_init__(self) -> None:
        if self.blocks < 1 or self.layers < 2 or self.width < 1:
            raise ValueError(f"the dense-dag space needs blocks ≥ 1, layers ≥ 2 and width ≥ 1 "
                             f"(got {self.blocks}, {self.layers}, {self.width})")
        if not 0.0 <= self.edge_prob <= 1.0:
            raise ValueError(f"edge_prob must lie in [0, 1], not {self.edge_prob}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; valid: {', '.join(ACTIVATIONS)}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; valid: {', '.join(INITS)}")
        if self.layer not in LAYERS:
            raise ValueError(f"unknown layer {self.layer!r}; valid: {', '.join(LAYERS)}")


# ---------------------------------------------------------------- DAGs


def allowed_edges(layers: int, max_skip: int = 0) -> torch.Tensor:
    """[l, l] bool: edge (i, j) is allowed when i < j and (max_skip = 0 or j − i ≤ max_skip)."""
    i = torch.arange(layers)[:, None]
    j = torch.arange(layers)[None, :]
    ok = i < j
    return ok & (j - i <= max_skip) if max_skip > 0 else ok


def repair(mask: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Add the chain edge (j−1, j) wherever a vertex lacks an input, or (i, i+1) an output, so that
    every vertex is reachable from vertex 0 and reaches vertex l − 1. mask: [..., l, l] bool."""
    mask = mask & allowed
    layers = mask.shape[-1]
    for j in range(1, layers):
        no_in = ~mask[..., :j, j].any(-1)
        mask[..., j - 1, j] |= no_in
    for i in range(layers - 1):
        no_out = ~mask[..., i, i + 1:].any(-1)
        mask[..., i, i + 1] |= no_out
    return mask


def sample_dags(probs: torch.Tensor, count: int, generator: torch.Generator,
                allowed: torch.Tensor) -> torch.Tensor:
    """`count` DAGs [count, l, l] (bool) with independent edge probabilities `probs` [l, l], repaired."""
    u = torch.rand((count, *probs.shape), generator=generator)
    return repair(u < probs, allowed)


def chain_dag(layers: int) -> torch.Tensor:
    return torch.diag(torch.ones(layers - 1, dtype=torch.bool), 1)


def complete_dag(layers: int, max_skip: int = 0) -> torch.Tensor:
    return allowed_edges(layers, max_skip).clone()


def dag_edges(mask: torch.Tensor) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in mask.nonzero().tolist()]


PROPERTIES_DOC = ("depth: edges on the longest path; edges: count; longest skip: max j − i; "
                  "fan-in: in-degree of the vertices after the input")


def dag_properties(mask: torch.Tensor) -> dict[str, float]:
    """depth (edges on the longest path 0 → l−1), edges, longest skip (max j − i), fan-in (mean and
    max in-degree over the vertices j > 0)."""
    layers = mask.shape[-1]
    longest = [0] + [-(10**9)] * (layers - 1)
    for j in range(1, layers):
        preds = [i for i in range(j) if mask[i, j]]
        longest[j] = max((longest[i] + 1 for i in preds), default=-(10**9))
    edges = dag_edges(mask)
    indeg = mask[:, 1:].sum(0).float()
    return {"depth": float(longest[-1]), "edges": float(len(edges)),
            "longest_skip": float(max((j - i for i, j in edges), default=0)),
            "mean_fan_in": float(indeg.mean()), "max_fan_in": float(indeg.max())}


@dataclass(frozen=True)
class DagArchitecture:
    """A found block: its DAG over `layers` vertices (the dense-dag space's "genotype")."""

    layers: int
    edges: tuple[tuple[int, int], ...]

    @classmethod
    def from_mask(cls, mask: torch.Tensor) -> DagArchitecture:
        return cls(int(mask.shape[-1]), tuple(dag_edges(mask)))

    def to_dict(self) -> dict:
        return {"layers": self.layers, "edges": [list(e) for e in self.edges]}

    def mask(self) -> torch.Tensor:
        m = torch.zeros(self.layers, self.layers, dtype=torch.bool)
        for i, j in self.edges:
            m[i, j] = True
        return m

    def __str__(self) -> str:
        return f"DAG(layers={self.layers}, edges={list(self.edges)})"


def parse_dag(text: str) -> DagArchitecture:
    """Inverse of str(DagArchitecture): 'DAG(layers=4, edges=[(0, 1), (1, 3)])'."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DAG"):
            raise ValueError
        kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        arch = DagArchitecture(int(kw["layers"]), tuple((int(i), int(j)) for i, j in kw["edges"]))
    except (SyntaxError, ValueError, KeyError, TypeError):
        raise ValueError(f"not a DAG architecture: {text[:80]!r} (expected "
                         "'DAG(layers=L, edges=[(i, j), ...])')") from None
    if any(not 0 <= i < j < arch.layers for i, j in arch.edges):
        raise ValueError(f"{text[:80]!r} has an edge that does not go forward "
                         f"between vertices 0 and {arch.layers - 1}")
    return arch


# ---------------------------------------------------------------- the supernet


class DenseDagSupernet(nn.Module):
    """k masked, weight-sharing blocks mixed by softmax(α); see the module docstring."""

    space = "dense-dag"

    def __init__(self, config: DenseDagConfig, in_channels: int, num_classes: int, image_size: int):
        super().__init__()
        self.config = c = config
        self.in_features = in_channels * image_size * image_size
        d, L = c.width, c.layers
        self.act = ACTIVATIONS[c.activation]
        conv = c.layer == "conv"
        self.inp = nn.Conv2d(in_channels, d, 3, padding=1) if conv else nn.Linear(self.in_features, d)
        # Vertex j's incoming weights side by side: [d, j·d] (conv: [d, j·d, 3, 3]), W_ij =
        # weight[j-1][:, i·d:(i+1)·d].
        kernel = (3, 3) if conv else ()
        self.edge_weight = nn.ParameterList(
            [nn.Parameter(torch.empty(d, j * d, *kernel)) for j in range(1, L)])
        self.edge_bias = nn.ParameterList([nn.Parameter(torch.zeros(d)) for _ in range(1, L)])
        self.out = nn.Linear(d, num_classes)
        taps = 9 if conv else 1
        if c.init == "he":
            # A vertex j sums the edges of its inputs, about max(1, allowed inputs × edge_prob) of
            # them in a block (the blocks share W_ij but differ in fan-in: the expected one is used).
            fan_in = self.inp.weight[0].numel()
            nn.init.normal_(self.inp.weight, 0.0, he_std(fan_in, c.activation))
            nn.init.zeros_(self.inp.bias)
            for j, w in enumerate(self.edge_weight, start=1):
                inputs = float(allowed_edges(L, c.max_skip)[:j, j].sum()) * c.edge_prob
                nn.init.normal_(w, 0.0, he_std(d * taps * max(1.0, inputs), c.activation))
        else:
            for w in self.edge_weight:   # each W_ij as nn.Linear(d, d) (or Conv2d) would be
                bound = 1.0 / math.sqrt(d * taps)
                nn.init.uniform_(w, -bound, bound)
        self.alpha = nn.Parameter(torch.zeros(c.blocks))
        allowed = allowed_edges(L, c.max_skip)
        self.register_buffer("allowed", allowed, persistent=False)
        self.generator = torch.Generator().manual_seed(c.dag_seed)
        probs = torch.where(allowed, torch.full((L, L), float(c.edge_prob)), torch.zeros(L, L))
        self.register_buffer("edge_probs", probs)
        self.register_buffer("masks", sample_dags(probs, c.blocks, self.generator, allowed))
        self.register_buffer("resamples", torch.zeros((), dtype=torch.long))

    # -- the interface of a supernet ---------------------------------------
    def named_weight_parameters(self):
        return ((n, p) for n, p in self.named_parameters() if n != "alpha")

    def weight_parameters(self):
        return (p for _, p in self.named_weight_parameters())

    def arch_parameters(self):
        return [self.alpha]

    def named_alphas(self) -> dict[str, nn.Parameter]:
        return {"blocks": self.alpha}

    def block_logits(self, x: torch.Tensor) -> torch.Tensor:
        """[k, B, classes]: every block's logits, in one batched pass."""
        if self.config.layer == "conv":
            return self._conv_block_logits(x)
        k, d = self.config.blocks, self.config.width
        h0 = self.act(self.inp(x.flatten(1)))
        hs = [h0.unsqueeze(0).expand(k, -1, -1)]
        masks = self.masks.to(h0.dtype)
        for j in range(1, self.config.layers):
            prev = torch.cat(hs, dim=-1)                                   # [k, B, j·d]
            m = masks[:, :j, j].repeat_interleave(d, dim=1).unsqueeze(1)    # [k, 1, j·d]
            hs.append(self.act(torch.matmul(prev * m, self.edge_weight[j - 1].t())
                               + self.edge_bias[j - 1]))
        return self.out(hs[-1])

    def _conv_block_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The conv layer: per vertex j, the previous maps of every block [k·B, j·d, H, W], masked
        per block by channel group, convolved by one stacked weight [d, j·d, 3, 3] (a convolution
        is linear: masking its input groups sums the edges' convolutions)."""
        k, d = self.config.blocks, self.config.width
        h0 = self.act(self.inp(x))                                          # [B, d, H, W]
        B, _, H, W = h0.shape
        hs = [h0.unsqueeze(0).expand(k, -1, -1, -1, -1)]
        masks = self.masks.to(h0.dtype)
        for j in range(1, self.config.layers):
            prev = torch.cat(hs, dim=2)                                     # [k, B, j·d, H, W]
            m = masks[:, :j, j].repeat_interleave(d, dim=1)[:, None, :, None, None]
            y = F.conv2d((prev * m).reshape(k * B, j * d, H, W), self.edge_weight[j - 1],
                         self.edge_bias[j - 1], padding=1)
            hs.append(self.act(y).reshape(k, B, d, H, W))
        return self.out(hs[-1].mean(dim=(-2, -1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.softmax(self.alpha, dim=0)
        return torch.einsum("k,kbc->bc", w, self.block_logits(x))

    def softmax_alphas(self) -> dict[str, torch.Tensor]:
        return {"blocks": F.softmax(self.alpha.detach(), dim=0).cpu()}

    def edge_names(self) -> list[str]:
        return [f"block{b}" for b in range(self.config.blocks)]

    def genotype(self) -> DagArchitecture:
        return DagArchitecture.from_mask(self.masks[int(self.alpha.argmax())].cpu())

    def architectures(self) -> list[DagArchitecture]:
        return [DagArchitecture.from_mask(m.cpu()) for m in self.masks]

    def discrete_alphas(self) -> list[torch.Tensor]:
        """α one-hot (after the softmax) on the block with the largest α."""
        a = torch.full_like(self.alpha.detach(), -1e4)
        a[int(self.alpha.argmax())] = 0.0
        return [a]

    def architecture_stats(self) -> dict[str, float]:
        """The chosen block's DAG properties (depth, edges, longest skip, fan-in)."""
        return dag_properties(self.genotype().mask())

    def candidates(self) -> list[DagArchitecture]:
        """The k blocks α chooses among (they change where stage 2 resamples them)."""
        return self.architectures()

    def alpha_rows(self) -> list[dict]:
        """One row per block: cell 'blocks', edge 'block<b>', op its DAG, weight softmax(α)_b."""
        probs = self.softmax_alphas()["blocks"].tolist()
        return [{"cell": "blocks", "edge": f"block{b}", "op": str(a), "weight": w}
                for b, (a, w) in enumerate(zip(self.architectures(), probs))]

    # -- stage 2 -----------------------------------------------------------
    def end_epoch(self, epoch: int) -> bool:
        """Called by the search after each epoch (0-based); resamples when stage 2 is due.
        Returns True when the blocks (and α) were replaced."""
        c = self.config
        if c.resample_every <= 0 or (epoch + 1) % c.resample_every != 0:
            return False
        self.resample()
        return True

    @torch.no_grad()
    def resample(self) -> None:
        c = self.config
        w = F.softmax(self.alpha, dim=0).cpu()
        freq = torch.einsum("k,kij->ij", w, self.masks.float().cpu())
        probs = (1 - c.feedback_rate) * self.edge_probs.cpu() + c.feedback_rate * freq
        allowed = self.allowed.cpu()
        probs = torch.where(allowed, probs.clamp(c.p_min, 1 - c.p_min), torch.zeros_like(probs))
        self.edge_probs.copy_(probs)
        self.masks.copy_(sample_dags(probs, c.blocks, self.generator, allowed))
        self.alpha.zero_()
        self.resamples += 1

    def get_extra_state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


# ---------------------------------------------------------------- one block, standalone


class DagNet(nn.Module):
    """One DAG trained on its own (the found architecture, or any candidate): the same layers as a
    block of the supernet, with only the DAG's edges."""

    def __init__(self, arch: DagArchitecture, in_features: int, width: int, num_classes: int,
                 activation: str = "relu", init: str = "he", layer: str = "dense",
                 in_channels: int = 1):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; valid: {', '.join(LAYERS)}")
        self.arch, self.layer = arch, layer
        self.act = ACTIVATIONS[activation]
        conv = layer == "conv"
        self.inp = nn.Conv2d(in_channels, width, 3, padding=1) if conv else nn.Linear(in_features, width)
        self.preds = {j: [i for i, jj in arch.edges if jj == j] for j in range(1, arch.layers)}
        self.edges = nn.ModuleDict({f"{i}_{j}": nn.Conv2d(width, width, 3, padding=1, bias=False) if conv
                                    else nn.Linear(width, width, bias=False) for i, j in arch.edges})
        self.bias = nn.ParameterList([nn.Parameter(torch.zeros(width)) for _ in range(1, arch.layers)])
        self.out = nn.Linear(width, num_classes)
        if init == "he":   # each vertex's fan-in is its in-degree × width (× 9 taps) inputs, summed
            nn.init.normal_(self.inp.weight, 0.0, he_std(self.inp.weight[0].numel(), activation))
            nn.init.zeros_(self.inp.bias)
            for j, preds in self.preds.items():
                for i in preds:
                    w = self.edges[f"{i}_{j}"].weight
                    nn.init.normal_(w, 0.0, he_std(len(preds) * w[0].numel(), activation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.layer == "conv"
        hs = [self.act(self.inp(x if conv else x.flatten(1)))]
        for j in range(1, self.arch.layers):
            s = self.bias[j - 1][:, None, None] if conv else self.bias[j - 1]
            for i in self.preds[j]:
                s = s + self.edges[f"{i}_{j}"](hs[i])
            hs.append(self.act(s))
        return self.out(hs[-1].mean(dim=(-2, -1)) if conv else hs[-1])

    @classmethod
    def from_supernet(cls, net: DenseDagSupernet, block: int) -> DagNet:
        """Block `block` of `net` with the supernet's current (shared) weights."""
        c = net.config
        arch = DagArchitecture.from_mask(net.masks[block].cpu())
        m = cls(arch, net.in_features, c.width, net.out.out_features, c.activation, c.init, c.layer,
                net.inp.weight.shape[1])
        d = c.width
        with torch.no_grad():
            m.inp.load_state_dict(net.inp.state_dict())
            m.out.load_state_dict(net.out.state_dict())
            for i, j in arch.edges:
                m.edges[f"{i}_{j}"].weight.copy_(net.edge_weight[j - 1][:, i * d:(i + 1) * d])
            for j in range(1, arch.layers):
                m.bias[j - 1].copy_(net.edge_bias[j - 1])
        return m


# ---------------------------------------------------------------- the space


@dataclass(frozen=True)
class StandaloneConfig:
    """Training one DAG from scratch: SGD with momentum, the lr cosine-annealed per step, no
    augmentation; tested on the whole test set."""

    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    # "he" (per vertex, for its in-degree × width inputs; the default) or "pytorch" (nn.Linear's
    # default, under which a 6-layer ReLU chain trains to 0.66 on digits instead of 0.97)
    init: str = "he"

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; valid: {', '.join(INITS)}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"standalone training needs epochs ≥ 1, batch_size ≥ 1 and lr > 0 "
                             f"(got {self.epochs}, {self.batch_size}, {self.lr})")
        check_ranges(self, non_negative=("weight_decay",), fraction=("momentum",))


def train_standalone(arch: DagArchitecture, data: ImageData, width: int, config: StandaloneConfig,
                     device: torch.device, activation: str = "relu", layer: str = "dense", *,
                     resume: dict | None = None,
                     on_checkpoint: Callable[[dict], None] | None = None) -> dict:
    """Train one DAG of `width` (`layer`: dense maps or 3×3 convolutions) from scratch and test it
    (see StandaloneConfig). `resume` / `on_checkpoint`: as `nas.evaluate.train_and_test`'s."""
    check_training_state(resume, config)
    seed_everything(config.seed)
    net = DagNet(arch, data.in_channels * data.image_size ** 2, width, data.num_classes,
                 activation, config.init, layer, data.in_channels).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                          weight_decay=config.weight_decay)
    batches = Batches(data.train_x, data.train_y, config.batch_size, data.mean, data.std,
                      augment=Augment(), shuffle=True, drop_last=False, seed=config.seed, device=device)
    return fit_and_test(net, data, config, opt, batches, device, resume=resume,
                        on_checkpoint=on_checkpoint)


class DenseDagSpace(SearchSpace):
    """Blocks of densely connected layers wired by sampled DAGs; a found block is trained alone."""

    name = "dense-dag"
    Config = DenseDagConfig
    TrainConfig = StandaloneConfig
    seeded_options = ("dag_seed",)    # each search seed draws its own k DAGs
    needs_image_size = True
    finite = True

    def build(self, config: DenseDagConfig, in_channels: int, num_classes: int,
              image_size: int) -> DenseDagSupernet:
        return DenseDagSupernet(config, in_channels, num_classes, image_size)

    def parse(self, text: str) -> DagArchitecture:
        return parse_dag(text)

    def train_and_test(self, arch: DagArchitecture, data: ImageData, space_config: DenseDagConfig,
                       config: StandaloneConfig, device: torch.device, resume: dict | None = None,
                       on_checkpoint=None) -> dict:
        return train_standalone(arch, data, space_config.width, config, device, space_config.activation,
                                space_config.layer, resume=resume, on_checkpoint=on_checkpoint)

    def references(self, space_config: DenseDagConfig) -> dict[str, DagArchitecture]:
        """The chain (a plain MLP of l layers) and the complete DAG (within max_skip)."""
        L = space_config.layers
        return {"chain": DagArchitecture.from_mask(chain_dag(L)),
                "complete": DagArchitecture.from_mask(complete_dag(L, space_config.max_skip))}

    def properties(self, arch: DagArchitecture) -> dict[str, float]:
        return dag_properties(arch.mask())

    def describe(self, config: DenseDagConfig) -> str:
        stage2 = (f", resampled every {config.resample_every} epochs" if config.resample_every else "")
        skip = f", edges at most {config.max_skip} long" if config.max_skip else ""
        layer = "3×3 conv layers of" if config.layer == "conv" else "layers ×"
        return (f"{config.blocks} blocks of {config.layers} {layer} {config.width} ({config.activation}, "
                f"{config.init} init), edge probability {config.edge_prob}{skip}{stage2}")

    def describe_training(self, config: StandaloneConfig) -> str:
        return (f"standalone, {config.init} init, {config.epochs} epochs of batch {config.batch_size}, "
                f"SGD lr {config.lr}, momentum {config.momentum}, weight decay {config.weight_decay}")
