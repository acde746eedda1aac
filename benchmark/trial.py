"""One trial of a grid: search → genotype → evaluation on every evaluation dataset; or, for a
space with a list of candidates, the ground truth of one seed: every candidate and reference
architecture trained from scratch on every evaluation dataset.

`run_trial` is the Ray-free core: it calls `on_progress(metrics, state)` after
every unit of work (each search epoch, each evaluation) with a `TrialState` from
which `run_trial(spec, state=state)` resumes, so a crashed or interrupted
trial loses at most the unit in progress. `state.rows(spec)` turns its result into
the rows of the results tables (benchmark/trial_state.py; see results/README.md).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import platform
import time
from collections.abc import Callable

import torch

from benchmark.fills import fill_cells
from benchmark.grids import EVAL_SEED_STRIDE, FILL, GROUND_TRUTH, TrialSpec
from benchmark.trial_state import TrialState, cpu_seconds, eval_key, git_commit
from nas.checkpoint import preserved_rng
from nas.data import ImageData, load_dataset, resized, train_subset
from nas.files import json_ready
from nas.search import Search
from nas.spaces import make_supernet
from resultstore.cells import CellTable, TableError, canonical_form


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


def train_architecture(spec: TrialSpec, arch, data: ImageData, repeat: int,
                       device: torch.device, resume: dict | None = None,
                       on_checkpoint: Callable[[dict], None] | None = None) -> dict:
    """Train `arch` from scratch as the profile says (repeat `repeat`) and test it; from the
    epoch after `resume` where given, with `on_checkpoint` called after every epoch (the space's
    `train_and_test`)."""
    start = time.perf_counter() - (resume["elapsed"] if resume else 0.0)
    result = spec.space.train_and_test(arch, data, spec.space_config, spec.train_config(repeat),
                                       device, resume=resume, on_checkpoint=on_checkpoint)
    result.update(eval_wall_s=time.perf_counter() - start, eval_device=device_name(device),
                  repeat=repeat, eval_seed=spec.eval_seed(repeat))
    return result


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def run_trial(spec: TrialSpec, device: str | torch.device = "cpu", state: TrialState | None = None,
              on_progress: Callable[[dict, TrialState], None] | None = None) -> TrialState:
    """Run (or resume from `state`) one trial; returns its final state.

    A search that diverges (a loss becomes NaN or infinite) ends the trial with
    status "diverged" and the reason, instead of raising.
    """
    device = torch.device(device)
    state = state if state is not None else TrialState()
    progress = on_progress or (lambda metrics, st: None)
    if spec.kind == GROUND_TRUTH:
        return run_ground_truth(spec, device, state, progress)
    if spec.kind == FILL:
        return run_fill(spec, device, state, progress)
    if state.genotype is None and not run_search(spec, device, state, progress):
        return state    # diverged
    if not spec.profile.evaluate:   # --search-only
        return state.end("searched")
    genotype = spec.space.parse(state.genotype)
    if spec.table_path:
        return evaluate_by_lookup(spec, genotype, device, state, progress)
    return evaluate_by_training(spec, genotype, device, state, progress)


def run_search(spec: TrialSpec, device: torch.device, state: TrialState, progress) -> bool:
    """Search (from the state's search in progress, if any) until the genotype is found, every
    epoch's cell looked up where the profile asks; False where the search diverged."""
    search = Search(spec.search, load_for_trial(spec.search_dataset, spec, search=True), device)
    if state.search is not None:
        search.load_state_dict(state.search)
    lookups = bool(spec.table_path and spec.profile.lookup_epochs)
    if lookups:   # (a trial that stopped while it trained an epoch's cell into the table)
        fill_epoch_lookups(spec, search.history, device, state, progress)
    while not search.done:
        try:
            record = search.run_epoch()
        except FloatingPointError as e:
            state.search_history = search.history
            state.end("diverged", str(e))
            progress({"phase": "search", "status": "diverged"}, state)
            return False
        state.search = search.state_dict()
        if lookups:
            fill_epoch_lookups(spec, search.history, device, state, progress)
        # (a tuning on a table chooses by the derived cell's training accuracy there: ASHA reads it
        # from this report)
        looked_up = state.epoch_lookups.get(str(record["epoch"]), {}) if lookups else {}
        progress({"phase": "search", "epoch": record["epoch"],
                  **{k: record[k] for k in ("train_acc", "val_acc", "train_loss", "val_loss")
                     if k in record},
                  **({"cell_train_acc": looked_up.get("lookup_train_acc")} if lookups else {})},
                 state)
    state.genotype, state.search_history = str(search.genotype()), search.history
    state.search_wall_s, state.search_device = search.elapsed, device_name(device)
    state.search = None   # the supernet is no longer needed
    return True


def evaluate_by_training(spec: TrialSpec, genotype, device: torch.device, state: TrialState,
                         progress) -> TrialState:
    """Train the found architecture from scratch on every evaluation dataset, each repeat,
    resuming an evaluation in progress from its last epoch."""
    partial = state.eval_partial
    for name in spec.eval_datasets:
        repeats = spec.repeats(name)
        todo = [r for r in range(repeats) if eval_key(name, r) not in state.evals]
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
            state.evals[key] = result
            progress({"phase": "eval", "eval_dataset": name, "repeat": r,
                      "repeats": repeats, "test_acc": result["test_acc"]}, state)
    return state.end("finished")


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


def table_seed(repeat: int) -> int:
    """The training seed of a table's repeat `repeat`: 0, 1000, 2000, … for every cell (a table's
    trainings pair across cells, not across searches)."""
    return EVAL_SEED_STRIDE * repeat


def train_into_table(spec: TrialSpec, table, arch, dataset: str, device: torch.device,
                     progress, state: TrialState, repeats: list[int]) -> None:
    """Train `arch` at the table's protocol, the given repeats on `dataset` (training seeds
    `table_seed(r)`), and store each training in the table as it ends. `progress` gets the
    trial's `state` (its checkpoint: a crash resumes the trial from there, not from nothing)."""
    space = spec.space
    data = load_for_trial(dataset, spec)
    for r in repeats:
        start = time.perf_counter()
        result = space.train_and_test(arch, data, spec.space_config,
                                      dataclasses.replace(spec.profile.train, seed=table_seed(r)), device)
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
                    state: TrialState, train: bool):
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
    target = spec.space.parse(found.source_arch) if found is not None else arch
    train_into_table(spec, table, target, dataset, device, progress, state, todo)
    return table.lookup(str(arch), canonical_form(arch), dataset), True


