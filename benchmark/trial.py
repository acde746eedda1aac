"""One trial of a grid: search → genotype → evaluation on every evaluation dataset; or, for a
space with a list of candidates, the ground truth of one seed: every candidate and reference
architecture trained from scratch on every evaluation dataset.

`run_trial` is the Ray-free core: it calls `on_progress(metrics, state)` after
every unit of work (each search epoch, each evaluation) with a state from
which `run_trial(spec, state=state)` resumes, so a crashed or interrupted
trial loses at most the unit in progress. `trial_rows` turns its result into
the rows of the results tables (trials, epochs, alphas; ground_truth for a ground-truth trial;
see results/README.md).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch

import nas
from benchmark.fills import fill_cells
from benchmark.grids import FILL, TrialSpec, json_ready
from nas.data import ImageData, load_dataset, resized, train_subset
from nas.search import Search, SearchConfig
from nas.spaces import get_space, make_supernet, space_config
from resultstore.cells import CellTable, TableError


def load_for_trial(name: str, spec: TrialSpec, search: bool = False) -> ImageData:
    """The dataset as the profile asks: resized, and cut to its training (or search) subset. Kept
    for the process's next call with the same data (a fill trial trains its cells one after the
    other: reading CIFAR-10's image folder again for each cost 2.5 s beside 20 s of training)."""
    p = spec.profile
    n = p.train_subset
    if search and p.search_subset is not None:
        n = p.search_subset if n is None else min(n, p.search_subset)
    return _load_cut(name, spec.data_root, n, p.image_size)


@functools.lru_cache(maxsize=4)
def _load_cut(name: str, data_root, n: int | None, image_size: int | None) -> ImageData:
    data = load_dataset(name, data_root)
    if n is not None:
        data = train_subset(data, n)
    if image_size is not None:
        data = resized(data, image_size)
    return data


def space_options(spec: TrialSpec) -> dict:
    """The supernet's options: the profile's, with the space's seeded options (the dense-DAG
    space's dag_seed) set to the trial's seed, so that every seed draws its own candidates (unless
    the profile's `space_seeded` is False: then every seed searches the same ones)."""
    p = spec.profile
    if not p.space_seeded:   # every seed searches the profile's own candidates
        return p.space_options()
    return {**p.space_options(), **{o: spec.seed for o in get_space(p.space).seeded_options}}


def search_config(spec: TrialSpec) -> SearchConfig:
    p = spec.profile
    options = dict(spec.strategy_options)
    if p.search_alpha_lr is not None:
        options.setdefault("alpha_lr", p.search_alpha_lr)    # a grid's (tuned) option wins
    return SearchConfig(space=p.space, strategy=spec.strategy, dataset=spec.search_dataset,
                        epochs=p.search_epochs, batch_size=p.search_batch_size, seed=spec.seed,
                        space_options=space_options(spec), strategy_options=options,
                        speed=p.search_speed, diagnostics_every=p.search_diagnostics_every)


EVAL_SEED_STRIDE = 1000


def eval_seed(spec: TrialSpec, repeat: int) -> int:
    """The training seed of repeat `repeat`: the search's seed for the first, then + 1000 per
    repeat; equal across strategies, so that evaluations pair by (seed, repeat)."""
    return spec.seed + EVAL_SEED_STRIDE * repeat


def eval_key(dataset: str, repeat: int) -> str:
    """The key of one evaluation in a trial's state."""
    return f"{dataset}#{repeat}"


def eval_config(spec: TrialSpec, repeat: int = 0):
    """The space's training config of the profile, with the repeat's training seed."""
    return dataclasses.replace(spec.profile.train, seed=eval_seed(spec, repeat))


