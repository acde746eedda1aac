"""The search loop: epochs of `strategy.step` over the DARTS search split.

Each epoch records the mean losses and accuracies of the steps' own forward
passes (no extra inference pass), the softmaxed α (per named α tensor, and as
the supernet's tidy `alpha_rows`), the genotype derived from α, the candidates
where the space lists them, the weights' learning rate and the wall time. The
loop does not know which strategy it runs, and knows a space only through the
`Supernet` protocol of nas/spaces/base.py.

    from nas.search import SearchConfig, run_search
    result = run_search(SearchConfig.of(dataset="digits", epochs=5,
                                        space_options={"channels": 8, "layers": 5}))
    print(result.genotype)

`Search` holds the whole state (supernet, strategy, batch generators, history)
and can save and restore it after any epoch, which is how a run resumes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.checkpoint import load_checkpoint, rng_state, seed_everything, set_rng_state
from nas.data import Augment, Batches, ImageData, load_dataset, search_split
from nas.diagnostics import collapse_diagnostics
from nas.files import atomic_write, json_ready, write_json
from nas.genotype import Genotype
from nas.spaces import Supernet, get_space, make_supernet, space_config
from nas.speed import Speed
from nas.strategies import Strategy, StrategyConfig, get_strategy, strategy_config

# The written form of a search's config and checkpoint (`SearchConfig.to_dict`, `Search.state_dict`);
# a checkpoint of another format is refused in one sentence, not read.
CHECKPOINT_FORMAT = 2


@dataclass(frozen=True)
class SearchConfig:
    """Everything that determines a search, with the space's and the strategy's typed configs.

    Each config is validated where it is built (`SearchConfig.of` builds both from names and
    option dicts, as a command line gives them); this class checks only that they are the named
    space's and strategy's, and that the strategy's schedule runs the search's epochs. The
    strategy's name travels with its config because one Config class serves several strategies
    (HyperDartsConfig: hyperdarts-linear and hyperdarts-mlp).
    """

    space: str = "darts"
    strategy: str = "first-order"
    dataset: str = "digits"
    epochs: int = 50
    batch_size: int = 64
    seed: int = 0
    train_fraction: float = 0.5     # share of the training set used for w; the rest is for α
    alpha_data: str = "val"         # "val": α steps on the held-out part; "train": w and α on all of it
    space_config: Any = None        # the space's Config (None: its defaults)
    strategy_config: StrategyConfig | None = None   # the strategy's Config (None: its defaults)
    # nas.speed switches: amp, channels_last, cudnn_benchmark, keep_activations
    speed: tuple[str, ...] = ()
    # collapse diagnostics (nas/diagnostics.py) after every N-th epoch and the last (0: off), with
    # this many power iterations for the Hessian's dominant eigenvalue (0: no eigenvalue)
    diagnostics_every: int = 0
    eigen_iterations: int = 20

    @classmethod
    def of(cls, space: str = "darts", strategy: str = "first-order", space_options: dict | None = None,
           strategy_options: dict | None = None, **fields) -> SearchConfig:
        """The config with the space's and the strategy's configs built from option dicts (the
        strategy's epochs are the search's); an unknown option raises ValueError."""
        epochs = fields.get("epochs", cls.epochs)
        return cls(space=space, strategy=strategy, **fields,
                   space_config=space_config(space, **(space_options or {})),
                   strategy_config=strategy_config(strategy, **{"epochs": epochs,
                                                                **(strategy_options or {})}))

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if self.diagnostics_every < 0 or self.eigen_iterations < 0:
            raise ValueError("diagnostics_every and eigen_iterations must not be negative")
        if self.alpha_data not in ("val", "train"):
            raise ValueError(f"alpha_data must be 'val' (a train/val split) or 'train' (the same data "
                             f"for both steps), not {self.alpha_data!r}")
        # Fail on a bad name or option now, not after the data has loaded.
        object.__setattr__(self, "speed", Speed.from_names(self.speed).names())   # canonical order
        if "compile" in self.speed:
            raise ValueError("the compile switch applies to the evaluation network only: the "
                             "strategies differentiate the supernet through functional_call")
        space_cls, strategy_cls = get_space(self.space).Config, get_strategy(self.strategy).Config
        if self.space_config is None:
            object.__setattr__(self, "space_config", space_cls())
        if self.strategy_config is None:
            object.__setattr__(self, "strategy_config", strategy_cls(epochs=self.epochs))
        for config, cls, owner in ((self.space_config, space_cls, f"the {self.space} space"),
                                   (self.strategy_config, strategy_cls, f"the {self.strategy} strategy")):
            if type(config) is not cls:
                raise ValueError(f"{owner} takes a {cls.__name__}, not a {type(config).__name__}")
        if self.strategy_config.epochs != self.epochs:
            raise ValueError(f"the {self.strategy} strategy's schedule runs "
                             f"{self.strategy_config.epochs} epochs, the search {self.epochs}")

    def to_dict(self) -> dict:
        """The JSON form (a checkpoint's, config.json: a checkpoint resumes only the search whose
        form is equal)."""
        return json_ready({**asdict(self), "format": CHECKPOINT_FORMAT})


def check_checkpoint(state: dict, where: str) -> None:
    """ValueError in one sentence where `state` (a `Search.state_dict()`) was written in another
    format than this version's."""
    written = state.get("format", 1)
    if written != CHECKPOINT_FORMAT:
        raise ValueError(f"{where} holds a search checkpoint of format {written}, written by another "
                         f"version of nas.search (this one reads format {CHECKPOINT_FORMAT}); start "
                         "that search again")


