"""Hypergradient fidelity: each strategy's dL_val/dα against two references, at one point.

The point: a small supernet after a few first-order search steps (so α is no
longer uniform), whose weights are then trained on one fixed training batch
close to the best response w*(α) for that batch. Two references:

- implicit: g_ref = ∂_α L_val − ∇²_{αw} L_train · (H + δI)⁻¹ ∇_w L_val, the system solved by
  MINRES (H may be indefinite; δ = 0 by default), with its iterations, its stop and its
  recomputed relative residual reported: a reference that did not converge says so;
- unrolled: the exact hypergradient of T steps of the real weight optimiser (autodiff).

The training Hessian's extreme eigenvalues at the point are reported beside them (the damping a
definite system would need; Neumann's η·λ_max). Each strategy then returns its hypergradient for
the same (train, val) batch pair without changing any state; we report the cosine similarity and
the relative error ‖g − g_ref‖ / ‖g_ref‖ against each reference, its passes per step and the time
it took. hyperDARTS first fits its hypernetwork around the point (`hyper_steps` φ-steps at fixed
α) — without that its hypergradient is first-order's by construction.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch

from nas.data import Batches, ImageData, search_split
from nas.diagnostics import power_iteration
from nas.search import seed_everything
from nas.spaces import make_supernet, space_config
from nas.strategies import SEARCHING, make_strategy
from nas.strategies.base import StrategyConfig, grad
from nas.strategies.implicit import implicit_gradient


@dataclass(frozen=True)
class FidelityConfig:
    strategies: tuple[str, ...] = SEARCHING
    space_options: dict = field(default_factory=lambda: {"channels": 4, "layers": 3})
    batch_size: int = 64
    seed: int = 0
    warmup_steps: int = 20          # first-order search steps before the point is fixed
    pretrain_steps: int = 200       # gradient steps of w on the fixed training batch
    pretrain_lr: float = 0.05
    reference_k: int = 100          # MINRES iterations of the implicit reference at most …
    reference_damping: float = 0.0  # δ of its (H + δI)x = v (MINRES needs none: H may be indefinite)
    reference_tol: float = 1e-5     # … stopping once ‖r‖ ≤ tol·‖v‖
    unrolled_steps: int = 5         # T of the unrolled reference (the real weight optimiser's steps)
    eigen_iterations: int = 30      # power iterations for each end of the training Hessian's spectrum
    hyper_steps: int = 100          # φ-steps that fit hyperDARTS's hypernetwork first
    repeats: int = 3                # timed hypergradient calls per strategy (median)
    options: dict = field(default_factory=dict)  # strategy name -> its options


def _flat(ts: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in ts])


def measure_fidelity(config: FidelityConfig, data: ImageData, device: str | torch.device = "cpu",
                     log=None) -> dict:
    """Returns {'point': {...}, 'reference': {...}, 'rows': [one dict per strategy]}."""
    log = log or (lambda msg: None)
    device = torch.device(device)
    seed_everything(config.seed)
    net = make_supernet("darts", space_config("darts", **config.space_options),
                        data.in_channels, data.num_classes).to(device)
    train_idx, val_idx = search_split(len(data.train_y), config.seed)

    def batches(idx, seed):
        return Batches(data.train_x[idx], data.train_y[idx], config.batch_size, data.mean,
                       data.std, shuffle=True, drop_last=True, seed=seed, device=device)

    # 1. A point in the middle of a search: a few first-order steps.
    fo = make_strategy("first-order", net)
    done = 0
    while done < config.warmup_steps:
        for tb, vb in zip(batches(train_idx, 1), batches(val_idx, 2)):
            fo.step(tb, vb)
            done += 1
            if done >= config.warmup_steps:
                break
    train_batch = next(iter(batches(train_idx, 3)))
    val_batch = next(iter(batches(val_idx, 4)))
    # 2. Weights close to the best response for the fixed training batch (plain GD).
    probe = make_strategy("first-order", net)
    weights = probe.weights
    for _ in range(config.pretrain_steps):
        loss, _ = probe.loss(train_batch)
        with torch.no_grad():
            for w, g in zip(weights, grad(loss, weights)):
                w.sub_(config.pretrain_lr * g)
    train_loss, _ = probe.loss(train_batch)
    grad_norm = float(torch.linalg.vector_norm(_flat(grad(train_loss, weights))))
    log(f"point: train loss {float(train_loss.detach()):.4f}, ‖∇_w L_train‖ {grad_norm:.2e}")
    # The spectrum of H = ∇²_w L_train at the point: the damping a definite system needs (|λ_min|)
    # and Neumann's η·λ_max (the series diverges above 2).
    hessian = {}
    if config.eigen_iterations > 0:
        loss, _ = probe.loss(train_batch)
        g_w = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True,
                                  materialize_grads=True)

        def hvp_w(u):
            return [h.detach() for h in torch.autograd.grad(
                sum((g * x).sum() for g, x in zip(g_w, u)), weights, retain_graph=True,
                allow_unused=True, materialize_grads=True)]

        lo, hi = extreme_eigenvalues(hvp_w, [w.detach() for w in weights], config.eigen_iterations)
        eta = probe.w_lr   # implicit-neumann's default η: the weights' learning rate
        hessian = {"min": lo, "max": hi, "iterations": config.eigen_iterations,
                   "damping_needed": max(0.0, -lo), "neumann_eta": eta, "eta_times_max": eta * hi}
        log(f"training Hessian: λ_min {lo:+.3e}, λ_max {hi:+.3e} ({config.eigen_iterations} power "
            f"iterations each); a definite system needs δ > {max(0.0, -lo):.3e}; Neumann's default "
            f"η = {eta:g} gives η·λ_max = {eta * hi:.3f} (diverges above 2)")
        del g_w
    # 3. The references: the implicit hypergradient with H⁻¹v by MINRES (H is indefinite here, so
    # CG would stop at the first negative curvature), and T unrolled steps of the real optimiser.
    solve: dict = {}

    def tight(hvp, v):
        return minres_solve(hvp, v, config.reference_damping, config.reference_k, config.reference_tol,
                            info=solve)

    t0 = time.perf_counter()
    reference = _flat(implicit_gradient(probe, train_batch, val_batch, tight)[0]).detach()
    ref_time = time.perf_counter() - t0
    log(f"implicit reference: {solve['iterations']} MINRES iterations (stopped: {solve['stop']}), "
        f"relative residual {solve['residual']:.2e}, in {ref_time:.1f}s, ‖g‖ {float(reference.norm()):.3e}")
    unroll_batches = [b for b, _ in zip(batches(train_idx, 5), range(config.unrolled_steps))]
    t0 = time.perf_counter()
    unrolled = _flat(unrolled_hypergradient(probe, unroll_batches, val_batch))
    unrolled_time = time.perf_counter() - t0
    log(f"unrolled reference: {len(unroll_batches)} steps in {unrolled_time:.1f}s, ‖g‖ "
        f"{float(unrolled.norm()):.3e}, cosine to the implicit one "
        f"{float(torch.nn.functional.cosine_similarity(unrolled, reference, dim=0)):+.4f}")
    state = {k: v.clone() for k, v in net.state_dict().items()}
    rows = []
    for name in config.strategies:
        net.load_state_dict(state)
        strategy = make_strategy(name, net, **config.options.get(name, {}))
        if strategy.fits_response and config.hyper_steps:
            for _ in range(config.hyper_steps):
                strategy.weight_step(train_batch)  # fits φ around α; α itself never moves
        times = []
        for _ in range(config.repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t = time.perf_counter()
            g = _flat(strategy.hypergradient(train_batch, val_batch))
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - t)
        cos = float(torch.nn.functional.cosine_similarity(g, reference, dim=0))
        rel = float((g - reference).norm() / reference.norm())
        cos_u = float(torch.nn.functional.cosine_similarity(g, unrolled, dim=0))
        rel_u = float((g - unrolled).norm() / unrolled.norm())
        row = {"strategy": name, "cosine": cos, "relative_error": rel, "cosine_unrolled": cos_u,
               "relative_error_unrolled": rel_u, "time_s": statistics.median(times),
               "norm": float(g.norm()), "passes": type(strategy).passes(strategy.config),
               "options": _options(strategy.config)}
        log(f"{name:<20} implicit: cosine {cos:+.4f}, relative error {rel:.4f};  unrolled: cosine "
            f"{cos_u:+.4f}, relative error {rel_u:.4f};  {row['time_s'] * 1e3:.0f} ms")
        rows.append(row)
    net.load_state_dict(state)
    return {"point": {"train_loss": float(train_loss.detach()), "grad_norm": grad_norm,
                      "warmup_steps": config.warmup_steps, "pretrain_steps": config.pretrain_steps,
                      "batch_size": config.batch_size, "space_options": config.space_options,
                      "seed": config.seed},
            "hessian": hessian,
            "reference": {"solver": "minres", "iterations": solve["iterations"], "stop": solve["stop"],
                          "residual": solve["residual"], "damping": config.reference_damping,
                          "time_s": ref_time, "norm": float(reference.norm()),
                          "unrolled_steps": len(unroll_batches), "unrolled_time_s": unrolled_time,
                          "unrolled_norm": float(unrolled.norm())},
            "rows": rows}


def minres_solve(hvp, v: list[torch.Tensor], damping: float, k: int, tol: float,
                 info: dict | None = None) -> list[torch.Tensor]:
    """x ≈ (H + δI)⁻¹ v by scipy's MINRES, which needs H symmetric but not definite (in float64 on
    the host); `info` receives `iterations`, `stop` (scipy's exit: "converged" or "max
    iterations") and `residual` (‖(H + δI)x − v‖/‖v‖, recomputed with one more product)."""
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, minres

    shapes = [t.shape for t in v]
    sizes = [t.numel() for t in v]
    like = v[0]

    def to_torch(x):
        flat = torch.as_tensor(x, dtype=like.dtype, device=like.device)
        return [p.reshape(sh) for p, sh in zip(flat.split(sizes), shapes)]

    def to_numpy(ts):
        return torch.cat([t.reshape(-1) for t in ts]).double().cpu().numpy()

    count = [0]

    def matvec(x):
        count[0] += 1
        u = to_torch(x)
        return to_numpy([h + damping * ui for h, ui in zip(hvp(u), u)])

    n = sum(sizes)
    b = to_numpy(v)
    x, code = minres(LinearOperator((n, n), matvec=matvec, dtype=np.float64), b, rtol=tol, maxiter=k)
    iterations = count[0]
    residual = float(np.linalg.norm(matvec(x) - b) / max(np.linalg.norm(b), 1e-30))
    if info is not None:
        info.update(iterations=iterations, stop="converged" if code == 0 else "max iterations",
                    residual=residual)
    return to_torch(x)


def _options(config: StrategyConfig) -> dict:
    base = {f for f in StrategyConfig.__dataclass_fields__}
    return {k: v for k, v in vars(config).items() if k not in base}


def unrolled_hypergradient(strategy, train_batches: list, val_batch) -> list[torch.Tensor]:
    """The exact hypergradient of T = len(train_batches) steps of the strategy's real weight
    optimiser, by automatic differentiation through all of them: dL_val(w_T(α), α)/dα.

    Each step is the search's weight step as torch runs it: the gradient of L_train on the batch,
    clipped to the global norm `w_grad_clip` (torch's clip_grad_norm_, differentiably), weight decay
    added, the momentum buffer updated (starting from the optimiser's current buffers) and
    w ← w − lr·buf at the current learning rate. Nothing of the model or the optimiser changes.
    Memory grows with T (every step's graph is kept).
    """
    c = strategy.config
    alphas = [a.detach().requires_grad_() for a in strategy.alphas]
    w = [p.detach().requires_grad_() for p in strategy.weights]
    bufs = [None if m is None else m.detach() for m in strategy.momentum_buffers()]
    lr = strategy.w_lr
    for batch in train_batches:
        loss, _ = strategy.loss(batch, weights=w, alphas=alphas, precise=True)
        g = list(torch.autograd.grad(loss, w, create_graph=True, allow_unused=True,
                                     materialize_grads=True))
        if c.w_grad_clip > 0:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(x) for x in g]))
            coef = torch.clamp(c.w_grad_clip / (norm + 1e-6), max=1.0)
            g = [x * coef for x in g]
        if c.w_weight_decay:
            g = [x + c.w_weight_decay * wi for x, wi in zip(g, w)]
        if c.w_momentum:
            bufs = [x if b is None else c.w_momentum * b + x for b, x in zip(bufs, g)]
            g = bufs
        w = [wi - lr * x for wi, x in zip(w, g)]
    val, _ = strategy.loss(val_batch, weights=w, alphas=alphas, precise=True)
    return [x.detach() for x in torch.autograd.grad(val, alphas, allow_unused=True,
                                                    materialize_grads=True)]


def extreme_eigenvalues(hvp, like: list[torch.Tensor], iterations: int = 50,
                        seed: int = 0) -> tuple[float, float]:
    """(λ_min, λ_max) of the symmetric operator `hvp` by power iteration: first on H for the
    eigenvalue of largest magnitude λ_d, then on H − λ_d·I for the other end of the spectrum."""

    dominant = power_iteration(hvp, like, iterations, seed=seed)
    other = power_iteration(hvp, like, iterations, shift=dominant, seed=seed)
    return min(dominant, other), max(dominant, other)
