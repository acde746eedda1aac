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
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

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
    alpha_lr: float = 3e-4          # Adam on α
    alpha_beta1: float = 0.5
    alpha_beta2: float = 0.999
    alpha_weight_decay: float = 1e-3

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        for name in ("w_lr", "alpha_lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


def cosine_lr(epoch: int, epochs: int, lr: float, lr_min: float) -> float:
    """lr_min + (lr − lr_min)·(1 + cos(π·epoch/epochs))/2, torch's CosineAnnealingLR in closed form."""
    return lr_min + (lr - lr_min) * (1.0 + math.cos(math.pi * epoch / epochs)) / 2.0


def grad(loss: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """d loss / d params, with zeros for parameters the loss does not use.

    (A supernet with fewer than three cells has no normal cell, so its α_normal is unused.)
    """
    return list(torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True))


def loss_and_accuracy(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy (with graph) and accuracy (detached), both 0-dim tensors on the device."""
    loss = F.cross_entropy(logits, y)
    acc = (logits.detach().argmax(dim=1) == y).float().mean()
    return loss, acc


class Strategy(ABC):
    """Base class: the optimisers, the lr schedule, and the plain weight step."""

    name: ClassVar[str]
    Config: ClassVar[type[StrategyConfig]] = StrategyConfig

    def __init__(self, supernet: nn.Module, config: StrategyConfig | None = None):
        self.supernet = supernet
        self.config = config if config is not None else self.Config()
        if not isinstance(self.config, self.Config):
            raise TypeError(f"{self.name} takes a {self.Config.__name__}, "
                            f"got {type(self.config).__name__}")
        c = self.config
        self.weights = list(supernet.weight_parameters())
        self.alphas = list(supernet.arch_parameters())
        self.w_optimizer = torch.optim.SGD(self.weights, lr=c.w_lr, momentum=c.w_momentum,
                                           weight_decay=c.w_weight_decay)
        self.alpha_optimizer = torch.optim.Adam(self.alphas, lr=c.alpha_lr,
                                                betas=(c.alpha_beta1, c.alpha_beta2),
                                                weight_decay=c.alpha_weight_decay)
        self.epoch = 0

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
    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, torch.Tensor]:
        """One α-step (validation batch) and one weight step (training batch).

        Returns 0-dim device tensors among train_loss, train_acc, val_loss, val_acc.
        """

    @abstractmethod
    def hypergradient(self, train_batch: Batch, val_batch: Batch) -> list[torch.Tensor]:
        """This strategy's estimate of dL_val/dα, one tensor per α; changes no state."""

    def state_dict(self) -> dict:
        return {"w_optimizer": self.w_optimizer.state_dict(),
                "alpha_optimizer": self.alpha_optimizer.state_dict(),
                "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.w_optimizer.load_state_dict(state["w_optimizer"])
        self.alpha_optimizer.load_state_dict(state["alpha_optimizer"])
        self.new_epoch(state["epoch"])

    # -- shared pieces ----------------------------------------------------
    def val_loss(self, val_batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = val_batch
        return loss_and_accuracy(self.supernet(x), y)

    def apply_alpha_gradient(self, grads: list[torch.Tensor]) -> None:
        for a, g in zip(self.alphas, grads):
            a.grad = g
        self.alpha_optimizer.step()

    def apply_weight_gradient(self, grads: list[torch.Tensor]) -> None:
        for p, g in zip(self.weights, grads):
            p.grad = g
        if self.config.w_grad_clip > 0:
            nn.utils.clip_grad_norm_(self.weights, self.config.w_grad_clip, foreach=True)
        self.w_optimizer.step()

    def weight_step(self, train_batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """SGD step on L_train; gradients are taken for w alone, α's are never formed."""
        x, y = train_batch
        loss, acc = loss_and_accuracy(self.supernet(x), y)
        self.apply_weight_gradient(grad(loss, self.weights))
        return loss.detach(), acc
