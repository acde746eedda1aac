"""Does tuning a strategy's own options change what it finds? (issue 32, the tuned grid's secondary
question, fixed in this folder's README before any trial of the tuned grid ran.)

For each searching strategy of both experiments, on the seeds both ran: the found cell's looked-up
accuracy on the search dataset (CIFAR-10 on nb201-cpu) at the tuned options (this folder's grid,
nb201-cpu-tuned) minus at DARTS's settings (results/examples/nb201-cpu), paired by seed (paired t,
its 95% interval, and the smallest difference this n detects at 80% power in one test), Holm over
the strategies compared; and each one's collapse count (a cell of parameter-free operations only)
in both. A strategy with a search the health checks flag in either experiment (it did not run as
its name says) is listed as flagged and not compared. Each experiment's options are printed.

  python results/examples/nb201-cpu-tuned/tuned_vs_untuned.py [TUNED] [UNTUNED]

(defaults: this folder and results/examples/nb201-cpu)
"""

import sys
from pathlib import Path

import pandas as pd

from analysis.health import search_health, strategy_flags
from analysis.stats import holm, paired_difference
from nas.spaces.nb201 import cell_stats
from nas.spaces.nb201_cell import Cell
from resultstore.experiment import load_experiment

here = Path(__file__).resolve().parent
tuned_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else here
untuned_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else here.parent / "nb201-cpu"


def searches(folder: Path) -> tuple[pd.DataFrame, set[str]]:
    """Each finished search's accuracy and collapse on its search dataset, by (strategy, seed), and
    the strategies the health checks flag."""
    exp = load_experiment(folder)
    s = exp.searches
    if s.empty:
        sys.exit(f"{folder} holds no finished search")
    s = s[(s.eval_dataset == s.search_dataset) & (s.strategy != "random")].copy()
    s["collapsed"] = [bool(cell_stats(Cell.parse(g))["collapsed"]) for g in s.genotype]
    for strategy, g in s.groupby("strategy"):
        print(f"{folder.name}: {strategy} options {sorted(set(map(str, g.strategy_options)))}")
    flags = strategy_flags(search_health(exp))
    flagged = {st for (_, st), v in flags.items() if str(v).startswith("no:")}
    return s.set_index(["strategy", "seed"])[["acc", "collapsed"]], flagged


(tuned, flagged_t), (untuned, flagged_u) = searches(tuned_dir), searches(untuned_dir)
both = tuned.merge(untuned, left_index=True, right_index=True, suffixes=("_tuned", "_untuned"))
if both.empty:
    sys.exit(f"no strategy and seed searched in both {tuned_dir} and {untuned_dir}")
rows, left_out = [], []
for strategy, g in both.groupby(level="strategy"):
    if strategy in flagged_t | flagged_u:
        left_out.append(f"{strategy} (a search did not run as configured)")
        continue
    d = paired_difference(g.acc_tuned, g.acc_untuned)
    rows.append({"strategy": strategy, "n": len(g), "tuned": g.acc_tuned.mean(),
                 "untuned": g.acc_untuned.mean(), "difference": d.diff, "low": d.lo, "high": d.hi,
                 "p": d.p, "detectable": d.mde,
                 "collapsed tuned": int(g.collapsed_tuned.sum()),
                 "collapsed untuned": int(g.collapsed_untuned.sum())})
out = pd.DataFrame(rows)
seeds = sorted(both.index.get_level_values("seed").unique())
print(f"\ntuned ({tuned_dir.name}) minus untuned ({untuned_dir.name}) on the seeds both ran "
      f"({seeds[0]}–{seeds[-1]}, {len(seeds)} seeds), looked-up accuracy on the search dataset "
      f"(points), paired t with its 95% interval, Holm over the {len(out)} strategies compared; "
      "'detectable': the smallest difference this n detects at 80% power in one test:")
if not out.empty:
    out["p_holm"] = holm(out.p.to_numpy())
    print(out.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
if left_out:
    print("not compared: " + ", ".join(left_out))
