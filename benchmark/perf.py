"""Time per search step and peak memory of each strategy on a DARTS supernet.

    python benchmark/perf.py                                    # DARTS search config, batch 16 and 64
    python benchmark/perf.py --strategies first-order --batch 16 --layers 5 --channels 8 --steps 10
    python benchmark/perf.py --json                             # one JSON object per line

For every (strategy, batch size) it builds the supernet on random CIFAR-sized
data, runs `--warmup` steps, then times `--steps` steps and takes the median.
It also times one plain forward+backward pass of the supernet (w and α
gradients) on the same batch, and prints the ratio step / pass beside the pass
count that STRATEGIES.md's cost table expects. Peak memory is
the CUDA peak allocated on a GPU, and the peak resident set size of a fresh
process on the CPU (each configuration runs in its own process for that).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


# Passes per step in STRATEGIES.md's cost table (P = one forward+backward on one batch), at the
# default K = 5 of the implicit strategies; one-level's single pass is on train ∪ val (2 batches).
EXPECTED_PASSES = {"one-level": 2.0, "first-order": 2.0, "second-order": 5.0,
                   "second-order-exact": 4.5, "implicit-neumann": 10.5, "implicit-cg": 10.5,
                   "hyperdarts-linear": 2.0, "hyperdarts-mlp": 2.0}


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(strategy: str, batch: int, layers: int, channels: int, image_size: int,
            steps: int, warmup: int, device: str, threads: int | None) -> dict:
    """Run in a fresh process: time `steps` strategy steps and `steps` plain passes."""
    import torch
    import torch.nn.functional as F

    from nas.search import resolve_device
    from nas.spaces import make_supernet, space_config
    from nas.strategies import make_strategy

    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    torch.manual_seed(0)
    net = make_supernet("darts", space_config("darts", channels=channels, layers=layers),
                        3, 10).to(dev)
    strat = make_strategy(strategy, net)

    def batch_pair():
        return [(torch.randn(batch, 3, image_size, image_size, device=dev),
                 torch.randint(0, 10, (batch,), device=dev)) for _ in range(2)]

    train_b, val_b = batch_pair()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    step_times = []
    for i in range(warmup + steps):
        _sync(dev)
        t = time.perf_counter()
        strat.step(train_b, val_b)
        _sync(dev)
        if i >= warmup:
            step_times.append(time.perf_counter() - t)
    params = list(net.parameters())
    pass_times = []
    for i in range(warmup + steps):
        _sync(dev)
        t = time.perf_counter()
        loss = F.cross_entropy(net(train_b[0]), train_b[1])
        torch.autograd.grad(loss, params)
        _sync(dev)
        if i >= warmup:
            pass_times.append(time.perf_counter() - t)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev)
        device_name = torch.cuda.get_device_name(dev)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        device_name = f"cpu ({platform.processor() or platform.machine()}, " \
                      f"{torch.get_num_threads()} threads)"
    step_s, pass_s = statistics.median(step_times), statistics.median(pass_times)
    return {"strategy": strategy, "batch": batch, "layers": layers, "channels": channels,
            "image_size": image_size, "step_s": step_s, "pass_s": pass_s,
            "step_over_pass": step_s / pass_s, "peak_mem_bytes": int(peak),
            "steps": steps, "device": device_name, "torch": torch.__version__}


def _child(conn, kwargs) -> None:
    try:
        conn.send(("ok", measure(**kwargs)))
    except BaseException as e:  # report, don't hang the parent
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def run_isolated(**kwargs) -> dict:
    """`measure` in a spawned process, so that its peak RSS is its own."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, kwargs))
    proc.start()
    child.close()
    status, payload = parent.recv()
    proc.join()
    if status != "ok":
        raise RuntimeError(payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    from nas.strategies import STRATEGIES

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strategies", nargs="+", default=["first-order"],
                   help=f"strategies to measure: {', '.join(STRATEGIES)} (default: first-order)")
    p.add_argument("--batch", nargs="+", type=int, default=[16, 64],
                   help="batch sizes (default: 16 64)")
    p.add_argument("--layers", type=int, default=8, help="cells (default: 8, DARTS search)")
    p.add_argument("--channels", type=int, default=16, help="channels (default: 16)")
    p.add_argument("--image-size", type=int, default=32, help="image side (default: 32)")
    p.add_argument("--steps", type=int, default=5, help="timed steps (default: 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (default: 1)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda (default: auto)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    args = p.parse_args(argv)
    unknown = [s for s in args.strategies if s not in STRATEGIES]
    if unknown:
        print(f"error: unknown strategy {unknown[0]!r}; valid strategies are "
              f"{', '.join(STRATEGIES)}", file=sys.stderr)
        return 2
    if not args.json:
        print(f"{'strategy':<20}{'batch':>6}{'step s':>9}{'pass s':>9}{'step/pass':>10}"
              f"{'expected':>9}{'peak MB':>9}  device")
    for strategy in args.strategies:
        for batch in args.batch:
            r = run_isolated(strategy=strategy, batch=batch, layers=args.layers,
                             channels=args.channels, image_size=args.image_size,
                             steps=args.steps, warmup=args.warmup, device=args.device,
                             threads=args.threads)
            r["expected_passes"] = EXPECTED_PASSES.get(strategy)
            if args.json:
                print(json.dumps(r), flush=True)
            else:
                expected = r["expected_passes"]
                print(f"{strategy:<20}{batch:>6}{r['step_s']:>9.3f}{r['pass_s']:>9.3f}"
                      f"{r['step_over_pass']:>10.2f}{expected if expected else '?':>9}"
                      f"{r['peak_mem_bytes'] / 2**20:>9.0f}  {r['device']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