def fill_epoch_lookups(spec: TrialSpec, history: list[dict], device: torch.device,
                       state: TrialState, progress) -> None:
    """Look up the derived cell of every search epoch in `history` not looked up yet (a resumed
    trial's too), on the search dataset; a miss it may not train is left empty, and so is every
    epoch where the table cannot serve this profile (the evaluation then says why). The global
    random states come back as they were (`preserved_rng`): before cd3e4eb (2026-12-08) a
    cell trained here left them seeded with the table's training seed, so a strategy
    that draws noise from them (hyperDARTS, its noise control) went on from a state set by the
    missing cell, and its steps depended on what the table held."""
    done = state.epoch_lookups
    todo = [r for r in history if str(r["epoch"]) not in done]
    if not todo:
        return
    try:   # (read once: a table's rows are read from all its parts)
        table = open_table(spec)
    except TableError:
        table = None
    space = spec.space
    for record in todo:
        found = None
        if table is not None:
            # (a training seeds the global generators, from which a strategy may draw its next
            # steps' noise: the search goes on with them as they were, whatever the table held)
            with preserved_rng():
                found, _ = lookup_or_train(spec, table, space.parse(record["genotype"]),
                                           spec.search_dataset, device, progress, state,
                                           spec.profile.on_miss == "train")
        train = None if found is None or math.isnan(found.first_train_acc) else found.first_train_acc
        done[str(record["epoch"])] = ({"lookup_acc": None, "lookup_n": 0} if found is None
                                      else {"lookup_acc": found.mean, "lookup_n": found.n,
                                            "lookup_train_acc": train})


