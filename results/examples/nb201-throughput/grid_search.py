"""What the scripts beside this one share: a search at the nb201-cpu grid's search size (NAS-Bench-201's
supernet with 1 cell per stage, 8 channels, 16x16 images, one thread) on random images, and the CPU
time of a function or of a strategy's steps. Imported by them (each runs from the project root as
`python results/examples/nb201-throughput/<script>.py`, which puts this folder on the path)."""

import time

import torch

from nas.data import Augment, ImageData
from nas.search import Search, SearchConfig

torch.set_num_threads(1)


def random_images(n: int, generator: torch.Generator | None = None) -> ImageData:
    """`n` random 16x16 images in 10 classes, augmented as the grid's search augments them."""
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (n, 3, 16, 16), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return ImageData("synthetic", x, y, x[:10], y[:10], [str(i) for i in range(10)], (0.5,) * 3,
                     (0.25,) * 3, Augment(crop_padding=2, flip=True, cutout=0))


def grid_search(strategy: str, data: ImageData, batch_size: int = 64, seed: int = 0,
                speed: tuple = ("channels_last",)) -> Search:
    """A one-epoch search of `strategy` (its default options) at the grid's supernet size."""
    config = SearchConfig.of(space="nb201", strategy=strategy, dataset="synthetic", epochs=1,
                             batch_size=batch_size, seed=seed,
                             space_options={"channels": 8, "cells_per_stage": 1},
                             strategy_options={}, speed=speed)
    return Search(config, data=data)


def first_batches(search: Search):
    """The search's first (training, validation) pair of batches."""
    return next(zip(search.train_batches, search.val_batches))


def step_seconds(search: Search, steps: int) -> float:
    """CPU seconds of one of the strategy's steps: the mean of `steps` after one untimed step."""
    pairs = zip(search.train_batches, search.val_batches)
    search.strategy.step(*next(pairs))
    start, k = time.process_time(), 0
    for train, val in pairs:
        search.strategy.step(train, val)
        k += 1
        if k == steps:
            break
    return (time.process_time() - start) / k


def ms(f, k: int = 5) -> float:
    """CPU milliseconds of one call of `f`: the mean of `k` after one untimed call."""
    f()
    start = time.process_time()
    for _ in range(k):
        f()
    return (time.process_time() - start) / k * 1000