def train_architecture(spec: TrialSpec, arch, data: ImageData, repeat: int,
                       device: torch.device, resume: dict | None = None,
                       on_checkpoint: Callable[[dict], None] | None = None) -> dict:
    """Train `arch` from scratch as the profile says (repeat `repeat`) and test it; from the
    epoch after `resume` where given, with `on_checkpoint` called after every epoch (the space's
    `train_and_test`)."""
    p = spec.profile
    start = time.perf_counter() - (resume["elapsed"] if resume else 0.0)
    result = get_space(p.space).train_and_test(arch, data, space_config(p.space, **space_options(spec)),
                                               eval_config(spec, repeat), device, resume=resume,
                                               on_checkpoint=on_checkpoint)
    result.update(eval_wall_s=time.perf_counter() - start, eval_device=device_name(device),
                  repeat=repeat, eval_seed=eval_seed(spec, repeat))
    return result


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def run_trial(spec: TrialSpec, device: str | torch.device = "cpu", state: dict | None = None,
              on_progress: Callable[[dict, dict], None] | None = None) -> dict:
    """Run (or resume from `state`) one trial; returns its final state.

    A search that diverges (a loss becomes NaN or infinite) ends the trial with
    status "diverged" and the reason, instead of raising.
    """
    device = torch.device(device)
    state = dict(state or {})
    state.setdefault("evals", {})
    progress = on_progress or (lambda metrics, st: None)
    if spec.kind == "ground-truth":
        return run_ground_truth(spec, device, state, progress)
    if spec.kind == FILL:
        return run_fill(spec, device, state, progress)
    if "genotype" not in state:
        search = Search(search_config(spec), load_for_trial(spec.search_dataset, spec, search=True), device)
        if "search" in state:
            search.load_state_dict(state["search"])
        lookups = bool(spec.table_path and spec.profile.lookup_epochs)
        if lookups:   # (a trial that stopped while it trained an epoch's cell into the table)
            fill_epoch_lookups(spec, search.history, device, state, progress)
        while not search.done:
            try:
                record = search.run_epoch()
            except FloatingPointError as e:
                state.update(status="diverged", reason=str(e), search_history=search.history)
                progress({"phase": "search", "status": "diverged"}, state)
                return state
            state["search"] = search.state_dict()
            if lookups:
                fill_epoch_lookups(spec, search.history, device, state, progress)
            progress({"phase": "search", "epoch": record["epoch"],
                      **{k: record[k] for k in ("train_acc", "val_acc", "train_loss", "val_loss")
                         if k in record}}, state)
        state.update(genotype=str(search.genotype()), search_history=search.history,
                     search_wall_s=search.elapsed, search_device=device_name(device))
        state.pop("search", None)  # the supernet is no longer needed
    if not spec.profile.evaluate:   # --search-only
        state["status"] = "searched"
        return state
    genotype = get_space(spec.profile.space).parse(state["genotype"])
    if spec.table_path:
        return evaluate_by_lookup(spec, genotype, device, state, progress)
    for legacy in [k for k in state["evals"] if "#" not in k]:   # a state from before repeats
        state["evals"][eval_key(legacy, 0)] = state["evals"].pop(legacy)
    # an evaluation in progress: its last epoch's checkpoint, by eval_key (dropped when it ends)
    partial = state.setdefault("eval_partial", {})
    for name in spec.eval_datasets:
        repeats = spec.repeats(name)
        todo = [r for r in range(repeats) if eval_key(name, r) not in state["evals"]]
        data = load_for_trial(name, spec) if todo else None
        for r in todo:
            key = eval_key(name, r)

            def checkpoint(st: dict, key=key, r=r, name=name, repeats=repeats) -> None:
                partial[key] = st
                last = st["history"][-1]
                progress({"phase": "eval", "eval_dataset": name, "repeat": r, "repeats": repeats,
                          "epoch": last["epoch"], "epochs": st["config"]["epochs"],
                          "train_acc": last["train_acc"], "train_loss": last["train_loss"]}, state)

            result = train_architecture(spec, genotype, data, r, device, resume=partial.get(key),
                                        on_checkpoint=checkpoint)
            partial.pop(key, None)
            result["eval_dataset"] = name
            state["evals"][key] = result
            progress({"phase": "eval", "eval_dataset": name, "repeat": r,
                      "repeats": repeats, "test_acc": result["test_acc"]}, state)
    state.pop("eval_partial", None)
    state["status"] = "finished"
    return state


# ---------------------------------------------------------------- evaluation by a table of cells

