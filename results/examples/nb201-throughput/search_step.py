"""The time of one search step on NAS-Bench-201's supernet at the nb201-cpu grid's size (1 cell per
stage, 8 channels, 16x16 images, channels_last, one thread) at batch 16, 64 and 256, on random
images: how much of a step is a fixed cost that stacking searches could save. CPU time of 8 steps
after one untimed step.

  python results/examples/nb201-throughput/search_step.py first-order
"""

import sys

import torch
from grid_search import grid_search, random_images, step_seconds

strategy = sys.argv[1] if len(sys.argv) > 1 else "first-order"
for bs in (16, 64, 256):
    data = random_images(2048, torch.Generator().manual_seed(0))
    dt = step_seconds(grid_search(strategy, data, batch_size=bs), 8)
    print(f"{strategy} batch {bs}: {dt * 1000:.1f} ms/step, {dt / bs * 1e6:.0f} us/image", flush=True)
