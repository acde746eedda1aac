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

δ: `cg_damping_rule = "fixed"` uses `cg_damping` throughout. In a search the training Hessian is
far from definite and its negative end moves: on the cpu grid's supernet λ_min is −21 to −51 at
the start and −3 to −6 after 48 and 96 steps (results/examples/fidelity-search/, 3 seeds), so no
fixed δ both keeps
the system definite at the start and leaves it undamped later. `"spectrum"` sets
δ = max(cg_damping, 2·|λ_min|, λ_max/100) (`nas.spectrum.auto_damping`, the rule of the fidelity
study's reference) from `cg_spectrum_steps` Lanczos steps on the step's training Hessian, every
`cg_spectrum_every` steps (the first step included), and holds it in between; the products
cost cg_spectrum_steps/cg_spectrum_every per step on average. The δ in use is recorded per step
(`cg_damping`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nas.spectrum import auto_damping, lanczos_extremes
from nas.strategies.base import Batch, Range, Strategy
from nas.strategies.implicit import HVP, ImplicitConfig, Vector, dot, implicit_gradient, implicit_passes

DAMPING_RULES = ("fixed", "spectrum")


@dataclass(frozen=True)
class CGConfig(ImplicitConfig):
    # δ and K, measured on the cpu grid's supernet (CIFAR-10 at 16×16, 5 cells of 4 channels)
    # against a converged float64 reference (`python -m studies fidelity`, docs/findings.md
    # "Hypergradient fidelity"). With the weights fitted to one batch (H nearly definite) δ = 1
    # had the highest cosine of 0.1, 1 and 10, and K = 20 gave the same hypergradient as K = 5. At
    # the points of a search (results/examples/fidelity-search/, 3 seeds) H has λ_min of −21 to
    # −51 at the start and −3 to −6 later: a fixed δ = 1 stops CG on negative curvature after 2–4
    # products (cosine 0.23–0.63, means over the seeds), so the default rule is "spectrum", with
    # cg_damping its floor.
    cg_damping: float = 1.0     # δ ("fixed"), or the least δ ("spectrum")
    cg_k: int = 5               # K: conjugate-gradient iterations at most
    cg_tol: float = 0.0         # stop once ‖r‖ ≤ tol·‖v‖ (0: run all K unless curvature stops it)
    # "fixed": δ = cg_damping; "spectrum": δ = max(cg_damping, 2·|λ_min|, λ_max/100) of the
    # training Hessian, estimated by cg_spectrum_steps Lanczos steps every cg_spectrum_every steps
    cg_damping_rule: str = "spectrum"
    cg_spectrum_steps: int = 20
    cg_spectrum_every: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cg_k < 0 or self.cg_damping < 0 or self.cg_tol < 0:
            raise ValueError("cg_k, cg_damping and cg_tol must not be negative")
        if self.cg_damping_rule not in DAMPING_RULES:
            raise ValueError(f"cg_damping_rule must be one of {', '.join(DAMPING_RULES)}, "
                             f"got {self.cg_damping_rule!r}")
        if self.cg_spectrum_steps < 1 or self.cg_spectrum_every < 1:
            raise ValueError("cg_spectrum_steps and cg_spectrum_every must be at least 1")


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
    # the toy's Hessian is 2: no damping needed
    toy_options = {"cg_damping": 0.0, "cg_k": 5, "cg_damping_rule": "fixed"}

    def __init__(self, supernet, config: CGConfig | None = None):
        super().__init__(supernet, config)
        self.steps_taken = 0                        # α-steps so far (when the spectrum is due)
        self.damping = float(self.config.cg_damping)   # δ in use (the spectrum rule updates it)

    @classmethod
    def passes(cls, config: CGConfig) -> float:
        spectrum = (config.cg_spectrum_steps / config.cg_spectrum_every
                    if config.cg_damping_rule == "spectrum" and config.cg_k > 0 else 0.0)
        return implicit_passes(config, config.cg_k + spectrum)

    def _damping(self, hvp: HVP, v: Vector) -> float:
        """δ for this step: the fixed one, or (spectrum rule, when due) the rule's δ from a Lanczos
        estimate of the training Hessian's ends, seeded by the step so that a state gives one δ."""
        c = self.config
        if c.cg_damping_rule == "fixed" or c.cg_k == 0:   # (no CG step: no δ to choose)
            return c.cg_damping
        if self.steps_taken % c.cg_spectrum_every == 0:
            s = lanczos_extremes(hvp, v, c.cg_spectrum_steps, seed=self.steps_taken)
            self.solve_info.update(spectrum_products=s["products"], lambda_min=s["min"],
                                   lambda_max=s["max"])
            return max(c.cg_damping, auto_damping(s["min"], s["max"]))
        return self.damping

    def alpha_gradient(self, train_batch: Batch, val_batch: Batch):
        """(hypergradient, val_loss, val_acc). With the spectrum rule on a step where it is due,
        the δ it estimates is held from `step` on (until the next estimate); a repeated call at
        the same state recomputes the same δ."""
        c = self.config
        self.solve_info: dict = {}

        def solve(hvp, v):
            damping = self._damping(hvp, v)
            self.solve_info["damping"] = damping
            return cg_solve(hvp, v, damping, c.cg_k, c.cg_tol, info=self.solve_info)

        return implicit_gradient(self, train_batch, val_batch, solve)

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, torch.Tensor]:
        """The base step, plus `cg_iterations` (the Hessian-vector products this step's CG used),
        `cg_negative_curvature` (1 where it stopped on non-positive curvature, else 0) and
        `cg_damping` (the δ it used)."""
        metrics = super().step(train_batch, val_batch)
        info = self.solve_info
        self.damping = float(info.get("damping", self.damping))
        self.steps_taken += 1
        metrics["cg_iterations"] = torch.tensor(float(info.get("iterations", 0)))
        metrics["cg_negative_curvature"] = torch.tensor(float(info.get("stop") == "negative curvature"))
        metrics["cg_damping"] = torch.tensor(self.damping)
        return metrics

    def state_dict(self) -> dict:
        return {**super().state_dict(), "cg_steps_taken": self.steps_taken, "cg_damping": self.damping}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.steps_taken = int(state["cg_steps_taken"])
        self.damping = float(state["cg_damping"])
