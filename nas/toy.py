"""The toy bilevel problem of the DARTS paper (Figure 2), as a model every strategy can search.

    L_train(w, α) = w² − 2αw + α²       L_val(w, α) = αw − 2α + 1
    start (α, w) = (2, −2);  best response w*(α) = α;  optimum (α, w) = (1, 1)

The toy is a model like the supernet (weights `w`, architecture `alpha`), so the very strategy
classes that search cells run here unchanged. As in the course-project reproduction: plain
gradient descent (no momentum) with one learning rate for both variables, α-step first, stopping
when |Δα| and |Δw| both fall below the tolerance in one iteration, or at the iteration cap
(`run_toy`). The study of every strategy on it is `python -m studies toy` (studies/toy.py); its
table and figure are drawn by analysis/toy.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn

from nas.options import check_ranges
from nas.strategies import STRATEGIES, make_strategy

# x = 0 asks the toy for L_train, x = 1 for L_val; y is unused.
TRAIN_BATCH = (torch.tensor([0.0], dtype=torch.float64), None)
VAL_BATCH = (torch.tensor([1.0], dtype=torch.float64), None)
# The strategies that sweep ξ on the toy (their class's `toy_sweep`; at ξ = 0 they are first-order).
XI_STRATEGIES = tuple(n for n, cls in STRATEGIES.items() if cls.toy_sweep == "xi")
# The strategies' options on the toy (each class's `toy_options`; the CLI's and the report's
# defaults): η = 0.25 and no CG damping suit the toy's Hessian ∂²L_train/∂w² = 2 (the supernet
# defaults, η = the weights' lr and δ = 1, are for an indefinite Hessian and stop the implicit
# runs short of (1, 1) here).
TOY_OPTIONS = {k: v for cls in STRATEGIES.values() for k, v in cls.toy_options.items()}


class ToyProblem(nn.Module):
    """w is a 1×1 matrix (one output channel), so hypernetworks can modulate it like a conv."""

    def __init__(self, alpha: float = 2.0, w: float = -2.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[w]], dtype=torch.float64))
        self.alpha = nn.Parameter(torch.tensor([alpha], dtype=torch.float64))

    def named_weight_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [("w", self.w)]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [self.w]

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, a = self.w.reshape(()), self.alpha.reshape(())
        return torch.where(x == 0, w * w - 2 * a * w + a * a, a * w - 2 * a + 1)

    @staticmethod
    def objective(out: torch.Tensor, y) -> tuple[torch.Tensor, torch.Tensor]:
        return out.mean(), torch.zeros((), dtype=out.dtype)


def l_val(alpha, w):
    return alpha * w - 2 * alpha + 1


@dataclass(frozen=True)
class ToyRun:
    strategy: str
    lr: float = 0.01
    tol: float = 1e-4
    max_iter: int = 10_000
    start: tuple[float, float] = (2.0, -2.0)
    options: dict = field(default_factory=dict)   # strategy options (xi, neumann_k, sigma, …)
    seed: int = 0

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("max_iter",), positive=("lr", "tol"), non_negative=("seed",))

    @property
    def label(self) -> str:
        if self.strategy in XI_STRATEGIES:
            xi = self.options.get("xi")
            return f"{self.strategy} ξ={xi}" if xi else "first-order (ξ=0)"
        return self.strategy


def run_toy(run: ToyRun, trajectory: bool = False) -> dict:
    """Iterate one strategy on the toy from `run.start`; returns the run's record."""
    torch.manual_seed(run.seed)
    toy = ToyProblem(*run.start)
    strategy = make_strategy(
        run.strategy, toy, epochs=1, w_lr=run.lr, w_lr_min=run.lr, w_momentum=0.0,
        w_weight_decay=0.0, w_grad_clip=0.0, alpha_optimizer="sgd", alpha_lr=run.lr,
        alpha_weight_decay=0.0, **run.options)

    def point() -> tuple[float, float]:
        return float(toy.alpha.detach()), float(strategy.current_weights()[0])

    first_hypergradient = float(strategy.hypergradient(TRAIN_BATCH, VAL_BATCH)[0])
    path = [point()]
    iterations, converged = 0, False
    start = time.perf_counter()
    for iterations in range(1, run.max_iter + 1):  # noqa: B007 (the count is the result)
        before = path[-1]
        strategy.step(TRAIN_BATCH, VAL_BATCH)
        now = point()
        if trajectory:
            path.append(now)
        else:
            path[-1] = now
        if not all(map(lambda v: abs(v) < 1e3, now)):
            break  # diverged
        if abs(now[0] - before[0]) < run.tol and abs(now[1] - before[1]) < run.tol:
            converged = True
            break
    elapsed = time.perf_counter() - start
    alpha, w = path[-1]
    record = {
        "strategy": run.strategy, "label": run.label, "lr": run.lr, "tol": run.tol,
        "max_iter": run.max_iter, "start": list(run.start), "options": dict(run.options), "seed": run.seed,
        "first_hypergradient": first_hypergradient, "iterations": iterations,
        "converged": converged, "alpha": alpha, "w": w, "l_val": l_val(alpha, w),
        "time_per_iter_s": elapsed / max(iterations, 1),
    }
    if trajectory:
        record["trajectory"] = [list(p) for p in path]
    return record
