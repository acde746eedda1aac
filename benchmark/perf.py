"""Time per search step, peak memory and evaluation throughput, on whatever device is present.

    python benchmark/perf.py                                  # every strategy, presets darts and small
    python benchmark/perf.py --preset small --eval            # + the evaluation network's images/s
    python benchmark/perf.py --strategies first-order second-order --batch 16 --layers 5 \\
        --channels 8 --steps 10
    python benchmark/perf.py --speed amp channels-last        # with the GPU switches of nas/speed.py
    python benchmark/perf.py --json                           # one JSON object per line

Search steps. For each strategy and configuration it builds the DARTS supernet on random
CIFAR-sized data (on the device: no data loading in the timing), runs `--warmup` steps, times
`--steps` steps and takes the median (`step_s`; their range is `step_min_s`–`step_max_s`, printed
when there are several: one step right after the warm-up can be far from the next ones). It then
times one plain forward+backward pass of the supernet on the same batch (w and α gradients,
`pass_s`) and reports step / pass beside the number of passes the strategy's maths needs
(`expected_passes`: its class's `passes`);
`overhead` = step_s / (expected_passes × pass_s) is 1 when a step costs exactly its passes.
Peak memory is the CUDA peak allocated on a GPU and the peak resident set size of a fresh
process on the CPU (each row runs in its own process for that), so on the CPU it includes
the ~0.5 GB of the interpreter and torch. `saved MB` is what one forward of the supernet keeps
for its backward (distinct storages, `saved_bytes`): the part of the memory that the cell's
design decides, without the allocator's cache or the interpreter.

Evaluation throughput (`--eval`): images per second of training the DARTS evaluation network
(DARTS_V2 cell; presets: the paper's 20 cells × 36 channels at batch 96, or 8 × 16 at 32),
once with the project's trainer fed by its on-device batches and augmentation
(`nas.evaluate.Trainer` + `nas.data.Batches`, as `train_and_test` runs it) and once as a plain
PyTorch loop over pre-made device tensors (forward, loss + auxiliary loss, backward, SGD).

Every row is printed (a table, or `--json` lines) and written to the results folder `--out` as one
part of its perf table (resultstore/store.py; with the device, the versions and the time), so that
runs on several machines can be compared.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

if __name__ == "__main__":   # run as a script from a checkout: the packages beside it import uninstalled
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

from nas.data import Augment, Batches
from nas.evaluate import EvalConfig, EvalNetwork, Trainer
from nas.genotype import DARTS_V2
from nas.options import Parser, count, program
from nas.search import resolve_device
from nas.spaces import make_supernet, space_config
from nas.spaces.darts import SearchCell
from nas.speed import Speed
from nas.strategies import SEARCHING as STRATEGIES  # the random baseline takes no step
from nas.strategies import get_strategy, make_strategy, strategy_config
from nas.strategies.base import grad
from resultstore.store import ResultStore, default_results_dir

# (cells, channels, batch, image side) of the search presets; (cells, channels, batch) of the
# evaluation presets.
SEARCH_PRESETS = {"darts": (8, 16, 64, 32), "small": (5, 8, 16, 32)}
EVAL_PRESETS = {"darts": (20, 36, 96, 32), "small": (8, 16, 32, 32)}


def perf_options(strategy: str, hvp: str = "exact") -> dict:
    """The options a strategy is timed with: `--hvp` for the strategies that have that option."""

    return {"hvp": hvp} if "hvp" in {f.name for f in fields(get_strategy(strategy).Config)} else {}


def expected_passes(strategy: str, hvp: str = "exact") -> float:
    """Passes per step as the strategy's class counts them (P = one forward+backward on one batch;
    one-level's one pass is on train ∪ val, 2 batches; an exact Hessian-vector product ≈ 2 P)."""
    return get_strategy(strategy).passes(strategy_config(strategy, **perf_options(strategy, hvp)))


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _environment(dev) -> dict:
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
    else:
        name = f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return {"device": name, "torch": torch.__version__, "cuda": torch.version.cuda or "",
            "cudnn": str(torch.backends.cudnn.version() or ""), "python": platform.python_version(),
            "host": platform.node()}


def _peak(dev) -> int:
    if dev.type == "cuda":
        return int(torch.cuda.max_memory_allocated(dev))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def saved_bytes(fn) -> int:
    """Bytes of the distinct tensors that autograd keeps for the backward while `fn()` runs (one
    forward: what its backward will need), counted by storage, so views and tensors kept by
    several operations count once. Independent of the allocator and of the machine's load."""
    kept = {}

    def pack(t):
        if t.layout == torch.strided:
            storage = t.untyped_storage()
            kept[storage.data_ptr()] = storage   # held: an address is not reused while counted
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(s.nbytes() for s in kept.values())


