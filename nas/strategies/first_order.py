"""First-order DARTS (ξ = 0): the hypergradient is ∂_α L_val(w, α), with J = 0.

Cost: one forward+backward on the validation batch for α, one on the
training batch for w (2 passes).
"""

from __future__ import annotations

import torch

from nas.strategies.base import Batch, Strategy, grad


class FirstOrder(Strategy):
    name = "first-order"

    def hypergradient(self, train_batch: Batch, val_batch: Batch) -> list[torch.Tensor]:
        loss, _ = self.val_loss(val_batch)
        return grad(loss, self.alphas)

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, torch.Tensor]:
        val_loss, val_acc = self.val_loss(val_batch)
        self.apply_alpha_gradient(grad(val_loss, self.alphas))
        train_loss, train_acc = self.weight_step(train_batch)
        return {"train_loss": train_loss, "train_acc": train_acc,
                "val_loss": val_loss.detach(), "val_acc": val_acc}
