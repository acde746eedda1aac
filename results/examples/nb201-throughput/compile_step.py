"""torch.compile of the nb201-cpu grid's supernet: a strategy's step with the supernet compiled in
place (`nn.Module.compile`, inductor, the default mode) against the plain step, in interleaved
rounds, one thread, on random images. First-order steps call the module; first-order-smoothed's and
hyperdarts-mlp's call it through `functional_call` with replaced tensors. Prints each strategy's
compile time (the first steps), the relative difference of the first hypergradient (the same
state, the same batches), the largest difference of α after the same 5 steps from the same start,
and CPU milliseconds a step in each round. Usage: python
results/examples/nb201-throughput/compile_step.py [ROUNDS] [STRATEGY ...]"""

import sys
import time

import torch
from grid_search import first_batches, grid_search, random_images, step_seconds

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
strategies = sys.argv[2:] or ["first-order", "first-order-smoothed", "hyperdarts-mlp"]
data = random_images(2048)
for name in strategies:
    plain, compiled = grid_search(name, data), grid_search(name, data)
    compiled.supernet.compile()
    start = time.perf_counter()
    first = [grid.strategy.hypergradient(*first_batches(grid)) for grid in (plain, compiled)]
    gap = max(((a - b).abs().max() / a.abs().max()).item() for a, b in zip(*first))
    for s in (plain, compiled):   # the same 5 steps on the same batches from the same start
        torch.manual_seed(1)
        batches = first_batches(s)
        for _ in range(5):
            s.strategy.step(*batches)
    apart = max((a - b).abs().max().item() for a, b in zip(plain.strategy.alphas, compiled.strategy.alphas))
    print(f"{name}: compile and 5 steps {time.perf_counter() - start:.0f} s; first hypergradient apart "
          f"by {gap:.1e} of its largest entry; α apart by {apart:.2e} after 5 steps", flush=True)
    for r in range(rounds):
        for label, s in (("plain", plain), ("compiled", compiled)):
            print(f"  round {r} {label:8s} {1000 * step_seconds(s, 20):6.1f} ms a step", flush=True)
