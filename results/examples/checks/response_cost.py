"""The cost of hyperDARTS's `response_change` metric: one more evaluation of the hypernetwork at α
per step (no pass over data), against a whole step, in process CPU time on one thread, on the cpu
profile's supernet (5 cells of 4 channels, batch 32 of 16×16 images), median of 5 rounds.

    OMP_NUM_THREADS=1 python results/examples/checks/response_cost.py
"""

import time

import torch

from nas.spaces import make_supernet, space_config
from nas.strategies import make_strategy

torch.manual_seed(0)
torch.set_num_threads(1)
net = make_supernet("darts", space_config("darts", channels=4, layers=5, nodes=4, multiplier=4), 3, 10)
for name in ("hyperdarts-linear", "hyperdarts-mlp"):
    s = make_strategy(name, net)
    b = (torch.randn(32, 3, 16, 16), torch.randint(0, 10, (32,)))
    s.step(b, b)
    resp, step = [], []
    for _ in range(5):
        t = time.process_time()
        for _ in range(10):
            with torch.no_grad():
                s.response(s.alphas)
        resp.append((time.process_time() - t) / 10)
        t = time.process_time()
        s.step(b, b)
        step.append(time.process_time() - t)
    r, whole = sorted(resp)[2], sorted(step)[2]
    print(f"{name}: response(α) {r * 1e3:.2f} ms CPU, a whole step {whole * 1e3:.0f} ms CPU: "
          f"{100 * r / whole:.2f}% of a step")
