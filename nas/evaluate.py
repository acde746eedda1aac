"""The discrete network of a genotype and its training from scratch (DARTS `model.py`, `train.py`).

`EvalNetwork` stacks `layers` cells built from a genotype (reductions at 1/3
and 2/3 depth) with an optional auxiliary head after the cell at 2/3 depth.
`train_and_test` trains it with the DARTS evaluation schedule and tests it.
The parameter count excludes the auxiliary head, as the papers report it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nas.checkpoint import check_training_state, restore_training, training_state
from nas.data import Augment, Batches, ImageData
from nas.genotype import Genotype
from nas.ops import FactorizedReduce, Identity, ReLUConvBN, make_op
from nas.options import check_ranges
from nas.speed import Speed


@dataclass(frozen=True)
class EvalConfig:
    """The DARTS CIFAR-10 evaluation settings by default."""

    channels: int = 36
    layers: int = 20
    epochs: int = 600
    batch_size: int = 96
    lr: float = 0.025             # SGD, cosine-annealed to lr_min over `epochs`
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    auxiliary: bool = True
    auxiliary_weight: float = 0.4
    drop_path_prob: float = 0.2   # raised linearly from 0 over the epochs
    cutout: int | None = None     # None: the dataset's DARTS default (16 on CIFAR)
    seed: int = 0
    speed: tuple[str, ...] = ()   # nas.speed switches: amp, channels_last, cudnn_benchmark, compile

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("channels", "layers", "epochs", "batch_size"),
                     positive=("lr",), non_negative=("lr_min", "weight_decay", "grad_clip",
                                                     "auxiliary_weight", "cutout"),
                     fraction=("momentum", "drop_path_prob"))
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min ({self.lr_min}) cannot exceed lr ({self.lr})")
        object.__setattr__(self, "speed", Speed.from_names(self.speed).names())


def drop_path(x: torch.Tensor, drop_prob: float | torch.Tensor) -> torch.Tensor:
    """Zero whole samples of a path with probability drop_prob, scaling the rest by 1/(1 − p).

    (A 0-dim tensor drop_prob is for `torch.compile`: a float would be compiled in as a constant.)
    """
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class Cell(nn.Module):
    def __init__(self, genotype: Genotype, C_pp: int, C_p: int, C: int,
                 reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        # After a reduction, cell k-2's output is twice the size of cell k-1's: reduce it first.
        self.preprocess0 = (FactorizedReduce(C_pp, C) if reduction_prev
                            else ReLUConvBN(C_pp, C, 1, 1, 0))
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0)
        gene = genotype.reduce if reduction else genotype.normal
        self.concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.indices = [j for _, j in gene]
        self.ops = nn.ModuleList(
            make_op(name, C, 2 if reduction and j < 2 else 1, affine=True) for name, j in gene)
        self.multiplier = len(self.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float | torch.Tensor,
                drop: bool = True) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(len(self.ops) // 2):
            s = None
            for k in (2 * i, 2 * i + 1):
                op = self.ops[k]
                h = op(states[self.indices[k]])
                if self.training and drop and not isinstance(op, Identity):
                    h = drop_path(h, drop_prob)
                s = h if s is None else s + h
            states.append(s)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS's CIFAR auxiliary classifier, for the 8×8 maps at 2/3 depth of a 32×32 input.

    On smaller maps (digits' 2×2) the 5×5/3 pooling is replaced by adaptive
    pooling to 2×2; the parameters are the same.
    """

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False)
        self.features = nn.Sequential(
            nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        x = self.pool(x) if x.shape[-1] >= 5 else F.adaptive_avg_pool2d(x, 2)
        return self.classifier(self.features(x).flatten(1))


class EvalNetwork(nn.Module):
    """The DARTS evaluation network for CIFAR-sized images; forward returns (logits, aux_logits)."""

    def __init__(self, genotype: Genotype, channels: int = 36, layers: int = 20,
                 num_classes: int = 10, in_channels: int = 3, auxiliary: bool = True,
                 stem_multiplier: int = 3):
        super().__init__()
        self.layers = layers
        # The probability as a float (eager) and as a 0-dim buffer (compiled: no recompilation
        # when it rises each epoch); set it through `drop_path_prob`.
        self.register_buffer("_drop_prob", torch.zeros(()), persistent=False)
        self.drop_path_prob = 0.0
        C_curr = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(C_curr))
        C_pp, C_p, C_curr = C_curr, C_curr, channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        C_aux = C_p
        self.aux_index = 2 * layers // 3
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            cell = Cell(genotype, C_pp, C_p, C_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            C_pp, C_p = C_p, cell.multiplier * C_curr
            if i == self.aux_index:
                C_aux = C_p
        self.auxiliary_head = AuxiliaryHead(C_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)

    @property
    def drop_path_prob(self) -> float:
        return self._drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, p: float) -> None:
        self._drop_path_prob = float(p)
        self._drop_on = p > 0
        self._drop_prob.fill_(p)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        aux = None
        p = self._drop_prob if torch.compiler.is_compiling() else self._drop_path_prob
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, p, self._drop_on)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), aux


def count_parameters(model: nn.Module) -> int:
    """Parameters without the auxiliary head, as DARTS's `count_parameters_in_MB` counts them."""
    return sum(p.numel() for n, p in model.named_parameters() if "auxiliary" not in n)


