"""Run a declared grid of trials on Ray Tune: `python benchmark/run.py --grid smoke`.

Each trial searches with one strategy on one dataset and seed, derives the
genotype and trains it from scratch on every evaluation dataset; a grid whose
space lists candidates may add a ground-truth trial per seed. Results go to
results/<experiment>/{trials,epochs,alphas,ground_truth}.parquet (see results/README.md).
Rerunning the same command resumes an interrupted grid without rerunning
finished trials.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":   # run as a script from a checkout: the packages beside it import uninstalled
    sys.path.insert(0, str(ROOT))

from benchmark.codec import (
    FORMAT,
    GRID_JSON_HINT,
    FormatError,
    encode_manifest,
    encode_spec,
    manifest_format,
    manifest_matches,
)
from benchmark.fills import cells_found_by, named_cells
from benchmark.grids import GRIDS, get_grid, legacy_trial_id, trial_id
from benchmark.plan import CELL_METRIC, grace_period, plan, tuning_metric, tuning_plan, tuning_seed_warning
from benchmark.trial import open_table
from nas.data import DatasetError, dataset_shape, load_dataset
from nas.files import FileError, check_writable, read_json, write_json
from nas.memory import check_space_fits
from nas.options import Parser, count, parse_option, positive, program
from nas.spaces import get_space
from nas.strategies import STRATEGIES, get_strategy
from resultstore.cells import (
    CellTable,
    TableError,
    describe,
    import_published,
    resolve_table,
    start_from_shipped,
)
from resultstore.experiment import ReportError, find_experiment
from resultstore.schema import KEYS, MARKING, read_manifest
from resultstore.store import ResultStore, default_results_dir, read_parquet


class UsageError(Exception):
    """Bad input: one sentence, exit status 2."""


# the exit status of a run stopped by Ctrl-C (the shell's 128 + SIGINT), so that
# `run.py && report.py` does not go on over an unfinished grid
INTERRUPTED = 130
RESUME_HINT = "run the same command again to resume"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, parsed. (Long: one `add_argument` per option, each with its help.)"""
    p = Parser(prog=program("benchmark/run.py"), description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", default="smoke", help=f"grid: {', '.join(GRIDS)} (default: smoke)")
    p.add_argument("--experiment", default=None, help="experiment name (default: the grid's)")
    p.add_argument("--results", default=str(default_results_dir()),
                   help="results folder (default: results/ of the project, or ./results where the "
                        "project is installed)")
    p.add_argument("--strategies", nargs="+", default=None, metavar="NAME",
                   help=f"override the grid's strategies: {', '.join(STRATEGIES)}")
    p.add_argument("--datasets", nargs="+", default=None, metavar="NAME",
                   help="override the grid's search datasets")
    p.add_argument("--transfer-datasets", nargs="*", default=None, metavar="NAME",
                   help="override the datasets each found cell is also evaluated on besides its "
                        "search dataset (transfer; none when given no name), e.g. "
                        "--transfer-datasets fashion-mnist cifar100 with CIFAR-100 under --data-root "
                        "(or --download); on a grid with a table, its cells are looked up there on "
                        "each (and trained into it where the profile trains a miss); use another "
                        "--experiment")
    p.add_argument("--fill-from", nargs="+", default=None, metavar="EXPERIMENT",
                   help="on a grid that fills a table of cells (nb201-table): train only the cells "
                        "these experiments' searches found (folders, or names under --results), "
                        "e.g. --fill-from nb201-cpu --datasets cifar100 for their CIFAR-100 "
                        "transfer without searching again (`analysis/report.py nb201-cpu "
                        "--table-datasets cifar100` reads it); the experiment defaults to "
                        "<grid>-from-<experiments>; after the experiments found more cells, name "
                        "another --experiment (the cells trained already are not trained again)")
    p.add_argument("--fill-cells", nargs="+", default=None, metavar="CELL",
                   help="on a grid that fills a table of cells (nb201-table): train only these "
                        "cells (genotype strings of its space; two of one computation are trained "
                        "once), e.g. a cell no search found, to rank it among the table's; the "
                        "experiment defaults to <grid>-cells-<a hash of the list>")
    p.add_argument("--seeds", nargs="+", type=count(0), default=None, help="override the seeds")
    p.add_argument("--search-epochs", type=count(1), default=None, help="override search epochs")
    p.add_argument("--eval-epochs", type=count(1), default=None, help="override evaluation epochs")
    p.add_argument("--space-set", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the profile's search space, e.g. --space-set blocks=16 "
                        "--space-set layers=6 on a dense-dag grid (repeatable; use another "
                        "--experiment for a changed profile)")
    p.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the profile's training from scratch, e.g. --train-set "
                        "init=pytorch on a dense-dag grid (repeatable)")
    p.add_argument("--search-only", action="store_true",
                   help="run the searches and record their epochs and α (and the collapse "
                        "diagnostics where the profile computes them), train nothing; use another "
                        "--experiment")
    p.add_argument("--truth-repeats", type=count(1), default=None, metavar="N",
                   help="trainings of each ground-truth architecture per dataset (default: the "
                        "profile's; the noise ceiling compares halves of them); use another "
                        "--experiment")
    p.add_argument("--table", default=None, metavar="REF",
                   help="evaluate by looking the found cells up in this table of cells instead of "
                        "training them: a name under <results>/tables, a folder, or nb201:PATH "
                        "(NAS-Bench-201's file, read with `pip install 'hyperdarts-bench[nb201]'`; "
                        "imported once); default: the profile's")
    p.add_argument("--on-miss", choices=("error", "train"), default=None,
                   help="a cell the table lacks: the trial ends 'missed' (error), or the cell is "
                        "trained at the table's protocol and stored in it (train); default: the "
                        "profile's")
    p.add_argument("--lookup-epochs", action=argparse.BooleanOptionalAction, default=None,
                   help="with a table: look each search epoch's derived cell up too (default: the "
                        "profile's)")
    p.add_argument("--data-root", default=None, help="folder of cifar-10-batches-py/ etc.")
    p.add_argument("--download", action="store_true",
                   help="download a missing CIFAR-10/100 into the data root first (torchvision): "
                        "in the driver, and on a cluster on every node that lacks it")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join (default: $RAY_ADDRESS, else a private local instance)")
    p.add_argument("--storage", default=None, metavar="PATH_OR_URI",
                   help="where Ray Tune keeps the experiment's state and the trials' checkpoints: "
                        "a folder every node mounts, or a cloud URI that Ray accepts (s3://bucket/"
                        "path, gs://…); a cluster of several nodes needs one (default: "
                        "<results>/<experiment>/ray, on this machine's disk)")
    p.add_argument("--num-cpus", type=count(1), default=None,
                   help="CPUs of the private local instance (default: all)")
    p.add_argument("--max-concurrent", type=count(1), default=None, help="bound on parallel trials")
    p.add_argument("--max-failures", type=count(0), default=2,
                   help="retries of a crashed trial from its last checkpoint (default: 2)")
    p.add_argument("--tune", default=None, metavar="STRATEGY",
                   help="tune this strategy's own hyperparameters on the grid's first dataset and "
                        "seed (Optuna TPE + ASHA) instead of running, choosing by the supernet's "
                        "search-validation accuracy, or where the grid looks every epoch's cell up "
                        "in a table, by that cell's training accuracy there; give a seed the "
                        "comparison does not use (--seeds 100)")
    p.add_argument("--samples", type=count(1), default=8, help="configurations to try with --tune")
    p.add_argument("--tuned", default=None, metavar="FOLDER",
                   help="use the tuned options in FOLDER/<strategy>.json (from --tune)")
    p.add_argument("--plan", action="store_true",
                   help="print the declared trials, what the grid can detect (from an earlier run "
                        "of it, when one exists) and its projected cost; run nothing")
    p.add_argument("--detect", type=positive, default=None, metavar="POINTS",
                   help="with --plan: the seeds needed to detect a difference of POINTS accuracy "
                        "points (80%% power, α = 0.05)")
    p.add_argument("--power-from", default=None, metavar="EXPERIMENT",
                   help="with --plan: take the between-seed standard deviations from this experiment "
                        "(a name under --results or a folder) instead of the grid's own earlier run")
    p.add_argument("--perf", default=None, metavar="PATH",
                   help="with --plan: perf.py results (a results folder or a parquet file) to project "
                        "the cost from when the grid has no earlier run (default: results/perf)")
    p.add_argument("--log", action="append", choices=LOGGERS, default=[], metavar="TOOL",
                   help="also log every trial's metrics for TOOL: tensorboard (event files in each "
                        "trial's folder of Ray's storage, <experiment>/ray/tune/<trial>/ by default, "
                        "for `tensorboard --logdir`) or mlflow "
                        "(to $MLFLOW_TRACKING_URI, else MLflow's default store in the current folder; needs "
                        "`pip install mlflow`); "
                        "repeatable; a resumed run keeps the loggers it started with. Without it Ray "
                        "writes no TensorBoard files")
    p.add_argument("--verbose", action="store_true",
                   help="show Ray's own log lines: its start, its warnings and a failed trial's "
                        "traceback (default: this project's progress lines, one line per error, "
                        "and Ray's warning that no node can take a trial)")
    # Tests only: every trial crashes once, right after its first checkpoint, if FILE is absent.
    p.add_argument("--fail-once-marker", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


LOGGERS = ("tensorboard", "mlflow")
LOGGER_PACKAGE = {"tensorboard": "tensorboardX", "mlflow": "mlflow"}


def logger_callbacks(tools: list[str], experiment: str) -> list:
    """Ray Tune's callbacks for the trials' metrics: its CSV and JSON files (always; Ray's own
    analysis reads them) and the loggers asked for. Ray's automatic loggers, which add TensorBoard
    files (and warn where tensorboardX is missing), are switched off."""
    missing = [t for t in dict.fromkeys(tools) if importlib.util.find_spec(LOGGER_PACKAGE[t]) is None]
    if missing:
        raise UsageError(f"--log {missing[0]} needs the {LOGGER_PACKAGE[missing[0]]} package: "
                         f"`pip install {LOGGER_PACKAGE[missing[0]].lower()}`, or leave out --log "
                         f"{missing[0]}")
    # (Ray loads where a grid starts: --help, --plan and a refused input answer without it)
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    callbacks = [CSVLoggerCallback(), JsonLoggerCallback()]
    if "tensorboard" in tools:
        from ray.tune.logger import TBXLoggerCallback  # (needs tensorboardX, optional)

        callbacks.append(TBXLoggerCallback())
    if "mlflow" in tools:
        from ray.air.integrations.mlflow import MLflowLoggerCallback  # (needs mlflow, optional)

        callbacks.append(MLflowLoggerCallback(experiment_name=experiment,
                                              tracking_uri=os.environ.get("MLFLOW_TRACKING_URI")))
    return callbacks


def trains(spec) -> bool:
    """Whether a trial trains networks on its evaluation datasets: not a search-only one, nor one
    that looks its cells up in a table and trains none on a miss."""
    return spec.profile.evaluate and (spec.table_path is None or spec.profile.on_miss == "train")


def grid_datasets(specs) -> list[str]:
    """Every dataset that the trials search or train on, each once."""
    return sorted({d for t in specs for d in (t.search_dataset, *(t.eval_datasets if trains(t) else ()))})


def check_datasets(grid, data_root, download: bool = False) -> dict[str, tuple[int, int]]:
    """Every dataset of the grid loads (downloaded first, once, where `download` and it is missing:
    torchvision's CIFAR, with its progress), before Ray starts; their (channels, image side)."""
    shapes = {}
    for name in grid_datasets(grid.trials()):
        try:
            data = load_dataset(name, data_root, download=download)
        except DatasetError as e:
            raise UsageError(str(e)) from None
        shapes[name] = (data.in_channels, data.image_size)
    return shapes


def prepare_table(grid, specs) -> None:
    """Import NAS-Bench-201's file on first use, and say which table the grid looks its cells up in,
    with its noise ceiling on each search dataset (UsageError where it cannot serve)."""
    ref = grid.profile.table
    if ref is None:
        return
    table = CellTable(specs[0].table_path)
    copied = start_from_shipped(ref, table.root)
    if copied:
        print(f"table {table.name}: started from the copy shipped in results/examples/tables "
              f"({copied:,} trainings); the cells it lacks are trained into {table.root}", file=sys.stderr)
    try:
        if ref.startswith("nb201:"):
            if not table.exists():
                print(f"importing NAS-Bench-201's file {ref[6:]} into {table.root} (once)", file=sys.stderr)
            import_published(ref[6:], table)
        trains = grid.profile.on_miss == "train" or grid.profile.fill is not None
        if not ref.startswith("nb201:") and not table.exists() and not trains:
            raise TableError(f"there is no table of cells at {table.root}; fill it first, or let the "
                             "profile train on a miss (--on-miss train)")
        open_table(specs[0])   # its protocol is this profile's (made so, where it trains on a miss)
        if not trains:
            lacking = sorted({d for s in specs for d in s.eval_datasets} - set(table.datasets()))
            if lacking:
                raise TableError(f"the table {table.root} holds no cell on {', '.join(lacking)}, "
                                 "which this grid evaluates on; evaluate on the table's datasets "
                                 f"({', '.join(table.datasets()) or 'none'}) or train on a miss")
    except (TableError, FileError) as e:
        raise UsageError(str(e)) from None
    compact_table(specs)
    for d in grid.search_datasets:
        print(describe(table, d) if table.exists() else
              f"table {table.name} at {table.root}: empty; the searches' cells fill it (train on miss)",
              file=sys.stderr)


def compact_table(specs) -> None:
    """Fold the parts of the grid's table of cells (one per training) into one file, so that every
    trial opens it in one read (safe while other grids write to the same table)."""
    if specs and specs[0].table_path and CellTable(specs[0].table_path).exists():
        table = CellTable(specs[0].table_path)
        folded = table.compact()
        if folded:
            print(f"table {table.name}: {folded} trainings folded into {table.root / 'cells.parquet'}",
                  file=sys.stderr)


HANDSHAKE_WAIT_S = 5


def speaks_http2(host: str, port: int, timeout: float) -> bool:
    """Whether the server at host:port answers an HTTP/2 client preface with the SETTINGS frame
    that every HTTP/2 server (a gRPC server such as Ray's GCS) sends first."""
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(preface)
            head = b""
            while len(head) < 9:
                chunk = s.recv(9 - len(head))
                if not chunk:
                    return False
                head += chunk
    except OSError:
        return False
    return head[3] == 4   # the frame's type: SETTINGS


def check_address(address: str) -> None:
    """Fail fast on an address where nothing listens (ray.init would wait for minutes)."""
    if address in ("auto", "local") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--address must be HOST:PORT, auto or ray://HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as e:
        raise UsageError(f"nothing answers at the Ray address {address} ({e.strerror or e}); "
                         "start the head with `ray start --head` or fix --address") from None
    # Ray's GCS speaks gRPC: a listener that does not (another service on that port) would make
    # ray.init wait for a minute before failing
    if not speaks_http2(host, int(port), HANDSHAKE_WAIT_S):
        raise UsageError(f"something answers at {address} but not Ray (no HTTP/2 handshake, which "
                         f"gRPC starts with, within {HANDSHAKE_WAIT_S} s); give the head's GCS port "
                         "(6379 unless `ray start --head --port` said otherwise)")


def check_networks(grid, specs, loaded: dict[str, tuple[int, int]] | None = None) -> None:
    """Refuse a grid whose supernet or trained network cannot fit this machine's memory (or its
    GPU's), before Ray starts: their weights, and with the profile's batches on the images of each
    dataset searched or trained on (a trained network's activations those of the space's smallest,
    a floor). Without `loaded`, before its data loads: the datasets whose image shapes are known
    without loading them, and what its space says of the supernet's shape is printed; with it
    (the (channels, side) of the loaded datasets), after: the image folders'."""
    device = "cuda" if grid.profile.gpus_per_trial else "cpu"
    search = next((s for s in specs if s.kind == "search"), None)
    p = grid.profile

    def shape(d: str) -> tuple[int, int] | None:
        if loaded is None:
            return dataset_shape(d, p.image_size)
        if dataset_shape(d) is not None or d not in loaded:     # (checked before it loaded)
            return None
        return loaded[d][0], p.image_size or loaded[d][1]
    searched = {shape(t.search_dataset) for t in specs if t.kind == "search"}
    trained = {shape(d) for t in specs if trains(t) for d in t.eval_datasets}
    if loaded is not None:
        searched, trained = searched - {None}, trained - {None}
    for s in sorted(searched, key=str):     # (None: the weights alone)
        check_space_fits(p.space, space_config=search.space_config, device=device, shape=s,
                         search_batch=p.search_batch_size, search_speed=p.search_speed)
    for s in sorted(trained, key=str):
        check_space_fits(p.space, train_config=p.train, device=device, shape=s)
    for caveat in get_space(p.space).caveats(search.space_config) if search and loaded is None else ():
        print(f"warning: {caveat}", file=sys.stderr)


def lock_experiment(results_dir: Path):
    """An exclusive lock on `results_dir`/.driver.lock, held while the returned file is open (the
    driver's lifetime): a second driver on the same experiment is refused in one sentence. The
    kernel releases the lock when the process ends, however it ends (kill -9 included), so a
    crashed driver leaves nothing to clean up. (No lock where `fcntl` is missing: Windows.)"""
    try:
        import fcntl  # (POSIX only)
    except ImportError:
        return None
    results_dir.mkdir(parents=True, exist_ok=True)
    f = open(results_dir / ".driver.lock", "a+")   # noqa: SIM115 (open for the driver's life)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "a process that did not say which"
        f.close()
        raise UsageError(f"another driver is running experiment {results_dir.name} ({holder}); "
                         "wait for it to finish, or give this run another --experiment") from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()} since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    f.flush()
    HELD_LOCKS.append(f)
    return f


