"""First-order DARTS with hyperDARTS's α noise in its weight step: the control for hyperDARTS.

hyperDARTS trains the supernet's weights at a perturbed α̃ = stopgrad(α) + σε,
ε ~ N(0, I), one draw per batch (σ = 0.5). Training the weights at noisy α is a
known stabiliser on its own (SDARTS's random smoothing, Chen & Hsieh 2020), so a
hyperDARTS gain cannot be credited to the hypernetwork without this control: the
α-step is first-order DARTS's, ∂_α L_val(w, α); the weight step is SGD on
L_train(w, α̃) with the same noise as hyperDARTS's and no hypernetwork. With
σ = 0 it is first-order DARTS exactly. Cost: 2 passes, like first-order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nas.strategies.base import Batch, Range, Strategy, StrategyConfig, grad
from nas.strategies.first_order import FirstOrder


@dataclass(frozen=True)
class SmoothedConfig(StrategyConfig):
    sigma: float = 0.5              # std of the perturbation of α on the weight step (hyperDARTS's)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sigma < 0:
            raise ValueError(f"sigma must not be negative, got {self.sigma}")


class FirstOrderSmoothed(FirstOrder):
    name = "first-order-smoothed"
    Config = SmoothedConfig
    tunable = {**Strategy.tunable, "sigma": Range(0.05, 1.0)}
    toy_options = {"sigma": 0.5}

    def weight_step(self, train_batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """SGD on L_train(w, α + σε), one draw of ε per batch (as hyperDARTS's φ-step)."""
        sigma = self.config.sigma
        perturbed = [a.detach() + sigma * torch.randn_like(a) for a in self.alphas]
        loss, acc = self.loss(train_batch, alphas=perturbed)
        self.apply_weight_gradient(grad(loss, self.w_params))
        return loss.detach(), acc
