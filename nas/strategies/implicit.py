"""Implicit differentiation at the current weights (IFT; Lorraine et al. 2020, iDARTS 2021).

    g = ∂_α L_val(w, α) − ∇²_{αw} L_train(w, α) · p,    p ≈ H⁻¹ ∇_w L_val(w, α),
    H = ∇²_w L_train(w, α)

The inverse-Hessian-vector product comes from a solver given Hessian-vector
products of L_train; `implicit_neumann.py` and `implicit_cg.py` are the two solvers.
The products come from one of two sources (the `hvp` option):

- "exact": double backward through one retained graph of ∇_w L_train. One product costs
  about 2 passes with the batched cell (at batch 16, before 25ee21e: 1.97 P when the depthwise
  outputs are kept, 2.42 P when they are computed again, as `double_backward` asks; 2.2–2.3 P
  after it, on a host too noisy to separate the two; 3–3.5 P with the plain cell; see
  benchmark/README.md), and the retained graph keeps about 1.8 times what the forward keeps.
- "finite-difference": Hu ≈ (∇_w L_train(w + εu) − ∇_w L_train(w)) / ε with ε = fd_radius/‖u‖,
  one pass each, and the mixed product by central differences as second-order DARTS takes it
  (two α-only passes); no graph is retained, so memory is that of a plain pass. All of them
  run in fp32 under mixed precision. Error O(ε‖u‖) per product.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from nas.strategies.base import Batch, Strategy, StrategyConfig, grad
from nas.strategies.second_order import fd_epsilon, finite_difference_mixed

Vector = list[torch.Tensor]
HVP = Callable[[Vector], Vector]


HVP_MODES = ("exact", "finite-difference")


@dataclass(frozen=True)
class ImplicitConfig(StrategyConfig):
    hvp: str = "exact"          # "exact" (double backward) or "finite-difference"
    fd_radius: float = 0.01     # finite differences only: ε = fd_radius / ‖u‖

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hvp not in HVP_MODES:
            raise ValueError(f"hvp must be one of {', '.join(HVP_MODES)}, got {self.hvp!r}")
        if self.fd_radius <= 0:
            raise ValueError(f"fd_radius must be positive, got {self.fd_radius}")


def implicit_passes(config: ImplicitConfig, products: int) -> float:
    """Passes of an implicit step with `products` Hessian-vector products: 1 (val) + 1 (train) +
    the products + 2 (mixed product) + 1 (weight step), an exact product counting 2 passes
    (double backward) and a finite-difference one 1; 5 + 2K or 5 + K."""
    return 5.0 + (1.0 if config.hvp == "finite-difference" else 2.0) * products


def dot(a: Vector, b: Vector) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def implicit_gradient(strategy: Strategy, train_batch: Batch, val_batch: Batch,
                      solve: Callable[[HVP, Vector], Vector]):
    """(hypergradient, val_loss, val_acc) with p = solve(hvp, ∇_w L_val)."""
    alphas, weights = strategy.alphas, strategy.weights
    val_loss, val_acc = strategy.loss(val_batch)
    grads = grad(val_loss, alphas + weights)
    d_alpha, v = grads[:len(alphas)], [g.detach() for g in grads[len(alphas):]]
    if getattr(strategy.config, "hvp", "exact") == "finite-difference":
        radius = strategy.config.fd_radius
        w = [p.detach() for p in weights]
        with strategy.speed.autocast(weights[0].device, enabled=False):   # fp32 under any autocast
            g0 = grad(strategy.loss(train_batch, precise=True)[0], weights)

        def hvp(u: Vector) -> Vector:
            with strategy.speed.autocast(u[0].device, enabled=False):
                eps = fd_epsilon(u, radius)
                shifted = [(p + eps * t).requires_grad_() for p, t in zip(w, u)]
                g = grad(strategy.loss(train_batch, weights=shifted, precise=True)[0], shifted)
                return [(gi - g0i) / eps for gi, g0i in zip(g, g0)]

        p = solve(hvp, v)
        mixed = finite_difference_mixed(strategy, train_batch, p, radius)
        return [da - m for da, m in zip(d_alpha, mixed)], val_loss, val_acc

    with strategy.double_backward():
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
