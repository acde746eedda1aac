"""Record, for each smoke-grid search (seed 0), what is reproducible across machines, into
tests/golden/smoke.json for tests/test_behaviour.py:

- `hypergradient`: the strategy's first hypergradient (its `hypergradient()` at the search's
  starting point, on its first batch pair), flattened;
- `train_loss`, `val_loss`: the first epoch's means over its 10 steps.

Not α or the genotype after the search: Adam's first steps move each α by about lr·sign(g), so a
coordinate whose hypergradient is near zero flips with the last bits of a float reduction, and
those bits differ between CPUs, thread counts and the batched and plain cells.

    python tests/golden/make_smoke_golden.py [--check]

`--check` writes nothing: it recomputes everything with the plain per-edge cell on one thread and
prints the largest relative difference from the batched cell on two threads, the rounding spread
that the test's tolerance must cover.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from benchmark.grids import GRIDS
from benchmark.trial import load_for_trial
from nas.search import Search
from nas.spaces.darts import SearchCell

OUT = Path(__file__).parent / "smoke.json"


def smoke_search(strategy: str) -> Search:
    (spec,) = [t for t in GRIDS["smoke"].trials() if t.strategy == strategy and t.seed == 0]
    return Search(spec.search, load_for_trial(spec.search_dataset, spec, search=True), "cpu")


def measure(strategy: str) -> dict:
    search = smoke_search(strategy)
    first = next(iter(zip(search.train_batches, search.val_batches)))
    g = torch.cat([t.flatten() for t in search.strategy.hypergradient(*first)])
    record = smoke_search(strategy).run_epoch()
    return {"hypergradient": g.tolist(),
            **{k: record.get(k) for k in ("train_loss", "val_loss")}}


def relative(a, b) -> float:
    a, b = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def main() -> None:
    strategies = [t.strategy for t in GRIDS["smoke"].trials()]
    torch.set_num_threads(2)
    got = {s: measure(s) for s in strategies}
    if "--check" in sys.argv:
        SearchCell.batched = False
        torch.set_num_threads(1)
        for s in strategies:
            other = measure(s)
            losses = [relative([other[k]], [got[s][k]]) for k in ("train_loss", "val_loss")
                      if got[s][k] is not None]
            print(f"{s}: batched/2 threads vs plain/1 thread: hypergradient "
                  f"{relative(other['hypergradient'], got[s]['hypergradient']):.1e}, losses "
                  f"{max(losses, default=0.0):.1e} (relative)", flush=True)
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    OUT.write_text(json.dumps({"commit": commit, "torch": torch.__version__, "searches": got},
                              indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
