"""Hypergradient fidelity: each strategy's dL_val/dα against two references, at one point.

The point: a small supernet after a few first-order search steps (so α is no
longer uniform), whose weights are then trained on one fixed training batch
close to the best response w*(α) for that batch. Two references:

- implicit: g_ref = ∂_α L_val − ∇²_{αw} L_train · (H + δI)⁻¹ ∇_w L_val, in float64, with
  δ = max(2·|λ_min|, λ_max/100) by default (H is indefinite away from a minimum and nearly
  singular: the damping makes the system positive definite with a condition number of at most
  about 200; the reference is then the hypergradient of the proximal best response
  argmin_w L_train + δ/2‖w − w₀‖²), solved by CG where δ exceeds the measured |λ_min|, else by
  MINRES; its products, its stop and its recomputed true residual are reported: a reference
  that did not converge says so;
- unrolled: the exact hypergradient of T steps of the real weight optimiser (autodiff).

The training Hessian's extreme eigenvalues at the point are reported beside them (the damping a
definite system would need; Neumann's η·λ_max). Each strategy then returns its hypergradient for
the same (train, val) batch pair without changing any state; we report the cosine similarity and
the relative error ‖g − g_ref‖ / ‖g_ref‖ against each reference, its passes per step and the time
it took. hyperDARTS first fits its hypernetwork around the point (`hyper_steps` φ-steps at fixed
α) — without that its hypergradient is first-order's by construction.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, minres

from nas.checkpoint import seed_everything
from nas.data import Batches, ImageData, search_split
from nas.options import check_ranges
from nas.spaces import make_supernet, space_config
from nas.spectrum import auto_damping, lanczos_extremes
from nas.strategies import SEARCHING, make_strategy
from nas.strategies.base import StrategyConfig, grad
from nas.strategies.implicit import implicit_gradient
from nas.strategies.implicit_cg import cg_solve


@dataclass(frozen=True)
class FidelityConfig:
    strategies: tuple[str, ...] = SEARCHING
    space_options: dict = field(default_factory=lambda: {"channels": 4, "layers": 3})
    batch_size: int = 64
    seed: int = 0
    warmup_steps: int = 20          # first-order search steps before the point is fixed
    warmup_alpha_lr: float | None = None   # α's learning rate in them (None: DARTS's 3e-4)
    pretrain_steps: int = 200       # gradient steps of w on the fixed training batch
    pretrain_lr: float = 0.05
    reference_k: int = 300          # MINRES iterations of the implicit reference at most …
    # δ of its (H + δI)x = v: "auto" = max(2·|λ_min|, λ_max/100) of the measured spectrum
    # (`auto_damping`: positive definite, condition number ≤ about 200); a number: that δ (0: MINRES
    # on H itself, indefinite away from a minimum and nearly singular; it may not converge)
    reference_damping: float | str = "auto"
    reference_tol: float = 1e-4     # … stopping once the true ‖r‖ ≤ tol·‖v‖
    unrolled_steps: int = 5         # T of the unrolled reference (the real weight optimiser's steps)
    eigen_iterations: int = 40      # Lanczos steps for the ends of the training Hessian's spectrum
    hyper_steps: int = 100          # φ-steps that fit hyperDARTS's hypernetwork first
    repeats: int = 3                # timed hypergradient calls per strategy (median)
    options: dict = field(default_factory=dict)  # strategy name -> its options
    # further rows: (strategy, options) pairs measured at the same point beside the defaults, e.g.
    # implicit-cg at other dampings (their rows have `variant` True)
    variants: tuple = ()

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("batch_size", "reference_k", "unrolled_steps", "repeats"),
                     positive=("pretrain_lr", "reference_tol", "warmup_alpha_lr"),
                     non_negative=("seed", "warmup_steps", "pretrain_steps", "eigen_iterations",
                                   "hyper_steps"))
        d = self.reference_damping
        if (d != "auto") if isinstance(d, str) else d < 0:
            raise ValueError(f"reference_damping is 'auto' or a number ≥ 0, not {d!r}")
        if d == "auto" and self.eigen_iterations < 1:
            raise ValueError("reference_damping 'auto' needs the spectrum: eigen_iterations ≥ 1")


def _double(batch):
    """A batch with its floating-point tensors in float64."""
    return tuple(t.double() if t.is_floating_point() else t for t in batch)


def _flat(ts: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in ts])


def measure_fidelity(config: FidelityConfig, data: ImageData, device: str | torch.device = "cpu",
                     log=None) -> dict:
    """Returns {'point': {...}, 'hessian': {...}, 'reference': {...}, 'rows': [one dict per
    strategy]}: the point of a search (`search_point`), the training Hessian's spectrum there
    (`training_spectrum`), the two references (`implicit_reference`, `unrolled_reference`) and
    every strategy's hypergradient against both (`compare`)."""
    log = log or (lambda msg: None)
    device = torch.device(device)
    net, probe, train_batch, val_batch, batches, point = search_point(config, data, device, log)
    # The spectrum and the implicit reference are computed on a float64 copy of the supernet:
    # near a fitted point float32 Hessian-vector products carry relative errors around 1e-4 (the
    # cancellations of a softmax near one-hot), enough to stall MINRES's true residual at 1e-3.
    exact = make_strategy("first-order", copy.deepcopy(net).double())
    train64, val64 = _double(train_batch), _double(val_batch)
    hessian = training_spectrum(config, exact, train64, probe.w_lr, log)
    reference, ref_info = implicit_reference(config, exact, train64, val64, hessian, log)
    unrolled, unrolled_info = unrolled_reference(config, probe, batches, val_batch, reference, log)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    runs = [(name, config.options.get(name, {}), False) for name in config.strategies]
    runs += [(name, dict(options), True) for name, options in config.variants]
    rows = []
    for name, options, variant in runs:
        net.load_state_dict(state)
        rows.append(compare(name, options, variant, net, config, device, train_batch, val_batch,
                            reference, unrolled, log))
    net.load_state_dict(state)
    return {"point": point, "hessian": hessian, "reference": {**ref_info, **unrolled_info}, "rows": rows}


