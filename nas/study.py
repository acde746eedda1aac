"""The dense-DAG study: what does differentiable search find in a space with almost no priors?

    python -m nas study dense-dag --dataset digits --seeds 0 1 2 --out runs/study-digits

For every seed and every (k, l) of `sizes`, the k candidate DAGs of stage 1 are
drawn with that seed, and every candidate, the chain (a plain MLP of l layers)
and the complete DAG are trained standalone from scratch and tested: the
ground truth. Then every strategy searches the space (the same k DAGs, since
they depend on the seed only) and its choice (the block with the largest α)
is scored:

1. found against chain, complete and a randomly chosen candidate (the candidates' mean);
2. found accuracy and regret against the size of the space (k, l);
3. Spearman's ρ between DAG properties (depth, edges, longest skip, fan-in) and accuracy,
   with a bootstrap 95% interval;
4. per strategy, Kendall's τ between the final α and the candidates' standalone accuracies,
   and the regret (best candidate's accuracy minus the chosen one's).

Rows go to `<out>/searches.jsonl` (one per search) and `<out>/dags.jsonl` (one per trained
DAG); rerunning with the same `--out` skips what is already there.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nas.data import Augment, Batches, ImageData, load_dataset, resized, train_subset
from nas.search import Search, SearchConfig, seed_everything
from nas.spaces.dense_dag import (
    DagArchitecture,
    DagNet,
    DenseDagConfig,
    DenseDagSupernet,
    chain_dag,
    complete_dag,
    dag_properties,
)
from nas.strategies import SEARCHING, STRATEGIES

PROPERTIES = ("depth", "edges", "longest_skip", "mean_fan_in", "max_fan_in")


@dataclass
class StudyConfig:
    dataset: str = "digits"
    strategies: tuple[str, ...] = SEARCHING
    seeds: tuple[int, ...] = (0, 1, 2)
    sizes: tuple[tuple[int, int], ...] = ((8, 4),)      # (k blocks, l layers)
    width: int = 64
    edge_prob: float = 0.5
    max_skip: int = 0
    resample_every: int = 0                              # stage 2 (0: stage 1 only)
    alpha_data: str = "val"                              # "val" (split) or "train" (same data)
    search_epochs: int = 10
    search_batch: int = 64
    standalone_epochs: int = 20
    standalone_batch: int = 128
    standalone_lr: float = 0.05
    image_size: int | None = None                        # resize first (e.g. 14 for fashion-mnist)
    train_images: int | None = None                      # a fixed random subset of the training set
    options: dict = field(default_factory=dict)   # strategy options, given to each strategy that has them

    def __post_init__(self) -> None:
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise ValueError(f"unknown strategy {unknown[0]!r}; valid strategies are {', '.join(STRATEGIES)}")
        for k, l in self.sizes:
            DenseDagConfig(blocks=k, layers=l, width=self.width)   # validates
        known = set().union(set(), *(_options_for(s, self.options) for s in self.strategies))
        unknown = sorted(set(self.options) - known)
        if unknown:
            raise ValueError(f"no strategy of the study has the option {unknown[0]!r}")


def _options_for(strategy: str, options: dict) -> dict:
    from nas.strategies import get_strategy

    valid = {f.name for f in dataclasses.fields(get_strategy(strategy).Config)}
    return {k: v for k, v in options.items() if k in valid}


def study_data(config: StudyConfig, data_root: str | None = None) -> ImageData:
    data = load_dataset(config.dataset, data_root)
    if config.train_images:
        data = train_subset(data, config.train_images)
    if config.image_size:
        data = resized(data, config.image_size)
    return data


def train_standalone(arch: DagArchitecture, data: ImageData, config: StudyConfig, seed: int,
                     device: torch.device) -> dict:
    """Train one DAG from scratch (SGD, momentum 0.9, cosine lr, no augmentation) and test it."""
    seed_everything(seed)
    net = DagNet(arch, data.in_channels * data.image_size ** 2, config.width, data.num_classes).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=config.standalone_lr, momentum=0.9, weight_decay=5e-4)
    batches = Batches(data.train_x, data.train_y, config.standalone_batch, data.mean, data.std,
                      augment=Augment(), shuffle=True, drop_last=False, seed=seed, device=device)
    steps = config.standalone_epochs * len(batches)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    start = time.perf_counter()
    net.train()
    for _ in range(config.standalone_epochs):
        for x, y in batches:
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    test = Batches(data.test_x, data.test_y, 1024, data.mean, data.std, augment=Augment(),
                   shuffle=False, drop_last=False, device=device)
    correct = 0
    with torch.no_grad():
        for x, y in test:
            correct += int((net(x).argmax(1) == y).sum())
    return {"test_acc": correct / len(data.test_y), "train_s": time.perf_counter() - start,
            "params": sum(p.numel() for p in net.parameters())}


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append(path: Path, row: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")


def run_study(config: StudyConfig, out: str | Path, device: str | torch.device = "cpu",
              data_root: str | None = None, log: Callable[[str], None] = print) -> dict[str, list[dict]]:
    """Run (or resume) the study; returns {"dags": rows, "searches": rows}."""
    from scipy import stats

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # Rerunning into the same folder may add seeds, sizes or strategies; anything else changed would
    # mix rows of two different studies.
    settings = json.loads(json.dumps(dataclasses.asdict(config)))
    grows = ("seeds", "sizes", "strategies")
    if (out / "config.json").is_file():
        before = json.loads((out / "config.json").read_text())
        changed = sorted(k for k in settings if k not in grows and before.get(k) != settings[k])
        if changed:
            raise ValueError(f"{out} holds a study with other settings ({', '.join(changed)}); "
                             "use another --out, or the same settings (seeds, sizes and strategies may grow)")
    (out / "config.json").write_text(json.dumps(settings, indent=1))
    device = torch.device(device)
    data = study_data(config, data_root)
    dag_path, search_path = out / "dags.jsonl", out / "searches.jsonl"
    dags = {(r["seed"], r["dag"]): r for r in _read_jsonl(dag_path)}
    searches = {(r["seed"], r["k"], r["l"], r["strategy"]): r for r in _read_jsonl(search_path)}
    start = time.perf_counter()

    def accuracy(arch: DagArchitecture, seed: int, role: str, k: int) -> float:
        key = (seed, str(arch))
        if key not in dags:
            res = train_standalone(arch, data, config, seed, device)
            row = {"dataset": config.dataset, "seed": seed, "dag": str(arch), "role": role, "k": k,
                   "l": arch.layers, **dag_properties(arch.mask()), **res}
            dags[key] = row
            _append(dag_path, row)
        return dags[key]["test_acc"]

    for seed in config.seeds:
        for k, l in config.sizes:
            space = DenseDagConfig(blocks=k, layers=l, width=config.width, edge_prob=config.edge_prob,
                                   max_skip=config.max_skip, dag_seed=seed,
                                   resample_every=config.resample_every)
            chain = accuracy(DagArchitecture.from_mask(chain_dag(l)), seed, "chain", k)
            complete = accuracy(DagArchitecture.from_mask(complete_dag(l, config.max_skip)), seed,
                                "complete", k)
            for strategy in config.strategies:
                if (seed, k, l, strategy) in searches:
                    continue
                t0 = time.perf_counter()
                search = Search(SearchConfig(space="dense-dag", strategy=strategy, dataset=config.dataset,
                                             epochs=config.search_epochs, batch_size=config.search_batch,
                                             seed=seed, alpha_data=config.alpha_data,
                                             space_options=dataclasses.asdict(space),
                                             strategy_options=_options_for(strategy, config.options)),
                                data, device)
                while not search.done:
                    search.run_epoch()
                net: DenseDagSupernet = search.supernet
                archs = net.architectures()
                alpha = torch.softmax(net.alpha.detach().cpu(), 0).tolist()
                search_s = time.perf_counter() - t0
                accs = [accuracy(a, seed, "candidate", k) for a in archs]
                chosen = int(np.argmax(alpha))
                tau = stats.kendalltau(alpha, accs).statistic if len(set(accs)) > 1 else float("nan")
                row = {"dataset": config.dataset, "seed": seed, "k": k, "l": l, "strategy": strategy,
                       "alpha": alpha, "candidates": [str(a) for a in archs], "candidate_acc": accs,
                       "chosen": chosen, "found": str(archs[chosen]), "found_acc": accs[chosen],
                       "best_acc": max(accs), "mean_candidate_acc": float(np.mean(accs)),
                       "regret": max(accs) - accs[chosen],
                       "kendall_tau": None if math.isnan(tau) else float(tau),
                       "chain_acc": chain, "complete_acc": complete, "search_s": search_s,
                       "final_val_acc": search.history[-1].get("val_acc")}
                searches[(seed, k, l, strategy)] = row
                _append(search_path, row)
                tau_text = "—" if row["kendall_tau"] is None else f"{row['kendall_tau']:.2f}"
                log(f"{time.perf_counter() - start:7.0f}s  seed {seed}  k={k} l={l}  {strategy:18s} "
                    f"found {accs[chosen]:.3f}  best {max(accs):.3f}  chain {chain:.3f}  "
                    f"complete {complete:.3f}  τ {tau_text}")
    return {"dags": list(dags.values()), "searches": list(searches.values())}


# ---------------------------------------------------------------- the answers


def _ms(values) -> str:
    v = [x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return "—"
    return f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else f"{v[0]:.3f}"


def bootstrap_spearman(x, y, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Spearman's ρ and a percentile bootstrap 95% interval (resampling the DAGs)."""
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    rho = float(stats.spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(reps):
        i = rng.integers(0, len(x), len(x))
        if len(set(x[i])) > 1 and len(set(y[i])) > 1:
            boots.append(stats.spearmanr(x[i], y[i]).statistic)
    lo, hi = (np.percentile(boots, [2.5, 97.5]) if boots else (float("nan"), float("nan")))
    return rho, float(lo), float(hi)


def summarize(rows: dict[str, list[dict]]) -> str:
    """Markdown tables answering the study's four questions."""
    s, d = rows["searches"], rows["dags"]
    out = []
    strategies = [x for x in STRATEGIES if any(r["strategy"] == x for r in s)]
    out += ["### 1. Found DAG against a chain MLP, the complete DAG and a random candidate", "",
            "| strategy | found | chain | complete | random candidate (mean) | best candidate | searches |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for st in strategies:
        r = [x for x in s if x["strategy"] == st]
        out.append(f"| {st} | {_ms([x['found_acc'] for x in r])} | {_ms([x['chain_acc'] for x in r])} | "
                   f"{_ms([x['complete_acc'] for x in r])} | {_ms([x['mean_candidate_acc'] for x in r])} | "
                   f"{_ms([x['best_acc'] for x in r])} | {len(r)} |")
    out += ["", "### 2. Against the size of the space (all strategies and seeds)", "",
            "| k | l | found | best candidate | regret | chain | complete |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    for k, l in sorted({(x["k"], x["l"]) for x in s}):
        r = [x for x in s if (x["k"], x["l"]) == (k, l)]
        out.append(f"| {k} | {l} | {_ms([x['found_acc'] for x in r])} | {_ms([x['best_acc'] for x in r])} | "
                   f"{_ms([x['regret'] for x in r])} | {_ms([x['chain_acc'] for x in r])} | "
                   f"{_ms([x['complete_acc'] for x in r])} |")
    out += ["", f"### 3. DAG properties against standalone accuracy ({len(d)} trained DAGs)", "",
            "| property | Spearman ρ | 95% bootstrap interval |", "|---|---:|---:|"]
    if len(d) >= 4:
        acc = [x["test_acc"] for x in d]
        for p in PROPERTIES:
            vals = [x[p] for x in d]
            if len(set(vals)) < 2:
                out.append(f"| {p} | — (constant) | |")
                continue
            rho, lo, hi = bootstrap_spearman(vals, acc)
            out.append(f"| {p} | {rho:.2f} | [{lo:.2f}, {hi:.2f}] |")
    out += ["", "### 4. Which strategy ranks the blocks best", "",
            "| strategy | Kendall τ (α vs standalone accuracy) | regret | searches |", "|---|---:|---:|---:|"]
    for st in strategies:
        r = [x for x in s if x["strategy"] == st]
        out.append(f"| {st} | {_ms([x['kendall_tau'] for x in r])} | {_ms([x['regret'] for x in r])} "
                   f"| {len(r)} |")
    return "\n".join(out) + "\n"
