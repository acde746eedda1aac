"""What an implicit strategy's step spends its time on, at the nb201-cpu grid's search size (1 cell
per stage, 8 channels, 16x16 images, batch 64, one thread): a forward and backward of the training
loss, the same keeping the graph for double backward, and one exact Hessian-vector product (the
K + 1 products of implicit-neumann's and implicit-cg's steps), in channels-last order (the grid's
`search_speed`) and in the default order, interleaved in rounds in one process (CPU time, the mean
of 5 after one untimed).

  python results/examples/nb201-throughput/hvp.py
"""

import torch
from grid_search import first_batches, grid_search, ms, random_images

from nas.strategies.base import grad
from nas.strategies.implicit import dot

data = random_images(512)


def parts(speed: tuple) -> dict:
    search = grid_search("implicit-neumann", data, speed=speed)
    s, (train, _) = search.strategy, first_batches(search)

    def keep_graph():
        with s.double_backward():
            loss, _ = s.loss(train)
        return torch.autograd.grad(loss, s.weights, create_graph=True, allow_unused=True,
                                   materialize_grads=True)
    g_w = keep_graph()
    u = [torch.randn_like(p) for p in s.weights]
    return {"forward+backward": lambda: grad(s.loss(train)[0], s.weights),
            "with the graph kept": keep_graph,
            "one HVP": lambda: torch.autograd.grad(dot(g_w, u), s.weights, retain_graph=True,
                                                   allow_unused=True, materialize_grads=True)}


layouts = {"channels-last": parts(("channels_last",)), "default": parts(())}
for r in range(3):
    for name, fs in layouts.items():
        print(f"round {r + 1} {name:>13}: " + "; ".join(f"{k} {ms(f):.0f} ms" for k, f in fs.items()),
              flush=True)