def table_protocol(spec: TrialSpec) -> dict:
    """What every training of a table made by this profile shares: the space, the training config
    but its seed, and the data's subset and image size (the dataset is each row's own)."""
    p = spec.profile
    train = {k: v for k, v in json_ready(dataclasses.asdict(p.train)).items() if k != "seed"}
    return {"space": p.space, "source": "trained here", "train": train,
            "train_subset": p.train_subset, "image_size": p.image_size}


def open_table(spec: TrialSpec):
    """The profile's table, checked against the profile's protocol (a table made here) or read
    as it is (NAS-Bench-201's, imported by benchmark/run.py)."""
    table = CellTable(spec.table_path)
    have = table.protocol()
    if have is None or have.get("source") == "trained here":
        table.require(table_protocol(spec), create=spec.profile.on_miss == "train" or spec.kind == FILL)
    return table


def canonical_form(arch) -> str:
    """The architecture's canonical form where its space has one (nb201), else its string."""
    return arch.canonical() if hasattr(arch, "canonical") else str(arch)


def table_seed(repeat: int) -> int:
    """The training seed of a table's repeat `repeat`: 0, 1000, 2000, … for every cell (a table's
    trainings pair across cells, not across searches)."""
    return EVAL_SEED_STRIDE * repeat


def train_into_table(spec: TrialSpec, table, arch, dataset: str, device: torch.device,
                     progress, state: dict, repeats: list[int]) -> None:
    """Train `arch` at the table's protocol, the given repeats on `dataset` (training seeds
    `table_seed(r)`), and store each training in the table as it ends. `progress` gets the
    trial's `state` (its checkpoint: a crash resumes the trial from there, not from nothing)."""
    p = spec.profile
    space = get_space(p.space)
    data = load_for_trial(dataset, spec)
    for r in repeats:
        start = time.perf_counter()
        result = space.train_and_test(arch, data, space_config(p.space, **space_options(spec)),
                                      dataclasses.replace(p.train, seed=table_seed(r)), device)
        table.add([{"dataset": dataset, "arch": str(arch), "canonical": canonical_form(arch),
                    "train_seed": table_seed(r), "test_acc": result["test_acc"],
                    "test_loss": result["test_loss"], "train_acc": result["train_acc"],
                    "params": float(result["params"]), "epochs": len(result["history"]),
                    "train_wall_s": time.perf_counter() - start,
                    "train_cpu_s": cpu_seconds(result["history"]), "device": device_name(device),
                    "source": "trained", "git_commit": git_commit(),
                    "torch_version": torch.__version__, **space.properties(arch)}])
        progress({"phase": "table", "eval_dataset": dataset, "repeat": r, "repeats": len(repeats),
                  "test_acc": result["test_acc"]}, state)


def lookup_or_train(spec: TrialSpec, table, arch, dataset: str, device: torch.device, progress,
                    state: dict, train: bool):
    """The table's trainings of `arch` on `dataset`; where `train`, a miss is trained first, and a
    hit with fewer trainings than the profile's repeats is topped up (the string it read, with
    the training seeds it lacks); (lookup or None, whether this call trained)."""
    found = table.lookup(str(arch), canonical_form(arch), dataset)
    if not train:
        return found, False
    wanted = {table_seed(r): r for r in range(spec.repeats(dataset))}
    have = set(found.seeds) if found is not None else set()
    todo = [r for s, r in wanted.items() if s not in have]
    if not todo:
        return found, False
    target = get_space(spec.profile.space).parse(found.source_arch) if found is not None else arch
    train_into_table(spec, table, target, dataset, device, progress, state, todo)
    return table.lookup(str(arch), canonical_form(arch), dataset), True


def fill_epoch_lookups(spec: TrialSpec, history: list[dict], device: torch.device, state: dict,
                       progress) -> None:
    """Look up the derived cell of every search epoch in `history` not looked up yet (a resumed
    trial's too), on the search dataset; a miss it may not train is left empty, and so is every
    epoch where the table cannot serve this profile (the evaluation then says why)."""
    done = state.setdefault("epoch_lookups", {})
    todo = [r for r in history if str(r["epoch"]) not in done]
    if not todo:
        return
    try:   # (read once: a table's rows are read from all its parts)
        table = open_table(spec)
    except TableError:
        table = None
    space = get_space(spec.profile.space)
    for record in todo:
        found = None
        if table is not None:
            found, _ = lookup_or_train(spec, table, space.parse(record["genotype"]), spec.search_dataset,
                                       device, progress, state, spec.profile.on_miss == "train")
        done[str(record["epoch"])] = ({"lookup_acc": None, "lookup_n": 0} if found is None
                                      else {"lookup_acc": found.mean, "lookup_n": found.n})


