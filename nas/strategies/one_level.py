"""One-level search: α and w trained jointly on one loss over train ∪ val.

The loss is the mean cross-entropy over the concatenation of the training and
the validation batch (so the weights see the same learning-rate scale as in
the two-level strategies); one forward+backward gives the gradients of both
w and α. It is the baseline that ignores the bilevel structure: its
"hypergradient" is ∂_α of that joint loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nas.strategies.base import Batch, Strategy, grad


class OneLevel(Strategy):
    name = "one-level"

    def _joint(self, train_batch: Batch, val_batch: Batch):
        (xt, yt), (xv, yv) = train_batch, val_batch
        logits = self.supernet(torch.cat([xt, xv]))
        y = torch.cat([yt, yv])
        return F.cross_entropy(logits, y), logits.detach(), len(yt)

    def hypergradient(self, train_batch: Batch, val_batch: Batch) -> list[torch.Tensor]:
        loss, _, _ = self._joint(train_batch, val_batch)
        return grad(loss, self.alphas)

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, torch.Tensor]:
        loss, logits, n = self._joint(train_batch, val_batch)
        grads = grad(loss, self.alphas + self.weights)
        k = len(self.alphas)
        self.apply_alpha_gradient(grads[:k])
        self.apply_weight_gradient(grads[k:])
        yt, yv = train_batch[1], val_batch[1]
        lt, lv = logits[:n], logits[n:]
        return {
            "train_loss": F.cross_entropy(lt, yt), "train_acc": (lt.argmax(1) == yt).float().mean(),
            "val_loss": F.cross_entropy(lv, yv), "val_acc": (lv.argmax(1) == yv).float().mean(),
        }
