"""Implicit differentiation with a truncated Neumann series (Lorraine et al. 2020).

    H⁻¹v ≈ η Σ_{j=0..K} (I − ηH)^j v

K Hessian-vector products. With η the weights' learning rate (the default) the
series is the hypergradient of K + 1 unrolled SGD steps taken at a stationary
point, which is Lorraine et al.'s reading; it converges only where 0 < ηλ < 2 for
every eigenvalue λ of H, and each step records how far it was from that (`neumann_growth`,
the last term's norm over the first's, averaged and maximised per search epoch). Cost ≈ 5 + 2K
passes with exact products (about 2 passes each), 5 + K with finite differences (`hvp`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nas.strategies.base import Batch, Range, Strategy, global_norm
from nas.strategies.implicit import HVP, ImplicitConfig, Vector, implicit_gradient, implicit_passes


@dataclass(frozen=True)
class NeumannConfig(ImplicitConfig):
    neumann_eta: float | None = None    # η; None: the weights' current learning rate
    neumann_k: int = 5                  # K: terms after the first

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.neumann_k < 0:
            raise ValueError(f"neumann_k must be at least 0, got {self.neumann_k}")


def neumann_solve(hvp: HVP, v: Vector, eta: float, k: int, info: dict | None = None) -> Vector:
    """η Σ_{j=0..k} (I − ηH)^j v.

    `info`, if given, receives `growth`: ‖(I − ηH)^k v‖ / ‖v‖, the last term's norm over the
    first's (a 0-dim tensor, read without a host synchronisation). Above 1 the series grew on
    this batch: an eigenvalue of H outside (0, 2/η) dominates it (ηλ > 2, or negative
    curvature), and the sum is that eigenvector amplified, not H⁻¹v.
    """
    term = [x.clone() for x in v]
    total = [x.clone() for x in v]
    for _ in range(k):
        h = hvp(term)
        term = [t - eta * ht for t, ht in zip(term, h)]
        total = [s + t for s, t in zip(total, term)]
    if info is not None:
        info["growth"] = global_norm(term) / global_norm(v).clamp_min(1e-30)
    return [eta * s for s in total]


class ImplicitNeumann(Strategy):
    name = "implicit-neumann"
    Config = NeumannConfig
    tunable = {**Strategy.tunable, "neumann_eta": Range(1e-3, 1e-1, log=True),
               "neumann_k": Range(1, 10, integer=True)}
    toy_options = {"neumann_eta": 0.25, "neumann_k": 5}   # η < 1/L on the toy, whose Hessian is 2
    peak_metrics = (*Strategy.peak_metrics, "neumann_growth")

    @classmethod
    def passes(cls, config: NeumannConfig) -> float:
        return implicit_passes(config, config.neumann_k)

    def alpha_gradient(self, train_batch: Batch, val_batch: Batch):
        eta = self.w_lr if self.config.neumann_eta is None else self.config.neumann_eta
        self.solve_info: dict = {}
        return implicit_gradient(self, train_batch, val_batch,
                                 lambda hvp, v: neumann_solve(hvp, v, eta, self.config.neumann_k,
                                                              info=self.solve_info))

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, torch.Tensor]:
        """The base step, plus `neumann_growth`: the series' last term's norm over its first's
        (above 1: the series grew on this batch, see `neumann_solve`)."""
        metrics = super().step(train_batch, val_batch)
        metrics["neumann_growth"] = self.solve_info["growth"].detach()
        return metrics