def resolve_device(device: str) -> torch.device:
    """'auto' → the first CUDA device if there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but this machine has no CUDA device")
    return dev


@dataclass
class SearchResult:
    genotype: Genotype
    history: list[dict]
    supernet: torch.nn.Module
    config: SearchConfig

    @property
    def final(self) -> dict:
        return self.history[-1]


class Search:
    """A search in progress: call `run_epoch()` until `done`; `state_dict()` after any epoch."""

    def __init__(self, config: SearchConfig, data: ImageData | None = None,
                 device: str | torch.device = "cpu", data_root: str | None = None,
                 download: bool = False):
        self.config = config
        self.device = torch.device(device)
        self.data = data if data is not None else load_dataset(config.dataset, data_root, download)
        seed_everything(config.seed)
        self.supernet: Supernet = make_supernet(
            config.space, config.space_config, self.data.in_channels,
            self.data.num_classes, image_size=self.data.image_size).to(self.device)
        self.speed = Speed.from_names(config.speed)
        self.speed.setup(self.device)
        self.speed.model(self.supernet)
        self.strategy: Strategy = get_strategy(config.strategy)(
            self.supernet, config.strategy_config)
        self.strategy.speed = self.speed
        if config.alpha_data == "train":   # both steps on all the training data, in different orders
            train_idx = val_idx = torch.arange(len(self.data.train_y))
        else:
            train_idx, val_idx = search_split(len(self.data.train_y), config.seed, config.train_fraction)
        # The search uses the training augmentation without cutout, as DARTS does.
        augment = Augment(self.data.augment.crop_padding, self.data.augment.flip, 0)
        d = self.data

        def batches(idx: torch.Tensor, seed: int) -> Batches:
            return Batches(d.train_x[idx], d.train_y[idx], config.batch_size, d.mean, d.std,
                           augment=augment, shuffle=True, drop_last=True, seed=seed,
                           device=self.device)

        self.train_batches = batches(train_idx, config.seed * 2 + 1)
        self.val_batches = batches(val_idx, config.seed * 2 + 2)
        # The collapse diagnostics' fixed batch: the first validation images, not augmented (its
        # own Batches: the search's batch generators are not advanced).
        self.diagnostic_batch = None
        if config.diagnostics_every > 0:
            first = val_idx[:config.batch_size]
            self.diagnostic_batch = next(iter(Batches(d.train_x[first], d.train_y[first], len(first),
                                                      d.mean, d.std, augment=None, shuffle=False,
                                                      device=self.device)))
        self.history: list[dict] = []
        self.elapsed = 0.0
        # softmax(α) before the first step, for the first epoch's `alpha_change`
        self.initial_alphas = {k: v.detach().cpu() for k, v in self.supernet.softmax_alphas().items()}

    @property
    def epoch(self) -> int:
        return len(self.history)

    @property
    def epochs(self) -> int:
        """Epochs this search runs: the config's, or one record for a strategy that does not search."""
        return self.config.epochs if self.strategy.searches else 1

    @property
    def done(self) -> bool:
        return self.epoch >= self.epochs

    @property
    def steps_per_epoch(self) -> int:
        return min(len(self.train_batches), len(self.val_batches))

    def run_epoch(self) -> dict:
        """One epoch of strategy steps; returns (and appends to `history`) its record."""
        start, cpu_start = time.perf_counter(), time.process_time()
        self.supernet.train()
        self.strategy.new_epoch(self.epoch)
        w_lr = self.strategy.w_lr
        sums: dict[str, torch.Tensor] = {}
        peaks: dict[str, torch.Tensor] = {}
        peak_names = self.strategy.peak_metrics
        steps = 0
        # A strategy that does not search (the random baseline) takes no step: its record holds
        # the α it drew and the genotype.
        pairs = zip(self.train_batches, self.val_batches) if self.strategy.searches else ()
        for train_batch, val_batch in pairs:
            metrics = self.strategy.step(train_batch, val_batch)
            for k, v in metrics.items():
                v = v.detach()
                sums[k] = v if k not in sums else sums[k] + v
                if k in peak_names:
                    peaks[k] = v if k not in peaks else torch.maximum(peaks[k], v)
            steps += 1
        # One host synchronisation per epoch.
        means = {k: float(v) / steps for k, v in sums.items()} if steps else {}
        means.update({f"{k}_max": float(v) for k, v in peaks.items()})
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        epoch_time = time.perf_counter() - start
        # the process's CPU time, all its threads: what the epoch cost a CPU, whatever else the
        # machine ran meanwhile (wall time on shared cores is not a cost)
        epoch_cpu = time.process_time() - cpu_start
        self.elapsed += epoch_time
        alphas = self.supernet.softmax_alphas()
        change = alpha_change(self.previous_alphas(), alphas)
        record = {
            "epoch": self.epoch,
            **means,
            "w_lr": w_lr,
            "steps": steps,
            "epoch_time_s": epoch_time,
            "epoch_cpu_s": epoch_cpu,
            "wall_time_s": self.elapsed,
            **({"alpha_change": change} if change is not None else {}),
            "genotype": str(self.supernet.genotype()),
            **{f"alpha_{k}": v.tolist() for k, v in alphas.items()},   # normal/reduce, or blocks
            "alpha_rows": self.supernet.alpha_rows(),
        }
        candidates = self.supernet.candidates()
        if candidates:   # spaces with a list of candidates, which may change (dense-dag)
            record["architectures"] = [str(a) for a in candidates]
        every = self.config.diagnostics_every
        if every > 0 and ((self.epoch + 1) % every == 0 or self.epoch + 1 == self.epochs):
            t0 = time.perf_counter()
            record.update(collapse_diagnostics(self.strategy, self.diagnostic_batch,
                                               self.config.eigen_iterations))
            record["diagnostics_s"] = time.perf_counter() - t0
        for k in ("train_loss", "val_loss"):
            if k in means and not np.isfinite(means[k]):
                raise FloatingPointError(f"the search diverged: {k} is {means[k]} "
                                         f"at epoch {self.epoch}")
        self.history.append(record)
        # A space may replace its candidates between epochs (the dense-dag space's stage 2); their
        # α restart from zero, and so does the α optimiser's state.
        if not self.done and self.supernet.end_epoch(record["epoch"]):
            self.strategy.alpha_optimizer.state.clear()
        return record

    def previous_alphas(self) -> dict[str, torch.Tensor]:
        """softmax(α) at the end of the last epoch (the history's), or as the search began; uniform
        where the space replaced its candidates since (their α restart from zero)."""
        if not self.history:
            return self.initial_alphas
        last = self.history[-1]
        previous = {k: torch.tensor(last[f"alpha_{k}"]) for k in self.initial_alphas}
        if "architectures" in last and last["architectures"] != [str(a) for a in self.supernet.candidates()]:
            return {k: torch.full_like(v, 1.0 / v.shape[-1]) for k, v in previous.items()}
        return previous

    def genotype(self) -> Genotype:
        return self.supernet.genotype()

    def result(self) -> SearchResult:
        return SearchResult(self.genotype(), list(self.history), self.supernet, self.config)

    # -- checkpoints --------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "supernet": self.supernet.state_dict(),
            "strategy": self.strategy.state_dict(),
            "train_rng": self.train_batches.get_state(),
            "val_rng": self.val_batches.get_state(),
            "rng": rng_state(),
            "history": self.history,
            "elapsed": self.elapsed,
        }

    def load_state_dict(self, state: dict) -> None:
        check_checkpoint(state, "the state")
        if state["config"] != self.config.to_dict():
            raise ValueError("the checkpoint belongs to a search with another configuration")
        self.supernet.load_state_dict(state["supernet"])
        self.strategy.load_state_dict(state["strategy"])
        self.train_batches.set_state(state["train_rng"])
        self.val_batches.set_state(state["val_rng"])
        set_rng_state(state["rng"])
        self.history = list(state["history"])
        self.elapsed = state["elapsed"]