def _times(fn, steps: int, warmup: int, dev) -> list[float]:
    """Seconds of each of `steps` calls of fn after `warmup` untimed ones."""
    times = []
    for i in range(warmup + steps):
        _sync(dev)
        t = time.perf_counter()
        fn()
        _sync(dev)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return times


def _step_times(times: list[float]) -> dict:
    """A row's step columns: the median and the range of the timed steps."""
    return {"step_s": statistics.median(times), "step_min_s": min(times), "step_max_s": max(times)}


def measure(strategy: str, batch: int, layers: int, channels: int, image_size: int,
            steps: int, warmup: int, device: str, threads: int | None,
            speed: tuple[str, ...] = (), hvp: str = "exact", partial_channels: int = 1,
            cell: str = "batched") -> dict:
    """Run in a fresh process: time `steps` strategy steps and `steps` plain passes."""

    if threads:
        torch.set_num_threads(threads)
    SearchCell.batched = cell != "plain"
    SearchCell.recompute = {"batched-keep": "none", "batched-all": "all"}.get(cell, "separable")
    dev = resolve_device(device)
    sp = Speed.from_names(speed)
    sp.setup(dev)
    torch.manual_seed(0)
    net = sp.model(make_supernet("darts", space_config("darts", channels=channels, layers=layers,
                                                       partial_channels=partial_channels),
                                 3, 10).to(dev))
    options = perf_options(strategy, hvp)
    strat = make_strategy(strategy, net, **options)
    strat.speed = sp
    train_b, val_b = [(torch.randn(batch, 3, image_size, image_size, device=dev),
                       torch.randint(0, 10, (batch,), device=dev)) for _ in range(2)]
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    timed = _step_times(_times(lambda: strat.step(train_b, val_b), steps, warmup, dev))
    step_s = timed["step_s"]
    params = list(net.parameters())

    def one_pass():
        loss = F.cross_entropy(strat.forward(train_b[0]), train_b[1])
        grad(loss, params)   # (allowing parameters a small supernet leaves unused)

    pass_s = statistics.median(_times(one_pass, steps, warmup, dev))
    saved = saved_bytes(lambda: strat.forward(train_b[0]))
    expected = expected_passes(strategy, hvp)
    return {"kind": "search", "strategy": strategy, "batch": batch, "layers": layers,
            "channels": channels, "image_size": image_size, "speed": ",".join(sp.names()),
            "hvp": options.get("hvp", ""),
            "partial_channels": partial_channels, "cell": cell, **timed, "pass_s": pass_s,
            "step_over_pass": step_s / pass_s, "expected_passes": expected,
            "overhead": step_s / (expected * pass_s), "peak_mem_bytes": _peak(dev),
            "saved_bytes": saved, "steps": steps, **_environment(dev)}