# the driver's locks, released when `main` returns (not left to the garbage collector: a frame
# kept alive by a traceback inside Ray would keep a finished run's lock in this process)
HELD_LOCKS: list = []


def trial_resources(profile, cluster: dict) -> dict:
    """A GPU fraction per trial where the cluster has GPUs, else CPUs; never a missing GPU."""
    if cluster.get("GPU", 0) > 0:
        return {"cpu": 1, "gpu": min(profile.gpus_per_trial, cluster["GPU"])}
    return {"cpu": min(profile.cpus_per_trial, max(1, int(cluster.get("CPU", 1))))}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    before = len(HELD_LOCKS)
    try:
        return run(args)
    except (UsageError, ValueError) as e:  # unknown names and bad values raise ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:   # outside Ray Tune's fit, or a second Ctrl-C within it
        print(f"\ninterrupted: the trials that finished have their rows, the others their last "
              f"checkpoints; {RESUME_HINT}", file=sys.stderr)
        return INTERRUPTED
    finally:   # the locks this run took
        while len(HELD_LOCKS) > before:
            HELD_LOCKS.pop().close()


def run(args: argparse.Namespace) -> int:
    """The grid the arguments declare: its plan (--plan), its tuning (--tune) or its trials, run on
    Ray from where they stopped; 1 if a trial failed, INTERRUPTED if Ctrl-C stopped it."""
    grid = declared_grid(args)
    experiment = args.experiment or default_experiment(args, grid)
    results_dir = Path(args.results).resolve() / experiment
    check_plan_flags(args)
    if args.plan:
        print_plan(args, grid, results_dir)
        return 0
    check_writable(args.results, "--results")
    check_storage(args.storage)
    if args.tune and (results_dir / "grid.json").is_file():
        raise UsageError(f"{results_dir} holds a grid's results (grid.json); a tuning goes in a "
                         f"folder of its own: leave out --experiment (tune-{grid.name}-{args.tune}) "
                         "or name another")
    declared = grid.trials(experiment, tables_root=Path(args.results).resolve() / "tables")
    check_networks(grid, declared)
    check_networks(grid, declared, check_datasets(grid, grid.data_root, args.download))
    loggers = logger_callbacks(args.log, experiment)
    prepare_table(grid, declared)
    storage, name = ray_storage(args.storage, results_dir, experiment)
    path = f"{storage.rstrip('/')}/{name}"
    specs, restorable = trials_to_run(args, grid, declared, results_dir, path)
    if not specs:
        ResultStore(results_dir).collect()
        print(f"every trial of {experiment} has its results in {results_dir}; nothing to run")
        return 0
    start_ray(args, grid, declared, results_dir, storage)
    return run_trials(args, grid, declared, specs, restorable, results_dir, storage, name, loggers)


