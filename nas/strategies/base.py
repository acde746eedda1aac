"""The one interface every hypergradient strategy implements.

A strategy owns the optimisers of the supernet's weights w and of its
architecture α. `step` does one α-step on a validation batch and then one
weight step on a training batch (DARTS's order); `hypergradient` returns its
estimate of dL_val/dα for a batch pair and changes nothing, so that strategies
can be compared at the same point. The search loop never asks which strategy
it runs.

Per-step metrics are returned as 0-dim tensors on the device: reading them
(`.item()`) would synchronise with the device on every step, so the search
loop accumulates them and reads them once per epoch.

A strategy also describes itself to the tools built on the library, so that
adding one is one module and one registry line: its `Config`, the ranges the
tuner samples (`tunable`), its cost per step in passes (`passes`), its options
on the toy problem (`toy_options`, `toy_sweep`) and whether the fidelity tool
must fit a response model before comparing it (`fits_response`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from contextlib import nullcontext
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nas.options import check_ranges
from nas.speed import Speed

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class StrategyConfig:
    """Optimiser settings shared by all strategies; the defaults are DARTS's."""

    epochs: int = 50                # length of the cosine schedule of the weights' lr
    w_lr: float = 0.025             # SGD, cosine-annealed from w_lr to w_lr_min over `epochs`
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    w_grad_clip: float = 5.0        # max global norm of the weights' gradient (0 = off)
    alpha_optimizer: str = "adam"   # "adam" (DARTS) or "sgd" (plain gradient descent, the toy's)
    alpha_lr: float = 3e-4
    alpha_beta1: float = 0.5
    alpha_beta2: float = 0.999
    alpha_weight_decay: float = 1e-3

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("epochs",), positive=("w_lr", "alpha_lr"),
                     non_negative=("w_lr_min", "w_weight_decay", "w_grad_clip", "alpha_weight_decay"),
                     fraction=("w_momentum", "alpha_beta1", "alpha_beta2"))
        if self.w_lr_min > self.w_lr:
            raise ValueError(f"w_lr_min ({self.w_lr_min}) cannot exceed w_lr ({self.w_lr})")
        if self.alpha_optimizer not in ("adam", "sgd"):
            raise ValueError(f"alpha_optimizer must be adam or sgd, got {self.alpha_optimizer!r}")


@dataclass(frozen=True)
class Range:
    """Where the tuner samples one option: [low, high], log-uniform if `log`, integers if `integer`."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"a range needs low < high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-uniform range needs low > 0, got {self.low}")


def cosine_lr(epoch: int, epochs: int, lr: float, lr_min: float) -> float:
    """lr_min + (lr − lr_min)·(1 + cos(π·epoch/epochs))/2, torch's CosineAnnealingLR in closed form."""
    return lr_min + (lr - lr_min) * (1.0 + math.cos(math.pi * epoch / epochs)) / 2.0


def grad(loss: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """d loss / d params, with zeros for parameters the loss does not use.

    (A supernet with fewer than three cells has no normal cell, so its α_normal is unused.)
    """
    return list(torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True))


def global_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """‖(t₁, t₂, …)‖₂, the L2 norm of the tensors laid end to end (0-dim, on their device)."""
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.detach().float())
                                                 for t in tensors]))


