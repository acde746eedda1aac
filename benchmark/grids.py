"""Declared grids: strategies × search datasets × seeds, the evaluation datasets, and a profile.

A grid is data, not code: to add one, build a `Grid` (usually from an existing
profile) and put it in `GRIDS`:

    GRIDS["mine"] = Grid("mine", strategies=("first-order", "hyperdarts-mlp"),
                         search_datasets=("digits",), seeds=(0, 1, 2), profile=SMOKE)

`Grid.override(...)` applies the command line's `--seeds`, `--strategies`,
`--datasets`, `--search-epochs`/`--eval-epochs` and `--data-root`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from nas.search import SearchConfig
from nas.speed import Speed
from nas.strategies import STRATEGIES


@dataclass(frozen=True)
class Profile:
    """Sizes and epochs of the search and of the evaluation of a grid's trials."""

    name: str
    # search (the supernet and the loop)
    space: str = "darts"
    search_channels: int = 16
    search_layers: int = 8
    search_nodes: int = 4
    search_epochs: int = 50
    search_batch_size: int = 64
    search_partial_channels: int = 1    # PC-DARTS's K (1: every channel through every operation)
    # α's learning rate for every strategy (None: DARTS's 3e-4). A search of a few hundred steps
    # instead of DARTS's 19,500 needs a larger one for α to leave uniform at all.
    search_alpha_lr: float | None = None
    # evaluation (the discrete network trained from scratch)
    eval_channels: int = 36
    eval_layers: int = 20
    eval_epochs: int = 600
    eval_batch_size: int = 96
    eval_auxiliary: bool = True
    eval_drop_path: float = 0.2
    # trainings from scratch of each found genotype, with training seeds seed + 1000·r for repeat
    # r (the same for every strategy, so repeats pair across strategies like seeds do): they
    # separate the spread between searches from the spread between trainings
    eval_repeats: int = 1
    transfer_repeats: int = 1           # the same on the transfer datasets
    # data
    train_subset: int | None = None     # use a fixed random N training images (None: all)
    search_subset: int | None = None    # the search uses N of those (None: all)
    image_size: int | None = None       # resize every image to this side first (None: as stored)
    # nas.speed switches (amp, channels_last, cudnn_benchmark; compile for the evaluation only);
    # off by default: none has been measured on a GPU here yet (benchmark/perf.py); the cpu
    # profile turns on channels_last for the evaluation, measured to help on the CPU
    search_speed: tuple[str, ...] = ()
    eval_speed: tuple[str, ...] = ()
    # resources: a GPU fraction per trial where there are GPUs, CPUs otherwise
    gpus_per_trial: float = 1.0
    cpus_per_trial: int = 1

    def __post_init__(self) -> None:
        for name in ("eval_repeats", "transfer_repeats"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        # a bad switch fails when the grid is declared, not inside a Ray trial
        SearchConfig(space=self.space, strategy="first-order", speed=self.search_speed)
        Speed.from_names(self.eval_speed)

    def space_options(self) -> dict:
        options = {"channels": self.search_channels, "layers": self.search_layers,
                   "nodes": self.search_nodes, "multiplier": self.search_nodes}
        if self.search_partial_channels != 1:
            options["partial_channels"] = self.search_partial_channels
        return options


@dataclass(frozen=True)
class TrialSpec:
    """One row of a grid: what a trial searches and evaluates."""

    experiment: str
    strategy: str
    search_dataset: str
    seed: int
    profile: Profile
    eval_datasets: tuple[str, ...]
    strategy_options: dict = field(default_factory=dict)
    data_root: str | None = None

    @property
    def trial_id(self) -> str:
        ds = self.search_dataset.replace(":", "_").replace("/", "_").replace("~", "")
        return f"{self.strategy}__{ds}__s{self.seed}"

    def repeats(self, dataset: str) -> int:
        """Trainings of the found genotype on `dataset`: eval_repeats on the search dataset,
        transfer_repeats on the others."""
        p = self.profile
        return p.eval_repeats if dataset == self.search_dataset else p.transfer_repeats

    def key(self) -> dict:
        """The grid key columns that every results table carries."""
        return {"experiment": self.experiment, "strategy": self.strategy,
                "search_dataset": self.search_dataset, "seed": self.seed,
                "profile": self.profile.name}


@dataclass(frozen=True)
class Grid:
    name: str
    strategies: tuple[str, ...]
    search_datasets: tuple[str, ...]
    seeds: tuple[int, ...]
    profile: Profile
    transfer_datasets: tuple[str, ...] = ()     # evaluated besides the search dataset
    strategy_options: dict = field(default_factory=dict)  # strategy -> options (e.g. tuned)
    data_root: str | None = None

    def __post_init__(self) -> None:
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise ValueError(f"unknown strategy {unknown[0]!r}; valid strategies are "
                             f"{', '.join(STRATEGIES)}")
        if not (self.strategies and self.search_datasets and self.seeds):
            raise ValueError(f"grid {self.name!r} needs at least one strategy, dataset and seed")

    def trials(self, experiment: str | None = None) -> list[TrialSpec]:
        """One trial per (strategy, search dataset, seed), seed by seed: a grid stopped early
        holds whole seeds, whose strategies pair."""
        experiment = experiment or self.name
        return [TrialSpec(experiment, s, d, seed, self.profile,
                          (d, *[t for t in self.transfer_datasets if t != d]),
                          dict(self.strategy_options.get(s, {})), self.data_root)
                for seed in self.seeds for d in self.search_datasets for s in self.strategies]

    def override(self, *, strategies=None, datasets=None, seeds=None, search_epochs=None,
                 eval_epochs=None, data_root=None) -> Grid:
        """A copy with the given command-line overrides (None leaves a field as it is)."""
        profile = self.profile
        if search_epochs is not None:
            profile = dataclasses.replace(profile, search_epochs=search_epochs)
        if eval_epochs is not None:
            profile = dataclasses.replace(profile, eval_epochs=eval_epochs)
        return dataclasses.replace(
            self, profile=profile,
            strategies=tuple(strategies) if strategies else self.strategies,
            search_datasets=tuple(datasets) if datasets else self.search_datasets,
            seeds=tuple(seeds) if seeds is not None and len(seeds) else self.seeds,
            data_root=data_root if data_root is not None else self.data_root)


# The README's first command, about 3 minutes on 2 CPU cores: a tiny supernet (3 cells of 2
# nodes, 4 channels) searched 6 epochs of 10 steps on digits, with α's learning rate raised 100×
# so that α visibly leaves uniform in 60 steps; each found cell trained twice (two training seeds).
SMOKE = Profile("smoke", search_channels=4, search_layers=3, search_nodes=2, search_epochs=6,
                search_batch_size=64, search_alpha_lr=0.03, eval_channels=8, eval_layers=3,
                eval_epochs=3, eval_batch_size=64, eval_repeats=2, gpus_per_trial=0.25)
# Real images on a machine without a GPU (2 cores, measured in benchmark/README.md and the README):
# CIFAR-10 at 16×16. Search: a 5-cell, 4-channel supernet of the DARTS cell (4 nodes, 8 operations)
# on 2,048 images (1,024 for w, 1,024 for α), 3 epochs of 32 steps of 32, α's learning rate 67×
# DARTS's (96 steps instead of 19,500). Evaluation: the found cell in 5 cells of 8 channels
# (no auxiliary head, no drop path: 4 epochs are too few for either), trained 4 epochs on 10,000
# images and tested on all 10,000, twice (training seeds seed and seed + 1000); transferred to
# Fashion-MNIST at 16×16 with the same budget, once. Calibrated beforehand on DARTS_V2 (3 training
# seeds): sd 0.2 points with 5 × 8 on 20,000 images (53.1, 53.2, 53.5%), 0.7 points with 6 cells ×
# 12 channels on 10,000 images; the chosen 5 × 8 on 10,000 images is measured by the grid's own
# repeats (the report's sd between trainings).
CPU = Profile("cpu", search_channels=4, search_layers=5, search_nodes=4, search_epochs=3,
              search_batch_size=32, search_alpha_lr=2e-2, eval_channels=8, eval_layers=5,
              eval_epochs=4, eval_batch_size=96, eval_auxiliary=False, eval_drop_path=0.0,
              eval_repeats=2, transfer_repeats=1, train_subset=10_000, search_subset=2_048,
              image_size=16, gpus_per_trial=0.5,
              # measured on the 2-core CPU at 8 × 16 (benchmark/README.md): 1.4-1.5x the evaluation's
              # images/s; no gain for the search steps, so the search keeps the default layout
              eval_speed=("channels_last",))
# The papers: DARTS search (8 cells, 16 channels, 50 epochs, batch 64) and evaluation
# (20 cells, 36 channels, 600 epochs, batch 96, cutout 16, drop-path 0.2, auxiliary 0.4).
FULL = Profile("full", gpus_per_trial=1.0)

ALL = tuple(STRATEGIES)
OFFLINE_CIFAR10 = "imagefolder:~/.cache/cifar10-jpeg"
# The implicit strategies with finite-difference Hessian-vector products (one pass each instead of
# a double backward; equal to the exact ones to 1% of the correction, tests/test_strategies.py):
# half the time of the grid's most expensive searches on a CPU.
FD_PRODUCTS = {s: {"hvp": "finite-difference"} for s in ("implicit-neumann", "implicit-cg")}

GRIDS: dict[str, Grid] = {
    "smoke": Grid("smoke", ALL, ("digits",), (0,), SMOKE, strategy_options=FD_PRODUCTS),
    "cpu": Grid("cpu", ALL, (OFFLINE_CIFAR10,), (0, 1, 2), CPU, transfer_datasets=("fashion-mnist",),
                strategy_options=FD_PRODUCTS),
    "full": Grid("full", ALL, ("cifar10",), (0, 1, 2, 3), FULL, transfer_datasets=("cifar100",)),
}


def get_grid(name: str) -> Grid:
    if name not in GRIDS:
        raise ValueError(f"unknown grid {name!r}; valid grids are {', '.join(GRIDS)}")
    return GRIDS[name]