def default_experiment(args: argparse.Namespace, grid) -> str:
    """The experiment a run writes without --experiment: the grid's name; a tuning's
    tune-<grid>-<strategy>; a --fill-from run's <grid>-from-<experiments>; a --fill-cells run's
    <grid>-cells-<the first 8 hex digits of the list's sha256>."""
    if args.tune:
        return f"tune-{grid.name}-{args.tune}"
    if args.fill_from:
        return f"{grid.name}-from-" + "-".join(Path(e).name for e in args.fill_from)
    if args.fill_cells:
        listed = "\n".join(grid.profile.fill_list).encode()
        return f"{grid.name}-cells-{hashlib.sha256(listed).hexdigest()[:8]}"
    return grid.name


def declared_grid(args: argparse.Namespace):
    """The grid `--grid` names with the command line's overrides, tuned options (--tuned), or cut to
    one search of the strategy to tune (--tune)."""
    grid = get_grid(args.grid).override(
        strategies=args.strategies, datasets=args.datasets, seeds=args.seeds,
        search_epochs=args.search_epochs, eval_epochs=args.eval_epochs, data_root=args.data_root,
        space_options=dict(parse_option(t) for t in args.space_set),
        train_options=dict(parse_option(t) for t in args.train_set), search_only=args.search_only,
        truth_repeats=args.truth_repeats, table=args.table, on_miss=args.on_miss,
        lookup_epochs=args.lookup_epochs, transfer_datasets=args.transfer_datasets)
    if args.fill_from and args.fill_cells:
        raise UsageError("--fill-from and --fill-cells each say which cells to train: give one")
    if args.fill_from or args.fill_cells:
        option = "--fill-from" if args.fill_from else "--fill-cells"
        ignored = [f for f, v in (("--strategies", args.strategies), ("--seeds", args.seeds),
                                  ("--transfer-datasets", args.transfer_datasets), ("--tune", args.tune))
                   if v is not None]
        if ignored:
            raise UsageError(f"{option} trains the cells it names, on --datasets; "
                             f"{ignored[0]} has no meaning there: leave it out")
        if args.fill_cells:
            cells = named_cells(grid.profile, args.fill_cells)
        else:
            tables = Path(args.results).resolve() / "tables"
            try:
                roots = [find_experiment(e, args.results) for e in args.fill_from]
            except ReportError as e:
                raise UsageError(str(e)) from None
            cells = cells_found_by(grid.profile, resolve_table(grid.profile.table, tables), roots)
        grid = dataclasses.replace(grid, profile=dataclasses.replace(
            grid.profile, fill="found", fill_list=tuple(cells)))
    if args.tuned:
        # (Ray loads where a grid starts: --help, --plan and a refused input answer without it)
        from benchmark.tuning import load_tuned, tuned_lines

        tuned = load_tuned(args.tuned, metric=tuning_metric(grid.profile))
        grid = dataclasses.replace(grid, strategy_options={**grid.strategy_options, **tuned})
        print("\n".join(tuned_lines(args.tuned, tuned, grid.strategies)), file=sys.stderr)
    if args.tune:
        if args.tune not in STRATEGIES:
            raise UsageError(f"unknown strategy {args.tune!r}; valid strategies are "
                             f"{', '.join(STRATEGIES)}")

        if not get_strategy(args.tune).searches:
            raise UsageError(f"{args.tune} has no options to tune: it does not search")
        grid = grid.override(strategies=[args.tune])
        # the search alone, no found cell evaluated; on a profile that looks every epoch's cell up
        # in a table, the epochs' cells are looked up (a miss trained into the table) and the
        # tuning chooses by their training accuracy there; elsewhere no table is opened and it
        # chooses by the supernet's search-validation accuracy (benchmark/plan.py `tuning_metric`)
        if tuning_metric(grid.profile) == CELL_METRIC:
            profile = dataclasses.replace(grid.profile, on_miss="train", evaluate=False)
        else:
            profile = dataclasses.replace(grid.profile, table=None, lookup_epochs=False,
                                          on_miss="error", evaluate=False)
        grid = dataclasses.replace(grid, seeds=grid.seeds[:1], search_datasets=grid.search_datasets[:1],
                                   profile=profile)
    return grid


