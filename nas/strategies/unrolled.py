"""The virtual (unrolled) weight step shared by the second-order strategies.

    w' = w − ξ (μ·m + ∇_w L_train(w, α) + λ·w)

is exactly the step the weights' SGD would take (momentum buffer m with
coefficient μ, weight decay λ), as quark0/darts `_compute_unrolled_model`
computes it, but as plain tensors: the model is neither copied nor edited.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from nas.strategies.base import Batch, Strategy


def current_xi(strategy: Strategy, xi: float | None) -> float:
    """ξ: the fixed value if given, else the weights' current learning rate (DARTS's choice)."""
    return strategy.w_lr if xi is None else xi


def virtual_step(strategy: Strategy, train_batch: Batch, xi: float,
                 create_graph: bool = False) -> list[torch.Tensor]:
    """w' as a list of tensors; with create_graph, w' stays a differentiable function of α."""
    with strategy.double_backward() if create_graph else nullcontext():
        loss, _ = strategy.loss(train_batch)
    grads = torch.autograd.grad(loss, strategy.weights, create_graph=create_graph,
                                allow_unused=True, materialize_grads=True)
    mu, wd = strategy.config.w_momentum, strategy.config.w_weight_decay
    unrolled = []
    for w, g, m in zip(strategy.weights, grads, strategy.momentum_buffers()):
        d = g + wd * w.detach() if wd else g
        if m is not None and mu:
            d = d + mu * m
        w_new = w.detach() - xi * d
        unrolled.append(w_new if create_graph else w_new.detach())
    return unrolled
