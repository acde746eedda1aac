"""The time of one search step on NAS-Bench-201's supernet at the nb201-cpu grid's size (1 cell per
stage, 8 channels, 16x16 images, channels_last, one thread) at batch 16, 64 and 256, on random
images: how much of a step is a fixed cost that stacking searches could save. CPU time of 8 steps
after one untimed step.

  python results/examples/nb201-throughput/search_step.py first-order
"""

import sys
import time

import torch

from nas.data import Augment, ImageData
from nas.search import Search, SearchConfig

torch.set_num_threads(1)
strategy = sys.argv[1] if len(sys.argv) > 1 else "first-order"
n = 2048
for bs in (16, 64, 256):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (n, 3, 16, 16), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    data = ImageData("synthetic", x, y, x[:10], y[:10], [str(i) for i in range(10)], (0.5,) * 3,
                     (0.25,) * 3, Augment(crop_padding=2, flip=True, cutout=0))
    config = SearchConfig.of(space="nb201", strategy=strategy, dataset="synthetic", epochs=1,
                             batch_size=bs, seed=0, space_options={"channels": 8, "cells_per_stage": 1},
                             strategy_options={}, speed=("channels_last",))
    search = Search(config, data=data)
    pairs = zip(search.train_batches, search.val_batches)
    search.strategy.step(*next(pairs))
    start, k = time.process_time(), 0
    for train, val in pairs:
        search.strategy.step(train, val)
        k += 1
        if k == 8:
            break
    dt = (time.process_time() - start) / k
    print(f"{strategy} batch {bs}: {dt * 1000:.1f} ms/step, {dt / bs * 1e6:.0f} us/image", flush=True)
