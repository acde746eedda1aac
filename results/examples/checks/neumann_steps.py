"""implicit-neumann's search on the cpu grid's profile, step by step: the hypergradient's norm, the
mean |Δα| of the step, the largest entry of Adam's second moment v, η and the norms of the
Neumann series' terms (first to last).

    OMP_NUM_THREADS=1 python results/examples/checks/neumann_steps.py implicit-neumann 0 finite-difference > neumann-steps-fd.log
    OMP_NUM_THREADS=1 python results/examples/checks/neumann_steps.py implicit-neumann 0 exact > neumann-steps-exact.log

(the exact run's log was stopped after 43 steps). It replaces the module's `neumann_solve` and the
strategy's `apply_alpha_gradient` with instrumented copies; the search is otherwise the grid's.
"""
import sys
import time

import torch
torch.set_num_threads(1)
from benchmark.grids import GRIDS
from benchmark.trial import load_for_trial
from nas.search import Search
import nas.strategies.implicit_neumann as nm

strategy = sys.argv[1]; seed = int(sys.argv[2])
terms = []
orig = nm.neumann_solve
def solve(hvp, v, eta, k):
    term = [x.clone() for x in v]; total = [x.clone() for x in v]
    norms = [float(sum((t*t).sum() for t in term).sqrt())]
    for _ in range(k):
        h = hvp(term)
        term = [t - eta * ht for t, ht in zip(term, h)]
        total = [s + t for s, t in zip(total, term)]
        norms.append(float(sum((t*t).sum() for t in term).sqrt()))
    terms.append((eta, norms))
    return [eta * s for s in total]
nm.neumann_solve = solve
(spec,) = [t for t in GRIDS["cpu"].trials() if t.strategy == strategy and t.seed == seed]
import dataclasses
cfg = spec.search
if len(sys.argv) > 3: cfg = dataclasses.replace(cfg, strategy_config=dataclasses.replace(cfg.strategy_config, hvp=sys.argv[3]))
print(cfg, flush=True)
s = Search(cfg, load_for_trial(spec.search_dataset, spec, search=True), "cpu")
st = s.strategy
orig_apply = st.apply_alpha_gradient
step = [0]
def apply(grads):
    gn = float(torch.sqrt(sum((g*g).sum() for g in grads)))
    before = [a.detach().clone() for a in st.alphas]
    orig_apply(grads)
    da = float(sum((a - b).abs().sum() for a, b in zip(st.alphas, before)) / sum(a.numel() for a in st.alphas))
    vmax = max(float(st.alpha_optimizer.state[a]["exp_avg_sq"].max()) for a in st.alphas)
    t = terms[-1] if terms else (None, [])
    print(f"step {step[0]:3d} |g| {gn:10.4g} mean|dα| {da:9.3g} max v {vmax:9.3g} eta {t[0]} terms "
          + " ".join(f"{x:.3g}" for x in t[1]), flush=True)
    step[0] += 1
st.apply_alpha_gradient = apply
while not s.done:
    t0 = time.time(); r = s.run_epoch()
    print("EPOCH", r["epoch"], {k: r[k] for k in r if k in ("train_loss","val_loss","val_acc","alpha_entropy","epoch_time_s")}, flush=True)
