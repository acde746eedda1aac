"""The GPU acceptance check: one command to run on one GPU before committing days to the `full` grid.

    python benchmark/acceptance.py               # on a CUDA device: the DARTS sizes
    python benchmark/acceptance.py --tiny        # tiny sizes on any device, the CPU included

In order, recording every figure:

1. the device (name, memory, torch, CUDA, cuDNN) and, on a CUDA device, the CUDA tests
   (`python -m pytest -m cuda`);
2. every searching strategy's step at the DARTS search configuration (8 cells × 16 channels,
   batch 64, 32 px) without and with the search's speed switches (amp, channels-last,
   cudnn-benchmark), and its peak memory against 16 GiB (`benchmark/perf.py`'s `measure`, each in
   a fresh process);
3. the evaluation network's training images/s (20 cells × 36 channels, batch 96) without and
   with the switches, and with `torch.compile` (`--no-compile` leaves it out);
4. one trial of the `full` profile shortened to one search epoch on a subset of the search
   dataset and one evaluation epoch on a subset of it, end to end (search, genotype, training,
   test, rows), on the offline CIFAR-10 copy by default (`--dataset`);
5. the `full` grid's wall time on 1 and 8 GPUs, projected from the step times of 2. and 3.
   (`benchmark/plan.py`).

`--tiny` runs the same steps at tiny sizes, in this process (a test keeps the command working on
a machine without a GPU); its times say nothing about a GPU. The rows go to
`<out>/acceptance.parquet`, the table to `<out>/acceptance.md` (default: `results/acceptance/`),
and the table is printed. Exit status 1 when a check failed (the CUDA tests, a step over 16 GiB
or one that raised, the trial), 2 on bad input.

Not yet run on a GPU: the 8 minutes it is meant to take on one modern GPU are a target.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import platform

import torch

from benchmark.grids import OFFLINE_CIFAR10, get_grid
from benchmark.perf import measure, measure_eval, run_isolated
from benchmark.plan import plan
from benchmark.trial import run_trial
from nas.data import DatasetError, load_dataset
from nas.options import Parser
from nas.search import resolve_device
from nas.strategies import SEARCHING
from resultstore.store import ResultStore, default_results_dir, write_parquet_atomic

GIB16 = 16 * 2**30
SEARCH_SWITCHES = ("amp", "channels_last", "cudnn_benchmark")
# (batch, cells, channels, image side) of the search and of the evaluation; timed steps, warm-up
SIZES = {"darts": {"search": (64, 8, 16, 32), "eval": (96, 20, 36, 32), "steps": 2, "warmup": 1,
                   "search_subset": 2048, "train_subset": 4096},
         "tiny": {"search": (2, 3, 4, 8), "eval": (4, 3, 4, 8), "steps": 1, "warmup": 0,
                  "search_subset": 64, "train_subset": 64}}


def device_row(dev) -> dict:
    row = {"check": "device", "device": str(dev), "torch": torch.__version__,
           "cuda": torch.version.cuda or "", "ok": True}
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        row.update(name=props.name, memory_gib=props.total_memory / 2**30,
                   cudnn=str(torch.backends.cudnn.version()))
    else:
        row.update(name=f"cpu ({platform.machine()})", memory_gib=None, cudnn="")
    return row


def cuda_tests(dev) -> dict:
    """The tests marked `cuda`, in a subprocess; skipped (ok) without a CUDA device."""
    if dev.type != "cuda":
        return {"check": "cuda tests", "ok": True, "detail": "skipped: no CUDA device"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True)
    tail = (done.stdout.strip().splitlines() or [""])[-1]
    return {"check": "cuda tests", "ok": done.returncode == 0, "detail": tail,
            "seconds": time.perf_counter() - start}


def search_rows(dev, size: dict, isolated: bool) -> list[dict]:
    batch, layers, channels, side = size["search"]
    rows = []
    for strategy in SEARCHING:
        for switches in ((), SEARCH_SWITCHES):
            kwargs = dict(strategy=strategy, batch=batch, layers=layers, channels=channels,
                          image_size=side, steps=size["steps"], warmup=size["warmup"],
                          device=str(dev), threads=None, speed=switches)
            start = time.perf_counter()
            try:
                row = run_isolated(measure, **kwargs) if isolated else measure(**kwargs)
                row.update(check="search step", ok=row["peak_mem_bytes"] < GIB16)
            except Exception as e:   # one failing step must not hide the others
                row = {"kind": "search", "strategy": strategy, "speed": ",".join(switches),
                       "check": "search step", "ok": False, "detail": f"{type(e).__name__}: {e}"}
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            print(f"  {strategy:22s} {','.join(switches) or '—':34s} "
                  + (f"{row['step_s']:.3f} s a step, peak {row['peak_mem_bytes'] / 2**30:.2f} GiB"
                     if "step_s" in row else row["detail"]), flush=True)
    return rows


def eval_rows(dev, size: dict, compile_too: bool, isolated: bool) -> list[dict]:
    batch, layers, channels, side = size["eval"]
    variants = [(), ("amp", "channels_last", "cudnn_benchmark")]
    if compile_too:
        variants.append(("amp", "channels_last", "cudnn_benchmark", "compile"))
    rows = []
    for switches in variants:
        kwargs = dict(batch=batch, layers=layers, channels=channels, image_size=side,
                      steps=size["steps"] + 2, warmup=size["warmup"] + 1, device=str(dev),
                      threads=None, speed=switches)
        start = time.perf_counter()
        try:
            row = run_isolated(measure_eval, **kwargs) if isolated else measure_eval(**kwargs)
            row.update(check="evaluation training", ok=True)
        except Exception as e:
            row = {"kind": "eval", "strategy": "eval-trainer", "speed": ",".join(switches),
                   "check": "evaluation training", "ok": False, "detail": f"{type(e).__name__}: {e}"}
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        print(f"  evaluation {','.join(switches) or '—':44s} "
              + (f"{row['images_per_s']:.1f} images/s" if "images_per_s" in row else row["detail"]),
              flush=True)
    return rows


def trial_row(dev, size: dict, dataset: str, tiny: bool) -> dict:
    """One `full`-profile trial (first-order, seed 0), one search epoch and one evaluation epoch
    on subsets, through the grid's own trial code."""
    grid = get_grid("full").override(strategies=["first-order"], datasets=[dataset], seeds=[0],
                                     search_epochs=1, eval_epochs=1)
    p = grid.profile
    profile = dataclasses.replace(p, search_subset=size["search_subset"],
                                  train_subset=size["train_subset"], eval_repeats=1)
    if tiny:
        _, layers, channels, side = size["search"]
        _, el, ec, _ = size["eval"]
        profile = dataclasses.replace(
            profile, image_size=side, search_batch_size=8,
            search_space=dataclasses.replace(p.search_space, layers=layers, channels=channels),
            train=dataclasses.replace(p.train, layers=el, channels=ec, batch_size=16))
    grid = dataclasses.replace(grid, profile=profile, transfer_datasets=())
    spec = next(s for s in grid.trials("acceptance") if s.strategy == "first-order")
    start = time.perf_counter()
    try:
        state = run_trial(spec, dev)
        rows = state.rows(spec)["trials"]
        ok = state.status == "finished" and len(rows) == 1
        detail = (f"finished: search {state.search_wall_s:.0f} s, one evaluation epoch "
                  f"{rows[0]['eval_wall_s']:.0f} s, test accuracy {rows[0]['test_acc']:.3f}"
                  if ok else f"status {state.status}: {state.reason}")
    except Exception as e:
        ok, detail = False, f"{type(e).__name__}: {e}"
    return {"check": "full trial (shortened)", "ok": ok, "detail": detail, "dataset": dataset,
            "seconds": time.perf_counter() - start}


