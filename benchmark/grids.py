"""Declared grids: strategies × search datasets × seeds, the evaluation datasets, and a profile.

A grid is data, not code: to add one, build a `Grid` (usually from an existing
profile) and put it in `GRIDS`:

    GRIDS["mine"] = Grid("mine", strategies=("first-order", "hyperdarts-mlp"),
                         search_datasets=("digits",), seeds=(0, 1, 2), profile=SMOKE)

`Grid.override(...)` applies the command line's `--seeds`, `--strategies`,
`--datasets`, `--search-epochs`/`--eval-epochs`, `--space-set`/`--train-set` and `--data-root`.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.fills import fill_cells
from nas.evaluate import EvalConfig
from nas.files import json_ready
from nas.options import build_config
from nas.search import SearchConfig
from nas.spaces import get_space
from nas.spaces.darts import DartsSpaceConfig
from nas.spaces.dense_dag import DenseDagConfig, StandaloneConfig
from nas.spaces.nb201 import NB201Config, NB201TrainConfig
from nas.strategies import STRATEGIES, strategy_config
from resultstore.cells import resolve_table
from resultstore.schema import dataset_id
from resultstore.store import default_results_dir


@dataclass(frozen=True)
class Profile:
    """Sizes and epochs of the search and of the evaluation of a grid's trials.

    The supernet's shape and the training of a found architecture are the space's own typed
    configs (`search_space`: e.g. `DartsSpaceConfig`; `train`: e.g. `EvalConfig`, whose `seed` is
    set per repeat); None gives the space's defaults, the papers' settings for DARTS.
    """

    name: str
    space: str = "darts"
    search_space: Any = None            # the space's Config
    # the search loop
    search_epochs: int = 50
    search_batch_size: int = 64
    # α's learning rate for every strategy (None: DARTS's 3e-4). A search of a few hundred steps
    # instead of DARTS's 19,500 needs a larger one for α to leave uniform at all.
    search_alpha_lr: float | None = None
    # nas.speed switches of the search (amp, channels_last, cudnn_benchmark, keep_activations); off
    # by default: none has been measured on a GPU here yet (benchmark/perf.py). The evaluation's
    # are in `train`.
    search_speed: tuple[str, ...] = ()
    # collapse diagnostics (nas/diagnostics.py: α entropy, the dominant eigenvalue of the α Hessian,
    # the discretisation gap, parameter-free operations) after every N-th search epoch (0: off)
    search_diagnostics_every: int = 0
    train: Any = None                   # the space's TrainConfig: a found architecture from scratch
    # trainings from scratch of each found genotype, with training seeds seed + 1000·r for repeat
    # r (the same for every strategy, so repeats pair across strategies like seeds do): they
    # separate the spread between searches from the spread between trainings
    eval_repeats: int = 1
    transfer_repeats: int = 1           # the same on the transfer datasets
    # the ground truth: per seed and search dataset, every candidate the space lists for that seed
    # and its reference architectures trained from scratch (spaces with candidates only)
    ground_truth: bool = False
    # trainings of each ground-truth architecture per dataset (None: the found genotype's, i.e.
    # eval_repeats on the search dataset, transfer_repeats on the others). The ground truth's
    # noise ceiling compares halves of them, so it needs more than a found cell's score does.
    ground_truth_repeats: int | None = None
    # whether the space's seeded options (the dense-DAG space's dag_seed) follow the search seed, so
    # that every seed searches its own candidates (True), or keep the profile's value, so that
    # every seed searches the same candidates (False: the stability question)
    space_seeded: bool = True
    # False: the trials search and record their epochs and α, and train nothing (`--search-only`:
    # the search dynamics alone, e.g. the collapse diagnostics)
    evaluate: bool = True
    # data
    train_subset: int | None = None     # use a fixed random N training images (None: all)
    search_subset: int | None = None    # the search uses N of those (None: all)
    image_size: int | None = None       # resize every image to this side first (None: as stored)
    # resources: a GPU fraction per trial where there are GPUs, CPUs otherwise
    gpus_per_trial: float = 1.0
    cpus_per_trial: int = 1
    # a table of cells (resultstore/cells.py): a found architecture is looked up in it instead
    # of trained. A name (a folder of <results>/tables), a folder, or nb201:PATH (NAS-Bench-201's
    # benchmark file, imported once); None: train every found architecture
    table: str | None = None
    # what a lookup that misses does: "error" (the trial ends with status "missed" and the sentence
    # that says which cell) or "train" (the cell is trained at the table's protocol, the profile's
    # `train` and data, `eval_repeats` / `transfer_repeats` times, and stored in the table)
    on_miss: str = "error"
    # look the derived cell up after every search epoch too (the epochs table's lookup_acc); a miss
    # there is trained where on_miss is "train", else left empty
    lookup_epochs: bool = False
    # a grid that fills its table instead of searching (benchmark/fills.py, `fill_cells`):
    # "all" (one cell per distinct computation of the space), "pilot" (the uniform cells of each
    # operation but none, and 16 cells drawn at random among the distinct ones), "random:N" or
    # "found" (the cells of `fill_list`: those that experiments' searches found, `--fill-from`, or
    # that the command line names, `--fill-cells`);
    # each trial trains `fill_chunk` of them into the table, `eval_repeats` trainings each
    fill: str | None = None
    fill_chunk: int = 20
    fill_list: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        space = get_space(self.space)
        for name, cls in (("search_space", space.Config), ("train", space.TrainConfig)):
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, cls())
            elif not isinstance(value, cls):
                raise ValueError(f"profile {self.name}: {name} of the {self.space} space is a "
                                 f"{cls.__name__}, not a {type(value).__name__}")
        for name in ("eval_repeats", "transfer_repeats", "ground_truth_repeats"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.on_miss not in ("error", "train"):
            raise ValueError(f"profile {self.name}: on_miss is 'error' or 'train', not {self.on_miss!r}")
        if self.table is None and (self.lookup_epochs or self.on_miss != "error"):
            raise ValueError(f"profile {self.name}: lookup_epochs and on_miss need a table")
        if self.table is not None and self.table.startswith("nb201:") and self.on_miss == "train":
            raise ValueError(f"profile {self.name}: NAS-Bench-201's file holds every cell; it cannot "
                             "be trained into (on_miss 'train' is for tables made here)")
        if self.fill is not None:
            if self.table is None or self.table.startswith("nb201:"):
                raise ValueError(f"profile {self.name}: fill trains cells into a table made here; "
                                 "name one (table)")
            if self.fill_chunk < 1:
                raise ValueError(f"fill_chunk must be at least 1, got {self.fill_chunk}")
        if (self.fill == "found") != bool(self.fill_list):
            raise ValueError(f"profile {self.name}: fill 'found' and a fill_list go together "
                             "(--fill-from or --fill-cells sets both)")
        if self.fill is not None:
            fill_cells(self)   # (an unknown fill, or a space that does not list its cells, fails here)
        if self.table is not None and self.ground_truth:
            raise ValueError(f"profile {self.name}: a table is its ground truth; ground_truth "
                             "trains candidates, which a table's space does not list")
        if self.ground_truth and not space.finite:
            raise ValueError(f"profile {self.name}: the {self.space} space lists no candidates "
                             "to train as a ground truth")
        # a bad switch fails when the grid is declared, not inside a Ray trial
        SearchConfig(space=self.space, speed=self.search_speed, space_config=self.search_space)

    def to_dict(self) -> dict:
        """The JSON form (grid.json, Ray's trial config); `profile_from_dict` reads it back."""
        return json_ready(dataclasses.asdict(self))


def _config(cls: type, values: dict, owner: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {k: tuple(v) if isinstance(v, list) and k in fields else v for k, v in values.items()}
    return build_config(cls, owner, values)


def profile_from_dict(d: dict) -> Profile:
    """A Profile from its `to_dict()` form; ValueError in one sentence for an unknown field."""
    d = dict(d)
    space = get_space(d.get("space", "darts"))
    d["search_space"] = _config(space.Config, d.get("search_space") or {}, f"the {space.name} space")
    d["train"] = _config(space.TrainConfig, d.get("train") or {}, f"training in the {space.name} space")
    return _config(Profile, d, "a profile")


# training seeds: repeat r of a found cell trains with seed + 1000·r, of a table's cell with 1000·r
EVAL_SEED_STRIDE = 1000
GROUND_TRUTH = "ground-truth"   # the `strategy` (and `kind`) of a ground-truth trial
FILL = "table-fill"             # the `strategy` (and `kind`) of a trial that fills a table of cells


def trial_id(strategy: str, dataset: str, seed: int) -> str:
    """`strategy__dataset__sSEED`; a dataset named by a path (`imagefolder:~/data/x`) reads
    `imagefolder_data_x-<6 hex digits of its name's hash>`, so that two paths that read alike
    once made file-name safe (`~/data/x`, `/data/x`) still give two ids."""
    return f"{strategy}__{dataset_id(dataset)}__s{seed}"


def legacy_trial_id(strategy: str, dataset: str, seed: int) -> str:
    """The id a trial had before the ids told paths apart (for results written then)."""
    ds = dataset.replace(":", "_").replace("/", "_").replace("~", "")
    return f"{strategy}__{ds}__s{seed}"


def with_profile_options(profile: Profile, given: dict) -> dict:
    """The options a strategy searches with in a grid of `profile`: the grid's (tuned) ones, and
    the profile's α learning rate where the grid gives none."""
    options = dict(given)
    if profile.search_alpha_lr is not None:
        options.setdefault("alpha_lr", profile.search_alpha_lr)
    return options


def typed_strategy_config(profile: Profile, strategy: str, given: dict):
    """The strategy's typed config in a grid of `profile` (its schedule the profile's search
    epochs); ValueError in one sentence for an unknown or bad option. The one place a grid's
    strategy options are checked: where a grid is declared, and where its trials are built."""
    return strategy_config(strategy, epochs=profile.search_epochs,
                           **with_profile_options(profile, given))


@dataclass(frozen=True)
class TrialSpec:
    """One row of a grid: what a trial searches and evaluates (kind "search"), the ground truth of
    one seed and search dataset (kind "ground-truth", strategy "ground-truth"), or a chunk of a
    table's cells to train (kind "table-fill").

    Built once, complete: `space_config` is the supernet's and every training's space config
    (its seeded options set to the trial's seed where the profile says so), `search` the whole
    typed search config (None for a trial that does not search), `options` the options the
    strategy was given; `train_config(repeat)` each repeat's training. The codec
    (benchmark/codec.py) writes it for Ray and reads it back."""

    experiment: str
    strategy: str
    search_dataset: str
    seed: int
    profile: Profile
    eval_datasets: tuple[str, ...]
    strategy_options: dict = field(default_factory=dict)   # the grid's (or a tuning sample's)
    data_root: str | None = None
    kind: str = "search"
    # the folder of the profile's table of cells (resolved by Grid.trials), None without one
    table_path: str | None = None
    space_config: Any = field(init=False, compare=False, repr=False)
    options: dict = field(init=False, compare=False, repr=False)
    search: SearchConfig | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("search", GROUND_TRUTH, FILL):
            raise ValueError(f"a trial is a search, a {GROUND_TRUTH} or a {FILL}, not {self.kind!r}")
        p = self.profile
        seeded = self.space.seeded_options if p.space_seeded else ()
        set_ = functools.partial(object.__setattr__, self)
        # (every seed draws its own candidates, unless the profile keeps its own for every seed)
        set_("space_config", dataclasses.replace(p.search_space, **{o: self.seed for o in seeded})
             if seeded else p.search_space)
        if self.kind != "search":
            set_("options", {})
            set_("search", None)
            return
        set_("options", with_profile_options(p, self.strategy_options))
        set_("search", SearchConfig(
            space=p.space, strategy=self.strategy, dataset=self.search_dataset,
            epochs=p.search_epochs, batch_size=p.search_batch_size, seed=self.seed,
            space_config=self.space_config, speed=p.search_speed,
            diagnostics_every=p.search_diagnostics_every,
            strategy_config=typed_strategy_config(p, self.strategy, self.strategy_options)))

    @property
    def space(self):
        """The profile's search space (nas.spaces)."""
        return get_space(self.profile.space)

    @property
    def trial_id(self) -> str:
        return trial_id(self.strategy, self.search_dataset, self.seed)

    @property
    def legacy_trial_id(self) -> str:
        return legacy_trial_id(self.strategy, self.search_dataset, self.seed)

    @property
    def result_table(self) -> str:
        """The results table whose part marks this trial as finished: trials, ground_truth for a
        ground truth, fills for a trial that fills a table of cells."""
        return {"ground-truth": "ground_truth", "table-fill": "fills"}.get(self.kind, "trials")

    def eval_seed(self, repeat: int) -> int:
        """The training seed of repeat `repeat`: the search's seed for the first, then + 1000 per
        repeat; equal across strategies, so that evaluations pair by (seed, repeat)."""
        return self.seed + EVAL_SEED_STRIDE * repeat

    def train_config(self, repeat: int = 0):
        """The space's training config of the profile, with the repeat's training seed."""
        return dataclasses.replace(self.profile.train, seed=self.eval_seed(repeat))

    def repeats(self, dataset: str) -> int:
        """Trainings of the found genotype on `dataset`: eval_repeats on the search dataset,
        transfer_repeats on the others; a ground truth's: ground_truth_repeats where set."""
        p = self.profile
        if self.kind == GROUND_TRUTH and p.ground_truth_repeats is not None:
            return p.ground_truth_repeats
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
        for what, values in (("strategy", self.strategies), ("dataset", self.search_datasets),
                             ("seed", self.seeds), ("transfer dataset", self.transfer_datasets)):
            twice = sorted({v for v in values if values.count(v) > 1}, key=str)
            if twice:   # (a trial declared twice would run twice under one id)
                raise ValueError(f"grid {self.name!r} names the {what} {twice[0]} more than once")
        # A misspelt or bad option fails here, when the grid is declared, not in every Ray trial.

        unknown = sorted(set(self.strategy_options) - set(STRATEGIES))
        if unknown:
            raise ValueError(f"grid {self.name!r} gives options to the unknown strategy {unknown[0]!r}")
        for s in self.strategies:
            typed_strategy_config(self.profile, s, self.strategy_options.get(s, {}))

    def trials(self, experiment: str | None = None,
               tables_root: str | Path | None = None) -> list[TrialSpec]:
        """One trial per (strategy, search dataset, seed), seed by seed: a grid stopped early
        holds whole seeds, whose strategies pair. The profile's table is a folder of
        `tables_root` (default: <results>/tables) unless it names a folder itself."""
        experiment = experiment or self.name
        if tables_root is None:
            tables_root = default_results_dir() / "tables"
        table = resolve_table(self.profile.table, tables_root)
        if self.profile.fill:   # a grid that fills its table: one trial per chunk of cells and dataset

            chunks = -(-len(fill_cells(self.profile)) // self.profile.fill_chunk)
            return [TrialSpec(experiment, FILL, d, c, self.profile, (d,), data_root=self.data_root,
                              kind=FILL, table_path=table)
                    for c in range(chunks) for d in self.search_datasets]
        out = []
        for seed in self.seeds:
            for d in self.search_datasets:
                evals = (d, *[t for t in self.transfer_datasets if t != d])
                # first: the searches of the seed are scored on it (a search-only grid trains none)
                if self.profile.ground_truth and self.profile.evaluate:
                    out.append(TrialSpec(experiment, GROUND_TRUTH, d, seed, self.profile, evals,
                                         data_root=self.data_root, kind=GROUND_TRUTH))
                out += [TrialSpec(experiment, s, d, seed, self.profile, evals,
                                  dict(self.strategy_options.get(s, {})), self.data_root,
                                  table_path=table)
                        for s in self.strategies]
        return out

    def override(self, *, strategies=None, datasets=None, seeds=None, search_epochs=None,
                 eval_epochs=None, data_root=None, space_options=None, train_options=None,
                 search_only=False, truth_repeats=None, table=None, on_miss=None,
                 lookup_epochs=None, transfer_datasets=None) -> Grid:
        """A copy with the given command-line overrides (None leaves a field as it is);
        `space_options` and `train_options` ({field: value}) replace fields of the profile's
        search space and training configs (`--space-set`, `--train-set`); `truth_repeats` the
        trainings of each ground-truth architecture (`--truth-repeats`)."""
        profile = self.profile
        changes = {k: v for k, v in (("table", table), ("on_miss", on_miss),
                                     ("lookup_epochs", lookup_epochs)) if v is not None}
        if changes:
            profile = dataclasses.replace(profile, **changes)
        if truth_repeats is not None:
            if not profile.ground_truth:
                raise ValueError(f"profile {profile.name} trains no ground truth, so it has no "
                                 "ground-truth repeats to set")
            profile = dataclasses.replace(profile, ground_truth_repeats=truth_repeats)
        if search_only:
            profile = dataclasses.replace(profile, evaluate=False)
        seeded = [o for o in get_space(profile.space).seeded_options
                  if o in (space_options or {}) and profile.space_seeded]
        if seeded:
            raise ValueError(f"{seeded[0]} follows the search seed in profile {profile.name} (each seed "
                             "draws its own candidates); the dense-dag-stability grid keeps one for "
                             "every seed")
        for name, options in (("search_space", space_options), ("train", train_options)):
            if options:
                config = getattr(profile, name)
                owner = (f"the {profile.space} space" if name == "search_space"
                         else f"training in the {profile.space} space")
                profile = dataclasses.replace(profile, **{name: build_config(
                    type(config), owner, {**dataclasses.asdict(config), **options})})
        if search_epochs is not None:
            profile = dataclasses.replace(profile, search_epochs=search_epochs)
        if eval_epochs is not None:
            profile = dataclasses.replace(profile, train=dataclasses.replace(profile.train,
                                                                             epochs=eval_epochs))
        return dataclasses.replace(
            self, profile=profile,
            strategies=tuple(strategies) if strategies else self.strategies,
            search_datasets=tuple(datasets) if datasets else self.search_datasets,
            transfer_datasets=(tuple(transfer_datasets) if transfer_datasets is not None
                               else self.transfer_datasets),
            seeds=tuple(seeds) if seeds is not None and len(seeds) else self.seeds,
            data_root=data_root if data_root is not None else self.data_root)


# The README's first command, about 3 minutes on 2 CPU cores: a tiny supernet (3 cells of 2
# nodes, 4 channels) searched 6 epochs of 10 steps on digits, with α's learning rate raised 100×
# so that α visibly leaves uniform in 60 steps; each found cell trained twice (two training seeds).
SMOKE = Profile("smoke", search_space=DartsSpaceConfig(channels=4, layers=3, nodes=2, multiplier=2),
                search_epochs=6, search_batch_size=64, search_alpha_lr=0.03,
                # the collapse diagnostics after epochs 3 and 6: about 2 s each on a CPU core
                search_diagnostics_every=3,
                train=EvalConfig(channels=8, layers=3, epochs=3, batch_size=64), eval_repeats=2,
                gpus_per_trial=0.25)
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
CPU = Profile("cpu", search_space=DartsSpaceConfig(channels=4, layers=5, nodes=4, multiplier=4),
              search_epochs=3, search_batch_size=32, search_alpha_lr=2e-2,
              # the collapse diagnostics after every search epoch (issue 14)
              search_diagnostics_every=1,
              train=EvalConfig(channels=8, layers=5, epochs=4, batch_size=96, auxiliary=False,
                               drop_path_prob=0.0,
                               # measured on the 2-core CPU at 8 × 16 (benchmark/README.md): 1.4-1.5x
                               # the evaluation's images/s; no gain for the search steps, so the
                               # search keeps the default layout
                               speed=("channels_last",)),
              eval_repeats=2, transfer_repeats=1, train_subset=10_000, search_subset=2_048,
              image_size=16, gpus_per_trial=0.5)
# The papers: DARTS search (8 cells, 16 channels, 50 epochs, batch 64) and evaluation
# (20 cells, 36 channels, 600 epochs, batch 96, cutout 16, drop-path 0.2, auxiliary 0.4).
FULL = Profile("full", gpus_per_trial=1.0)

ALL = tuple(STRATEGIES)
OFFLINE_CIFAR10 = "imagefolder:~/.cache/cifar10-jpeg"
# The implicit strategies run with exact (double-backward) Hessian-vector products in every grid.
# Finite-difference products (`hvp=finite-difference`, one pass each instead of about two) were
# the smoke and cpu grids' choice until issue 30, and they are wrong on these supernets: the ReLUs
# and max-pools make the gradient jump within the 0.01 radius, so the difference quotient sees
# curvature that is not there. On the cpu profile's supernet, one batch, at the start of a search
# (results/examples/checks/fd_products.py, its log fd-products.log: three batches at the start):
# Neumann's fifth term grew to 72-179× its first with them, 1.4-2.5× with exact products, and the
# hypergradient came out 59-117× larger, at a cosine of -0.12 to 0.13 to the exact-product one.
# In the cpu grid of db516b2 that froze implicit-neumann's α after its first epoch (the outliers
# inflated Adam's second moment). implicit-cg with a fixed δ = 1 stopped on negative curvature
# after 2-3 of its 5 products with either kind: in a search the training Hessian is far from
# definite (λ_min -21 to -51 at the start of a cpu-grid search, -3 to -6 after 48 and 96 steps,
# 3 seeds; results/examples/fidelity-search/), so implicit-cg now takes δ from the spectrum by default
# (`cg_damping_rule = "spectrum"`: δ = max(1, 2·|λ_min|, λ_max/100) from 20 Lanczos steps every
# 32 steps; nas/strategies/implicit_cg.py). The search records the products CG used
# (`cg_iterations`), its stops on negative curvature and the δ in use, and the report says so.
#
# α's learning rate: every strategy of a grid gets the same one (the profile's `search_alpha_lr`,
# DARTS's 3e-4 where None), with DARTS's Adam. Adam's step is about lr per coordinate whatever
# the hypergradient's scale, so one rate moves every strategy's α by comparable amounts per step;
# a rate tuned for one strategy would favour it (`--tune` tunes each strategy's own instead).

# The dense-DAG space (the former dense-DAG study's stage 1 at its default size): 8 blocks of 4
# layers of width 64, He-initialised, each seed drawing its own DAGs (the same on every dataset);
# searched 10 epochs of batch 64; every candidate, the chain and the complete DAG of each seed
# trained 20 epochs from scratch (He init) as the ground truth, 4 times (training seeds seed +
# 1000·r: two halves of two give the ground truth's noise ceiling); the found block trained the
# same way. Fashion-MNIST trains on a fixed 10,000 of its training images (3.5 s a training on one
# core) and searches on 2,048 of them (1,024 for w, 1,024 for α: 160 steps, like digits's 100;
# on all 10,000 an implicit strategy's search took 14 minutes of a shared core).
DENSE_DAG = Profile("dense-dag", space="dense-dag",
                    search_space=DenseDagConfig(blocks=8, layers=4, width=64),
                    search_epochs=10, search_batch_size=64,
                    train=StandaloneConfig(epochs=20, batch_size=128, lr=0.05), eval_repeats=4,
                    transfer_repeats=4, ground_truth=True, train_subset=10_000, search_subset=2_048,
                    gpus_per_trial=0.1)
# The same, but every seed searches the same 8 DAGs (dag_seed 0): does a strategy find the same
# block when only its weights' initialisation and data order change?
DENSE_DAG_STABILITY = dataclasses.replace(DENSE_DAG, name="dense-dag-stability", space_seeded=False)

# NAS-Bench-201's space (issue 31). Its searches run at NAS-Bench-201's DARTS settings, which are
# every strategy's defaults (50 epochs of batch 64; weights SGD 0.025 cosine to 0.001, momentum
# 0.9, weight decay 3e-4, gradient clip 5; α Adam 3e-4, betas 0.5/0.999, weight decay 1e-3), and
# the found cell is looked up in a table of cells instead of trained.
#
# nb201-smoke: the whole pipeline in a few minutes on digits: a 4-channel supernet of one cell per
# stage searched 3 epochs of 10 steps (α's rate raised 100×, as in the smoke grid), every epoch's
# cell looked up in the table results/tables/nb201-smoke, which its misses fill (2 trainings of 2
# epochs each, training seeds 0 and 1000); the collapse diagnostics after every epoch.
NB201_SMOKE = Profile("nb201-smoke", space="nb201",
                      search_space=NB201Config(channels=4, cells_per_stage=1), search_epochs=3,
                      search_batch_size=64, search_alpha_lr=0.03,
                      train=NB201TrainConfig(channels=4, cells_per_stage=1, epochs=2, batch_size=64),
                      eval_repeats=2, table="nb201-smoke", on_miss="train", lookup_epochs=True,
                      search_diagnostics_every=1, gpus_per_trial=0.25)
# nb201: the field's standard comparison, on GPUs: the published search network (C 16, N 5)
# searching CIFAR-10 50 epochs, the found cell looked up in NAS-Bench-201's own file (200-epoch
# trainings) on CIFAR-10, CIFAR-100 and ImageNet16-120 (`--table nb201:PATH`; the default path is
# ~/.torch/NATS-tss-v1_0-3ffb9-simple, where NATS-Bench's API looks when $TORCH_HOME is unset).
NB201 = Profile("nb201", space="nb201", table="nb201:~/.torch/NATS-tss-v1_0-3ffb9-simple",
                lookup_epochs=True, gpus_per_trial=1.0)
# nb201-reduced: NAS-Bench-201's search, with its settings and its number of steps (50 epochs of
# 390 steps of batch 64 on CIFAR-10's 50,000 training images, halved into w's and α's), at a size a
# CPU core runs in about an hour: 8 channels, one cell per stage, the images at 16×16 (the offline
# copy; 5.5 CPU-seconds per 39 steps measured on this machine's 2-core CPU). Searches only (no
# table at this size yet: issue 32 makes one); the epochs table holds every epoch's derived cell.
NB201_REDUCED = Profile("nb201-reduced", space="nb201",
                        search_space=NB201Config(channels=8, cells_per_stage=1), search_epochs=50,
                        search_batch_size=64, evaluate=False, image_size=16, gpus_per_trial=0.25)

# nb201-pilot (issue 32): what a table of cells at CPU scale can show, before it is built: the
# uniform cells (all-skip, all-1×1, all-3×3, all-pooling) and 16 distinct cells drawn at random,
# each trained twice (training seeds 0 and 1000) at a candidate protocol: NAS-Bench-201's network
# at 8 channels and one cell per stage on 10,000 CIFAR-10 training images at 16×16 (the offline
# copy), 5 epochs of batch 128, SGD 0.1 with cosine decay, tested on all 10,000 test images. Another
# protocol: --train-set KEY=VALUE with a table and an experiment of its own (--table, --experiment).
NB201_PILOT = Profile("nb201-pilot", space="nb201",
                      train=NB201TrainConfig(channels=8, cells_per_stage=1, epochs=5, batch_size=128),
                      eval_repeats=2, table="nb201-pilot-c8-n1-e5", fill="pilot", fill_chunk=4,
                      train_subset=10_000, image_size=16, gpus_per_trial=0.25)

# nb201-table (issue 32): the table of every distinct cell of NAS-Bench-201's space (6,466) on
# CIFAR-10 at the protocol the pilot chose (results/examples/nb201-pilot-n3e2/README.md): the
# network at 8 channels and 3 cells per stage, 10,000 training images at 16×16, 2 epochs of batch
# 128, SGD 0.1 with Nesterov momentum and cosine decay, tested on all 10,000 test images; two
# trainings a cell (seeds 0 and 1000). About 40 core-hours on this project's CPUs: it fills over
# several sessions (rerun the same command; it resumes), in a seeded random order, so that the
# cells it holds at any time are a uniform sample of the space. Searches look their cells up in it
# (nb201-cpu), and train the cells it lacks into it.
NB201_TABLE_TRAIN = NB201TrainConfig(channels=8, cells_per_stage=3, epochs=2, batch_size=128)
NB201_TABLE = Profile("nb201-table", space="nb201", train=NB201_TABLE_TRAIN, eval_repeats=2,
                      table="nb201-c8-n3-e2", fill="all", fill_chunk=16, train_subset=10_000,
                      image_size=16, gpus_per_trial=0.25)

# nb201-cpu (issue 32): the strategies compared on NAS-Bench-201's space at CPU scale, each found
# cell looked up in the table above (a cell it lacks is trained into it, at its protocol), on
# CIFAR-10 and, for transfer, on Fashion-MNIST (the same protocol; its table rows are the found
# cells'). The search: NAS-Bench-201's DARTS settings (batch 64, w SGD 0.025 cosine, α Adam 3e-4)
# on the table's 10,000 training images at 16×16, halved into w's and α's (78 steps an epoch), 50
# epochs, with a supernet of one cell per stage at 8 channels: shallower than the network the table
# trains (3 per stage), as DARTS searches with 8 cells and evaluates with 20. Every epoch's derived
# cell is looked up too (the per-epoch curve). Its 40 seeds are what `--plan` asked for from the
# first 16 searches' spread (about 4 points after Holm; issue 32 asks for a few points, or 30 points
# of collapse share, after Holm): every strategy at 40 seeds is about 160–250 core-hours, so the
# grid runs first with `--strategies first-order hyperdarts-mlp first-order-smoothed random`
# (results/examples/nb201-cpu/README.md), the others after at the seeds time allows.
NB201_CPU = Profile("nb201-cpu", space="nb201",
                    search_space=NB201Config(channels=8, cells_per_stage=1), search_epochs=50,
                    search_batch_size=64, search_speed=("channels_last",), train=NB201_TABLE_TRAIN,
                    eval_repeats=2, transfer_repeats=2, table="nb201-c8-n3-e2", on_miss="train",
                    lookup_epochs=True, train_subset=10_000, image_size=16, gpus_per_trial=0.25)

GRIDS: dict[str, Grid] = {
    "smoke": Grid("smoke", ALL, ("digits",), (0,), SMOKE),
    "cpu": Grid("cpu", ALL, (OFFLINE_CIFAR10,), (0, 1, 2), CPU, transfer_datasets=("fashion-mnist",)),
    "full": Grid("full", ALL, ("cifar10",), (0, 1, 2, 3), FULL, transfer_datasets=("cifar100",)),
    "dense-dag": Grid("dense-dag", ALL, ("digits", "fashion-mnist"), (0, 1, 2), DENSE_DAG),
    "dense-dag-stability": Grid("dense-dag-stability", ALL, ("digits",), (0, 1, 2, 3, 4),
                                DENSE_DAG_STABILITY),
    "nb201-smoke": Grid("nb201-smoke", ALL, ("digits",), (0,), NB201_SMOKE),
    # NAS-Bench-201's two protocols: searching on CIFAR-10 and reporting the cell on all three
    # datasets (the poster's transfer question), and searching on each dataset, the cell reported on
    # its own (ImageNet16-120 has no loader here, so it cannot be searched on)
    "nb201": Grid("nb201", ALL, ("cifar10",), (0, 1, 2, 3), NB201,
                  transfer_datasets=("cifar100", "imagenet16-120")),
    "nb201-each": Grid("nb201-each", ALL, ("cifar10", "cifar100"), (0, 1, 2, 3), NB201),
    "nb201-reduced": Grid("nb201-reduced", ("first-order",), (OFFLINE_CIFAR10,), (0,), NB201_REDUCED),
    # (a fill grid has no strategies or seeds of its own: its trials are the chunks of its cells)
    "nb201-pilot": Grid("nb201-pilot", ("random",), (OFFLINE_CIFAR10,), (0,), NB201_PILOT),
    "nb201-table": Grid("nb201-table", ("random",), (OFFLINE_CIFAR10,), (0,), NB201_TABLE),
    "nb201-cpu": Grid("nb201-cpu", ALL, (OFFLINE_CIFAR10,), tuple(range(40)), NB201_CPU,
                      transfer_datasets=("fashion-mnist",)),
}


def get_grid(name: str) -> Grid:
    if name not in GRIDS:
        raise ValueError(f"unknown grid {name!r}; valid grids are {', '.join(GRIDS)}")
    return GRIDS[name]
