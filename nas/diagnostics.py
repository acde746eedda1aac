"""Collapse diagnostics of a search in progress (issue 14): why a strategy ends where it does.

- `alpha_entropy`: the mean entropy (nats) of softmax(α) over its rows (a DARTS edge's operations,
  the dense-DAG space's blocks); log(#ops) is uniform, 0 is one-hot.
- `largest_eigenvalue`: the largest eigenvalue of the Hessian of the validation loss with respect
  to α (RobustDARTS, Zela et al. 2020, who saw it grow before DARTS collapses), by power iteration
  on exact Hessian-vector products (double backward through the α-gradient), shifted where the
  eigenvalue of largest magnitude is negative; each iteration costs about two passes of the
  supernet on the diagnostic batch.
- `discretisation_gap`: the supernet's validation accuracy with its mixed α minus its accuracy
  with α replaced by the derived architecture (`Supernet.discrete_alphas`, one-hot), on the
  diagnostic batch: how much the final discretisation throws away.
- the space's own statistics of the derived architecture (`Supernet.architecture_stats`; DARTS:
  parameter-free operations, skip and pooling, in the normal and the reduction cell).
- `hypernetwork_share` (hyperDARTS only; not in `collapse_diagnostics`): how much of the
  α-gradient passes through the hypernetwork's dependence on α, beside the direct term that its
  noise control (first-order-smoothed) takes alone.

Everything runs on one fixed validation batch, through the strategy's functional loss: no
parameter, optimiser state, batch generator or global random state is touched, so a search with
diagnostics takes exactly the steps of one without.
"""

from __future__ import annotations

import math

import torch

from nas.strategies.base import Batch, Strategy, global_norm, grad


def alpha_entropy(probs: dict[str, torch.Tensor]) -> float:
    """Mean entropy (nats) of the rows of each softmaxed α tensor (1-D: one distribution)."""
    rows = [p.reshape(-1, p.shape[-1]).double() for p in probs.values()]
    ent = torch.cat([-(r * r.clamp_min(1e-30).log()).sum(-1) for r in rows])
    return float(ent.mean())


def power_iteration(hvp, like: list[torch.Tensor], iterations: int, shift: float = 0.0,
                    seed: int = 0) -> float:
    """The eigenvalue of largest magnitude of H − shift·I, plus shift (the Rayleigh quotient after
    `iterations` products of the symmetric operator `hvp`, from a seeded random start)."""
    gen = torch.Generator().manual_seed(seed)
    v = [torch.randn(t.shape, generator=gen, dtype=t.dtype).to(t.device) for t in like]
    norm = math.sqrt(sum(float((x * x).sum()) for x in v))
    v = [x / norm for x in v]
    value = 0.0
    for _ in range(iterations):
        hv = [h.detach() - shift * x for h, x in zip(hvp(v), v)]
        value = float(sum((h * x).sum() for h, x in zip(hv, v))) + shift
        norm = math.sqrt(sum(float((h * h).sum()) for h in hv))
        if norm == 0.0:
            break
        v = [h / norm for h in hv]
    return value


def _alpha_hessian_product(strategy: Strategy, batch: Batch):
    """(hvp, α): Hessian-vector products of L_val in α at the current α and the weights the
    strategy uses there, by double backward."""
    alphas = [a.detach().requires_grad_() for a in strategy.alphas]
    loss, _ = strategy.loss(batch, weights=strategy.current_weights(), alphas=alphas, precise=True)
    g = torch.autograd.grad(loss, alphas, create_graph=True, allow_unused=True, materialize_grads=True)

    def hvp(v):
        return torch.autograd.grad(sum((gi * vi).sum() for gi, vi in zip(g, v)), alphas,
                                   retain_graph=True, allow_unused=True, materialize_grads=True)

    return hvp, alphas


def dominant_eigenvalue(strategy: Strategy, batch: Batch, iterations: int = 20,
                        seed: int = 0) -> float:
    """The eigenvalue of largest magnitude of ∇²_α L_val at the current α and the weights the
    strategy uses there (power iteration, `iterations` Hessian-vector products from a seeded
    random start)."""
    hvp, alphas = _alpha_hessian_product(strategy, batch)
    return power_iteration(hvp, alphas, iterations, seed=seed)


def largest_eigenvalue(strategy: Strategy, batch: Batch, iterations: int = 20,
                       seed: int = 0) -> float:
    """The largest (algebraic) eigenvalue λ_max of ∇²_α L_val, the one RobustDARTS tracks: power
    iteration gives the eigenvalue of largest magnitude, λ_dom; where that is negative every
    eigenvalue of H − λ_dom·I is ≥ 0, and a second power iteration on it gives λ_max − λ_dom.
    `iterations` products each (twice where λ_dom < 0)."""
    hvp, alphas = _alpha_hessian_product(strategy, batch)
    dominant = power_iteration(hvp, alphas, iterations, seed=seed)
    if dominant >= 0:
        return dominant
    return power_iteration(hvp, alphas, iterations, shift=dominant, seed=seed)


def discretisation_gap(strategy: Strategy, batch: Batch) -> float | None:
    """Accuracy (%) of the mixed supernet minus that with the derived architecture's one-hot α, on
    `batch`; None where the space cannot express its architecture as α."""
    discrete = strategy.supernet.discrete_alphas()
    if discrete is None:
        return None
    with torch.no_grad():
        _, mixed = strategy.loss(batch, weights=strategy.current_weights())
        _, hard = strategy.loss(batch, weights=strategy.current_weights(), alphas=discrete)
    return 100.0 * (float(mixed) - float(hard))


def collapse_diagnostics(strategy: Strategy, batch: Batch, eigen_iterations: int = 20) -> dict:
    """Every diagnostic above as one dict of floats (the search's epoch record takes them as is)."""
    net = strategy.supernet
    out = {"alpha_entropy": alpha_entropy(net.softmax_alphas())}
    if eigen_iterations > 0:
        out["largest_eigenvalue"] = largest_eigenvalue(strategy, batch, eigen_iterations)
    gap = discretisation_gap(strategy, batch)
    if gap is not None:
        out["discretisation_gap"] = gap
    out.update({k: float(v) for k, v in net.architecture_stats().items()})
    return out


def hypernetwork_share(strategy: Strategy, batch: Batch) -> dict[str, float]:
    """hyperDARTS's α-gradient on `batch`, ∂/∂α L_val(w_φ(α), α), split into its direct term (the
    gradient at the weights w_φ(α) held fixed: what first-order DARTS takes at its weights) and the
    hypernetwork's term (the rest, through w_φ(α)'s dependence on α): {"total_norm": ‖total‖,
    "hypernet_share": ‖hypernetwork term‖ / ‖total‖, "cosine_to_direct": cos(total, direct)}.
    0 and 1 while the hypernetwork's heads are zero (at the start). ValueError for a strategy
    without a response model."""
    if not hasattr(strategy, "response"):
        raise ValueError(f"{strategy.name} has no hypernetwork: the share is hyperDARTS's only")
    weights = strategy.response(strategy.alphas)
    total = grad(strategy.loss(batch, weights=weights)[0], strategy.alphas)
    direct = grad(strategy.loss(batch, weights=[w.detach() for w in weights])[0], strategy.alphas)
    through = [t - d for t, d in zip(total, direct)]
    t, d = torch.cat([x.flatten() for x in total]), torch.cat([x.flatten() for x in direct])
    return {"total_norm": float(global_norm(total)),
            "hypernet_share": float(global_norm(through) / global_norm(total).clamp_min(1e-30)),
            "cosine_to_direct": float(torch.nn.functional.cosine_similarity(t, d, dim=0))}