def measure_eval(batch: int, layers: int, channels: int, image_size: int, steps: int,
                 warmup: int, device: str, threads: int | None, speed: tuple[str, ...] = (),
                 plain: bool = False) -> dict:
    """Images/s of training the DARTS_V2 evaluation network: the project's trainer on its
    batches (plain=False), or a plain loop on fixed device tensors (plain=True)."""

    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    torch.manual_seed(0)
    net = EvalNetwork(DARTS_V2, channels, layers, 10, 3, auxiliary=True).to(dev).train()
    net.drop_path_prob = 0.2 * 0.5      # mid-schedule, so drop path is on
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    if plain:
        opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        x = torch.randn(batch, 3, image_size, image_size, device=dev)
        y = torch.randint(0, 10, (batch,), device=dev)

        def step():
            logits, aux = net(x)
            loss = F.cross_entropy(logits, y) + 0.4 * F.cross_entropy(aux, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    else:
        trainer = Trainer(net, EvalConfig(channels=channels, layers=layers, batch_size=batch,
                                          speed=speed), dev)
        n = batch * (warmup + steps + 1)
        data = Batches(torch.randint(0, 256, (n, 3, image_size, image_size), dtype=torch.uint8),
                       torch.randint(0, 10, (n,)), batch, (0.49, 0.48, 0.45), (0.25, 0.24, 0.26),
                       augment=Augment(4, True, 16), shuffle=True, drop_last=True, device=dev)
        it = iter(data)

        def step():
            trainer.step(*next(it))
    timed = _step_times(_times(step, steps, warmup, dev))
    step_s = timed["step_s"]
    return {"kind": "eval", "strategy": "eval-plain-loop" if plain else "eval-trainer",
            "batch": batch, "layers": layers, "channels": channels, "image_size": image_size,
            "speed": "" if plain else ",".join(speed), "hvp": "", "partial_channels": 1,
            **timed,
            "images_per_s": batch / step_s, "peak_mem_bytes": _peak(dev), "steps": steps,
            **_environment(dev)}


def _child(conn, fn, kwargs) -> None:
    try:
        conn.send(("ok", fn(**kwargs)))
    except BaseException as e:  # report, don't hang the parent
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


class MeasureError(RuntimeError):
    """A measurement that failed in its process: what was measured and the error, one sentence."""


def run_isolated(fn=measure, **kwargs) -> dict:
    """`fn` in a spawned process, so that its peak RSS is its own; MeasureError if it fails."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, kwargs))
    proc.start()
    child.close()
    try:
        status, payload = parent.recv()
    except EOFError:   # the process died without a word (killed, out of memory)
        status, payload = "error", "its process ended without a result"
    proc.join()
    if status != "ok":
        what = ", ".join(f"{k} {kwargs[k]}" for k in ("strategy", "layers", "channels", "batch")
                         if k in kwargs)
        raise MeasureError(f"measuring {fn.__name__} ({what}) failed: {payload}")
    return payload


def _format(r: dict) -> str:
    return _format_row(r) + (f"  ({r['steps']}: {r['step_min_s']:.3f}–{r['step_max_s']:.3f} s)"
                             if r["steps"] > 1 else "")


def _format_row(r: dict) -> str:
    mb = r["peak_mem_bytes"] / 2**20
    if r["kind"] == "eval":
        return (f"{r['strategy']:<28}{r['batch']:>6}{r['layers']:>4}×{r['channels']:<4}"
                f"{r['step_s']:>9.3f}{'':>9}{'':>10}{'':>9}{'':>9}{mb:>9.0f}{'':>9}"
                f"  {r['images_per_s']:.1f} img/s  {r['speed']}")
    name = r["strategy"] + (" (fd hvp)" if r["hvp"] == "finite-difference" else "") \
        + (f" (pc {r['partial_channels']})" if r.get("partial_channels", 1) > 1 else "") \
        + (" (plain)" if r.get("cell") == "plain" else "") \
        + (" (keep)" if r.get("cell") == "batched-keep" else "") \
        + (" (recompute all)" if r.get("cell") == "batched-all" else "")
    return (f"{name:<28}{r['batch']:>6}{r['layers']:>4}×{r['channels']:<4}{r['step_s']:>9.3f}"
            f"{r['pass_s']:>9.3f}{r['step_over_pass']:>10.2f}{r['expected_passes']:>9.1f}"
            f"{r['overhead']:>9.2f}{mb:>9.0f}{r.get('saved_bytes', 0) / 2**20:>9.0f}  {r['speed']}")


def build_parser() -> argparse.ArgumentParser:
    """The command line. (Long: one `add_argument` per option, each with its help.)"""
    p = Parser(prog=program("benchmark/perf.py"), description=__doc__.split("\n\n")[0],
               formatter_class=argparse.RawDescriptionHelpFormatter,
               epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES),
                   help=f"strategies to measure: {', '.join(STRATEGIES)} (default: all); "
                        "'none' measures no search step")
    p.add_argument("--preset", nargs="+", choices=list(SEARCH_PRESETS), default=list(SEARCH_PRESETS),
                   help="configurations: darts = 8 cells, 16 channels, batch 64 (search) and the "
                        "paper's 20 × 36 at batch 96 (evaluation); small = 5 × 8 at batch 16 and "
                        "8 × 16 at 32 (default: both; --batch/--layers/--channels replace them)")
    p.add_argument("--batch", nargs="+", type=count(1), default=None, help="batch sizes (custom config)")
    p.add_argument("--layers", type=count(1), default=None, help="cells (custom config)")
    p.add_argument("--channels", type=count(1), default=None, help="channels (custom config)")
    p.add_argument("--image-size", type=count(1), default=32, help="image side (default: 32)")
    p.add_argument("--steps", type=count(1), default=5, help="timed steps (default: 5)")
    p.add_argument("--warmup", type=count(0), default=1, help="untimed steps first (default: 1)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda (default: auto)")
    p.add_argument("--threads", type=count(1), default=None, help="torch CPU threads")
    p.add_argument("--speed", nargs="+", default=[], metavar="SWITCH",
                   help="nas.speed switches: amp channels-last cudnn-benchmark keep-activations "
                        "(the search only; the same cells as --cell batched-keep) (compile: the "
                        "evaluation network only) (default: none)")
    p.add_argument("--hvp", choices=["exact", "finite-difference"], default="exact",
                   help="the implicit strategies' Hessian-vector products (default: exact)")
    p.add_argument("--partial-channels", type=count(1), default=1, metavar="K",
                   help="PC-DARTS partial channel connections, 1/K of the channels through the "
                        "operations: the memory remedy (default: 1, off)")
    p.add_argument("--cell", nargs="+", choices=["batched", "batched-all", "batched-keep", "plain",
                                                  "both"], default=["batched"],
                   help="the supernet's cell: batched (the edges that read one state together, "
                        "nas/spaces/darts_batched.py; SearchCell.recompute 'separable'), "
                        "batched-all (recomputing every depthwise output in the backward, as the "
                        "exact Hessian-vector products' forwards do), batched-keep (recomputing "
                        "none), plain (edge by edge, pt.darts's); several alternate per strategy, "
                        "in the order given; both = plain batched (default: batched)")
    p.add_argument("--eval", action="store_true",
                   help="also measure the evaluation network's training images/s, the "
                        "project's trainer against a plain loop")

    p.add_argument("--out", default=str(default_results_dir() / "perf"),
                   help="results folder the rows go to, as one part of its perf table (default: "
                        "results/perf of the project, or ./results/perf where it is installed; '' "
                        "writes none)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    return p


def main(argv: list[str] | None = None) -> int:
    """Measure every configuration the command line asks for, print a row per measurement and
    write them as one part of the perf table; 2 (one sentence) for a bad option."""
    args = build_parser().parse_args(argv)
    strategies = [] if args.strategies == ["none"] else args.strategies
    unknown = [s for s in strategies if s not in STRATEGIES]
    try:
        if unknown:
            raise ValueError(f"unknown strategy {unknown[0]!r}; valid strategies are "
                             f"{', '.join(STRATEGIES)}")
        speed = Speed.from_names(args.speed).names()
        resolve_device(args.device)   # a device this machine lacks, before any process starts
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    custom = args.batch or args.layers or args.channels
    if custom:
        d_layers, d_channels, _, _ = SEARCH_PRESETS["darts"]
        configs = [(args.layers or d_layers, args.channels or d_channels, b)
                   for b in (args.batch or [SEARCH_PRESETS["darts"][2]])]
        e_layers, e_channels, e_batch, _ = EVAL_PRESETS["darts"]
        eval_configs = [(args.layers or e_layers, args.channels or e_channels, b)
                        for b in (args.batch or [e_batch])]
    else:
        configs = [SEARCH_PRESETS[n][:3] for n in args.preset]
        eval_configs = [EVAL_PRESETS[n][:3] for n in args.preset]
    try:
        measure_all(args, strategies, speed, configs, eval_configs)
    except MeasureError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def measure_all(args: argparse.Namespace, strategies: list[str], speed: tuple[str, ...],
                configs: list, eval_configs: list) -> None:
    """Each search configuration's strategies and cells, then (--eval) the evaluation network, each
    in a process of its own; the rows printed as they come and written to --out."""
    search_speed = tuple(s for s in speed if s != "compile")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if not args.json:
        print(f"{'strategy':<28}{'batch':>6}{'cells×C':>9}{'step s':>9}{'pass s':>9}"
              f"{'step/pass':>10}{'expected':>9}{'overhead':>9}{'peak MB':>9}{'saved MB':>9}  speed"
              f"  (steps: range)",
              flush=True)
    rows = []
    common = {"image_size": args.image_size, "steps": args.steps, "warmup": args.warmup,
              "device": args.device, "threads": args.threads}

    def emit(r: dict) -> None:
        r["measured_at"] = stamp
        rows.append(r)
        print(json.dumps(r) if args.json else _format(r), flush=True)

    cells = [c for name in args.cell for c in (("plain", "batched") if name == "both" else (name,))]
    for layers, channels, batch in configs:
        for strategy in strategies:
            for cell in cells:
                emit(run_isolated(measure, strategy=strategy, batch=batch, layers=layers,
                                  channels=channels, speed=search_speed, hvp=args.hvp,
                                  partial_channels=args.partial_channels, cell=cell, **common))
    if args.eval:
        for layers, channels, batch in eval_configs:
            for plain in (True, False):
                emit(run_isolated(measure_eval, batch=batch, layers=layers, channels=channels,
                                  speed=speed, plain=plain, **common))
    if args.out and rows:
        store = ResultStore(args.out)
        part = f"{rows[0]['measured_at']}-{platform.node() or 'host'}-{os.getpid()}".replace(":", "")
        store.write_part("perf", part, rows)
        if not args.json:
            print(f"wrote {len(rows)} rows to {store.part_path('perf', part)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
