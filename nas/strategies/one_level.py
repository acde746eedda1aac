"""One-level search: α and w trained jointly on one loss over train ∪ val.

The loss is the model's objective on the concatenation of the training and
the validation batch (the mean cross-entropy over both, so the weights see the
same learning-rate scale as in the two-level strategies); one forward+backward
gives the gradients of both w and α. It is the baseline that ignores the
bilevel structure: its "hypergradient" is ∂_α of that joint loss.
"""

from __future__ import annotations

import torch

from nas.strategies.base import Batch, Strategy, global_norm, grad


class OneLevel(Strategy):
    name = "one-level"

    def _joint(self, train_batch: Batch, val_batch: Batch):
        (xt, yt), (xv, yv) = train_batch, val_batch
        y = None if yt is None else torch.cat([yt, yv])
        out = self.forward(torch.cat([xt, xv]))
        loss, _ = self.objective(out, y)
        return loss, out.detach(), len(xt)

    def alpha_gradient(self, train_batch: Batch, val_batch: Batch):
        loss, out, n = self._joint(train_batch, val_batch)
        val_loss, val_acc = self.objective(out[n:], val_batch[1])
        return grad(loss, self.alphas), val_loss, val_acc

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, torch.Tensor]:
        loss, out, n = self._joint(train_batch, val_batch)
        grads = grad(loss, self.alphas + self.weights)
        k = len(self.alphas)
        self.apply_alpha_gradient(grads[:k])
        self.apply_weight_gradient(grads[k:])
        train_loss, train_acc = self.objective(out[:n], train_batch[1])
        val_loss, val_acc = self.objective(out[n:], val_batch[1])
        return {"train_loss": train_loss, "train_acc": train_acc,
                "val_loss": val_loss, "val_acc": val_acc, "hypergrad_norm": global_norm(grads[:k])}