def evaluate_by_lookup(spec: TrialSpec, arch, device: torch.device, state: TrialState,
                       progress) -> TrialState:
    """Look the found architecture up on every evaluation dataset: one evaluation per training the
    table holds (its repeats), or the trial ends "missed" with the sentence that says which cell."""
    try:
        table = open_table(spec)
    except TableError as e:
        return state.end("missed", str(e))
    for name in spec.eval_datasets:
        if any(k.startswith(f"{name}#") for k in state.evals):
            continue
        found, trained = lookup_or_train(spec, table, arch, name, device, progress, state,
                                         spec.profile.on_miss == "train")
        if found is None:
            state.end("missed", f"the table {table.name} has no training of {arch} (or a cell "
                      f"of its canonical form) on {name}, and the profile does not train on a miss")
            progress({"phase": "lookup", "eval_dataset": name, "status": "missed"}, state)
            return state
        for r, (acc, seed) in enumerate(zip(found.accs, found.seeds)):
            # the cost of this evaluation: nothing for a lookup; the table's trainings where this
            # trial trained them (each training's time, on average)
            state.evals[eval_key(name, r)] = {
                "eval_dataset": name, "repeat": r, "eval_seed": seed, "test_acc": acc,
                "test_loss": None, "params": found.params, "history": [],
                "config": {"epochs": found.epochs},
                "eval_wall_s": found.cost_s / found.n if trained else 0.0,
                "eval_device": found.device, "table_train_s": found.cost_s / found.n,
                "evaluated_by": "trained on miss" if trained else "lookup",
                "lookup_match": found.match, "canonical": found.canonical, "table": table.name}
        progress({"phase": "lookup", "eval_dataset": name, "test_acc": found.mean,
                  "trainings": found.n, "trained": trained}, state)
    return state.end("finished")


def fill_chunk(spec: TrialSpec) -> list[str]:
    """The cells a fill trial trains: chunk `spec.seed` of the profile's fill list."""
    n = spec.profile.fill_chunk
    return fill_cells(spec.profile)[spec.seed * n:(spec.seed + 1) * n]


def run_fill(spec: TrialSpec, device: torch.device, state: TrialState, progress) -> TrialState:
    """Train the trial's chunk of cells into the table on its dataset, `eval_repeats` trainings
    each (those the table has are not trained again), one unit of progress per training."""
    table = open_table(spec)
    cells = fill_chunk(spec)
    done = state.cells
    for i, text in enumerate(cells):
        if text in done:
            continue
        found, trained = lookup_or_train(spec, table, spec.space.parse(text), spec.search_dataset, device,
                                         progress, state, train=True)
        done[text] = {"test_acc": found.mean, "trainings": found.n, "trained": trained}
        progress({"phase": "fill", "eval_dataset": spec.search_dataset, "trained": i + 1,
                  "of": len(cells), "test_acc": found.mean}, state)
    return state.end("finished")


def ground_truth_architectures(spec: TrialSpec) -> dict[str, dict]:
    """{architecture text: {'roles': [...], 'blocks': [...]}}: the candidates the space lists for
    this seed (built exactly as the searches of this seed build them) and its references."""
    config = spec.space_config
    data = load_for_trial(spec.search_dataset, spec, search=True)
    net = make_supernet(spec.profile.space, config, data.in_channels, data.num_classes, data.image_size)
    archs: dict[str, dict] = {}
    for role, arch in spec.space.references(config).items():
        archs.setdefault(str(arch), {"roles": [], "blocks": []})["roles"].append(role)
    for b, arch in enumerate(net.candidates()):
        entry = archs.setdefault(str(arch), {"roles": [], "blocks": []})
        if "candidate" not in entry["roles"]:
            entry["roles"].append("candidate")
        entry["blocks"].append(b)
    return archs


def run_ground_truth(spec: TrialSpec, device: torch.device, state: TrialState,
                     progress) -> TrialState:
    """Train every candidate and reference architecture of the seed on every evaluation dataset
    (each repeat), one unit of progress per training."""
    if state.architectures is None:
        state.architectures = ground_truth_architectures(spec)
    archs = state.architectures
    for name in spec.eval_datasets:
        todo = [(text, r) for text in archs for r in range(spec.repeats(name))
                if f"{eval_key(name, r)}|{text}" not in state.evals]
        data = load_for_trial(name, spec) if todo else None
        for i, (text, r) in enumerate(todo):
            result = train_architecture(spec, spec.space.parse(text), data, r, device)
            result.update(eval_dataset=name, architecture=text)
            state.evals[f"{eval_key(name, r)}|{text}"] = result
            progress({"phase": "ground-truth", "eval_dataset": name, "repeat": r,
                      "trained": i + 1, "of": len(todo),
                      "test_acc": result["test_acc"]}, state)
    return state.end("finished")
