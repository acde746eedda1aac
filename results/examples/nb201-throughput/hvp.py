"""What an implicit strategy's step spends its time on, at the nb201-cpu grid's search size (1 cell
per stage, 8 channels, 16x16 images, batch 64, one thread): a forward and backward of the training
loss, the same keeping the graph for double backward, and one exact Hessian-vector product (the
K + 1 products of implicit-neumann's and implicit-cg's steps), in channels-last order (the grid's
`search_speed`) and in the default order, interleaved in rounds in one process (CPU time, the mean
of 5 after one untimed).

  python results/examples/nb201-throughput/hvp.py
"""

import time

import torch

from nas.data import Augment, ImageData
from nas.search import Search, SearchConfig
from nas.strategies.base import grad
from nas.strategies.implicit import dot

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
x = torch.randint(0, 255, (512, 3, 16, 16), dtype=torch.uint8, generator=g)
y = torch.randint(0, 10, (512,), generator=g)
data = ImageData("synthetic", x, y, x[:10], y[:10], [str(i) for i in range(10)], (0.5,) * 3,
                 (0.25,) * 3, Augment(crop_padding=2, flip=True, cutout=0))


def parts(speed: tuple) -> dict:
    config = SearchConfig.of(space="nb201", strategy="implicit-neumann", dataset="synthetic", epochs=1,
                             batch_size=64, seed=0, space_options={"channels": 8, "cells_per_stage": 1},
                             strategy_options={}, speed=speed)
    search = Search(config, data=data)
    s, (train, _) = search.strategy, next(zip(search.train_batches, search.val_batches))

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


def ms(f, k: int = 5) -> float:
    f()
    start = time.process_time()
    for _ in range(k):
        f()
    return (time.process_time() - start) / k * 1000


layouts = {"channels-last": parts(("channels_last",)), "default": parts(())}
for r in range(3):
    for name, fs in layouts.items():
        print(f"round {r + 1} {name:>13}: " + "; ".join(f"{k} {ms(f):.0f} ms" for k, f in fs.items()),
              flush=True)
