"""The issue's questions answered in one table, from this folder's report (issue 32).

For each comparison the issue asks for (each strategy against first-order DARTS and against the
random cell; hyperDARTS against its noise control), on each evaluation dataset: n (the seeds both
searched), the paired difference in points with its uncorrected 95% interval, p after Holm's
correction over the report's 12 comparisons, the smallest difference detectable after Holm at this
n (80% power), and the seeds that 3, 2 and 1 points would need after Holm, from that comparison's
own sd of the per-seed differences (back from its interval: sd = half-width · √n / t(0.975, n − 1);
itself uncertain with n − 1 degrees of freedom). Then the collapse shares (pre-declared count, and
the count by computation made after the fact) with their Wilson intervals and Fisher differences,
and the transfer ranking. Every number is read from `tables/*.csv`, which `analysis/report.py`
wrote; nothing is computed from the trials here but the seeds needed.

Usage, from the project root: python results/examples/nb201-cpu/answer.py [EXAMPLE]
(default: this folder). Writes nothing; ship.sh saves its output as answer.md.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
from scipy import stats

from analysis.stats import ALPHA, seeds_needed
from nas.strategies import SEARCHING

# (the prose's number formats live with its checker; run as a script, this folder is on the path)
from claims import p as p_text, signed as minus, wilson

HERE = Path(__file__).resolve().parent
NAMES = {"imagefolder:~/.cache/cifar10-jpeg": "CIFAR-10", "fashion-mnist": "Fashion-MNIST"}
COMPARISONS = (("hyperdarts-mlp", "first_order"), ("first-order-smoothed", "first_order"),
               ("hyperdarts-mlp", "first_order_smoothed"), ("first-order", "random"),
               ("hyperdarts-mlp", "random"), ("first-order-smoothed", "random"))


def needed(diff: float, sd: float, family: int) -> str:
    try:
        return str(seeds_needed(diff, sd, alpha=ALPHA / family))
    except ValueError:
        return "—"


def accuracy_rows(acc: pd.DataFrame, family: int) -> list[str]:
    rows = []
    for strategy, against in COMPARISONS:
        for ds, name in NAMES.items():
            r = acc[(acc.strategy == strategy) & (acc.eval_dataset == ds)]
            col = f"vs_{against}"
            if r.empty or pd.isna(r[f"{col}_diff"].iloc[0]):
                continue
            r = r.iloc[0]
            n = int(r[f"{col}_n"])
            if pd.isna(r[f"{col}_diff_lo"]):    # (one seed, or the same difference on every seed)
                rows.append(f"| {strategy} − {against.replace('_', '-')} | {name} | {n} | "
                            f"{minus(r[f'{col}_diff'])} (no interval at this n) | — | — | — | — |")
                continue
            half = (r[f"{col}_diff_hi"] - r[f"{col}_diff_lo"]) / 2
            sd = half * math.sqrt(n) / stats.t.ppf(0.975, n - 1)
            p_holm = r[f"{col}_p_holm"]
            rows.append(f"| {strategy} − {against.replace('_', '-')} | {name} | {n} | "
                        f"{minus(r[f'{col}_diff'])} [{minus(r[f'{col}_diff_lo'])}, "
                        f"{minus(r[f'{col}_diff_hi'])}] | {p_text(p_holm)} | "
                        f"{r[f'{col}_mde_holm']:.1f} | {sd:.1f} | "
                        f"{' / '.join(needed(d, sd, family) for d in (3, 2, 1))} |")
    return rows


def collapse_rows(folder: Path) -> list[str]:
    rows = []
    for table, what in (("collapse_differences", "pre-declared"),
                        ("collapse_by_computation", "by computation, after the fact")):
        c = pd.read_csv(folder / "tables" / f"{table}.csv")
        shares = {}
        for _, r in c.iterrows():
            shares[r.strategy] = (int(r.collapsed), int(r.searches))
            shares[r.baseline] = (int(r.baseline_collapsed), int(r.baseline_searches))
        text = "; ".join(f"{s} {k}/{n} ({wilson(k, n)})" for s, (k, n) in shares.items())
        rows.append(f"- Collapse, {what} (Wilson 95% intervals): {text}.")
        for _, r in c.iterrows():
            rows.append(f"  - {r.strategy} − {r.baseline}: {minus(r['diff'], 1)} points "
                        f"[{minus(r.diff_lo, 1)}, {minus(r.diff_hi, 1)}], Fisher p {p_text(r.p)}, "
                        f"p_Holm {p_text(r.p_holm)}")
    return rows


def transfer_rows(folder: Path) -> list[str]:
    t = pd.read_csv(folder / "tables" / "transfer.csv")
    ranks = "; ".join(f"{r.strategy} {int(r.transfer_rank)} [{int(r.transfer_rank_lo)}, "
                      f"{int(r.transfer_rank_hi)}] (n {int(r.n)}, {r.transfer_acc_mean:.2f}%)"
                      for _, r in t.iterrows())
    r = t.iloc[0]
    return [f"- Transfer (CIFAR-10 → Fashion-MNIST), the rank on Fashion-MNIST with its bootstrap "
            f"interval: {ranks}; the strategies' means ρ {r.means_rho:.2f} [{r.means_rho_ci_lo:.2f}, "
            f"{r.means_rho_ci_hi:.2f}] (the ranks are of means over each strategy's own seeds)."]


def main(folder: Path) -> None:
    acc = pd.read_csv(folder / "tables" / "accuracy.csv")
    n = acc.groupby("strategy").n.max()
    print(f"# {folder.name}: the issue's questions at this look (its README says what it holds)\n")
    print(f"Made by `python results/examples/nb201-cpu/answer.py` from the report's tables beside it "
          f"(n = {n.min() if n.min() == n.max() else f'{n.min()}–{n.max()}'} searches a strategy). An "
          "interim look, not corrected for the looks: the tests that count are those of the analysis "
          "fixed in advance, at all of the grid's seeds (its README says where). "
          "Differences are paired by seed, their intervals uncorrected; p_Holm is corrected over "
          "the report's 12 comparisons; \"detectable\" is the smallest difference the test finds "
          "with 80% power after Holm at this n; the seeds needed come from each comparison's own "
          "sd of the per-seed differences.\n")
    family = 12    # the report's Holm family: 6 comparisons on each of 2 evaluation datasets
    print("| comparison | evaluated on | n | difference, points [95% CI] | p_Holm | detectable after "
          "Holm | sd of the differences | seeds for 3 / 2 / 1 points after Holm |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(accuracy_rows(acc, family)))
    print()
    print("\n".join(collapse_rows(folder) + transfer_rows(folder)))
    missing = [s for s in SEARCHING if s not in set(acc.strategy)]
    if missing:   # (the issue asks for every strategy: these have no answer here yet)
        print(f"- Not searched in this grid yet, so unanswered here: {', '.join(missing)} "
              "(`run.sh`'s step 2, at the seeds their cost allows).")


if __name__ == "__main__":
    try:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    except FileNotFoundError as e:   # (a folder without a report: one sentence, not a traceback)
        sys.exit(f"error: {e.filename} is missing: give a folder with a report (tables/*.csv)")