def check_plan_flags(args: argparse.Namespace) -> None:
    """--detect, --power-from and --perf go with --plan (argparse checks --detect is positive)."""
    for flag, value in (("--detect", args.detect), ("--power-from", args.power_from),
                        ("--perf", args.perf)):
        if value is not None and not args.plan:
            raise UsageError(f"{flag} goes with --plan")


def print_plan(args: argparse.Namespace, grid, results_dir: Path) -> None:
    """--plan: what the grid runs, can detect and costs (benchmark/plan.py)."""
    perf = Path(args.perf) if args.perf else Path(args.results).resolve() / "perf"
    if args.perf and not perf.exists():
        raise UsageError(f"--perf {perf} does not exist")
    power = None
    if args.power_from:
        power = Path(args.power_from).expanduser().resolve()
        power = power if power.is_dir() else Path(args.results).resolve() / args.power_from
        if not power.is_dir():
            raise UsageError(f"--power-from {args.power_from}: no such experiment folder")
    if args.tune:
        timed = power or Path(args.results).resolve() / grid.name
        print(tuning_plan(grid, args.tune, args.samples, get_grid(args.grid).seeds, timed))
        return
    print(plan(grid, results_dir, perf, args.detect, cpus=args.num_cpus or os.cpu_count() or 1,
               power_dir=power, tables_root=Path(args.results).resolve() / "tables"))


