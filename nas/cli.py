"""`python -m nas`: search, evaluate, inspect — the DARTS workflow from the command line.

    python -m nas search --dataset digits --epochs 2 --channels 4 --layers 3 --out runs/s0
    python analysis/plotting.py --genotype runs/s0/genotype.json --out runs/s0/cell   # draw it
    python -m nas evaluate --genotype runs/s0/genotype.json --dataset digits --epochs 5 \
        --channels 8 --layers 6
    python -m nas info --space darts
    python -m nas evaluate --space nb201 --genotype '|nor_conv_3x3~0|+|…|' --dry-run   # NAS-Bench-201
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from pathlib import Path

import torch

from nas.data import DATASET_NAMES, DatasetError, ImageData, dataset_shape, load_dataset
from nas.evaluate import EvalConfig, EvalNetwork, count_parameters, train_and_test
from nas.files import check_writable, write_json
from nas.genotype import NAMED_GENOTYPES, GenotypeError, resolve_genotype
from nas.memory import check_space_fits
from nas.options import Parser, count, parse_option, positive
from nas.search import SearchConfig, resolve_device, run_search
from nas.spaces import SPACES, get_space, make_supernet, space_config
from nas.spaces.darts import DartsSpaceConfig
from nas.spaces.nb201 import NB201Config, NB201TrainConfig, parse_cell, train_cell
from nas.spaces.nb201_net import NB201Network
from nas.strategies import STRATEGIES

# The commands' defaults are the configs' defaults (one place for each).
SEARCH, SPACE, EVAL = SearchConfig(), DartsSpaceConfig(), EvalConfig()
NB201, NB201_TRAIN = NB201Config(), NB201TrainConfig()


class CliError(Exception):
    """Bad input from the command line: printed as one sentence, exit status 2."""


def _dataset_args(p: argparse.ArgumentParser, default: str | None = "digits",
                  default_text: str | None = None) -> None:
    p.add_argument("--dataset", default=default,
                   help=f"dataset name: {', '.join(DATASET_NAMES)} (default: {default_text or default})")
    p.add_argument("--data-root", default=None,
                   help="folder holding cifar-10-batches-py/ or cifar-100-python/ "
                        "(default: $HYPERDARTS_DATA or ~/.cache/hyperdarts-bench/data)")
    p.add_argument("--download", action="store_true",
                   help="allow torchvision to download CIFAR into --data-root if it is missing")


def _space_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", default=SEARCH.space,
                   help=f"search space: {', '.join(SPACES)} (default: {SEARCH.space})")
    p.add_argument("--channels", type=count(1), default=None,
                   help=f"initial channels C (default: the space's: darts {SPACE.channels}, "
                        f"nb201 {NB201.channels})")
    p.add_argument("--layers", type=count(1), default=None,
                   help=f"darts: cells (default {SPACE.layers}); nb201: cells per stage N "
                        f"(default {NB201.cells_per_stage})")
    p.add_argument("--nodes", type=count(1), default=None,
                   help=f"darts: intermediate nodes per cell (default {SPACE.nodes}); nb201: nodes "
                        f"with the input and the output (default {NB201.nodes})")
    p.add_argument("--ops", nargs="+", default=None, metavar="OP",
                   help="candidate operations (default: the space's: the 8 DARTS primitives, "
                        "NAS-Bench-201's 5)")
    p.add_argument("--space-set", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the space, e.g. --space dense-dag --space-set blocks=16 "
                        "--space-set layers=6, or --space nb201 --space-set derive=no-none "
                        "(repeatable; the flags above are for --space darts and nb201)")


# the flags of _space_args, per space: flag -> the space's option (a space without an entry, or a
# flag missing from it, takes its options from --space-set only)
SPACE_FLAGS = {"darts": {"channels": "channels", "layers": "layers", "nodes": "nodes",
                         "ops": "primitives"},
               "nb201": {"channels": "channels", "layers": "cells_per_stage", "nodes": "nodes",
                         "ops": "ops"}}


def _space_options(args: argparse.Namespace) -> dict:
    extra = dict(parse_option(t) for t in args.space_set)
    flags = SPACE_FLAGS.get(args.space, {})
    given = [f for f in ("channels", "layers", "nodes", "ops") if getattr(args, f) is not None]
    foreign = [f for f in given if f not in flags]
    if foreign:
        raise CliError(f"--{foreign[0]} is not an option of the {args.space} space; give its "
                       "options with --space-set KEY=VALUE")
    opts = {flags[f]: tuple(args.ops) if f == "ops" else getattr(args, f) for f in given}
    if args.space == "darts" and "nodes" in opts:
        opts["multiplier"] = opts["nodes"]     # every intermediate node in the cell's output
    return {**opts, **extra}


def _speed_arg(p: argparse.ArgumentParser, names: str) -> None:
    p.add_argument("--speed", nargs="+", default=[], metavar="SWITCH",
                   help=f"speed switches, off by default: {names} (amp: bf16 autocast; see "
                        "nas/speed.py)")


def build_parser() -> argparse.ArgumentParser:
    """The `python -m nas` command line. (Long: one `add_argument` per option, each with its help.)"""
    parser = Parser(
        prog="python -m nas",
        description="Differentiable architecture search: search a cell with a hypergradient "
                    "strategy, draw its genotype, train it from scratch.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("search", help="search a cell architecture; writes genotype, α history "
                                      "and per-epoch metrics to --out",
                       description="Search a cell with one strategy. Writes config.json, "
                                   "metrics.jsonl, alphas.json, genotype.json, genotype.txt and "
                                   "checkpoint.pt to --out after every epoch; rerunning the same "
                                   "command resumes from the checkpoint.")
    p.add_argument("--strategy", default=SEARCH.strategy,
                   help=f"hypergradient strategy: {', '.join(STRATEGIES)} (default: {SEARCH.strategy})")
    _dataset_args(p)
    _space_args(p)
    p.add_argument("--epochs", type=count(1), default=SEARCH.epochs,
                   help=f"search epochs (default: {SEARCH.epochs})")
    p.add_argument("--batch-size", type=count(1), default=SEARCH.batch_size,
                   help=f"batch size (default: {SEARCH.batch_size})")
    p.add_argument("--seed", type=count(0), default=SEARCH.seed, help=f"random seed (default: {SEARCH.seed})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a strategy option, e.g. --set alpha_lr=6e-4 (repeatable)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    _speed_arg(p, "amp channels-last cudnn-benchmark keep-activations")
    p.add_argument("--out", default=None,
                   help="output folder (default: runs/search-<strategy>-<dataset>-s<seed>)")

    p = sub.add_parser("evaluate", help="train an architecture's network from scratch and test it",
                       description="Build the evaluation network of an architecture (darts: the "
                                   "DARTS network of a genotype, with the DARTS schedule; nb201: "
                                   "NAS-Bench-201's network of a cell, with its 200-epoch "
                                   "protocol), train it from scratch and test it.")
    p.add_argument("--space", default="darts", choices=sorted(EVALUATES),
                   help="the architecture's space (default: darts)")
    p.add_argument("--genotype", required=True,
                   help=f"darts: a name ({', '.join(NAMED_GENOTYPES)}), a genotype.json or text file, "
                        "a search output folder, or the Genotype(...) text itself; nb201: the "
                        "cell in NAS-Bench-201's form (|nor_conv_3x3~0|+|…|), a file holding it, "
                        "or a search output folder")
    _dataset_args(p, None, "darts digits; nb201 cifar10, the benchmark's, whose shape --dry-run "
                              "counts without the data")

    def default(name: str) -> str:
        return f"darts {getattr(EVAL, name)}, nb201 {getattr(NB201_TRAIN, name)}"

    p.add_argument("--channels", type=count(1), default=None,
                   help=f"initial channels (default: {default('channels')})")
    p.add_argument("--layers", type=count(1), default=None,
                   help=f"darts: cells (default {EVAL.layers}); nb201: cells per stage "
                        f"(default {NB201_TRAIN.cells_per_stage})")
    p.add_argument("--epochs", type=count(1), default=None,
                   help=f"training epochs (default: {default('epochs')})")
    p.add_argument("--batch-size", type=count(1), default=None,
                   help=f"batch size (default: {default('batch_size')})")
    p.add_argument("--lr", type=positive, default=None, help=f"initial SGD lr (default: {default('lr')})")
    p.add_argument("--no-auxiliary", action="store_true", help="darts: drop the auxiliary head")
    p.add_argument("--drop-path", type=float, default=EVAL.drop_path_prob,
                   help=f"darts: final drop-path probability (default: {EVAL.drop_path_prob})")
    p.add_argument("--cutout", type=count(0), default=None,
                   help="darts: cutout length (default: the dataset's, 16 on CIFAR, 0 on digits)")
    p.add_argument("--seed", type=count(0), default=EVAL.seed, help=f"random seed (default: {EVAL.seed})")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    _speed_arg(p, "amp channels-last cudnn-benchmark compile (darts only)")
    p.add_argument("--dry-run", action="store_true",
                   help="build the network and print its parameter count without training")
    p.add_argument("--num-classes", type=count(1), default=None,
                   help="with --dry-run: count the parameters for this many classes instead of "
                        "the dataset's (e.g. 120 for NAS-Bench-201's ImageNet16-120)")
    p.add_argument("--out", default=None, help="write the result as JSON to this file")

    p = sub.add_parser("info", help="print a supernet's weight and α counts as JSON")
    _space_args(p)
    p.add_argument("--in-channels", type=count(1), default=3, help="image channels (default: 3)")
    p.add_argument("--num-classes", type=count(1), default=10, help="classes (default: 10)")
    p.add_argument("--image-size", type=count(1), default=32,
                   help="image side, for spaces of dense layers (default: 32)")
    return parser


def _progress(prefix: str):
    def show(r: dict) -> None:
        parts = [f"{prefix} epoch {r['epoch'] + 1}"]
        for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
            if k in r:
                parts.append(f"{k} {r[k]:.4f}")
        parts.append(f"{r['epoch_time_s']:.1f}s")
        print("  ".join(parts), file=sys.stderr, flush=True)
    return show


def cmd_search(args: argparse.Namespace) -> int:
    options = dict(parse_option(s) for s in args.set)
    config = SearchConfig.of(space=args.space, strategy=args.strategy, dataset=args.dataset,
                             epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                             space_options=_space_options(args), strategy_options=options,
                             speed=tuple(args.speed))
    device = resolve_device(args.device)
    fits = functools.partial(check_space_fits, args.space, space_config=config.space_config,
                             device=device, search_batch=args.batch_size, search_speed=config.speed)
    fits(shape=dataset_shape(args.dataset))
    for caveat in get_space(args.space).caveats(config.space_config):
        print(f"warning: {caveat}", file=sys.stderr)
    slug = args.dataset.replace(":", "_").replace("/", "_")
    out = check_writable(args.out or f"runs/search-{args.strategy}-{slug}-s{args.seed}", "--out")
    data = load_dataset(args.dataset, args.data_root, args.download)
    if dataset_shape(args.dataset) is None:       # an image folder's, known once it is read
        fits(shape=(data.in_channels, data.image_size))
    print(f"searching with {args.strategy} on {args.dataset} ({len(data.train_y)} training images, "
          f"halved into search-train and search-val) on {device}; writing to {out}",
          file=sys.stderr, flush=True)
    result = run_search(config, data=data, device=str(device), out_dir=out,
                        on_epoch=_progress("search"))
    print(result.genotype)
    if args.space == "darts":
        print(f"wrote {out}/genotype.json; next: python analysis/plotting.py --genotype {out} "
              f"--out {out}/cell, then python -m nas evaluate --genotype {out} --dataset "
              f"{args.dataset}", file=sys.stderr)
    elif args.space == "nb201":
        print(f"wrote {out}/genotype.txt (the found cell); next: python -m nas evaluate --space nb201 "
              f"--genotype {out} --dataset {args.dataset} (or look it up in a table of cells: "
              "benchmark/run.py --grid nb201-smoke)", file=sys.stderr)
    elif args.space == "dense-dag":
        print(f"wrote {out}/genotype.json (the found {args.space} architecture); `python "
              f"benchmark/run.py --grid {args.space}` searches it with a ground truth",
              file=sys.stderr)
    else:   # a space of one's own (nas/plugins.py): no grid of this project names it
        print(f"wrote {out}/genotype.json (the found {args.space} architecture)", file=sys.stderr)
    return 0


def _dry_run_shape(args: argparse.Namespace) -> tuple[int, int]:
    """(image channels, classes) of --dataset, without loading CIFAR to count parameters."""
    if args.dataset.startswith("imagefolder:") or args.dataset == "digits":
        data = load_dataset(args.dataset, args.data_root, args.download)
        in_ch, n_cls = data.in_channels, data.num_classes
    else:
        in_ch, n_cls = 3, 100 if args.dataset == "cifar100" else 10
        if args.dataset not in ("cifar10", "cifar100"):
            load_dataset(args.dataset)  # raises the unknown-name error
    return in_ch, args.num_classes or n_cls


def _given(args: argparse.Namespace, **names: str) -> dict:
    """{config field: value} of the flags given on the command line (flag name -> field)."""
    return {field: getattr(args, flag) for flag, field in names.items() if getattr(args, flag) is not None}


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.dataset is None:
        args.dataset = "cifar10" if args.space == "nb201" else "digits"
    if args.num_classes is not None and not args.dry_run:
        raise CliError("--num-classes only counts parameters (with --dry-run); a training takes "
                       "its classes from --dataset")
    return EVALUATES[args.space](args)


def _evaluate_darts(args: argparse.Namespace) -> int:
    genotype = resolve_genotype(args.genotype)
    config = EvalConfig(**{**_given(args, channels="channels", layers="layers", epochs="epochs",
                                    batch_size="batch_size", lr="lr"),
                           "auxiliary": not args.no_auxiliary, "drop_path_prob": args.drop_path,
                           "cutout": args.cutout, "seed": args.seed, "speed": tuple(args.speed)})
    def network(in_channels: int, num_classes: int) -> EvalNetwork:
        return EvalNetwork(genotype, config.channels, config.layers, num_classes, in_channels,
                           config.auxiliary)
    device = _check_training(args, "darts", config, network)
    if args.dry_run:
        in_ch, n_cls = _dry_run_shape(args)
        net = network(in_ch, n_cls)
        total = sum(p.numel() for p in net.parameters())
        print(json.dumps({"genotype": str(genotype), "params": count_parameters(net),
                          "params_with_auxiliary": total, "channels": config.channels,
                          "layers": config.layers, "num_classes": n_cls}))
        return 0
    data = _load_checked(args, "darts", config, network, device)
    print(f"training {genotype} on {args.dataset} for {config.epochs} epochs on {device}",
          file=sys.stderr, flush=True)
    result = train_and_test(genotype, data, config, device=device, on_epoch=_progress("train"))
    return _write_evaluation(args, str(genotype), result)


def _check_training(args: argparse.Namespace, space: str, config, network) -> str | torch.device:
    """Before an evaluation loads its data: the network fits the device (its weights alone for a
    --dry-run, on the CPU; with `network(in_channels, num_classes)`'s activations at the batch on
    a named dataset) and --out can be written; the device it trains on."""
    if args.dry_run:
        check_space_fits(space, train_config=config, copies=1)
        return "cpu"
    device = resolve_device(args.device)
    check_space_fits(space, train_config=config, device=device, shape=dataset_shape(args.dataset),
                     network=network)
    if args.out:
        check_writable(args.out, "--out", folder=False)
    return device


def _load_checked(args: argparse.Namespace, space: str, config, network, device) -> ImageData:
    """The evaluation's data; an image folder's batch checked once its images are read."""
    data = load_dataset(args.dataset, args.data_root, args.download)
    if dataset_shape(args.dataset) is None:
        check_space_fits(space, train_config=config, device=device, network=network,
                         shape=(data.in_channels, data.image_size))
    return data


def _write_evaluation(args: argparse.Namespace, arch: str, result: dict) -> int:
    summary = {"dataset": args.dataset, "genotype": arch,
               **{k: v for k, v in result.items() if k != "history"}}
    print(json.dumps(summary))
    if args.out:
        write_json(args.out, {**summary, "history": result["history"]})
    return 0


def resolve_cell(spec: str):
    """An nb201 cell from its string, a file holding it (genotype.txt, or genotype.json's
    'arch'), or a search output folder."""
    if not spec.lstrip().startswith("|"):
        path = Path(spec)
        if path.is_dir() and (path / "genotype.txt").is_file():
            path = path / "genotype.txt"
        if not path.is_file():
            raise CliError(f"{spec!r} is neither a NAS-Bench-201 cell (|op~0|+|op~0|op~1|+…) nor "
                           "an existing file or search output folder")
        text = path.read_text().strip()
        if text.startswith("{"):
            text = json.loads(text).get("arch", "")
        try:
            return parse_cell(text)
        except ValueError as e:
            raise CliError(f"{path}: {e}") from None
    return parse_cell(spec)


def _evaluate_nb201(args: argparse.Namespace) -> int:
    darts_only = [f for f, on in (("--no-auxiliary", args.no_auxiliary),
                                  ("--cutout", args.cutout is not None),
                                  ("--drop-path", args.drop_path != EVAL.drop_path_prob),
                                  ("--speed", bool(args.speed))) if on]
    if darts_only:
        raise CliError(f"{darts_only[0]} is an option of the darts evaluation network, not nb201's")
    cell = resolve_cell(args.genotype)
    config = NB201TrainConfig(**_given(args, channels="channels", layers="cells_per_stage",
                                       epochs="epochs", batch_size="batch_size", lr="lr"),
                              seed=args.seed)
    def network(in_channels: int, num_classes: int) -> NB201Network:
        return NB201Network(cell, config.channels, config.cells_per_stage, num_classes, in_channels)
    device = _check_training(args, "nb201", config, network)
    if args.dry_run:
        in_ch, n_cls = _dry_run_shape(args)
        net = network(in_ch, n_cls)
        print(json.dumps({"genotype": str(cell), "canonical": cell.canonical(),
                          "params": sum(p.numel() for p in net.parameters()),
                          "channels": config.channels, "cells_per_stage": config.cells_per_stage,
                          "num_classes": n_cls}))
        return 0
    data = _load_checked(args, "nb201", config, network, device)
    print(f"training {cell} on {args.dataset} for {config.epochs} epochs on {device}",
          file=sys.stderr, flush=True)
    result = train_cell(cell, data, config, device)
    return _write_evaluation(args, str(cell), result)


EVALUATES = {"darts": _evaluate_darts, "nb201": _evaluate_nb201}


def cmd_info(args: argparse.Namespace) -> int:
    config = space_config(args.space, **_space_options(args))
    check_space_fits(args.space, space_config=config, copies=1)
    net = make_supernet(args.space, config, args.in_channels, args.num_classes, image_size=args.image_size)
    weights = sum(p.numel() for p in net.weight_parameters())
    alphas = sum(p.numel() for p in net.arch_parameters())
    print(json.dumps({"space": args.space, "weights": weights, "alphas": alphas,
                      "alpha_shapes": [list(a.shape) for a in net.arch_parameters()],
                      "options": {k: list(v) if isinstance(v, tuple) else v
                                  for k, v in dataclasses.asdict(config).items()},
                      "in_channels": args.in_channels, "num_classes": args.num_classes}))
    return 0


COMMANDS = {"search": cmd_search, "evaluate": cmd_evaluate, "info": cmd_info}
# Commands that left the library (the studies and the plotting are built on it, not in it).
MOVED = {"toy": "python -m studies toy", "fidelity": "python -m studies fidelity",
         "plot-cell": "python analysis/plotting.py", "study": "python benchmark/run.py --grid dense-dag"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in MOVED:
        print(f"error: `python -m nas {argv[0]}` is now `{MOVED[argv[0]]}`", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (CliError, DatasetError, GenotypeError, ValueError, FloatingPointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; a search resumes from its last finished epoch when rerun",
              file=sys.stderr)
        return 130
