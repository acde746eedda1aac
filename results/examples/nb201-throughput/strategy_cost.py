"""The CPU time of one search step of every strategy on the nb201-cpu grid's supernet (1 cell per
stage, 8 channels, 16x16 images, channels_last, batch 64, one thread, each strategy's default
options), on random images, in interleaved rounds (each round times every strategy once, so a busy
machine slows them alike): what a seed of each strategy costs relative to first-order, to size
the grid's seeds for the strategies not yet run. CPU time of 4 steps after one untimed step, per
strategy per round; the summary is the median over rounds and its ratio to first-order's.

  python results/examples/nb201-throughput/strategy_cost.py [ROUNDS]
"""

import statistics
import sys
import time

import torch

from nas.data import Augment, ImageData
from nas.search import Search, SearchConfig
from nas.strategies import STRATEGIES

torch.set_num_threads(1)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
strategies = [s for s in STRATEGIES if s != "random"]
g = torch.Generator().manual_seed(0)
x = torch.randint(0, 255, (1024, 3, 16, 16), dtype=torch.uint8, generator=g)
y = torch.randint(0, 10, (1024,), generator=g)
data = ImageData("synthetic", x, y, x[:10], y[:10], [str(i) for i in range(10)], (0.5,) * 3,
                 (0.25,) * 3, Augment(crop_padding=2, flip=True, cutout=0))
times: dict[str, list[float]] = {s: [] for s in strategies}
for r in range(rounds):
    for strategy in strategies:
        config = SearchConfig.of(space="nb201", strategy=strategy, dataset="synthetic", epochs=1,
                                 batch_size=64, seed=r, space_options={"channels": 8, "cells_per_stage": 1},
                                 strategy_options={}, speed=("channels_last",))
        search = Search(config, data=data)
        pairs = zip(search.train_batches, search.val_batches)
        search.strategy.step(*next(pairs))
        start, k = time.process_time(), 0
        for train, val in pairs:
            search.strategy.step(train, val)
            k += 1
            if k == 4:
                break
        times[strategy].append((time.process_time() - start) / k)
        print(f"round {r + 1}/{rounds} {strategy}: {times[strategy][-1] * 1000:.0f} ms/step", flush=True)
base = statistics.median(times["first-order"])
print("\nmedian over rounds (ratio to first-order):")
for strategy in strategies:
    m = statistics.median(times[strategy])
    print(f"{strategy:22s} {m * 1000:7.0f} ms/step  {m / base:5.1f}x  "
          f"(rounds {min(times[strategy]) * 1000:.0f}-{max(times[strategy]) * 1000:.0f} ms)")
