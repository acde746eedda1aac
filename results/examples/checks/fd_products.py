"""Exact against finite-difference Hessian-vector products in the implicit strategies, on the cpu
grid's supernet (CIFAR-10 at 16×16, 5 cells of 4 channels, batch 32, seed 0).

At two points of a first-order search (before its first step, and after 25 steps), on three
batch pairs each, it computes with each kind of product (exact double backward; finite
differences at the default radius 0.01 and at 0.1):
- implicit-neumann (K = 5, η = the weights' lr): the growth of its series (last term / first)
  and its hypergradient's norm;
- implicit-cg (δ = 1, K = 5): the products its CG used, why it stopped, its hypergradient's norm;
- each hypergradient's cosine with the same strategy's exact-product one.

    OMP_NUM_THREADS=1 python results/examples/checks/fd_products.py > results/examples/checks/fd-products.log
"""

from __future__ import annotations

import sys

import torch

from benchmark.grids import GRIDS
from benchmark.trial import load_for_trial
from nas.search import Search
from nas.strategies import make_strategy
from nas.strategies.base import global_norm

torch.set_num_threads(1)
(spec,) = [t for t in GRIDS["cpu"].trials() if t.strategy == "first-order" and t.seed == 0]
search = Search(spec.search, load_for_trial(spec.search_dataset, spec, search=True), "cpu")
pairs = iter(zip(search.train_batches, search.val_batches))
PRODUCTS = {"exact": {"hvp": "exact"}, "fd 0.01": {"hvp": "finite-difference", "fd_radius": 0.01},
            "fd 0.1": {"hvp": "finite-difference", "fd_radius": 0.1}}
print("point | batch | strategy | products | growth or CG products (stop) | ‖g‖ | cos to exact")
print("---|---|---|---|---|---|---")
for point, steps in (("start", 0), ("after 25 steps", 25)):
    for _ in range(steps):   # (the start's three batch pairs are not stepped on)
        search.strategy.step(*next(pairs))
    for batch in range(3):
        tb, vb = next(pairs)
        for name, extra in (("implicit-neumann", {"neumann_k": 5}), ("implicit-cg", {"cg_k": 5})):
            exact = None
            for label, opts in PRODUCTS.items():
                s = make_strategy(name, search.supernet, epochs=3, **extra, **opts)
                s.new_epoch(search.strategy.epoch)
                g = s.hypergradient(tb, vb)
                if exact is None:
                    exact = g
                cos = float(sum((a * b).sum() for a, b in zip(g, exact))
                            / (global_norm(g) * global_norm(exact)))
                info = s.solve_info
                what = (f"{float(info['growth']):.2f}" if name == "implicit-neumann"
                        else f"{info['iterations']} ({info['stop']})")
                print(f"{point} | {batch} | {name} | {label} | {what} | {float(global_norm(g)):.3g} | {cos:.3f}",
                      flush=True)
sys.exit(0)