def loss_and_accuracy(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy (with graph) and accuracy (detached), both 0-dim tensors on the device."""
    loss = F.cross_entropy(logits, y)
    acc = (logits.detach().argmax(dim=1) == y).float().mean()
    return loss, acc


class Strategy(ABC):
    """Base class: the optimisers, the lr schedule, functional losses and the plain weight step.

    The model is anything with `named_weight_parameters()` and `arch_parameters()`
    whose forward maps a batch's inputs to outputs; `model.objective(outputs, y)`
    (if the model has one; cross-entropy otherwise) turns them into (loss, accuracy).
    The DARTS supernet and the toy problem of `nas.toy` are both such models.
    """

    name: ClassVar[str]
    Config: ClassVar[type[StrategyConfig]] = StrategyConfig
    # False for a baseline that moves no α (the random one): the search loop then runs no steps.
    searches: ClassVar[bool] = True
    # The options the tuner samples, with their ranges (benchmark/tuning.py); α's lr for every one.
    tunable: ClassVar[dict[str, Range]] = {"alpha_lr": Range(1e-4, 3e-3, log=True)}
    # The options the toy problem (nas/toy.py) gives this strategy, and the option it sweeps
    # over the toy's ξ values (second-order's unrolling step), if any.
    toy_options: ClassVar[dict[str, object]] = {}
    toy_sweep: ClassVar[str | None] = None
    # True where the weight step fits a response model w(α) (hyperDARTS's hypernetwork): the
    # fidelity tool then takes weight steps at a fixed α before it compares the hypergradient.
    fits_response: ClassVar[bool] = False
    # The per-step metrics whose largest value in an epoch the search records beside their mean
    # (as `<name>_max`): an outlier that the mean hides (one huge hypergradient inflates Adam's
    # second moment for hundreds of steps) shows there.
    peak_metrics: ClassVar[tuple[str, ...]] = ("hypergrad_norm",)
    # Mixed precision and memory format of the forward passes; the search sets its own.
    speed: Speed = Speed()

    def __init__(self, supernet: nn.Module, config: StrategyConfig | None = None):
        self.supernet = supernet
        self.config = config if config is not None else self.Config()
        if not isinstance(self.config, self.Config):
            raise TypeError(f"{self.name} takes a {self.Config.__name__}, "
                            f"got {type(self.config).__name__}")
        self.objective = getattr(supernet, "objective", loss_and_accuracy)
        named = list(supernet.named_weight_parameters())
        self.weight_names = [n for n, _ in named]
        self.weights = [p for _, p in named]
        self.alphas = list(supernet.arch_parameters())
        ids = {id(a) for a in self.alphas}
        self.alpha_names = [n for n, p in supernet.named_parameters() if id(p) in ids]
        # What the weight step trains: the supernet's weights here; hyperDARTS adds its hypernetwork.
        self.w_params = list(self.weights)
        self.w_optimizer = self.make_w_optimizer(self.w_params)
        c = self.config
        if c.alpha_optimizer == "adam":
            self.alpha_optimizer = torch.optim.Adam(self.alphas, lr=c.alpha_lr,
                                                    betas=(c.alpha_beta1, c.alpha_beta2),
                                                    weight_decay=c.alpha_weight_decay)
        else:
            self.alpha_optimizer = torch.optim.SGD(self.alphas, lr=c.alpha_lr,
                                                   weight_decay=c.alpha_weight_decay)
        self.epoch = 0

    def make_w_optimizer(self, params: list[torch.Tensor]) -> torch.optim.Optimizer:
        c = self.config
        return torch.optim.SGD(params, lr=c.w_lr, momentum=c.w_momentum,
                               weight_decay=c.w_weight_decay)

    @classmethod
    def passes(cls, config: StrategyConfig) -> float:
        """Forward+backward passes of one batch per step under `config`, as the maths counts them
        (benchmark/perf.py divides a step's time by them): an α pass and a weight pass here."""
        return 2.0

    # -- schedule ---------------------------------------------------------
    @property
    def w_lr(self) -> float:
        """The weights' current learning rate."""
        return self.w_optimizer.param_groups[0]["lr"]

    def new_epoch(self, epoch: int) -> None:
        """Set the learning rates for `epoch` (0-based); stateless, so resuming is trivial."""
        self.epoch = epoch
        lr = cosine_lr(epoch, self.config.epochs, self.config.w_lr, self.config.w_lr_min)
        for group in self.w_optimizer.param_groups:
            group["lr"] = lr

    # -- the interface ----------------------------------------------------
    @abstractmethod
    def alpha_gradient(self, train_batch: Batch, val_batch: Batch
                       ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """(hypergradient, val_loss, val_acc) at the current state; changes no state."""

    def hypergradient(self, train_batch: Batch, val_batch: Batch) -> list[torch.Tensor]:
        """This strategy's estimate of dL_val/dα, one tensor per α; changes no state."""
        return [g.detach() for g in self.alpha_gradient(train_batch, val_batch)[0]]

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, torch.Tensor]:
        """One α-step (validation batch), then one weight step (training batch).

        Returns 0-dim device tensors: train_loss, train_acc, val_loss, val_acc and
        hypergrad_norm (the global L2 norm of the hypergradient that moved α).
        """
        grads, val_loss, val_acc = self.alpha_gradient(train_batch, val_batch)
        self.apply_alpha_gradient(grads)
        train_loss, train_acc = self.weight_step(train_batch)
        return {"train_loss": train_loss, "train_acc": train_acc,
                "val_loss": val_loss.detach(), "val_acc": val_acc,
                "hypergrad_norm": global_norm(grads)}

    def state_dict(self) -> dict:
        return {"w_optimizer": self.w_optimizer.state_dict(),
                "alpha_optimizer": self.alpha_optimizer.state_dict(),
                "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.w_optimizer.load_state_dict(state["w_optimizer"])
        self.alpha_optimizer.load_state_dict(state["alpha_optimizer"])
        self.new_epoch(state["epoch"])

    # -- shared pieces ----------------------------------------------------
    def double_backward(self):
        """A context for the forwards whose graph a double backward will go through: the
        supernet may keep less for their backward at some cost in time (its
        `for_double_backward`, where it has one)."""
        hint = getattr(self.supernet, "for_double_backward", None)
        return hint() if hint is not None else nullcontext()

    def forward(self, x, params: dict[str, torch.Tensor] | None = None,
                precise: bool = False) -> torch.Tensor:
        """The model's output on x (fp32), with the named parameters replaced by `params`.

        The replacement goes through `torch.func.functional_call`: nothing is copied and no
        parameter of the model is touched. Under `speed.amp` the pass runs in bf16 autocast
        unless `precise` (the passes of a finite difference).
        """
        x = self.speed.input(x)
        with self.speed.autocast(x.device if isinstance(x, torch.Tensor) else "cpu",
                                 enabled=not precise):
            out = self.supernet(x) if not params else functional_call(self.supernet, params, (x,))
        return out.float() if out.dtype == torch.bfloat16 else out

    def loss(self, batch: Batch, weights: list[torch.Tensor] | None = None,
             alphas: list[torch.Tensor] | None = None,
             precise: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, accuracy) on `batch`, with the weights and/or α replaced by the given tensors."""
        x, y = batch
        params = {}
        if weights is not None:
            params.update(zip(self.weight_names, weights))
        if alphas is not None:
            params.update(zip(self.alpha_names, alphas))
        out = self.forward(x, params, precise)
        with self.speed.autocast(out.device, enabled=False):   # the loss in fp32
            return self.objective(out, y)

    def val_loss(self, val_batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loss(val_batch)

    def momentum_buffers(self) -> list[torch.Tensor | None]:
        """The weight optimiser's momentum buffers (None before its first step)."""
        return [self.w_optimizer.state.get(p, {}).get("momentum_buffer") for p in self.weights]

    def apply_alpha_gradient(self, grads: list[torch.Tensor]) -> None:
        for a, g in zip(self.alphas, grads):
            a.grad = g
        self.alpha_optimizer.step()

    def apply_weight_gradient(self, grads: list[torch.Tensor]) -> None:
        """One step of the weights' optimiser with `grads` for `self.w_params`, clipped first."""
        for p, g in zip(self.w_params, grads):
            p.grad = g
        if self.config.w_grad_clip > 0:
            nn.utils.clip_grad_norm_(self.w_params, self.config.w_grad_clip, foreach=True)
        self.w_optimizer.step()

    def weight_step(self, train_batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """SGD step on L_train; gradients are taken for w alone, α's are never formed."""
        loss, acc = self.loss(train_batch)
        self.apply_weight_gradient(grad(loss, self.w_params))
        return loss.detach(), acc

    def current_weights(self) -> list[torch.Tensor]:
        """The weights the strategy would use at the current α (detached)."""
        return [w.detach() for w in self.weights]