def evaluate_by_lookup(spec: TrialSpec, arch, device: torch.device, state: dict, progress) -> dict:
    """Look the found architecture up on every evaluation dataset: one evaluation per training the
    table holds (its repeats), or the trial ends "missed" with the sentence that says which cell."""
    try:
        table = open_table(spec)
    except TableError as e:
        state.update(status="missed", reason=str(e))
        return state
    for name in spec.eval_datasets:
        if any(k.startswith(f"{name}#") for k in state["evals"]):
            continue
        found, trained = lookup_or_train(spec, table, arch, name, device, progress, state,
                                         spec.profile.on_miss == "train")
        if found is None:
            state.update(status="missed", reason=f"the table {table.name} has no training of "
                         f"{arch} (or a cell of its canonical form) on {name}, and the profile "
                         "does not train on a miss")
            progress({"phase": "lookup", "eval_dataset": name, "status": "missed"}, state)
            return state
        for r, (acc, seed) in enumerate(zip(found.accs, found.seeds)):
            # the cost of this evaluation: nothing for a lookup; the table's trainings where this
            # trial trained them (each training's time, on average)
            state["evals"][eval_key(name, r)] = {
                "eval_dataset": name, "repeat": r, "eval_seed": seed, "test_acc": acc,
                "test_loss": None, "params": found.params, "history": [],
                "config": {"epochs": found.epochs},
                "eval_wall_s": found.cost_s / found.n if trained else 0.0,
                "eval_device": found.device, "table_train_s": found.cost_s / found.n,
                "evaluated_by": "trained on miss" if trained else "lookup",
                "lookup_match": found.match, "canonical": found.canonical, "table": table.name}
        progress({"phase": "lookup", "eval_dataset": name, "test_acc": found.mean,
                  "trainings": found.n, "trained": trained}, state)
    state["status"] = "finished"
    return state


def fill_chunk(spec: TrialSpec) -> list[str]:
    """The cells a fill trial trains: chunk `spec.seed` of the profile's fill list."""
    n = spec.profile.fill_chunk
    return fill_cells(spec.profile)[spec.seed * n:(spec.seed + 1) * n]


def run_fill(spec: TrialSpec, device: torch.device, state: dict, progress) -> dict:
    """Train the trial's chunk of cells into the table on its dataset, `eval_repeats` trainings
    each (those the table has are not trained again), one unit of progress per training."""
    table = open_table(spec)
    space = get_space(spec.profile.space)
    cells = fill_chunk(spec)
    done = state.setdefault("cells", {})
    for i, text in enumerate(cells):
        if text in done:
            continue
        found, trained = lookup_or_train(spec, table, space.parse(text), spec.search_dataset, device,
                                         progress, state, train=True)
        done[text] = {"test_acc": found.mean, "trainings": found.n, "trained": trained}
        progress({"phase": "fill", "eval_dataset": spec.search_dataset, "trained": i + 1,
                  "of": len(cells), "test_acc": found.mean}, state)
    state["status"] = "finished"
    return state


def ground_truth_architectures(spec: TrialSpec) -> dict[str, dict]:
    """{architecture text: {'roles': [...], 'blocks': [...]}}: the candidates the space lists for
    this seed (built exactly as the searches of this seed build them) and its references."""
    p = spec.profile
    space = get_space(p.space)
    config = space_config(p.space, **space_options(spec))
    data = load_for_trial(spec.search_dataset, spec, search=True)
    net = make_supernet(p.space, config, data.in_channels, data.num_classes, data.image_size)
    archs: dict[str, dict] = {}
    for role, arch in space.references(config).items():
        archs.setdefault(str(arch), {"roles": [], "blocks": []})["roles"].append(role)
    for b, arch in enumerate(net.candidates()):
        entry = archs.setdefault(str(arch), {"roles": [], "blocks": []})
        if "candidate" not in entry["roles"]:
            entry["roles"].append("candidate")
        entry["blocks"].append(b)
    return archs


