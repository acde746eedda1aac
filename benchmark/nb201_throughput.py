"""How many NAS-Bench-201 cells one CPU core trains per hour at a table's protocol, and what the
network's CPU speed-ups buy, measured side by side.

    python benchmark/nb201_throughput.py                                 # C 8, N 5, 5 epochs
    python benchmark/nb201_throughput.py --cells-per-stage 3 --epochs 2 --cells 6 --rounds 2
    python benchmark/nb201_throughput.py --variants fast                 # the cost alone
    python benchmark/nb201_throughput.py --grouped 32                    # would stacking pay?

Each training is the table's own (`nas.spaces.nb201.train_cell`: the seeded network, SGD with a
cosine schedule, the whole test set) on `--dataset` cut to `--train-subset` images and resized to
`--image-size`, in this process with `--threads` torch threads. Variants:

- `fast`: the network as the project trains it (`NB201Network`: channels-last weights and input on
  a CPU, the 3×3 average pool as a box convolution, `none` edges skipped);
- `reference`: NAS-Bench-201's own formulation (contiguous tensors, `nn.AvgPool2d` without the
  padding in the count, a zero computed for every `none` edge and summed), from the same weights.

The cells are the four uniform ones (all-skip, all-pooling, all-1×1, all-3×3) then distinct cells
drawn at random (`--seed`). In every round each cell is trained once by every variant, the order
of the variants alternating between rounds, so that the machine's load falls on both alike. It
prints each training (CPU seconds, wall seconds, test accuracy), then per variant the median CPU
seconds per training and the mean over the drawn cells (the uniform cells are the cheapest and the
dearest), the cells per core-hour at that mean and `--trainings` trainings per cell, and the
core-hours for every distinct cell of the space (6,466); and the speed-up with the range of the
per-cell ratios. The two variants' accuracies differ only by floating-point order (chaotic over
epochs), not by protocol.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from nas.data import load_dataset, resized, train_subset
from nas.options import Parser
from nas.spaces.nb201 import NB201TrainConfig, train_cell
from nas.spaces.nb201_cell import Cell, distinct_cells
from nas.spaces.nb201_net import InferCell, NB201Network

VARIANTS = ("reference", "fast")
UNIFORM = ("skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3")


class ReferenceCell(InferCell):
    """NAS-Bench-201's forward: every edge computed, `none` as a zero, the node a `sum`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, self.cell.nodes):
            nodes.append(sum(m(nodes[i]) for (to, i, _), m in zip(self.edges, self.ops) if to == j))
        return nodes[-1]


def reference_network(cell: Cell, config: NB201TrainConfig, data) -> nn.Module:
    net = NB201Network(cell, config.channels, config.cells_per_stage, data.num_classes,
                       data.in_channels)
    for module in net.cells:
        if isinstance(module, InferCell):
            module.__class__ = ReferenceCell
            for k, (_, _, op) in enumerate(module.edges):
                if op == "avg_pool_3x3":
                    module.ops[k] = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    return net


def pick_cells(count: int, seed: int) -> list[Cell]:
    uniform = [Cell((op,) * 6) for op in UNIFORM]
    chosen = uniform[:count]
    rest = [c for c in distinct_cells(4) if str(c) not in {str(u) for u in uniform}]
    chosen += random.Random(seed).sample(rest, max(0, count - len(chosen)))
    return chosen


def grouped_against_separate(networks: int, channels: int, batch: int, size: int,
                             repeats: int = 20) -> tuple[float, float]:
    """Seconds of one forward and backward of a 3×3 convolution for `networks` stacked networks of
    `channels` channels as one grouped convolution, and as that many separate ones: whether
    training many cells at once as one grouped network would pay."""
    x = torch.randn(batch, networks * channels, size, size, requires_grad=True)
    w = torch.randn(networks * channels, channels, 3, 3, requires_grad=True)
    xs = [torch.randn(batch, channels, size, size, requires_grad=True) for _ in range(networks)]
    ws = [torch.randn(channels, channels, 3, 3, requires_grad=True) for _ in range(networks)]

    def grouped():
        nn.functional.conv2d(x, w, padding=1, groups=networks).sum().backward()

    def separate():
        for a, b in zip(xs, ws):
            nn.functional.conv2d(a, b, padding=1).sum().backward()

    out = []
    for f in (grouped, separate):
        f()
        t0 = time.perf_counter()
        for _ in range(repeats):
            f()
        out.append((time.perf_counter() - t0) / repeats)
    return out[0], out[1]