def alpha_change(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> float | None:
    """mean |log softmax(α)_after − log softmax(α)_before| over every entry of every α tensor: how
    far α moved in an epoch (0: not at all), in the units where Adam's steps are taken (a step of
    lr on one α moves its log-probability by at most 2·lr). None where the tensors differ in
    shape (a space that replaced its candidates between the two)."""
    if set(before) != set(after) or any(before[k].shape != after[k].shape for k in after):
        return None
    diffs = [(after[k].detach().double().cpu().clamp_min(1e-30).log()
              - before[k].double().clamp_min(1e-30).log()).abs().reshape(-1) for k in after]
    return float(torch.cat(diffs).mean())


def run_search(config: SearchConfig, *, data: ImageData | None = None,
               device: str = "cpu", data_root: str | None = None, download: bool = False,
               out_dir: str | Path | None = None,
               on_epoch: Callable[[dict], None] | None = None) -> SearchResult:
    """Run (or resume, when `out_dir` holds a checkpoint of the same config) a whole search.

    With `out_dir`, every epoch atomically rewrites checkpoint.pt, metrics.jsonl,
    alphas.json and genotype.{json,txt} there, so an interrupted search loses at
    most the epoch in progress.
    """
    search = Search(config, data, resolve_device(device), data_root, download)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        ckpt = out / "checkpoint.pt"
        if ckpt.is_file():
            state = load_checkpoint(ckpt, f"delete it to start the search in {out} again",
                                    search.device)
            check_checkpoint(state, str(out))
            if state["config"] != config.to_dict():
                raise ValueError(f"{out} holds a search with another configuration; "
                                 "choose another output folder or delete that one")
            search.load_state_dict(state)
        write_json(out / "config.json", config.to_dict())
    while not search.done:
        record = search.run_epoch()
        if out is not None:
            write_search_outputs(search, out)
        if on_epoch is not None:
            on_epoch(record)
    return search.result()


def write_search_outputs(search: Search, out: Path) -> None:
    """The checkpoint, per-epoch metrics, α history and current genotype, each written atomically."""
    state = search.state_dict()
    atomic_write(out / "checkpoint.pt", lambda tmp: torch.save(state, tmp))
    tensors = {f"alpha_{k}" for k in search.initial_alphas}   # not alpha_change, alpha_entropy

    def is_alpha(k: str) -> bool:
        return k in tensors or k in ("alpha_rows", "genotype", "architectures")

    atomic_write(out / "metrics.jsonl", "".join(
        json.dumps({k: v for k, v in r.items() if not is_alpha(k)}) + "\n"
        for r in search.history))
    rows = search.supernet.alpha_rows()
    write_json(out / "alphas.json", {
        "edges": list(dict.fromkeys(r["edge"] for r in rows)),   # the rows of each α tensor
        "ops": list(dict.fromkeys(r["op"] for r in rows)),       # and its columns
        "epochs": [{"epoch": r["epoch"], **{k.removeprefix("alpha_"): v for k, v in r.items()
                                            if is_alpha(k) and k != "alpha_rows"}}
                   for r in search.history],
    })
    genotype = search.genotype()
    as_dict = genotype.to_dict() if hasattr(genotype, "to_dict") else {"architecture": str(genotype)}
    atomic_write(out / "genotype.json", json.dumps(as_dict, indent=1) + "\n")
    atomic_write(out / "genotype.txt", str(genotype) + "\n")