def run_ground_truth(spec: TrialSpec, device: torch.device, state: dict, progress) -> dict:
    """Train every candidate and reference architecture of the seed on every evaluation dataset
    (each repeat), one unit of progress per training."""
    space = get_space(spec.profile.space)
    if "architectures" not in state:
        state["architectures"] = ground_truth_architectures(spec)
    archs = state["architectures"]
    for name in spec.eval_datasets:
        todo = [(text, r) for text in archs for r in range(spec.repeats(name))
                if f"{eval_key(name, r)}|{text}" not in state["evals"]]
        data = load_for_trial(name, spec) if todo else None
        for i, (text, r) in enumerate(todo):
            result = train_architecture(spec, space.parse(text), data, r, device)
            result.update(eval_dataset=name, architecture=text)
            state["evals"][f"{eval_key(name, r)}|{text}"] = result
            progress({"phase": "ground-truth", "eval_dataset": name, "repeat": r,
                      "trained": i + 1, "of": len(todo),
                      "test_acc": result["test_acc"]}, state)
    state["status"] = "finished"
    return state


def git_commit() -> str:
    try:
        root = Path(__file__).resolve().parents[1]
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# The keys of a search epoch's record (nas/search.py) that the epochs table has its own columns
# for, or that are not metrics.
SEARCH_RECORD_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "w_lr", "steps",
                      "epoch_time_s", "epoch_cpu_s", "wall_time_s", "genotype", "architectures"}


def cpu_seconds(history: list[dict]) -> float | None:
    """The process CPU time of a search's or a training's epochs (their `epoch_cpu_s`, summed);
    None for a history written before it was recorded."""
    if not history or any("epoch_cpu_s" not in h for h in history):
        return None
    return float(sum(h["epoch_cpu_s"] for h in history))


def table_name(spec: TrialSpec) -> str:
    return Path(spec.table_path).name


# the columns of a looked-up evaluation (evaluate_by_lookup)
LOOKUP_KEYS = ("evaluated_by", "lookup_match", "canonical", "table", "table_train_s")


