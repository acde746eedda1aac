"""The random-state defect's measured effect: each seed's search with the defect against its re-run
without it (issue 32; this folder's README).

For hyperdarts-mlp and first-order-smoothed, on the seeds that have both a search in this folder
(run with the defect) and one in the grid run again with the fix: the looked-up CIFAR-10 accuracy
of each (the mean of the found cell's two trainings in the table), the per-seed difference fixed −
defective with its paired t interval, and how often each ended at a collapse (pre-declared count)
and at the same cell. Two runs of one seed are about as different as two seeds (the search
amplifies small differences), so this shows a systematic effect of the defect only if it is large
against that spread: it is not a test of equivalence, and its n is printed beside it.

  python results/examples/nb201-cpu-rng-defect/compare.py [FIXED] [DEFECT]

(defaults: results/examples/nb201-cpu, the grid as it runs now, and this folder)
"""

import sys
from pathlib import Path

import pandas as pd

from analysis.stats import mean_ci, paired_difference
from nas.spaces.nb201 import cell_stats, parse_cell
from resultstore.experiment import ReportError, load_experiment

HERE = Path(__file__).resolve().parent
CIFAR = "imagefolder:~/.cache/cifar10-jpeg"
AFFECTED = ("hyperdarts-mlp", "first-order-smoothed")


def found(root: Path) -> pd.DataFrame:
    """One row per (strategy, seed): the found cell and its looked-up CIFAR-10 accuracy (%)."""
    t = load_experiment(root).trials
    t = t[(t.eval_dataset == CIFAR) & t.strategy.isin(AFFECTED)]
    acc = 100 * t.groupby(["strategy", "seed"]).test_acc.mean()
    cell = t.groupby(["strategy", "seed"]).genotype.first()
    return pd.DataFrame({"acc": acc, "genotype": cell})


def main(fixed_root: Path, defect_root: Path) -> None:
    fixed, defect = found(fixed_root), found(defect_root)
    both = fixed.add_suffix("_fixed").join(defect.add_suffix("_defect"), how="inner")
    print(f"fixed: {fixed_root}; with the defect: {defect_root}")
    for strategy in AFFECTED:
        b = both.loc[strategy] if strategy in both.index.get_level_values(0) else pd.DataFrame()
        if len(b) < 2:
            print(f"{strategy}: {len(b)} seed(s) with both runs: nothing to compare yet")
            continue
        d = paired_difference(b.acc_fixed, b.acc_defect)
        mf, lo_f, hi_f, _ = mean_ci(b.acc_fixed)
        md, lo_d, hi_d, _ = mean_ci(b.acc_defect)
        collapsed = {k: int(sum(cell_stats(parse_cell(g))["collapsed"] for g in b[f"genotype_{k}"]))
                     for k in ("fixed", "defect")}
        same = int((b.genotype_fixed == b.genotype_defect).sum())
        print(f"{strategy}: n = {len(b)} seeds ({', '.join(map(str, b.index))}); fixed {mf:.2f}% "
              f"[{lo_f:.2f}, {hi_f:.2f}], with the defect {md:.2f}% [{lo_d:.2f}, {hi_d:.2f}]; fixed − "
              f"defect {d.diff:+.2f} points [{d.lo:+.2f}, {d.hi:+.2f}] (paired t, p = {d.p:.3f}; sd of "
              f"the per-seed differences {d.sd:.2f}, smallest difference detectable at this n "
              f"{d.mde:.2f}); collapsed {collapsed['fixed']} and {collapsed['defect']} of {len(b)}; "
              f"the same cell on {same} of {len(b)} seeds")
    print("\nper seed (looked-up CIFAR-10 accuracy, %):")
    print(both[["acc_fixed", "acc_defect"]].round(2).to_string())


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:3]]
    try:
        main(args[0] if args else HERE.parent / "nb201-cpu", args[1] if len(args) > 1 else HERE)
    except ReportError as e:   # (a folder that is no experiment: its one sentence)
        sys.exit(f"error: {e}")
