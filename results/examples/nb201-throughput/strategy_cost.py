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

from grid_search import grid_search, random_images, step_seconds

from nas.strategies import STRATEGIES

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
strategies = [s for s in STRATEGIES if s != "random"]
data = random_images(1024)
times: dict[str, list[float]] = {s: [] for s in strategies}
for r in range(rounds):
    for strategy in strategies:
        times[strategy].append(step_seconds(grid_search(strategy, data, seed=r), 4))
        print(f"round {r + 1}/{rounds} {strategy}: {times[strategy][-1] * 1000:.0f} ms/step", flush=True)
base = statistics.median(times["first-order"])
print("\nmedian over rounds (ratio to first-order):")
for strategy in strategies:
    m = statistics.median(times[strategy])
    print(f"{strategy:22s} {m * 1000:7.0f} ms/step  {m / base:5.1f}x  "
          f"(rounds {min(times[strategy]) * 1000:.0f}-{max(times[strategy]) * 1000:.0f} ms)")
