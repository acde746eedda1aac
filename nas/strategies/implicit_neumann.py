"""Implicit differentiation with a truncated Neumann series (Lorraine et al. 2020).

    H⁻¹v ≈ η Σ_{j=0..K} (I − ηH)^j v

K Hessian-vector products. With η the weights' learning rate (the default) the
series is the hypergradient of K + 1 unrolled SGD steps taken at a stationary
point, which is Lorraine et al.'s reading; it converges only where ηλ < 2 for
every eigenvalue λ of H. Cost ≈ 5 + 2K passes with exact products (about 2 passes
each), 5 + K with finite differences (`hvp`).
"""

from __future__ import annotations

from dataclasses import dataclass

from nas.strategies.base import Batch, Range, Strategy
from nas.strategies.implicit import HVP, ImplicitConfig, Vector, implicit_gradient, implicit_passes


@dataclass(frozen=True)
class NeumannConfig(ImplicitConfig):
    neumann_eta: float | None = None    # η; None: the weights' current learning rate
    neumann_k: int = 5                  # K: terms after the first

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.neumann_k < 0:
            raise ValueError(f"neumann_k must be at least 0, got {self.neumann_k}")


def neumann_solve(hvp: HVP, v: Vector, eta: float, k: int) -> Vector:
    """η Σ_{j=0..k} (I − ηH)^j v."""
    term = [x.clone() for x in v]
    total = [x.clone() for x in v]
    for _ in range(k):
        h = hvp(term)
        term = [t - eta * ht for t, ht in zip(term, h)]
        total = [s + t for s, t in zip(total, term)]
    return [eta * s for s in total]


class ImplicitNeumann(Strategy):
    name = "implicit-neumann"
    Config = NeumannConfig
    tunable = {**Strategy.tunable, "neumann_eta": Range(1e-3, 1e-1, log=True),
               "neumann_k": Range(1, 10, integer=True)}
    toy_options = {"neumann_eta": 0.25, "neumann_k": 5}   # η < 1/L on the toy, whose Hessian is 2

    @classmethod
    def passes(cls, config: NeumannConfig) -> float:
        return implicit_passes(config, config.neumann_k)

    def alpha_gradient(self, train_batch: Batch, val_batch: Batch):
        eta = self.w_lr if self.config.neumann_eta is None else self.config.neumann_eta
        return implicit_gradient(self, train_batch, val_batch,
                                 lambda hvp, v: neumann_solve(hvp, v, eta, self.config.neumann_k))
