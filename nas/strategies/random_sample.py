"""The random baseline: no search, an architecture sampled uniformly from the space by the seed.

Li & Talwalkar (2019) and Yang et al. (2020) found random architectures of the
DARTS space close to DARTS's own; a benchmark must show where each strategy
stands against that. The strategy draws every α entry i.i.d. from N(0, 1) with
a generator seeded by the search's seed (`torch.initial_seed()`, which the
search sets from its config) and never moves it. Deriving the genotype from
i.i.d. α is sampling uniformly from the space, by symmetry: in the DARTS cell
every edge's score (its largest non-`none` softmax weight) is an i.i.d. draw,
so the two inputs of a node are a uniform pair of distinct predecessors, and
the operation of each (the argmax over the 7 non-`none` operations) is uniform
and independent of the score; in the dense-DAG space the argmax block is
uniform. The same holds for any space whose architecture is an argmax of α.

The search loop runs no steps for it (`searches = False`): one record with the
drawn α and the genotype, then the architecture is evaluated like any other.
"""

from __future__ import annotations

import torch

from nas.strategies.base import Batch, Strategy


class RandomSample(Strategy):
    name = "random"
    searches = False
    tunable = {}     # nothing to tune: it does not search

    @classmethod
    def passes(cls, config) -> float:
        """0: the search takes no step."""
        return 0.0

    def __init__(self, supernet, config=None):
        super().__init__(supernet, config)
        g = torch.Generator().manual_seed(torch.initial_seed())
        with torch.no_grad():
            for a in self.alphas:
                a.copy_(torch.randn(a.shape, generator=g, dtype=a.dtype).to(a.device))

    def alpha_gradient(self, train_batch: Batch, val_batch: Batch):
        """Zero: nothing is learned (the validation loss is reported for completeness)."""
        val_loss, val_acc = self.val_loss(val_batch)
        return [torch.zeros_like(a) for a in self.alphas], val_loss, val_acc

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, torch.Tensor]:
        """Nothing moves: α stays at its draw and the weights are never trained."""
        with torch.no_grad():
            val_loss, val_acc = self.val_loss(val_batch)
            train_loss, train_acc = self.loss(train_batch)
        return {"train_loss": train_loss, "train_acc": train_acc,
                "val_loss": val_loss, "val_acc": val_acc}