def trials_to_run(args: argparse.Namespace, grid, declared: list, results_dir: Path,
                  path: str) -> tuple[list, bool]:
    """The trials to run and whether Ray's saved run at `path` resumes them. Without Ray's own
    state (lost, or the result parts copied from another machine), the trials whose result parts
    exist are finished: only the others run, if the profile is the same. Ray's saved run resumes
    the trials it was given (ray/trials.json); only where those are this run's trials, or the ones
    of them still without results (otherwise the trials without result parts run afresh, each
    from its own checkpoint file)."""
    # (Ray loads where a grid starts: --help, --plan and a refused input answer without it)
    from ray import tune

    store = ResultStore(results_dir)
    if not args.tune and results_dir.is_dir():
        lock_experiment(results_dir)   # held until `main` returns
        moved = migrate_trial_ids(results_dir, declared)
        if moved:
            print(f"renamed {moved} result file(s) in {results_dir} from the trial ids of an earlier "
                  "version (dataset paths are now told apart by a hash)", file=sys.stderr)
    unfinished = [s for s in declared if not store.has_part(s.result_table, s.trial_id)]
    given = ray_trial_ids(results_dir)
    restorable = (not args.tune and bool(given) and tune.Tuner.can_restore(path)
                  and given in ({s.trial_id for s in declared}, {s.trial_id for s in unfinished}))
    if restorable and manifest_format(results_dir) != FORMAT:
        print("Ray's saved run holds trial specs an earlier version wrote (grid.json has no format); "
              "the unfinished trials go on from their own checkpoint files in "
              f"{results_dir / 'checkpoints'} instead", file=sys.stderr)
        restorable = False
    if restorable and ray_checkpoints_gone(path):
        print("Ray's saved run refers to a trial checkpoint that is gone (the driver was stopped while "
              "Ray replaced its checkpoints); the unfinished trials go on from their own checkpoint "
              f"files in {results_dir / 'checkpoints'} instead", file=sys.stderr)
        restorable = False
    if args.tune:
        return declared, restorable
    check_manifest(results_dir, grid, declared)
    if restorable:
        return declared, restorable
    if len(unfinished) < len(declared):
        print(f"{len(declared) - len(unfinished)} of {len(declared)} trials already have results in "
              f"{results_dir / 'parts'}; running the other {len(unfinished)}", file=sys.stderr)
    return unfinished, restorable