def projection(rows: list[dict], out: Path) -> list[str]:
    """The `full` grid's projected cost on 1 and 8 GPUs from the measured rows."""
    perf = out / "perf"
    measured = [r for r in rows if r.get("kind") in ("search", "eval") and "step_s" in r]
    ResultStore(perf).write_part("perf", "acceptance", [{k: v for k, v in r.items()
                                                         if k not in ("check", "ok", "detail")}
                                                        for r in measured])
    lines = []
    for gpus in (1, 8):
        text = plan(get_grid("full"), out / "no-experiment", perf, None, cpus=1, gpus=gpus)
        cost = text.split("projected cost:", 1)[1].strip().splitlines()
        lines.append(f"{gpus} GPU(s): " + cost[0].strip())
    return lines


def markdown(rows: list[dict], projected: list[str], tiny: bool) -> str:
    dev = next(r for r in rows if r["check"] == "device")
    lines = ["# GPU acceptance check" + (" (tiny sizes, in one process: the times say nothing about "
                                         "a GPU, and the peaks are that process's)" if tiny else ""),
             "", f"device: {dev['name']}" + (f", {dev['memory_gib']:.1f} GiB" if dev.get("memory_gib")
                                              else "") + f"; torch {dev['torch']}, CUDA "
             f"{dev['cuda'] or '—'}, cuDNN {dev.get('cudnn') or '—'}", ""]
    for r in rows:
        if r["check"] in ("cuda tests", "full trial (shortened)"):
            lines.append(f"- {r['check']}: {'ok' if r['ok'] else 'FAILED'} ({r.get('detail', '')})")
    lines += ["", "| strategy | switches | step s | pass s | step / pass | expected | peak GiB | < 16 GiB |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if r["check"] != "search step":
            continue
        if "step_s" not in r:
            lines.append(f"| {r['strategy']} | {r['speed'] or '—'} | failed: {r['detail']} | | | | | no |")
            continue
        lines.append(f"| {r['strategy']} | {r['speed'] or '—'} | {r['step_s']:.3f} | {r['pass_s']:.3f} | "
                     f"{r['step_over_pass']:.2f} | {r['expected_passes']:g} | "
                     f"{r['peak_mem_bytes'] / 2**30:.2f} | {'yes' if r['ok'] else 'NO'} |")
    lines += ["", "| evaluation network | switches | images/s | peak GiB |", "|---|---|---:|---:|"]
    for r in rows:
        if r["check"] == "evaluation training":
            figure = (f"{r['images_per_s']:.1f} | {r['peak_mem_bytes'] / 2**30:.2f}"
                      if "images_per_s" in r else f"failed: {r['detail']} |")
            lines.append(f"| {r.get('layers', '?')} cells | {r['speed'] or '—'} | {figure} |")
    lines += ["", "the `full` grid, projected from these step times (benchmark/plan.py):"]
    lines += [f"- {p}" for p in projected]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python benchmark/acceptance.py",
               description=__doc__.split("\n\n")[0],
               formatter_class=argparse.RawDescriptionHelpFormatter,
               epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--tiny", action="store_true",
                   help="tiny sizes, in this process, on any device (checks the command, not a GPU)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--dataset", default=None,
                   help="the shortened trial's dataset (default: the offline CIFAR-10 copy, "
                        "imagefolder:~/.cache/cifar10-jpeg; with --tiny digits where that is missing)")
    p.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    p.add_argument("--out", default=str(default_results_dir() / "acceptance"),
                   help="folder of acceptance.parquet and acceptance.md (default: %(default)s)")
    return p


