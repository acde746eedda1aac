"""Second-order DARTS with the exact mixed product, by double backward.

The virtual step w'(α) = w − ξ(μ·m + ∇_w L_train(w, α) + λ·w) is built with
`create_graph=True`, so differentiating L_val(w'(α), α) with respect to α
gives ∂_α L_val − ξ ∇²_{αw} L_train · ∇_{w'} L_val exactly. Cost: 5 passes (counted
as the implicit strategies count theirs) and twice the activation memory of `second-order`.
"""

from __future__ import annotations

from dataclasses import dataclass

from nas.strategies.base import Batch, Range, Strategy, StrategyConfig, grad
from nas.strategies.unrolled import current_xi, virtual_step


@dataclass(frozen=True)
class SecondOrderExactConfig(StrategyConfig):
    xi: float | None = None     # unrolling step; None: the weights' current learning rate


class SecondOrderExact(Strategy):
    name = "second-order-exact"
    Config = SecondOrderExactConfig
    tunable = {**Strategy.tunable, "xi": Range(1e-3, 1e-1, log=True)}
    toy_sweep = "xi"

    @classmethod
    def passes(cls, config: SecondOrderExactConfig) -> float:
        """The virtual step with its graph (1), the val pass (1), the backward that goes on from it
        through the virtual step's graph to α (the mixed product, 2: a double backward, as in
        `implicit_passes`) and the weight step (1). (It was 4.5, the mixed product counted as
        1.5; the phases measured at 8 × 16, batch 64 are in benchmark/README.md.)"""
        return 5.0

    def alpha_gradient(self, train_batch: Batch, val_batch: Batch):
        xi = current_xi(self, self.config.xi)
        unrolled = virtual_step(self, train_batch, xi, create_graph=True)
        with self.double_backward():   # kept while the train pass's double backward runs
            val_loss, val_acc = self.loss(val_batch, weights=unrolled)
        return grad(val_loss, self.alphas), val_loss, val_acc