def build_network(genotype: Genotype, data: ImageData, config: EvalConfig) -> EvalNetwork:
    return EvalNetwork(genotype, config.channels, config.layers, data.num_classes,
                       data.in_channels, config.auxiliary)


@torch.no_grad()
def test(model: nn.Module, batches: Batches, speed: Speed | None = None) -> tuple[float, float]:
    """(mean loss, accuracy) of `model` in eval mode over `batches`."""
    speed = speed or Speed()
    model.eval()
    loss_sum = torch.zeros((), device=batches.device)
    correct = torch.zeros((), device=batches.device)
    n = 0
    for x, y in batches:
        with speed.autocast(batches.device):
            logits, _ = model(speed.input(x))
        logits = logits.float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        n += len(y)
    return float(loss_sum) / n, float(correct) / n


class Trainer:
    """One training step of the evaluation network, as `train_and_test` and `benchmark/perf.py`
    run it: forward (under the speed switches), loss with the auxiliary head, backward,
    gradient clipping and the SGD step, with nothing read back to the host."""

    def __init__(self, model: EvalNetwork, config: EvalConfig, device: torch.device):
        self.config = config
        self.speed = Speed.from_names(config.speed)
        self.speed.setup(device)
        self.model = self.speed.model(model)
        # The compiled forward shares the model's parameters; drop path keeps working (see
        # EvalNetwork), but its masks then come from the compiler's random stream.
        self.forward = torch.compile(self.model) if self.speed.compile else self.model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step; returns (loss, logits), detached, on the device."""
        c = self.config
        with self.speed.autocast(x.device):
            logits, aux = self.forward(self.speed.input(x))
        logits = logits.float()
        loss = F.cross_entropy(logits, y)
        if aux is not None:
            loss = loss + c.auxiliary_weight * F.cross_entropy(aux.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if c.grad_clip > 0:
            # foreach=None: the fused kernels where the device has them (foreach=True raises where
            # it has not, e.g. mps); the same bits on the CPU
            nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip, foreach=None)
        self.optimizer.step()
        return loss.detach(), logits.detach()


def train_and_test(genotype: Genotype, data: ImageData, config: EvalConfig | None = None, *,
                   device: str | torch.device = "cpu",
                   on_epoch: Callable[[dict], None] | None = None,
                   resume: dict | None = None,
                   on_checkpoint: Callable[[dict], None] | None = None) -> dict:
    """Train the network of `genotype` from scratch on data's training set; test on its test set.

    Returns {'test_acc', 'test_loss', 'train_acc', 'params', 'train_time_s', 'history', 'config'}.
    After every epoch `on_checkpoint` (if given) receives the state to resume from (CPU copies of
    the model, the optimiser, the schedule, the data's and the global random states, the history);
    given back as `resume`, the training goes on from the epoch after it and ends as the
    uninterrupted one would have, to the same numbers on the same device (not under `compile`,
    whose drop-path masks come from the compiler's own random stream).
    """
    config = config or EvalConfig()
    device = torch.device(device)
    check_training_state(resume, config)
    torch.manual_seed(config.seed)
    model = build_network(genotype, data, config).to(device)
    trainer = Trainer(model, config, device)
    cut = data.eval_cutout if config.cutout is None else config.cutout
    augment = Augment(data.augment.crop_padding, data.augment.flip, cut)
    train = Batches(data.train_x, data.train_y, config.batch_size, data.mean, data.std,
                    augment=augment, shuffle=True, seed=config.seed, device=device)
    test_batches = Batches(data.test_x, data.test_y, max(config.batch_size, 256), data.mean,
                           data.std, augment=None, shuffle=False, device=device)
    optimizer = trainer.optimizer
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs,
                                                           eta_min=config.lr_min)
    history, first, elapsed = [], 0, 0.0
    if resume is not None:
        history, first, elapsed = restore_training(resume, model, optimizer, scheduler, train)
    start = time.perf_counter() - elapsed
    for epoch in range(first, config.epochs):
        model.train()
        model.drop_path_prob = config.drop_path_prob * epoch / config.epochs
        lr = optimizer.param_groups[0]["lr"]
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        n = 0
        t0, cpu0 = time.perf_counter(), time.process_time()
        for x, y in train:
            loss, logits = trainer.step(x, y)
            loss_sum += loss * len(y)
            correct += (logits.argmax(1) == y).sum()
            n += len(y)
        scheduler.step()
        train_loss, train_acc = float(loss_sum) / n, float(correct) / n
        if not torch.isfinite(torch.tensor(train_loss)):
            raise FloatingPointError(f"the evaluation diverged: train loss is {train_loss} "
                                     f"at epoch {epoch}")
        record = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "lr": lr,
                  "drop_path_prob": model.drop_path_prob,
                  "epoch_time_s": time.perf_counter() - t0,
                  # the process's CPU time of the epoch, all threads (nas/search.py says why)
                  "epoch_cpu_s": time.process_time() - cpu0}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if on_checkpoint is not None:
            on_checkpoint(training_state(config, epoch + 1, model, optimizer, scheduler, train,
                                         history, time.perf_counter() - start))
    train_time = time.perf_counter() - start
    test_loss, test_acc = test(model, test_batches, trainer.speed)
    return {"test_acc": test_acc, "test_loss": test_loss,
            "train_acc": history[-1]["train_acc"], "params": count_parameters(model),
            "train_time_s": train_time, "history": history, "config": asdict(config)}