def device_and_dataset(args: argparse.Namespace) -> tuple[torch.device, str]:
    """The device and the trial's dataset the arguments ask for; ValueError in one sentence where
    there is none (no CUDA device without --tiny, a dataset that does not load)."""
    dev = resolve_device(args.device)
    if dev.type != "cuda" and not args.tiny:
        raise ValueError("no CUDA device here; the check is meant for a GPU (--tiny runs it at tiny "
                         "sizes on this machine)")
    dataset = args.dataset or OFFLINE_CIFAR10
    try:
        load_dataset(dataset)
    except DatasetError as e:
        if args.dataset or not args.tiny:
            raise ValueError(str(e)) from None
        dataset = "digits"
    return dev, dataset


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        dev, dataset = device_and_dataset(args)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = SIZES["tiny" if args.tiny else "darts"]
    out = Path(args.out).expanduser().resolve()
    start = time.perf_counter()
    print(f"GPU acceptance check on {dev} ({'tiny sizes' if args.tiny else 'the DARTS sizes'})",
          flush=True)
    rows = [device_row(dev)]
    if dev.type == "cuda":
        torch.cuda.init()
    print("1. the CUDA tests", flush=True)
    rows.append(cuda_tests(dev))
    print("2. every strategy's search step, without and with the speed switches", flush=True)
    rows += search_rows(dev, size, isolated=not args.tiny)
    print("3. the evaluation network's training", flush=True)
    rows += eval_rows(dev, size, not args.no_compile, isolated=not args.tiny)
    print(f"4. one full-profile trial, shortened, on {dataset}", flush=True)
    rows.append(trial_row(dev, size, dataset, args.tiny))
    print("5. the full grid's projected wall time", flush=True)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for r in rows:
        r.setdefault("detail", "")
        r["measured_at"] = stamp
    projected = projection(rows, out)
    table = markdown(rows, projected, args.tiny)
    write_parquet_atomic(rows, out / "acceptance.parquet")
    (out / "acceptance.md").write_text(table)
    print()
    print(table)
    failed = [r for r in rows if not r["ok"]]
    print(f"{len(rows)} checks in {time.perf_counter() - start:.0f} s, {len(failed)} failed; "
          f"{out / 'acceptance.md'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
