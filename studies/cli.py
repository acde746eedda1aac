"""`python -m studies`: the toy bilevel problem and hypergradient fidelity, from the command line.

    python -m studies toy --out results/smoke        # every strategy; rows into that results folder
    python -m studies toy --strategies second-order --xi 0.3 0.5 --set fd_radius=0.001
    python -m studies fidelity --dataset digits --out results/smoke

Defaults come from the studies' configs (`ToyRun`, `FidelityConfig`) and the strategies' own
`toy_options`; `toy --set KEY=VALUE` overrides an option of every strategy that has it. With `--out`,
the rows go to that results folder as a part of its `toy` or `fidelity` table (resultstore/store.py),
where the report reads them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import datetime, timezone

from analysis.toy import plot_trajectories, table_footer, table_header, table_row
from nas.data import DATASET_NAMES, DatasetError, load_dataset, resized, train_subset
from nas.files import check_writable
from nas.options import Parser, count, parse_option, positive
from nas.search import resolve_device
from nas.strategies import SEARCHING, STRATEGIES
from nas.toy import TOY_OPTIONS, ToyRun, run_toy
from resultstore.store import ResultStore
from studies.fidelity import FidelityConfig, measure_fidelity
from studies.toy import default_runs

TOY = {f.name: f.default for f in dataclasses.fields(ToyRun) if f.default is not dataclasses.MISSING}
FID = FidelityConfig()


class CliError(Exception):
    """Bad input: one sentence, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The `python -m studies` command line. (Long: one `add_argument` per option, each with its help.)"""
    parser = Parser(prog="python -m studies", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("toy", help="every strategy on the DARTS toy bilevel problem",
                       description="Run strategies on the DARTS toy problem L_train = w² − 2αw + α², "
                                   "L_val = αw − 2α + 1 with plain gradient descent (α-step first) "
                                   "until |Δα| and |Δw| fall below --tol, or --max-iter; print per "
                                   "run the iterations, the final (α, w) and the time per iteration.")
    p.add_argument("--strategies", nargs="+", default=None, metavar="NAME",
                   help=f"strategies (default: every one that searches: {', '.join(SEARCHING)})")
    p.add_argument("--xi", nargs="+", type=float, default=[0.0, 0.3, 0.5, 0.7],
                   help="values of the option a strategy sweeps on the toy (second-order's ξ; "
                        "default: 0 0.3 0.5 0.7)")
    p.add_argument("--lr", type=positive, default=TOY["lr"],
                   help=f"learning rate of α and w (default: {TOY['lr']})")
    p.add_argument("--tol", type=positive, default=TOY["tol"],
                   help=f"stopping tolerance (default: {TOY['tol']})")
    p.add_argument("--max-iter", type=count(1), default=TOY["max_iter"],
                   help=f"iteration cap (default: {TOY['max_iter']})")
    p.add_argument("--start", nargs=2, type=float, default=list(TOY["start"]), metavar=("ALPHA", "W"),
                   help=f"start point (default: {TOY['start'][0]:g} {TOY['start'][1]:g})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a strategy option for every strategy that has it (defaults: each strategy's "
                        f"toy_options, {', '.join(f'{k}={v}' for k, v in TOY_OPTIONS.items())})")
    p.add_argument("--seed", type=count(0), default=TOY["seed"], help=f"random seed (default: {TOY['seed']})")
    p.add_argument("--json", action="store_true", help="one JSON object per run")
    p.add_argument("--trajectory", action="store_true", help="include the trajectories in the JSON")
    p.add_argument("--plot", default=None, metavar="FILE",
                   help="draw the trajectories to FILE.png and FILE.pdf")
    p.add_argument("--out", default=None, metavar="FOLDER",
                   help="write the runs (with trajectories) to this results folder's toy table, "
                        "where the report reads them (e.g. results/smoke)")

    p = sub.add_parser("fidelity", help="each strategy's hypergradient against a tight reference",
                       description="On a small supernet and a fixed batch pair, compare each "
                                   "strategy's hypergradient with the implicit hypergradient solved "
                                   "to tight tolerance after the weights are trained close to their "
                                   "best response: cosine similarity, relative error and time.")
    p.add_argument("--strategies", nargs="+", default=list(SEARCHING), metavar="NAME",
                   help="strategies (default: every one that searches, not the random baseline)")
    p.add_argument("--dataset", default="digits",
                   help=f"dataset name: {', '.join(DATASET_NAMES)} (default: digits)")
    p.add_argument("--data-root", default=None, help="where datasets live")
    p.add_argument("--channels", type=count(1), default=FID.space_options["channels"],
                   help=f"supernet channels (default: {FID.space_options['channels']})")
    p.add_argument("--layers", type=count(1), default=FID.space_options["layers"],
                   help=f"supernet cells (default: {FID.space_options['layers']})")
    for name, text in (("batch_size", "batch size"),
                       ("warmup_steps", "first-order search steps before the point is fixed"),
                       ("pretrain_steps", "gradient steps of w on the fixed training batch"),
                       ("reference_k", "MINRES iterations of the implicit reference at most"),
                       ("reference_tol", "the reference's relative residual to stop at"),
                       ("unrolled_steps", "T of the unrolled reference"),
                       ("eigen_iterations", "Lanczos steps for the ends of the training Hessian's spectrum"),
                       ("hyper_steps", "weight steps fitting a response model (hyperDARTS) first"),
                       ("repeats", "timed hypergradient calls per strategy (the median is reported)"),
                       ("seed", "random seed")):
        default = getattr(FID, name)
        p.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default,
                       help=f"{text} (default: {default:g})")
    p.add_argument("--reference-damping", default=FID.reference_damping, metavar="DELTA",
                   help="δ of the implicit reference's (H + δI)x = v: 'auto' (2·|λ_min| of the measured "
                        "spectrum: a positive definite system) or a number (0: H itself, indefinite "
                        "away from a minimum) (default: auto)")
    p.add_argument("--alpha-lr", type=positive, default=None, metavar="LR",
                   help="α's learning rate in the first-order search that leads to each point "
                        "(default: DARTS's 3e-4; the cpu grid's is 0.02)")
    p.add_argument("--image-size", type=count(1), default=None, metavar="N",
                   help="resize the images to N×N first (default: as stored)")
    p.add_argument("--train-subset", type=count(1), default=None, metavar="N",
                   help="a fixed random N training images (default: all)")
    p.add_argument("--variant", nargs="+", action="append", default=[], metavar="STRATEGY K=V",
                   help="one more row at each point: STRATEGY with these options, e.g. --variant "
                        "implicit-cg cg_damping=10 cg_k=20 (repeatable)")
    p.add_argument("--points", nargs="+", type=count(0), default=None, metavar="STEPS",
                   help="measure at several points of the same search: after each of these numbers "
                        "of first-order steps (e.g. 0 50 100: start, middle, end; default: "
                        "--warmup-steps alone)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--json", action="store_true", help="print each point's result as one JSON object")
    p.add_argument("--out", default=None, metavar="FOLDER",
                   help="write one row per strategy and point to this results folder's fidelity table")
    return parser


def _check_strategies(names: list[str] | None) -> None:
    for name in names or []:
        if name not in STRATEGIES:
            raise CliError(f"unknown strategy {name!r}; valid strategies are {', '.join(STRATEGIES)}")


def toy_rows(records: list[dict]) -> list[dict]:
    """Toy records as rows of the toy table (options as JSON text, the key's last column)."""
    return [{**r, "options": json.dumps(r["options"], sort_keys=True)} for r in records]


def fidelity_rows(result: dict, measured_at: str) -> list[dict]:
    """A fidelity result as rows of the fidelity table: one per strategy, with the reference's
    and the point's settings beside it."""
    return [{**r, "options": json.dumps(r["options"], sort_keys=True), "measured_at": measured_at,
             "search_step": int(result["point"]["warmup_steps"]),
             "dataset": result.get("dataset", ""), "device": result.get("device", ""),
             "image_size": result.get("image_size"), "train_images": result.get("train_images"),
             **{f"reference_{k}": v for k, v in result["reference"].items()},
             **{f"hessian_{k}": v for k, v in result.get("hessian", {}).items()},
             "point": json.dumps(result["point"])} for r in result["rows"]]


def cmd_toy(args: argparse.Namespace) -> int:
    _check_strategies(args.strategies)
    if args.plot:
        check_writable(f"{args.plot}.png", "--plot", folder=False)
    if args.out:
        check_writable(args.out, "--out")
    options = dict(parse_option(t) for t in args.set)
    valid = {f.name for n in (args.strategies or SEARCHING) for f in dataclasses.fields(STRATEGIES[n].Config)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise CliError(f"no strategy of this run has the option {unknown[0]!r}")
    runs = default_runs(args.strategies, tuple(args.xi), args.lr, args.tol, args.max_iter,
                        tuple(args.start), options, args.seed)
    keep = args.trajectory or args.plot is not None or args.out is not None
    records = []
    if not args.json:
        print(table_header())
    for run in runs:
        r = run_toy(run, trajectory=keep)
        records.append(r)
        if args.json:
            print(json.dumps(r if args.trajectory else {k: v for k, v in r.items() if k != "trajectory"}),
                  flush=True)
        else:
            print(table_row(r), flush=True)
    if not args.json:
        print(table_footer())
    if args.plot:
        for path in plot_trajectories(records, args.plot):
            print(f"wrote {path}", file=sys.stderr)
    if args.out:
        store = ResultStore(args.out)
        part = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        store.write_part("toy", part, toy_rows(records))
        print(f"wrote {len(records)} runs to {store.part_path('toy', part)} (a rerun of the same "
              "run replaces its row)", file=sys.stderr)
    return 0


def cmd_fidelity(args: argparse.Namespace) -> int:
    _check_strategies(args.strategies)
    device = resolve_device(args.device)
    if args.out:
        check_writable(args.out, "--out")
    damping = args.reference_damping
    if damping != "auto":
        try:
            damping = float(damping)
        except ValueError:
            raise CliError(f"--reference-damping is 'auto' or a number, not {damping!r}") from None
    variants = []
    for words in args.variant:
        _check_strategies(words[:1])
        options = dict(parse_option(t) for t in words[1:])
        valid = {f.name for f in dataclasses.fields(STRATEGIES[words[0]].Config)}
        unknown = sorted(set(options) - valid)
        if unknown:
            raise CliError(f"{words[0]} has no option {unknown[0]!r}")
        variants.append((words[0], options))
    data = load_dataset(args.dataset, args.data_root)
    if args.train_subset:
        data = train_subset(data, args.train_subset)
    if args.image_size:
        data = resized(data, args.image_size)
    log = None if args.json else (lambda m: print(m, flush=True))
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    store = None
    if args.out:
        store = ResultStore(args.out)
    # Each point is the same seeded first-order search stopped after that many steps; its rows are
    # written as soon as it is measured (a long run stopped later keeps the points it finished).
    for step in args.points or [args.warmup_steps]:
        config = FidelityConfig(strategies=tuple(args.strategies),
                                space_options={"channels": args.channels, "layers": args.layers},
                                batch_size=args.batch_size, seed=args.seed,
                                warmup_steps=step, warmup_alpha_lr=args.alpha_lr,
                                pretrain_steps=args.pretrain_steps,
                                reference_k=args.reference_k, reference_damping=damping,
                                reference_tol=args.reference_tol, variants=tuple(variants),
                                unrolled_steps=args.unrolled_steps, eigen_iterations=args.eigen_iterations,
                                hyper_steps=args.hyper_steps, repeats=args.repeats)
        if log:
            log(f"-- after {step} first-order search steps")
        result = measure_fidelity(config, data, device, log=log)
        result = {"dataset": args.dataset, "device": str(device), "image_size": data.image_size,
                  "train_images": len(data.train_y), **result}
        if args.json:
            print(json.dumps(result))
        if store is not None:
            part = f"{stamp.replace(':', '')}-s{step}"
            rows = fidelity_rows(result, stamp)
            store.write_part("fidelity", part, rows)
            print(f"wrote {len(rows)} rows to {store.part_path('fidelity', part)}", file=sys.stderr)
    return 0


COMMANDS = {"toy": cmd_toy, "fidelity": cmd_fidelity}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (CliError, DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
