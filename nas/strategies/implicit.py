"""Implicit differentiation at the current weights (IFT; Lorraine et al. 2020, iDARTS 2021).

    g = ∂_α L_val(w, α) − ∇²_{αw} L_train(w, α) · p,    p ≈ H⁻¹ ∇_w L_val(w, α),
    H = ∇²_w L_train(w, α)

The inverse-Hessian-vector product comes from a solver given Hessian-vector
products of L_train (double backward through one retained gradient graph);
`implicit_neumann.py` and `implicit_cg.py` are the two solvers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nas.strategies.base import Batch, Strategy, grad

Vector = list[torch.Tensor]
HVP = Callable[[Vector], Vector]


def dot(a: Vector, b: Vector) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def implicit_gradient(strategy: Strategy, train_batch: Batch, val_batch: Batch,
                      solve: Callable[[HVP, Vector], Vector]):
    """(hypergradient, val_loss, val_acc) with p = solve(hvp, ∇_w L_val)."""
    alphas, weights = strategy.alphas, strategy.weights
    val_loss, val_acc = strategy.loss(val_batch)
    grads = grad(val_loss, alphas + weights)
    d_alpha, v = grads[:len(alphas)], [g.detach() for g in grads[len(alphas):]]
    train_loss, _ = strategy.loss(train_batch)
    g_w = torch.autograd.grad(train_loss, weights, create_graph=True, allow_unused=True,
                              materialize_grads=True)

    def hvp(u: Vector) -> Vector:
        hu = torch.autograd.grad(dot(g_w, u), weights, retain_graph=True, allow_unused=True,
                                 materialize_grads=True)
        return [h.detach() for h in hu]

    p = solve(hvp, v)
    mixed = torch.autograd.grad(dot(g_w, p), alphas, allow_unused=True, materialize_grads=True)
    return [da - m for da, m in zip(d_alpha, mixed)], val_loss, val_acc
