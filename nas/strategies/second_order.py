"""Second-order DARTS with a finite-difference Hessian-vector product (quark0/darts `architect.py`).

    g = ∂_α L_val(w', α) − ξ ∇²_{αw} L_train(w, α) · ∇_{w'} L_val(w', α)

with w' the virtual SGD step (see `unrolled.py`) and the mixed product by
central differences:

    ∇²_{αw} L_train · d ≈ (∇_α L_train(w + εd, α) − ∇_α L_train(w − εd, α)) / (2ε),
    ε = 0.01 / ‖d‖.

(The widely copied `(g⁺ − g⁻) / 2 * ε` is wrong by a factor 4ε²; the test
against `second-order-exact` catches it.) Cost: 5 passes per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nas.strategies.base import Batch, Range, Strategy, StrategyConfig, grad
from nas.strategies.unrolled import current_xi, virtual_step


@dataclass(frozen=True)
class SecondOrderConfig(StrategyConfig):
    xi: float | None = None     # unrolling step; None: the weights' current learning rate
    fd_radius: float = 0.01     # ε = fd_radius / ‖∇_{w'} L_val‖


def fd_epsilon(direction: list[torch.Tensor], radius: float) -> torch.Tensor:
    """ε = radius / ‖direction‖ (global norm over all tensors), as a 0-dim device tensor."""
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(d) for d in direction]))
    return radius / norm.clamp_min(1e-12)


def finite_difference_mixed(strategy: Strategy, train_batch: Batch, direction: list[torch.Tensor],
                            radius: float) -> list[torch.Tensor]:
    """∇²_{αw} L_train(w, α) · direction by central differences of ∇_α L_train.

    In fp32 even under mixed precision (the backward included, which an enclosing autocast
    would otherwise reach on the CPU): the difference is ~ε·‖d‖ = 1% of the gradient.
    """
    with strategy.speed.autocast(direction[0].device, enabled=False):
        eps = fd_epsilon(direction, radius)
        w = [p.detach() for p in strategy.weights]
        plus = [p + eps * d for p, d in zip(w, direction)]
        minus = [p - eps * d for p, d in zip(w, direction)]
        g_plus = grad(strategy.loss(train_batch, weights=plus, precise=True)[0], strategy.alphas)
        g_minus = grad(strategy.loss(train_batch, weights=minus, precise=True)[0], strategy.alphas)
        return [(gp - gm) / (2 * eps) for gp, gm in zip(g_plus, g_minus)]


class SecondOrder(Strategy):
    name = "second-order"
    Config = SecondOrderConfig
    tunable = {**Strategy.tunable, "xi": Range(1e-3, 1e-1, log=True)}
    toy_sweep = "xi"

    @classmethod
    def passes(cls, config: SecondOrderConfig) -> float:
        """Virtual step, α and w' on val, two mixed-product passes, the weight step."""
        return 5.0

    def alpha_gradient(self, train_batch: Batch, val_batch: Batch):
        xi = current_xi(self, self.config.xi)
        unrolled = [w.requires_grad_() for w in virtual_step(self, train_batch, xi)]
        val_loss, val_acc = self.loss(val_batch, weights=unrolled)
        grads = grad(val_loss, self.alphas + unrolled)
        d_alpha, d_w = grads[:len(self.alphas)], grads[len(self.alphas):]
        mixed = finite_difference_mixed(self, train_batch, d_w, self.config.fd_radius)
        return [da - xi * m for da, m in zip(d_alpha, mixed)], val_loss, val_acc