def trial_rows(spec: TrialSpec, state: dict) -> dict[str, list[dict]]:
    """The rows of trials, epochs and alphas for a finished (or diverged) trial."""
    key = spec.key()
    common = {"torch_version": torch.__version__, "nas_version": nas.__version__,
              "git_commit": git_commit(),
              "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if spec.kind == "ground-truth":
        return {"ground_truth": ground_truth_rows(spec, state, common)}
    if spec.kind == FILL:   # the cells are in the table; this row says the chunk is done
        cells = state.get("cells", {})
        return {"fills": [{**key, "eval_dataset": spec.search_dataset, "status": "finished",
                           "table": table_name(spec), "cells": len(cells),
                           "trained_now": sum(c["trained"] for c in cells.values()), **common}]}
    trials, epochs, alphas = [], [], []
    # the epochs in effect (a profile's, or --search-epochs / --eval-epochs)
    common["search_epochs"] = spec.profile.search_epochs
    for r in state.get("search_history", []):
        # a strategy's own per-step metrics (implicit-cg's cg_iterations, averaged over the epoch)
        # and the collapse diagnostics (on the epochs they were computed)
        extra = {k: v for k, v in r.items() if k not in SEARCH_RECORD_KEYS and isinstance(v, float)}
        # the epoch's derived architecture, and its lookup in the profile's table where asked
        extra["genotype"] = r.get("genotype")
        extra.update(state.get("epoch_lookups", {}).get(str(r["epoch"]), {}))
        epochs.append({**key, "phase": "search", "eval_dataset": "", "repeat": 0, "epoch": r["epoch"],
                       "train_loss": r.get("train_loss"), "train_acc": r.get("train_acc"),
                       "val_loss": r.get("val_loss"), "val_acc": r.get("val_acc"),
                       "lr": r["w_lr"], "time_s": r["epoch_time_s"], "cpu_s": r.get("epoch_cpu_s"),
                       **extra})
        if "alpha_rows" in r:
            alphas += [{**key, "epoch": r["epoch"], **row} for row in r["alpha_rows"]]
        else:   # a DARTS trial state from before the supernet's alpha_rows (6007e16 and earlier)
            for cell in ("normal", "reduce"):
                for edge, row in zip(state["edges"], r[f"alpha_{cell}"]):
                    for op, weight in zip(state["primitives"], row):
                        alphas.append({**key, "epoch": r["epoch"], "cell": cell, "edge": edge,
                                       "op": op, "weight": weight})
    if state.get("status") in ("diverged", "missed"):
        trials.append({**key, "eval_dataset": "", "repeat": 0, "status": state["status"],
                       "reason": state.get("reason", ""), "genotype": state.get("genotype"),
                       **common})
        return {"trials": trials, "epochs": epochs, "alphas": alphas}
    if state.get("status") == "searched":   # a search-only grid: no evaluation
        trials.append({**key, "eval_dataset": "", "repeat": 0, "status": "searched", "reason": "",
                       "strategy_options": json.dumps(search_config(spec).strategy_options,
                                                      sort_keys=True),
                       "genotype": state["genotype"], "search_wall_s": state["search_wall_s"],
                       "search_cpu_s": cpu_seconds(state.get("search_history", [])),
                       "search_device": state["search_device"], **common})
        return {"trials": trials, "epochs": epochs, "alphas": alphas}
    options = json.dumps(search_config(spec).strategy_options, sort_keys=True)
    for k, res in state["evals"].items():
        # (a state written before repeats existed keys its evaluations by the dataset alone)
        name, repeat = res.get("eval_dataset", k), res.get("repeat", 0)
        trials.append({**key, "eval_dataset": name, "repeat": repeat,
                       "eval_seed": res.get("eval_seed", eval_seed(spec, repeat)), "status": "finished",
                       "reason": "",
                       "strategy_options": options,
                       "genotype": state["genotype"], "test_acc": res["test_acc"],
                       "test_loss": res["test_loss"], "params": res["params"],
                       "search_wall_s": state["search_wall_s"],
                       "search_cpu_s": cpu_seconds(state.get("search_history", [])),
                       "search_device": state["search_device"],
                       "eval_wall_s": res["eval_wall_s"], "eval_cpu_s": cpu_seconds(res["history"]),
                       "eval_device": res["eval_device"],
                       "eval_epochs": res.get("config", {}).get("epochs", len(res["history"])),
                       **{k: res[k] for k in LOOKUP_KEYS if k in res},
                       **common})
        for h in res["history"]:
            epochs.append({**key, "phase": "eval", "eval_dataset": name, "repeat": repeat,
                           "epoch": h["epoch"],
                           "train_loss": h["train_loss"], "train_acc": h["train_acc"],
                           "val_loss": None, "val_acc": None, "lr": h["lr"],
                           "time_s": h["epoch_time_s"], "cpu_s": h.get("epoch_cpu_s")})
    return {"trials": trials, "epochs": epochs, "alphas": alphas}


def ground_truth_rows(spec: TrialSpec, state: dict, common: dict) -> list[dict]:
    """One row of the ground_truth table per trained architecture, dataset and repeat."""
    space = get_space(spec.profile.space)
    rows = []
    for res in state["evals"].values():
        text = res["architecture"]
        entry = state["architectures"][text]
        rows.append({**spec.key(), "eval_dataset": res["eval_dataset"], "repeat": res["repeat"],
                     "eval_seed": res["eval_seed"], "architecture": text,
                     "roles": ",".join(entry["roles"]), "blocks": json.dumps(entry["blocks"]),
                     **space.properties(space.parse(text)),
                     "test_acc": res["test_acc"], "test_loss": res["test_loss"],
                     "params": res["params"], "eval_wall_s": res["eval_wall_s"],
                     "eval_cpu_s": cpu_seconds(res.get("history", [])),
                     "eval_device": res["eval_device"], **common})
    return rows