def build_parser() -> argparse.ArgumentParser:
    """The command line: the protocol, the cells and rounds, and --grouped."""
    ap = Parser(description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="imagefolder:~/.cache/cifar10-jpeg",
                    help="dataset name, as the grids name it (default: the offline CIFAR-10 copy)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--train-subset", type=int, default=10_000)
    ap.add_argument("--image-size", type=int, default=16)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--cells-per-stage", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--cells", type=int, default=4, help="cells to train (default 4: the uniform ones)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    ap.add_argument("--trainings", type=int, default=2, help="trainings per cell in the table (2)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0, help="draws the random cells")
    ap.add_argument("--grouped", type=int, metavar="K", default=0,
                    help="only time a 3×3 convolution of K stacked networks as one grouped "
                         "convolution against K separate ones (at --channels, --batch-size, "
                         "--image-size), and exit")
    return ap


def main(argv: list[str] | None = None) -> None:
    """Time both formulations side by side (or, with --grouped, the grouped convolution) and print
    the throughput each gives."""
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.grouped < 0:
        ap.error("--grouped must be 0 (off) or a number of networks")
    for name in ("train_subset", "image_size", "cells", "rounds", "trainings", "threads"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")

    torch.set_num_threads(args.threads)
    if args.grouped:
        g, sep = grouped_against_separate(args.grouped, args.channels, args.batch_size, args.image_size)
        print(f"a 3×3 convolution, forward and backward, {args.grouped} networks of {args.channels} "
              f"channels, batch {args.batch_size}, {args.image_size}×{args.image_size}, "
              f"{args.threads} thread(s): one grouped {1e3 * g:.0f} ms, {args.grouped} separate "
              f"{1e3 * sep:.0f} ms (grouped / separate {g / sep:.2f})")
        return
    cpu = time_variants(args)
    print()
    summarise(cpu, args)


def time_variants(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Each variant's CPU-seconds per training of each cell, in interleaved rounds (the order
    reversed every other round), each training's line printed as it ends."""
    data = load_dataset(args.dataset, args.data_root)
    data = resized(train_subset(data, args.train_subset), args.image_size)
    config = NB201TrainConfig(channels=args.channels, cells_per_stage=args.cells_per_stage,
                              epochs=args.epochs, batch_size=args.batch_size)
    cells = pick_cells(args.cells, args.seed)
    builders = {"reference": reference_network, "fast": None}
    print(f"{Path(args.dataset).name}: {len(data.train_y)} training images at {data.image_size}×"
          f"{data.image_size}, C {config.channels}, N {config.cells_per_stage}, {config.epochs} "
          f"epochs of batch {config.batch_size}; {args.threads} thread(s); torch {torch.__version__}",
          flush=True)
    cpu: dict[str, dict[str, list[float]]] = {v: {} for v in args.variants}
    for r in range(args.rounds):
        for cell in cells:
            order = args.variants if r % 2 == 0 else list(reversed(args.variants))
            for variant in order:
                c0, w0 = time.process_time(), time.perf_counter()
                result = train_cell(cell, data, config, torch.device("cpu"), network=builders[variant])
                c, w = time.process_time() - c0, time.perf_counter() - w0
                cpu[variant].setdefault(str(cell), []).append(c)
                print(f"round {r + 1} {variant:9s} {cell!s}  cpu {c:6.1f} s  wall {w:6.1f} s  "
                      f"test acc {result['test_acc']:.4f}", flush=True)
    return cpu


def summarise(cpu: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> None:
    """Each variant's CPU-seconds per training and cells per core-hour, and the speed-up."""
    cells = pick_cells(args.cells, args.seed)
    uniform = {str(c) for c in cells[:len(UNIFORM)]}
    for variant in args.variants:
        per_training = [t for times in cpu[variant].values() for t in times]
        # the space's cost is its cells' mean: of the drawn cells (the uniform ones are the extremes)
        drawn = [t for c, times in cpu[variant].items() if c not in uniform for t in times]
        mean = statistics.mean(drawn or per_training)
        per_hour = 3600 / mean / args.trainings
        print(f"{variant:9s} median {statistics.median(per_training):.1f} CPU-s per training (n = "
              f"{len(per_training)}, range {min(per_training):.1f}–{max(per_training):.1f}); mean "
              f"{mean:.1f} over {'the drawn cells' if drawn else 'all'} ({len(drawn or per_training)}): "
              f"{per_hour:.0f} cells per core-hour at {args.trainings} trainings each; 6,466 cells: "
              f"{6466 / per_hour:.0f} core-hours")
    if set(VARIANTS) <= set(args.variants):
        ratios = [statistics.median(cpu["reference"][c]) / statistics.median(cpu["fast"][c])
                  for c in cpu["fast"]]
        print(f"speed-up fast over reference: {statistics.median(ratios):.2f}× median over "
              f"{len(ratios)} cells (range {min(ratios):.2f}–{max(ratios):.2f})")


if __name__ == "__main__":
    main()
