"""`python -m nas`: search, evaluate, inspect — the DARTS workflow from the command line.

    python -m nas search --dataset digits --epochs 2 --channels 4 --layers 3 --out runs/s0
    python analysis/plotting.py --genotype runs/s0/genotype.json --out runs/s0/cell   # draw it
    python -m nas evaluate --genotype runs/s0/genotype.json --dataset digits --epochs 5 \
        --channels 8 --layers 6
    python -m nas info --space darts
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nas.data import DATASET_NAMES, DatasetError, load_dataset
from nas.evaluate import EvalConfig
from nas.files import write_json
from nas.genotype import NAMED_GENOTYPES, GenotypeError, resolve_genotype
from nas.options import parse_option
from nas.search import SearchConfig
from nas.spaces import SPACES, make_supernet, space_config
from nas.spaces.darts import DartsSpaceConfig
from nas.strategies import STRATEGIES

# The commands' defaults are the configs' defaults (one place for each).
SEARCH, SPACE, EVAL = SearchConfig(), DartsSpaceConfig(), EvalConfig()


class CliError(Exception):
    """Bad input from the command line: printed as one sentence, exit status 2."""


def _dataset_args(p: argparse.ArgumentParser, default: str = "digits") -> None:
    p.add_argument("--dataset", default=default,
                   help=f"dataset name: {', '.join(DATASET_NAMES)} (default: {default})")
    p.add_argument("--data-root", default=None,
                   help="folder holding cifar-10-batches-py/ or cifar-100-python/ "
                        "(default: $HYPERDARTS_DATA or ~/.cache/hyperdarts-bench/data)")
    p.add_argument("--download", action="store_true",
                   help="allow torchvision to download CIFAR into --data-root if it is missing")


def _space_args(p: argparse.ArgumentParser, channels: int, layers: int) -> None:
    p.add_argument("--space", default=SEARCH.space,
                   help=f"search space: {', '.join(SPACES)} (default: {SEARCH.space})")
    p.add_argument("--channels", type=int, default=channels,
                   help=f"initial channels C (default: {channels})")
    p.add_argument("--layers", type=int, default=layers, help=f"cells (default: {layers})")
    p.add_argument("--nodes", type=int, default=SPACE.nodes,
                   help=f"intermediate nodes per cell (default: {SPACE.nodes})")
    p.add_argument("--ops", nargs="+", default=None, metavar="OP",
                   help="candidate operations (default: the 8 DARTS primitives)")
    p.add_argument("--space-set", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the space, e.g. --space dense-dag --space-set blocks=16 "
                        "--space-set layers=6 (repeatable; the DARTS flags above are for --space darts)")


def _space_options(args: argparse.Namespace) -> dict:
    extra = dict(parse_option(t) for t in args.space_set)
    if args.space != "darts":
        return extra
    opts = {"channels": args.channels, "layers": args.layers, "nodes": args.nodes,
            "multiplier": args.nodes}
    if args.ops:
        opts["primitives"] = tuple(args.ops)
    return {**opts, **extra}


def _speed_arg(p: argparse.ArgumentParser, names: str) -> None:
    p.add_argument("--speed", nargs="+", default=[], metavar="SWITCH",
                   help=f"speed switches, off by default: {names} (amp: bf16 autocast; see "
                        "nas/speed.py)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    _space_args(p, channels=SPACE.channels, layers=SPACE.layers)
    p.add_argument("--epochs", type=int, default=SEARCH.epochs,
                   help=f"search epochs (default: {SEARCH.epochs})")
    p.add_argument("--batch-size", type=int, default=SEARCH.batch_size,
                   help=f"batch size (default: {SEARCH.batch_size})")
    p.add_argument("--seed", type=int, default=SEARCH.seed, help=f"random seed (default: {SEARCH.seed})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a strategy option, e.g. --set alpha_lr=6e-4 (repeatable)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    _speed_arg(p, "amp channels-last cudnn-benchmark keep-activations")
    p.add_argument("--out", default=None,
                   help="output folder (default: runs/search-<strategy>-<dataset>-s<seed>)")

    p = sub.add_parser("evaluate", help="train a genotype's network from scratch and test it",
                       description="Build the DARTS evaluation network of a genotype, train it "
                                   "from scratch with the DARTS schedule and test it.")
    p.add_argument("--genotype", required=True,
                   help=f"a name ({', '.join(NAMED_GENOTYPES)}), a genotype.json or text file, "
                        "a search output folder, or the Genotype(...) text itself")
    _dataset_args(p)
    p.add_argument("--channels", type=int, default=EVAL.channels,
                   help=f"initial channels (default: {EVAL.channels})")
    p.add_argument("--layers", type=int, default=EVAL.layers, help=f"cells (default: {EVAL.layers})")
    p.add_argument("--epochs", type=int, default=EVAL.epochs,
                   help=f"training epochs (default: {EVAL.epochs})")
    p.add_argument("--batch-size", type=int, default=EVAL.batch_size,
                   help=f"batch size (default: {EVAL.batch_size})")
    p.add_argument("--lr", type=float, default=EVAL.lr, help=f"initial SGD lr (default: {EVAL.lr})")
    p.add_argument("--no-auxiliary", action="store_true", help="drop the auxiliary head")
    p.add_argument("--drop-path", type=float, default=EVAL.drop_path_prob,
                   help=f"final drop-path probability (default: {EVAL.drop_path_prob})")
    p.add_argument("--cutout", type=int, default=None,
                   help="cutout length (default: the dataset's, 16 on CIFAR, 0 on digits)")
    p.add_argument("--seed", type=int, default=EVAL.seed, help=f"random seed (default: {EVAL.seed})")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    _speed_arg(p, "amp channels-last cudnn-benchmark compile")
    p.add_argument("--dry-run", action="store_true",
                   help="build the network and print its parameter count without training")
    p.add_argument("--out", default=None, help="write the result as JSON to this file")

    p = sub.add_parser("info", help="print a supernet's weight and α counts as JSON")
    _space_args(p, channels=SPACE.channels, layers=SPACE.layers)
    p.add_argument("--in-channels", type=int, default=3, help="image channels (default: 3)")
    p.add_argument("--num-classes", type=int, default=10, help="classes (default: 10)")
    p.add_argument("--image-size", type=int, default=32,
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
    from nas.search import SearchConfig, resolve_device, run_search

    options = dict(parse_option(s) for s in args.set)
    config = SearchConfig(space=args.space, strategy=args.strategy, dataset=args.dataset,
                          epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                          space_options=_space_options(args), strategy_options=options,
                          speed=tuple(args.speed))
    device = resolve_device(args.device)
    slug = args.dataset.replace(":", "_").replace("/", "_")
    out = Path(args.out or f"runs/search-{args.strategy}-{slug}-s{args.seed}")
    data = load_dataset(args.dataset, args.data_root, args.download)
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
    else:
        print(f"wrote {out}/genotype.json (the found {args.space} architecture); `python "
              f"benchmark/run.py --grid {args.space}` searches it with a ground truth",
              file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from nas.evaluate import EvalConfig, EvalNetwork, count_parameters, train_and_test
    from nas.search import resolve_device

    genotype = resolve_genotype(args.genotype)
    config = EvalConfig(channels=args.channels, layers=args.layers, epochs=args.epochs,
                        batch_size=args.batch_size, lr=args.lr, auxiliary=not args.no_auxiliary,
                        drop_path_prob=args.drop_path, cutout=args.cutout, seed=args.seed,
                        speed=tuple(args.speed))
    if args.dry_run:
        if args.dataset.startswith("imagefolder:") or args.dataset == "digits":
            data = load_dataset(args.dataset, args.data_root, args.download)
            in_ch, n_cls = data.in_channels, data.num_classes
        else:  # no need to load CIFAR to count parameters
            in_ch, n_cls = 3, 100 if args.dataset == "cifar100" else 10
            if args.dataset not in ("cifar10", "cifar100"):
                load_dataset(args.dataset)  # raises the unknown-name error
        net = EvalNetwork(genotype, config.channels, config.layers, n_cls, in_ch, config.auxiliary)
        total = sum(p.numel() for p in net.parameters())
        print(json.dumps({"genotype": str(genotype), "params": count_parameters(net),
                          "params_with_auxiliary": total, "channels": config.channels,
                          "layers": config.layers, "num_classes": n_cls}))
        return 0
    device = resolve_device(args.device)
    data = load_dataset(args.dataset, args.data_root, args.download)
    print(f"training {genotype} on {args.dataset} for {config.epochs} epochs on {device}",
          file=sys.stderr, flush=True)
    result = train_and_test(genotype, data, config, device=device, on_epoch=_progress("train"))
    summary = {"dataset": args.dataset, "genotype": str(genotype),
               **{k: v for k, v in result.items() if k != "history"}}
    print(json.dumps(summary))
    if args.out:
        write_json(args.out, {**summary, "history": result["history"]})
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import dataclasses

    config = space_config(args.space, **_space_options(args))
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
