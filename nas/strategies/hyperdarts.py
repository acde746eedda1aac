"""hyperDARTS: a hypernetwork as the best-response model w_φ(α) ≈ w*(α).

Per step:
1. α-step on a validation batch: L_val(w_φ(α), α), differentiated into α through
   both the mixing weights and the hypernetwork (the direct path is not detached).
2. φ-step on a training batch: α̃ = stopgrad(α) + σε, ε ~ N(0, I) (one draw per
   batch: the weights of a whole batch come from one α̃), and one SGD step of
   {W⁰, Wʰ, heads} on L_train(w_φ(α̃), α̃) with the weights' settings. Without
   the perturbation the slope of the response is not identifiable.

hyperDARTS-1 (`hyperdarts-linear`) has a linear head, hyperDARTS-2
(`hyperdarts-mlp`) a 2-layer MLP head with #A/2 sigmoid hidden units (see
`hypernet.py`). Cost: 2 passes of the modulated supernet per step. After the
search the hypernetwork is discarded: the genotype comes from α.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from nas.strategies.base import Batch, Range, Strategy, StrategyConfig, global_norm, grad
from nas.strategies.hypernet import HyperNet


@dataclass(frozen=True)
class HyperDartsConfig(StrategyConfig):
    sigma: float = 0.5              # std of the perturbation of α on the φ-step
    hidden: int | None = None       # MLP head only: hidden units; None: #A/2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sigma < 0:
            raise ValueError(f"sigma must not be negative, got {self.sigma}")


class _HyperDarts(Strategy):
    Config = HyperDartsConfig
    head: ClassVar[str]
    tunable = {**Strategy.tunable, "sigma": Range(0.05, 1.0)}
    toy_options = {"sigma": 0.5}
    fits_response = True

    def __init__(self, supernet: nn.Module, config: HyperDartsConfig | None = None):
        super().__init__(supernet, config)
        n_alpha = sum(a.numel() for a in self.alphas)
        self.hyper = HyperNet(self.weights, n_alpha, self.head, self.config.hidden)
        self.w_params = self.weights + list(self.hyper.parameters())
        self.w_optimizer = self.make_w_optimizer(self.w_params)

    def response(self, alphas: list[torch.Tensor]) -> list[torch.Tensor]:
        """w_φ(α) for the given α tensors (differentiable in α and φ)."""
        return self.hyper(self.weights, torch.cat([a.reshape(-1) for a in alphas]))

    def current_weights(self) -> list[torch.Tensor]:
        with torch.no_grad():
            return [w.detach() for w in self.response(self.alphas)]

    def alpha_gradient(self, train_batch: Batch, val_batch: Batch):
        val_loss, val_acc = self.loss(val_batch, weights=self.response(self.alphas))
        return grad(val_loss, self.alphas), val_loss, val_acc

    def weight_step(self, train_batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        sigma = self.config.sigma
        perturbed = [a.detach() + sigma * torch.randn_like(a) for a in self.alphas]
        weights = self.response(perturbed)
        with torch.no_grad():   # how much the response moves the weights at this perturbation
            at_alpha = self.response(self.alphas)
            self.response_change = (global_norm([w - c for w, c in zip(weights, at_alpha)])
                                    / global_norm(at_alpha).clamp_min(1e-30))
        loss, acc = self.loss(train_batch, weights=weights, alphas=perturbed)
        self.apply_weight_gradient(grad(loss, self.w_params))
        return loss.detach(), acc

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, torch.Tensor]:
        """The base step, plus `response_change`: ‖w_φ(α̃) − w_φ(α)‖ / ‖w_φ(α)‖ at the φ-step's
        perturbation α̃, how much the hypernetwork's weights depend on α. It is 0 at the start
        (the heads are zero: first-order DARTS) and stays 0 if the response learns nothing."""
        metrics = super().step(train_batch, val_batch)
        metrics["response_change"] = self.response_change
        return metrics

    def state_dict(self) -> dict:
        return {**super().state_dict(), "hyper": self.hyper.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.hyper.load_state_dict(state["hyper"])
        super().load_state_dict(state)


class HyperDartsLinear(_HyperDarts):
    name = "hyperdarts-linear"
    head = "linear"


class HyperDartsMLP(_HyperDarts):
    name = "hyperdarts-mlp"
    head = "mlp"
