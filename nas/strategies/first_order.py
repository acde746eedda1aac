"""First-order DARTS (ξ = 0): the hypergradient is ∂_α L_val(w, α), with J = 0.

Cost: one forward+backward on the validation batch for α, one on the
training batch for w (2 passes).
"""

from __future__ import annotations

from nas.strategies.base import Batch, Strategy, grad


class FirstOrder(Strategy):
    name = "first-order"

    def alpha_gradient(self, train_batch: Batch, val_batch: Batch):
        val_loss, val_acc = self.val_loss(val_batch)
        return grad(val_loss, self.alphas), val_loss, val_acc