class _OneLine(logging.Filter):
    """A log record without its traceback: one line (the trial's error file holds the rest)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def quiet_ray(verbose: bool) -> None:
    """Ray's own lines on the terminal only with --verbose; else its errors alone, one line each
    (its start, its warnings of slow snapshots, its summary box and a failed trial's traceback are
    what a grid prints about itself in its own lines). Before Ray loads: some are read then."""
    if verbose:
        return
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")   # (Tune's summary box, at verbose 0)
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    import ray  # noqa: F401 (its logging configured, then quieted)

    logger = logging.getLogger("ray")
    logger.setLevel(logging.ERROR)
    for handler in logger.handlers:
        handler.addFilter(_OneLine())
    # but the warning that no node can take a trial: without it a stuck grid says nothing
    logging.getLogger("ray.tune.execution.insufficient_resources_manager").setLevel(logging.WARNING)
    # Optuna's notice, in a resumed tuning, that a restored sample reports an epoch again (Ray's
    # checkpoint was from before that epoch); its own lines: `tune_strategy`
    warnings.filterwarnings("ignore", message="The reported value is ignored because this `step=")


def start_ray(args: argparse.Namespace, grid, declared: list, results_dir: Path, storage: str) -> None:
    """Start a private Ray (or join --address's cluster, whose every node must then see Ray's
    storage, the table of cells and the data); a refused start leaves no experiment folder behind."""
    quiet_ray(args.verbose)
    # (Ray loads where a grid starts: --help, --plan and a refused input answer without it)
    import ray

    from benchmark.cluster import check_nodes

    address = args.address or os.environ.get("RAY_ADDRESS")
    if address:
        check_address(address)
    created = not results_dir.exists()
    if created or args.tune:
        lock_experiment(results_dir)   # held until `main` returns
    try:
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.INFO if args.verbose else logging.ERROR)
        else:
            # in a checkout its workers import this copy of the project, as the driver does
            # (installed or not); an installed copy is found by its workers as it is
            env = {}
            if (ROOT / "pyproject.toml").is_file():
                env = {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                                     if p)}
            ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=False,
                     log_to_driver=False, runtime_env={"env_vars": env} if env else None,
                     logging_level=logging.INFO if args.verbose else logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as e:
        if created:   # a refused run leaves nothing behind
            shutil.rmtree(results_dir, ignore_errors=True)
        raise UsageError(f"cannot join the Ray cluster at {address!r} ({e})") from None
    if not address:
        return
    shared = {} if "://" in storage else {"Ray's storage": Path(storage)}
    if declared and declared[0].table_path:   # trials read and write the table of cells
        shared["the table of cells"] = Path(declared[0].table_path)
    try:
        reports = check_nodes(shared, grid_datasets(declared), grid.data_root, args.download)
    except BaseException as e:
        ray.shutdown()
        if created:
            shutil.rmtree(results_dir, ignore_errors=True)
        if isinstance(e, ValueError):
            raise UsageError(str(e)) from None
        raise
    print(f"{len(reports)} Ray node(s) see Ray's storage and load every dataset", file=sys.stderr)


def run_trials(args: argparse.Namespace, grid, declared: list, specs: list, restorable: bool,
               results_dir: Path, storage: str, name: str, loggers: list) -> int:
    """Run `specs` on the Ray started (or tune the strategy of --tune), collect their rows and
    print a summary; 1 if a trial failed, INTERRUPTED if a trial was stopped."""
    # (Ray loads where a grid starts: --help, --plan and a refused input answer without it)
    import ray
    from ray import tune

    from benchmark.progress import ProgressPrinter
    from benchmark.tune_trainable import InOrder, PartsHarvester, harvest_checkpoint, trainable

    resources = trial_resources(grid.profile, ray.cluster_resources())
    param_space = {"spec": tune.grid_search([encode_spec(s) for s in specs]),
                   "results_dir": str(results_dir),
                   "cpu_threads": resources.get("cpu", 1),
                   "fail_once_marker": args.fail_once_marker}
    run_config = tune.RunConfig(
        name=name, storage_path=storage,
        failure_config=tune.FailureConfig(max_failures=args.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2), verbose=0,
        callbacks=[ProgressPrinter(len(specs) if not args.tune else args.samples, eta=not args.tune),
                   *loggers, *([] if args.tune else [PartsHarvester(results_dir)])])
    wrapped = tune.with_resources(trainable, resources)
    if args.tune:
        search = next(s for s in specs if s.kind == "search")
        return tune_strategy(args, grid, search, wrapped, param_space, run_config, results_dir)
    write_manifest(results_dir, grid, declared)
    start = time.perf_counter()
    path = f"{storage.rstrip('/')}/{name}"
    if restorable:
        experiment = results_dir.relative_to(Path(args.results).resolve())
        print(f"resuming {experiment} from {path}", file=sys.stderr)
        tuner = tune.Tuner.restore(path, wrapped, resume_errored=True,
                                   param_space=param_space)
    else:
        write_json(results_dir / "ray" / "trials.json", sorted(s.trial_id for s in specs))
        tuner = tune.Tuner(wrapped, param_space=param_space, run_config=run_config,
                           tune_config=tune.TuneConfig(
                               max_concurrent_trials=args.max_concurrent,
                               scheduler=InOrder([s.trial_id for s in specs]),
                               trial_dirname_creator=lambda t: t.trial_id))
    results = tuner.fit()
    for r in results:   # the rows of finished trials that could not write them here themselves
        if r.metrics.get("done"):
            harvest_checkpoint(r.checkpoint, results_dir, r.metrics.get("trial_id"))
    frames = ResultStore(results_dir).collect()
    compact_table(declared)
    wall = time.perf_counter() - start
    failed = [r for r in results if r.error is not None]
    # a trial that neither failed nor reported its end was stopped: Ctrl-C (Tune stops its trials
    # and keeps their checkpoints) before or while it ran
    stopped = [r for r in results if r.error is None and not r.metrics.get("done")]
    trials = frames["trials"]
    nodes = {r.metrics.get("node_id") for r in results if r.metrics.get("node_id")}
    finished = len(specs) - len(failed) - len(stopped)
    print(f"\n{len(specs)} trials: {finished} finished, {len(failed)} failed, {len(stopped)} "
          f"interrupted; {wall:.0f}s on {len(nodes)} Ray node(s); results in {results_dir}")
    if not trials.empty:
        cols = [c for c in ("strategy", "search_dataset", "seed", "eval_dataset", "repeat", "status",
                            "test_acc") if c in trials.columns]
        print(trials[cols].to_string(index=False))
    for r in failed:
        print(f"failed: {r.path}: {r.error}", file=sys.stderr)
    ray.shutdown()
    if stopped:
        print(f"interrupted: {len(stopped)} of {len(specs)} trials did not finish (their last "
              f"checkpoints are kept); {RESUME_HINT}", file=sys.stderr)
        return INTERRUPTED
    return 1 if failed else 0


def check_storage(storage: str | None) -> None:
    """Refuse a --storage that cannot be written (a local folder) or reached (a URI, probed
    through pyarrow's file systems, as Ray reaches it), in one sentence, before anything starts."""
    if storage is None:
        return
    if "://" not in storage or storage.startswith("file://"):
        check_writable(storage.removeprefix("file://"), "--storage")
        return
    import pyarrow.fs  # (only a --storage URI needs it)

    try:
        fs, path = pyarrow.fs.FileSystem.from_uri(storage)
        fs.get_file_info(path)
    except (OSError, ValueError, pyarrow.ArrowException) as e:
        reason = str(e).split(";")[0].strip().rstrip(".")
        raise UsageError(f"--storage {storage} cannot be reached ({reason}); check the URI and the "
                         "network, or give a local folder") from None


def ray_storage(storage: str | None, results_dir: Path, experiment: str) -> tuple[str, str]:
    """Ray Tune's storage path and run name: <results>/<experiment>/ray and "tune" by default;
    with --storage, that folder (made absolute) or URI, and the experiment's name."""
    if storage is None:
        return str(results_dir / "ray"), "tune"
    if storage.startswith("file://"):
        storage = storage[len("file://"):]
    elif "://" in storage:
        return storage, experiment
    return str(Path(storage).expanduser().resolve()), experiment


def ray_checkpoints_gone(path: str) -> bool:
    """Whether Ray's saved run at `path` (local storage) refers to a trial's latest checkpoint that
    no longer exists: a driver stopped while Ray replaced a trial's checkpoints leaves its state
    pointing at one it has deleted, and restoring that run fails the trial on every retry."""
    # (Ray's; loads where a grid starts: --help, --plan and a refused input answer without Ray)
    import cloudpickle

    states = sorted(Path(path).glob("experiment_state-*.json")) if "://" not in path else []
    if not states:
        return False
    try:
        for entry in json.loads(states[-1].read_text()).get("trial_data", []):
            manager = json.loads(entry[1]).get("checkpoint_manager") or {}
            if manager.get("_type") != "CLOUDPICKLE_FALLBACK":
                continue
            latest = cloudpickle.loads(bytes.fromhex(manager["value"])).latest_checkpoint_result
            if latest is not None and not Path(latest.checkpoint.path).exists():
                return True
    except Exception:   # (a state written by another Ray version: let Ray read it as it can)
        return False
    return False


def check_manifest(results_dir: Path, grid, specs) -> None:
    """Refuse to add trials to a results folder whose grid.json declares another profile, other
    strategy options or other evaluation datasets for the same trials (their rows would not be
    comparable with the new ones), or that holds result parts without a grid.json."""
    try:
        matches = manifest_matches(results_dir, grid, specs)
    except FormatError as e:
        raise UsageError(str(e)) from None
    if matches is None and any((results_dir / "parts").glob("*/*.parquet")):
        raise UsageError(f"{results_dir} holds result parts but no grid.json to say what produced "
                         "them; copy its grid.json too, or give this run another --experiment")
    if matches is False and grid.profile.fill == "found":
        raise UsageError(f"{results_dir} filled another list of cells: --fill-from's experiments "
                         "have found others since, or this run names other experiments or "
                         "--fill-cells; give this run another --experiment (the cells "
                         "trained already are looked up, not trained again)")
    if matches is False:
        raise UsageError(f"{results_dir} holds results of a grid with another profile, other "
                         "strategy options or other evaluation datasets; give this run another "
                         "--experiment")


def migrate_trial_ids(results_dir: Path, specs) -> int:
    """Rename the result parts, own checkpoint files and grid.json entries that an earlier version
    wrote under a trial's legacy id (before ids told dataset paths apart) to its id; returns how
    many files moved. A part moves only where its rows are that trial's (strategy, dataset, seed),
    a checkpoint only where no other declared trial had the same legacy id."""

    store = ResultStore(results_dir)
    manifest = results_dir / "grid.json"
    entries = (read_manifest(results_dir, GRID_JSON_HINT) or {}).get("trials", [])
    # a checkpoint file says nothing about its dataset: it moves only where no other trial, of this
    # run or of an earlier one (grid.json), had the same legacy id
    keys = {(s.strategy, s.search_dataset, s.seed) for s in specs} | {
        (t.get("strategy"), t.get("search_dataset"), t.get("seed")) for t in entries}
    legacy = Counter(legacy_trial_id(*k) for k in keys if None not in k)
    moved = 0
    for s in specs:
        old, new = s.legacy_trial_id, s.trial_id
        if old == new:
            continue
        for table in sorted(KEYS, key=lambda t: t in MARKING):   # the marking part last
            src, dst = store.part_path(table, old), store.part_path(table, new)
            if not src.is_file() or dst.is_file():
                continue
            rows = read_parquet(src, columns=["strategy", "search_dataset", "seed"])
            if rows.empty or not ((rows.strategy == s.strategy) & (rows.search_dataset == s.search_dataset)
                                  & (rows.seed == s.seed)).all():
                continue
            os.replace(src, dst)
            moved += 1
        own = results_dir / "checkpoints"
        if legacy[old] == 1 and (own / f"{old}.pt").is_file() and not (own / f"{new}.pt").exists():
            os.replace(own / f"{old}.pt", own / f"{new}.pt")
            moved += 1
    # every grid.json entry written under its legacy id gets its id, files or not
    changed = False
    for t in entries:
        k = (t.get("strategy"), t.get("search_dataset"), t.get("seed"))
        if None not in k and t.get("trial_id") == legacy_trial_id(*k) != trial_id(*k):
            t["trial_id"] = trial_id(*k)
            changed = True
    if changed:
        write_json(manifest, {**read_manifest(results_dir, GRID_JSON_HINT), "trials": entries})
    return moved


def ray_trial_ids(results_dir: Path) -> set[str]:
    """The trial ids that the grid's saved Ray run was given (ray/trials.json; none without one)."""
    given = results_dir / "ray" / "trials.json"
    hint = "delete it (the grid then runs its unfinished trials from their own checkpoints)"
    return set(read_json(given, hint)) if given.is_file() else set()


def write_manifest(results_dir: Path, grid, specs) -> None:
    """results/<experiment>/grid.json: the declared trials, so a report can name the missing ones;
    those of earlier runs of the experiment stay (a run of some strategies or seeds adds to it)."""
    trials = [{**s.key(), "kind": s.kind, "trial_id": s.trial_id,
               "eval_datasets": list(s.eval_datasets),
               "repeats": {d: s.repeats(d) for d in s.eval_datasets}} for s in specs]
    old = read_manifest(results_dir, GRID_JSON_HINT)
    if old is not None:
        new_ids = {t["trial_id"] for t in trials}
        trials = [t for t in old.get("trials", []) if t.get("trial_id") not in new_ids] + trials
    tables = sorted({s.table_path for s in specs if s.table_path})
    write_json(results_dir / "grid.json", encode_manifest(grid, trials, tables[0] if tables else None))


def set_aside(path: str) -> None:
    """Move an earlier tuning's Ray folder (local storage) to `<path>-before-<time>[-<n>]`, so that
    a tuning starting afresh keeps its trial folders beside its own rather than among them; on a
    storage URI nothing moves, and it says so."""
    if "://" in path:
        print(f"a tuning starting afresh at {path}: any earlier tuning's trial folders there stay "
              "beside this one's (nothing is moved on a storage URI)", file=sys.stderr)
        return
    if not Path(path).exists():
        return
    stamp = f"{path}-before-{time.strftime('%Y%m%d-%H%M%S')}"
    aside, n = stamp, 2
    while Path(aside).exists():   # (two in one second)
        aside, n = f"{stamp}-{n}", n + 1
    os.replace(path, aside)
    print(f"an earlier tuning's folders in {path} were moved to {aside}; this tuning starts "
          "afresh", file=sys.stderr)


def tune_strategy(args, grid, spec, wrapped, param_space, run_config, results_dir) -> int:
    """Search the strategy's own options with OptunaSearch + ASHA; write the best config."""
    # (Ray loads where a grid starts: --help, --plan and a refused input answer without it)
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from benchmark.tuning import search_space, tuning_samples, write_tuned

    if not args.verbose:   # (Optuna's own lines, its study's creation: only with --verbose)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)

    if warning := tuning_seed_warning(grid.name, spec.seed, get_grid(args.grid).seeds):
        print(warning, file=sys.stderr)
    # (no found cell evaluated; the epochs' cells looked up only where the tuning chooses by them:
    # `declared_grid`)
    search_only = dataclasses.replace(spec, eval_datasets=())
    param_space = {**param_space, "spec": encode_spec(search_only),
                   "options": search_space(spec.strategy)}
    metric = tuning_metric(grid.profile)
    # a tuning cut short goes on where it stopped when the same command runs again (the samples
    # that finished are kept, the others resume from their last search epoch, Optuna's state is
    # Ray's saved one); any other tuning in the same folder starts afresh
    path = f"{run_config.storage_path.rstrip('/')}/{run_config.name}"
    record = json.loads(json.dumps({"spec": encode_spec(search_only), "samples": args.samples,
                                    "metric": metric, "max_concurrent": args.max_concurrent}))
    saved = results_dir / "ray" / "tuning.json"
    same = saved.is_file() and read_json(saved, "delete it to tune afresh") == record
    if same and tune.Tuner.can_restore(path) and not ray_checkpoints_gone(path):
        print(f"resuming the tuning of {spec.strategy} from {path}", file=sys.stderr)
        tuner = tune.Tuner.restore(path, wrapped, resume_errored=True, param_space=param_space)
    else:
        set_aside(path)
        write_json(saved, record)
        tuner = tune.Tuner(wrapped, param_space=param_space, run_config=run_config,
                           tune_config=tune.TuneConfig(
                               metric=metric, mode="max", num_samples=args.samples,
                               search_alg=OptunaSearch(seed=spec.seed),
                               scheduler=ASHAScheduler(max_t=grid.profile.search_epochs + 1,
                                                       grace_period=grace_period(grid.profile)),
                               max_concurrent_trials=args.max_concurrent))
    before = signal.getsignal(signal.SIGINT)
    results = tuner.fit()
    # Tune handles a first Ctrl-C itself (it stops the trials and returns what they reported) and
    # then puts back the handler it found: a tuning cut short writes no best options
    # (where Tune installs no handler, a Ctrl-C is a KeyboardInterrupt: off the main thread, with
    # TUNE_DISABLE_SIGINT_HANDLER, and through Ray Client, whose fit runs in a remote actor)
    handled = (os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0") == "0"
               and threading.current_thread() is threading.main_thread()
               and not ray.util.client.ray.is_connected())
    if handled and signal.getsignal(signal.SIGINT) is before:
        ray.shutdown()
        finished = sum(1 for r in results if r.metrics.get("done"))
        print(f"interrupted: the tuning of {spec.strategy} stopped with {finished} of "
              f"{args.samples} samples finished and wrote no options; the same command goes on "
              "from there", file=sys.stderr)
        return INTERRUPTED
    # by the last epoch's accuracy: the cell a search derives is its last epoch's
    best = results.get_best_result(metric=metric, mode="max", scope="last")
    samples = tuning_samples([(r.config["options"], r.metrics_dataframe) for r in results],
                             best.config["options"], rung=grace_period(grid.profile), metric=metric)
    score = float(samples.loc[samples.chosen, f"last_{metric}"].iloc[0])
    path = write_tuned(Path(args.results).resolve() / "tuned" / grid.name, spec.strategy,
                       best.config["options"], score, metric)
    samples.to_csv(path.with_name(f"{spec.strategy}-samples.csv"), index=False)
    print(f"the {len(samples)} samples (written to {path.with_name(f'{spec.strategy}-samples.csv')}):"
          f"\n{samples.to_string(index=False)}")
    what = ("its derived cell's training accuracy in the table" if metric == CELL_METRIC
            else "search-val accuracy")
    print(f"best {spec.strategy} options {best.config['options']} ({what} at its last epoch "
          f"{score:.4f}) written to {path}; run a grid with --tuned {path.parent}")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
