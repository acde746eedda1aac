"""Does tuning a strategy's own options change what it finds? (issue 32, the tuned grid's secondary
question, fixed in this folder's README before any trial of the tuned grid ran.)

For each searching strategy of both experiments, on the seeds both ran: the found cell's looked-up
CIFAR-10 accuracy at the tuned options (this folder's grid, nb201-cpu-tuned) minus at DARTS's
settings (results/examples/nb201-cpu), paired by seed (paired t, its 95% interval, and the smallest
difference this n detects at 80% power), Holm over the strategies; and each one's collapse count in
both. Descriptive where the README says so.

  python results/examples/nb201-cpu-tuned/tuned_vs_untuned.py [TUNED] [UNTUNED] [TABLE]

(defaults: this folder, results/examples/nb201-cpu, and the table snapshot in
results/examples/tables/nb201-c8-n3-e2)
"""

import sys
from pathlib import Path

import pandas as pd

from analysis.lookups import lookup_numbers
from analysis.stats import holm, paired_difference
from resultstore.cells import CellTable
from resultstore.experiment import load_experiment

here = Path(__file__).resolve().parent
tuned_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else here
untuned_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else here.parent / "nb201-cpu"
table = CellTable(Path(sys.argv[3]) if len(sys.argv) > 3
                  else here.parent / "tables" / "nb201-c8-n3-e2")


def searches(folder: Path) -> pd.DataFrame:
    """Each search's looked-up accuracy and collapse on its search dataset, by (strategy, seed)."""
    num = lookup_numbers(load_experiment(folder), table)
    num = num[(num.eval_dataset == num.search_dataset) & (num.strategy != "random")]
    return num.set_index(["strategy", "seed"])[["acc", "collapsed"]]


tuned, untuned = searches(tuned_dir), searches(untuned_dir)
both = tuned.merge(untuned, left_index=True, right_index=True, suffixes=("_tuned", "_untuned"))
if both.empty:
    sys.exit(f"no strategy and seed searched in both {tuned_dir} and {untuned_dir}")
rows = []
for strategy, g in both.groupby(level="strategy"):
    d = paired_difference(g.acc_tuned, g.acc_untuned)
    rows.append({"strategy": strategy, "n": len(g), "tuned": g.acc_tuned.mean(),
                 "untuned": g.acc_untuned.mean(), "difference": d.diff, "low": d.lo, "high": d.hi,
                 "p": d.p, "detectable": d.mde,
                 "collapsed tuned": int(g.collapsed_tuned.astype(bool).sum()),
                 "collapsed untuned": int(g.collapsed_untuned.astype(bool).sum())})
out = pd.DataFrame(rows)
out["p_holm"] = holm(out.p.to_numpy())
seeds = sorted(both.index.get_level_values("seed").unique())
print(f"tuned ({tuned_dir.name}) minus untuned ({untuned_dir.name}) on the seeds both ran "
      f"({seeds[0]}–{seeds[-1]}, {len(seeds)} seeds), looked-up accuracy on the search dataset "
      f"(points), paired t with its 95% interval, Holm over {len(out)} strategies; 'detectable' is "
      "the smallest difference this n detects at 80% power in one test:")
print(out.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
