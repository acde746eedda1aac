"""Before a grid starts on a Ray cluster: does every node see what its trials need?

`check_nodes` runs one small task on every alive node (pinned to it, asking for no CPU). Each
task looks for the folders that must be shared (a token file that the driver has just written,
so an old copy of the folder on a node's own disk does not count) and loads every dataset of the
grid from the data root, downloading it there first where `--download` asks for it. The driver
has downloaded into the data root before (where it sees it), so on a data root shared with the
driver the nodes find the data complete (torchvision checks it) and on per-node disks each node
gets its own copy; nodes that share a data root the driver does not see would download into it
at the same time. The answer is one sentence per problem, naming the node, before any trial
starts.

It lives in an importable module so that Ray workers can import it.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from nas.data import DatasetError, load_dataset

TOKEN = ".node-check"


def node_report(tokens: dict[str, str], datasets: list[str], data_root: str | None,
                download: bool) -> dict:
    """On one node: which token folders it sees, and which datasets fail to load (name: error)."""
    seen = {folder: _read(Path(folder) / TOKEN) == token for folder, token in tokens.items()}
    failed = {}
    for name in datasets:
        try:
            load_dataset(name, data_root, download=download)
        except (DatasetError, OSError) as e:
            failed[name] = str(e)
    return {"host": socket.gethostname(), "pid": os.getpid(), "seen": seen, "failed": failed}


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def write_tokens(folders: list[Path]) -> dict[str, str]:
    """A fresh token file in each folder; {folder: token}."""
    tokens = {}
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        tokens[str(folder)] = uuid.uuid4().hex
        (folder / TOKEN).write_text(tokens[str(folder)])
    return tokens


def remove_tokens(tokens: dict[str, str]) -> None:
    for folder in tokens:
        (Path(folder) / TOKEN).unlink(missing_ok=True)


NODE_WAIT_S = 600   # a node's check: loading (or downloading) the grid's datasets


def check_nodes(shared: dict[str, Path], datasets: list[str], data_root: str | None,
                download: bool, wait_s: float = NODE_WAIT_S) -> list[dict]:
    """Run `node_report` on every alive node of the connected cluster. `shared` names the folders
    that every node must see ({what it is: folder}). Returns the nodes' reports, each with its
    node id and address; raises ValueError (one sentence) for the first problem found."""

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    tokens = write_tokens(list(shared.values()))
    try:
        task = ray.remote(num_cpus=0, max_retries=0)(node_report)
        refs = [task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                    n["NodeID"], soft=False)).remote(tokens, datasets, data_root, download)
                for n in nodes]
        reports = []
        for n, ref in zip(nodes, refs):
            where = f"node {n.get('NodeManagerAddress', '?')}"
            try:
                r = ray.get(ref, timeout=wait_s)
            except ray.exceptions.GetTimeoutError:
                raise ValueError(f"{where} did not answer the check within {wait_s:.0f} s (busy, "
                                 "or out of memory?)") from None
            except ray.exceptions.RayError as e:
                first = str(e).strip().splitlines()[-1][:200]
                raise ValueError(f"the check failed on {where} ({first}); is the project installed "
                                 "there, in the same Python as the head's?") from None
            reports.append({**r, "node_id": n["NodeID"], "address": n.get("NodeManagerAddress", "?")})
    finally:
        remove_tokens(tokens)
    for r in reports:
        where = f"node {r['address']} ({r['host']})"
        for what, folder in shared.items():
            if not r["seen"][str(folder)]:
                fix = ("give --storage a folder that every node mounts, or a cloud URI (s3://…, gs://…)"
                       if what == "Ray's storage" else "put it in a folder that every node mounts "
                       "(--results, or --table FOLDER)")
                raise ValueError(f"{what} {folder} is not visible from {where}: on a cluster {fix}")
        for name, error in r["failed"].items():
            raise ValueError(f"dataset {name} does not load on {where}: {error.rstrip('.')}")
    return reports