def search_point(config: FidelityConfig, data: ImageData, device: torch.device, log):
    """The supernet at a point in the middle of a search (a few first-order steps), its weights
    then brought close to the best response for one fixed training batch (plain gradient descent):
    (supernet, the first-order strategy there, the training batch, the validation batch, the
    batches' maker `batches(which, seed)`, the point's description)."""
    seed_everything(config.seed)
    net = make_supernet("darts", space_config("darts", **config.space_options),
                        data.in_channels, data.num_classes).to(device)
    split = dict(zip(("train", "val"), search_split(len(data.train_y), config.seed)))

    def batches(which, seed):
        idx = split[which]
        return Batches(data.train_x[idx], data.train_y[idx], config.batch_size, data.mean,
                       data.std, shuffle=True, drop_last=True, seed=seed, device=device)

    fo = make_strategy("first-order", net, **({} if config.warmup_alpha_lr is None
                                              else {"alpha_lr": config.warmup_alpha_lr}))
    done = 0
    while done < config.warmup_steps:
        for tb, vb in zip(batches("train", 1), batches("val", 2)):
            fo.step(tb, vb)
            done += 1
            if done >= config.warmup_steps:
                break
    train_batch = next(iter(batches("train", 3)))
    val_batch = next(iter(batches("val", 4)))
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
    point = {"train_loss": float(train_loss.detach()), "grad_norm": grad_norm,
             "warmup_steps": config.warmup_steps,
             "warmup_alpha_lr": config.warmup_alpha_lr, "pretrain_steps": config.pretrain_steps,
             "batch_size": config.batch_size, "space_options": config.space_options,
             "seed": config.seed}
    return net, probe, train_batch, val_batch, batches, point


