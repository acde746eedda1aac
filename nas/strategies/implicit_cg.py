"""Implicit differentiation with K steps of damped conjugate gradient.

Solves (H + δI)x = ∇_w L_val from x = 0. H is indefinite away from a minimum,
so δ damps it, and an iteration that meets non-positive curvature (pᵀ(H + δI)p
≤ 0) stops there and keeps its iterate (as Steihaug's truncated CG does): no
further Hessian-vector product is spent (one host synchronisation per iteration
decides). What the solver did is recorded per step and averaged per search epoch in the
results: `cg_iterations` (the products it computed) and `cg_negative_curvature` (1 where it
stopped on non-positive curvature): a CG that stops after one or two products is nearly a
one-step solve, and the report says so. Cost ≤ 5 + 2K passes with exact products (about 2
passes each), ≤ 5 + K with finite differences (`hvp`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nas.strategies.base import Batch, Range, Strategy
from nas.strategies.implicit import HVP, ImplicitConfig, Vector, dot, implicit_gradient, implicit_passes


@dataclass(frozen=True)
class CGConfig(ImplicitConfig):
    # δ and K, measured on the cpu grid's supernet (CIFAR-10 at 16×16, 5 cells of 4 channels) at
    # three points of a search against a converged float64 reference (`python -m studies fidelity`,
    # README "Hypergradient fidelity"): δ = 1 had the highest cosine to it of 0.1, 1 and 10, and
    # K = 20 gave the same hypergradient as K = 5 (cosine within 0.001) at 3× the products.
    cg_damping: float = 1.0     # δ
    cg_k: int = 5               # K: conjugate-gradient iterations at most
    cg_tol: float = 0.0         # stop once ‖r‖ ≤ tol·‖v‖ (0: run all K unless curvature stops it)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cg_k < 0 or self.cg_damping < 0 or self.cg_tol < 0:
            raise ValueError("cg_k, cg_damping and cg_tol must not be negative")


def cg_solve(hvp: HVP, v: Vector, damping: float, k: int, tol: float = 0.0,
             info: dict | None = None) -> Vector:
    """x ≈ (H + δI)⁻¹ v by at most k CG iterations, stopping at the first direction of
    non-positive curvature (its step is not taken) or, with tol > 0, once ‖r‖ ≤ tol·‖v‖.

    `info`, if given, receives `iterations` (Hessian-vector products computed), `stop`
    ("negative curvature", "converged" or "max iterations") and `residual` (‖r‖/‖v‖ at the end).
    A residual of exactly zero is "converged" at any tolerance (tol = 0 included).
    """
    x = [torch.zeros_like(t) for t in v]
    r = [t.clone() for t in v]
    p = [t.clone() for t in v]
    rs = dot(r, r)
    v_norm = rs.sqrt()
    stop, used = "max iterations", 0
    if not bool(rs > 0):   # v = 0: x = 0 solves it, no product to spend
        stop, k = "converged", 0
    for _ in range(k):
        hp = hvp(p)
        used += 1
        ap = [h + damping * q for h, q in zip(hp, p)]
        pap = dot(p, ap)
        if not bool(pap > 0):   # non-positive curvature: keep the iterate, spend nothing more
            stop = "negative curvature"
            break
        a = rs / pap.clamp_min(1e-30)
        x = [xi + a * q for xi, q in zip(x, p)]
        r = [ri - a * q for ri, q in zip(r, ap)]
        rs_new = dot(r, r)
        if not bool(rs_new > 0) or (tol > 0 and float(rs_new.sqrt()) <= tol * float(v_norm)):
            rs, stop = rs_new, "converged"
            break
        beta = rs_new / rs.clamp_min(1e-30)
        p = [ri + beta * q for ri, q in zip(r, p)]
        rs = rs_new
    if info is not None:
        info.update(iterations=used, stop=stop,
                    residual=float(rs.sqrt() / v_norm.clamp_min(1e-30)))
    return x


class ImplicitCG(Strategy):
    name = "implicit-cg"
    Config = CGConfig
    tunable = {**Strategy.tunable, "cg_damping": Range(1e-2, 10.0, log=True),
               "cg_k": Range(1, 10, integer=True)}
    toy_options = {"cg_damping": 0.0, "cg_k": 5}   # the toy's Hessian is 2: no damping needed

    @classmethod
    def passes(cls, config: CGConfig) -> float:
        return implicit_passes(config, config.cg_k)

    def alpha_gradient(self, train_batch: Batch, val_batch: Batch):
        c = self.config
        self.solve_info: dict = {}
        return implicit_gradient(self, train_batch, val_batch,
                                 lambda hvp, v: cg_solve(hvp, v, c.cg_damping, c.cg_k, c.cg_tol,
                                                         info=self.solve_info))

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, torch.Tensor]:
        """The base step, plus `cg_iterations` (the Hessian-vector products this step's CG used)
        and `cg_negative_curvature` (1 where it stopped on non-positive curvature, else 0)."""
        metrics = super().step(train_batch, val_batch)
        info = self.solve_info
        metrics["cg_iterations"] = torch.tensor(float(info.get("iterations", 0)))
        metrics["cg_negative_curvature"] = torch.tensor(float(info.get("stop") == "negative curvature"))
        return metrics
