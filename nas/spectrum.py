"""The ends of a symmetric operator's spectrum (a training Hessian, given by Hessian-vector
products), and the damping that makes it positive definite.

Used by implicit-cg's `cg_damping_rule = "spectrum"` (δ from the current training Hessian) and by
the fidelity study's implicit reference (the same rule, in float64 and with more steps).
"""

from __future__ import annotations

import numpy as np
import torch


def auto_damping(lam_min: float, lam_max: float) -> float:
    """δ = max(2·|λ_min|, λ_max/100): above |λ_min| with a margin for its estimate (a Ritz value
    θ_min ≥ λ_min underestimates |λ_min|), so that H + δI is positive definite, and at least
    λ_max/100, so that its condition number is at most about 200 and CG converges in some hundred
    products."""
    return max(2.0 * max(0.0, -lam_min), max(lam_max, 0.0) / 100.0)


def extreme_eigenvalues(hvp, like: list[torch.Tensor], steps: int = 50,
                        seed: int = 0) -> tuple[float, float]:
    """(λ_min, λ_max) of the symmetric operator `hvp`: the extreme Ritz values of `steps` Lanczos
    steps (see `lanczos_extremes`, which also gives their residuals)."""
    r = lanczos_extremes(hvp, like, steps, seed)
    return r["min"], r["max"]


def lanczos_extremes(hvp, like: list[torch.Tensor], steps: int = 50, seed: int = 0) -> dict:
    """The extreme eigenvalues of the symmetric operator `hvp` by `steps` Lanczos steps with full
    reorthogonalisation (float64, on the host): {'min', 'max', 'min_bound', 'max_bound',
    'min_residual', 'max_residual', 'products'}. A Ritz value θ with Ritz vector y has ‖Hy − θy‖ =
    |β_m s_m| (the last component of its eigenvector in the tridiagonal matrix times the last
    off-diagonal): an eigenvalue of H lies within that bound of θ; the residual is the bound
    relative to |θ| itself; 0 when the Krylov space is exhausted. θ_min ≥ λ_min always (Ritz
    values lie inside the spectrum). Lanczos
    finds both ends together and far faster than power iteration on a shifted operator, whose
    rate (λ_d − λ_min)/(λ_d − λ_next) is near 1 on a network's clustered spectrum."""
    shapes = [t.shape for t in like]
    sizes = [t.numel() for t in like]
    n = sum(sizes)
    ref = like[0]

    def apply(q: np.ndarray) -> np.ndarray:
        flat = torch.as_tensor(q, dtype=ref.dtype, device=ref.device)
        u = [p.reshape(sh) for p, sh in zip(flat.split(sizes), shapes)]
        return torch.cat([h.reshape(-1) for h in hvp(u)]).double().cpu().numpy()

    rng = np.random.default_rng(seed)
    q = rng.standard_normal(n)
    q /= np.linalg.norm(q)
    basis, alphas, betas = [q], [], []
    steps = max(1, min(steps, n))
    for _ in range(steps):
        w = apply(basis[-1])
        a = float(basis[-1] @ w)
        alphas.append(a)
        w -= a * basis[-1] + (betas[-1] * basis[-2] if betas else 0.0)
        for v in basis:   # full reorthogonalisation (twice is enough)
            w -= (v @ w) * v
        for v in basis:
            w -= (v @ w) * v
        b = float(np.linalg.norm(w))
        if len(alphas) == steps or b < 1e-12 * max(1.0, abs(a)):
            betas.append(b)
            break
        betas.append(b)
        basis.append(w / b)
    m = len(alphas)
    t = np.diag(alphas) + np.diag(betas[:m - 1], 1) + np.diag(betas[:m - 1], -1)
    theta, s = np.linalg.eigh(t)
    last = betas[m - 1] if m < n else 0.0
    lo_bound, hi_bound = float(abs(last * s[-1, 0])), float(abs(last * s[-1, -1]))
    return {"min": float(theta[0]), "max": float(theta[-1]),
            "min_residual": lo_bound / max(abs(theta[0]), 1e-30),
            "max_residual": hi_bound / max(abs(theta[-1]), 1e-30),
            "min_bound": lo_bound, "max_bound": hi_bound, "products": m}