def training_spectrum(config: FidelityConfig, exact, train64, eta: float, log) -> dict:
    """The ends of the spectrum of H = ∇²_w L_train at the point (Lanczos on `exact`, the float64
    copy): the damping a definite system needs (|λ_min|) and Neumann's η·λ_max (the series
    diverges above 2); {} where config.eigen_iterations is 0."""
    if config.eigen_iterations <= 0:
        return {}
    loss, _ = exact.loss(train64)
    g_w = torch.autograd.grad(loss, exact.weights, create_graph=True, allow_unused=True,
                              materialize_grads=True)

    def hvp_w(u):
        return [h.detach() for h in torch.autograd.grad(
            sum((g * x).sum() for g, x in zip(g_w, u)), exact.weights, retain_graph=True,
            allow_unused=True, materialize_grads=True)]

    spectrum = lanczos_extremes(hvp_w, [w.detach() for w in exact.weights], config.eigen_iterations)
    lo, hi = spectrum["min"], spectrum["max"]
    # (eta: implicit-neumann's default η, the weights' learning rate)
    log(f"training Hessian: λ_min {lo:+.3e}, λ_max {hi:+.3e} ({spectrum['products']} Lanczos steps; "
        f"relative residuals {spectrum['min_residual']:.1e}, {spectrum['max_residual']:.1e}); a "
        f"definite system needs δ > {max(0.0, -lo):.3e}; Neumann's default η = {eta:g} gives "
        f"η·λ_max = {eta * hi:.3f} (diverges above 2)")
    return {"min": lo, "max": hi, "iterations": spectrum["products"],
            "min_residual": spectrum["min_residual"], "max_residual": spectrum["max_residual"],
            "min_bound": spectrum["min_bound"],
            "damping_needed": max(0.0, -lo), "neumann_eta": eta, "eta_times_max": eta * hi}


def implicit_reference(config: FidelityConfig, exact, train64, val64, hessian: dict,
                       log) -> tuple[torch.Tensor, dict]:
    """The implicit hypergradient, solved tightly, and how: where the damping exceeds the measured
    |λ_min| the system is positive definite and CG solves it (its true residual recomputed; a
    direction of negative curvature would stop it and say so); otherwise (indefinite) MINRES.
    (scipy's MINRES stops on its least-squares test before the true residual is small on these
    nearly singular systems: 2e-5 where CG reaches 1e-10 in float64.)"""
    solve: dict = {}
    damping = (auto_damping(hessian["min"], hessian["max"]) if config.reference_damping == "auto"
               else float(config.reference_damping))
    # θ_min ≥ λ_min (Ritz values lie inside the spectrum): the margin is θ_min's error bound
    definite = bool(hessian) and damping > -(hessian["min"] - hessian.get("min_bound", 0.0))
    solver = "cg" if definite else "minres"

    def tight(hvp, v):
        if solver == "minres":
            return minres_solve(hvp, v, damping, config.reference_k, config.reference_tol, info=solve)
        x = cg_solve(hvp, v, damping, config.reference_k, tol=config.reference_tol, info=solve)
        ax = [h + damping * xi for h, xi in zip(hvp(x), x)]   # the true residual, one more product
        residual = _flat([a - b for a, b in zip(ax, v)]).norm() / _flat(v).norm()
        solve.update(rounds=1, residual=float(residual), iterations=solve["iterations"] + 1)
        if solve["residual"] <= config.reference_tol:
            solve["stop"] = "converged"
        elif solve["stop"] == "converged":   # CG's own residual said so, the true one does not
            solve["stop"] = "not converged (true residual)"
        return x

    t0 = time.perf_counter()
    reference = _flat(implicit_gradient(exact, train64, val64, tight)[0]).detach().float()
    ref_time = time.perf_counter() - t0
    log(f"implicit reference: (H + δI)x = v with δ = {damping:.3e} ({config.reference_damping}) by "
        f"{solver.upper()}, {solve['iterations']} products in {solve['rounds']} run(s) (stopped: "
        f"{solve['stop']}), true relative residual "
        f"{solve['residual']:.2e}, in {ref_time:.1f}s, ‖g‖ {float(reference.norm()):.3e}")
    return reference, {"solver": solver, "iterations": solve["iterations"], "stop": solve["stop"],
                       "rounds": solve["rounds"],
                       "residual": solve["residual"], "damping": damping,
                       "damping_rule": str(config.reference_damping),
                       "time_s": ref_time, "norm": float(reference.norm())}


def unrolled_reference(config: FidelityConfig, probe, batches, val_batch, reference: torch.Tensor,
                       log) -> tuple[torch.Tensor, dict]:
    """The hypergradient through T unrolled steps of the real optimiser, and its cosine to the
    implicit reference."""
    unroll_batches = [b for b, _ in zip(batches("train", 5), range(config.unrolled_steps))]
    t0 = time.perf_counter()
    unrolled = _flat(unrolled_hypergradient(probe, unroll_batches, val_batch))
    unrolled_time = time.perf_counter() - t0
    log(f"unrolled reference: {len(unroll_batches)} steps in {unrolled_time:.1f}s, ‖g‖ "
        f"{float(unrolled.norm()):.3e}, cosine to the implicit one "
        f"{float(torch.nn.functional.cosine_similarity(unrolled, reference, dim=0)):+.4f}")
    return unrolled, {"unrolled_steps": len(unroll_batches), "unrolled_time_s": unrolled_time,
                      "unrolled_norm": float(unrolled.norm()),
                      "cosine": float(torch.nn.functional.cosine_similarity(unrolled, reference, dim=0))}


def compare(name: str, options: dict, variant: bool, net, config: FidelityConfig, device: torch.device,
            train_batch, val_batch, reference: torch.Tensor, unrolled: torch.Tensor, log) -> dict:
    """One strategy's hypergradient at the point against both references: its row."""
    strategy = make_strategy(name, net, **options)
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
           "options": _options(strategy.config), "variant": variant}
    info = getattr(strategy, "solve_info", None)
    if info and "iterations" in info:   # implicit-cg: its CG's products, and why it stopped
        row.update(solver_iterations=info["iterations"], solver_stop=info["stop"],
                   solver_residual=info.get("residual", float("nan")))
    if info and "growth" in info:   # implicit-neumann: its series' last term over its first
        row.update(solver_growth=float(info["growth"]))
    label = name + (f" {options}" if variant else "")
    log(f"{label:<20} implicit: cosine {cos:+.4f}, relative error {rel:.4f};  unrolled: cosine "
        f"{cos_u:+.4f}, relative error {rel_u:.4f};  {row['time_s'] * 1e3:.0f} ms"
        + (f"; solver: {info['iterations']} iterations ({info['stop']})"
           if info and "iterations" in info else "")
        + (f"; series growth {float(info['growth']):.2f}" if info and "growth" in info else ""))
    return row


def minres_solve(hvp, v: list[torch.Tensor], damping: float, k: int, tol: float,
                 info: dict | None = None) -> list[torch.Tensor]:
    """x ≈ (H + δI)⁻¹ v by scipy's MINRES, which needs H symmetric but not definite (in float64 on
    the host), refined on its true residual until ‖(H + δI)x − v‖ ≤ tol·‖v‖ or k products; `info`
    receives `iterations` (the products, those of the residuals included), `rounds` (MINRES runs),
    `stop` ("converged": the true residual is at most tol; else "max iterations") and `residual`
    (‖(H + δI)x − v‖/‖v‖, recomputed)."""
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
    op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    b_norm = max(float(np.linalg.norm(b)), 1e-30)
    # MINRES's own residual estimate drifts from the true one when the products carry float32
    # rounding; so the true residual is recomputed, and while it is above tol the solve restarts
    # on it (iterative refinement: x ← x + A⁻¹(b − Ax)), within the same budget of k products.
    x = np.zeros(n)
    r = b.copy()
    rounds = 0
    while count[0] < k:
        d, _ = minres(op, r, rtol=tol * b_norm / max(float(np.linalg.norm(r)), 1e-30),
                         maxiter=k - count[0])
        x = x + d
        r = b - matvec(x)
        rounds += 1
        if np.linalg.norm(r) <= tol * b_norm or rounds >= 5:
            break
    residual = float(np.linalg.norm(r) / b_norm)
    if info is not None:
        info.update(iterations=count[0], rounds=rounds,
                    stop="converged" if residual <= tol else "max iterations", residual=residual)
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
