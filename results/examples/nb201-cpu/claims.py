"""Check that the prose gives the numbers of the report it cites: every headline number of the
nb201-cpu grid that README.md ("So far") and docs/findings.md ("The grid so far") state, made here
from the cited report's tables (`CITED`: `tables/*.csv`, `tables/transfer.md`) in the prose's own words,
and looked for in the documents (whitespace and line breaks aside). Prints one line per claim;
exits 1 if a document lacks one: after a session ships new trials, the prose is updated until this
passes (tests/test_shipped_claims.py runs it).

Usage, from the project root: python results/examples/nb201-cpu/claims.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

from analysis.stats import proportion_ci

HERE = Path(__file__).resolve().parent
# the report the prose cites: the ninth look's, with the random-state defect, until hyperDARTS's and
# its noise control's searches of seeds 0-25 have run again (results/examples/nb201-cpu-rng-defect)
CITED = HERE.parent / "nb201-cpu-rng-defect"
ROOT = HERE.parents[2]
CIFAR = "imagefolder:~/.cache/cifar10-jpeg"
FMNIST = "fashion-mnist"
FO, HD, FOS, RANDOM = "first-order", "hyperdarts-mlp", "first-order-smoothed", "random"


def signed(x: float, digits: int = 2) -> str:
    """+5.40, −1.14 (the prose's minus sign)."""
    return f"{x:+.{digits}f}".replace("-", "−")


def p(x: float) -> str:
    """A p-value as the prose gives it: 0.0002 below 0.001, 1.0 at 1, else three decimals."""
    return ("1.0" if x >= 0.9995 else "< 0.0001" if x < 0.0001 else f"{x:.4f}" if x < 0.001
            else f"{x:.3f}")


def wilson(k: int, n: int) -> str:
    """A share's Wilson 95% interval in whole percent, as the prose gives it: 2–26%."""
    _, lo, hi = proportion_ci(k, n)
    return f"{100 * lo:.0f}–{100 * hi:.0f}%"


def eq(text: str) -> str:
    """'= 0.004', or '< 0.0001' as it stands: how the prose writes 'p' before a value."""
    return text if text.startswith("<") else f"= {text}"


def interval(row, prefix: str = "acc") -> str:
    return f"{row[prefix]:.2f}% [{row[prefix + '_lo']:.2f}, {row[prefix + '_hi']:.2f}]"


def difference(acc: pd.DataFrame, strategy: str, against: str, dataset: str = CIFAR) -> dict:
    """The report's paired difference of `strategy` from `against` on `dataset`, in prose form."""
    row = acc[(acc.strategy == strategy) & (acc.eval_dataset == dataset)].iloc[0]
    col = "vs_" + against.replace("-", "_")
    return {"d": signed(row[col + "_diff"]), "lo": signed(row[col + "_diff_lo"]),
            "hi": signed(row[col + "_diff_hi"]), "n": int(row[col + "_n"]), "p": p(row[col + "_p"]),
            "p_holm": p(row[col + "_p_holm"]), "mde_holm": f"{row[col + '_mde_holm']:.1f}"}


def claims(t: Path = CITED / "tables") -> list[tuple[str, str]]:
    """(document, the text it must hold), from the report's tables in `t` (the shipped ones).
    (Long: one line per claim.)"""
    lk = pd.read_csv(t / "lookups.csv")
    acc = pd.read_csv(t / "accuracy.csv")
    differ = pd.read_csv(t / "strategies_differ.csv")
    collapse = pd.read_csv(t / "collapse_differences.csv")
    on = {s: r for s, r in lk[lk.eval_dataset == CIFAR].set_index("strategy").iterrows()}
    n = {s: int(on[s].searches) for s in (FO, HD, FOS, RANDOM)}
    hd_fo, hd_fos, fos_fo = difference(acc, HD, FO), difference(acc, HD, FOS), difference(acc, FOS, FO)
    hd_fo_fm = difference(acc, HD, FO, FMNIST)
    vs_random = {s: difference(acc, s, RANDOM) for s in (FO, HD, FOS)}
    fo_random_fm = difference(acc, FO, RANDOM, FMNIST)
    fr = {(r.eval_dataset, r.outcome): r for r in differ.itertuples()}
    fr_c, fr_f = fr[(CIFAR, "looked-up accuracy")], fr[(FMNIST, "looked-up accuracy")]
    fr_k = fr[(CIFAR, "collapse share")]
    fisher = collapse[(collapse.strategy == HD) & (collapse.baseline == FO)].iloc[0]
    computed = pd.read_csv(t / "collapse_by_computation.csv").set_index(["strategy", "baseline"])
    by = {s: f"{int(computed.loc[(s, b), 'collapsed'])} of {int(computed.loc[(s, b), 'searches'])}"
          for s, b in ((FO, RANDOM), (HD, FO), (FOS, FO))}
    by_n = {s: (int(computed.loc[(s, b), "collapsed"]), int(computed.loc[(s, b), "searches"]))
            for s, b in ((HD, FO), (FOS, FO))}
    by[RANDOM] = "{} of {}".format(*computed.loc[(FO, RANDOM), ["baseline_collapsed", "baseline_searches"]]
                                   .astype(int))
    hd_fo_by = computed.loc[(HD, FO)]
    # the prose gives one Fisher p "against each" of first-order's three comparisons while they agree
    firsts = {p(r.p) for r in collapse.itertuples() if FO in (r.strategy, r.baseline)}
    against = "against each" if len(firsts) == 1 else f"(three differ: {', '.join(sorted(firsts))})"
    by_seed = pd.read_csv(t / "lookups_by_seed.csv")
    rs_seeds = by_seed[(by_seed.eval_dataset == CIFAR) & (by_seed.strategy == "random-search")].seed
    k, searches = int(on[FO].collapsed), int(on[FO].cells_found)
    rho = re.search(r"across the (\d+) searches [^:]*: Spearman ρ = ([\d.]+) \[([\d.]+), ([\d.]+)\]",
                    (t / "transfer.md").read_text())
    seeds = f"{min(n.values())}–{max(n.values())}" if min(n.values()) != max(n.values()) else str(n[FO])
    readme, findings = "README.md", "docs/findings.md"
    return [
        (readme, f"at {seeds} of the 40 seeds the grid declares"),
        (readme, f"score {hd_fo['d'].lstrip('+')} points above first-order DARTS's (95% interval "
                 f"{hd_fo['lo']} to {hd_fo['hi']}, uncorrected, n = {hd_fo['n']} seeds; p = "
                 f"{hd_fo['p_holm']} after Holm's correction over 12 comparisons)"),
        (readme, f"only {hd_fos['d'].lstrip('+')} [{hd_fos['lo']}, {hd_fos['hi']}] above its noise "
                 "control's"),
        (readme, f"n = {hd_fos['n']}, p = {hd_fos['p_holm']} after Holm; this n detects about "
                 f"{hd_fos['mde_holm']} points there"),
        (readme, f"collapsed to a cell of parameter-free operations on {k} of {searches} seeds"),
        (readme, f"(Fisher p = {p(fisher.p)}, {p(fisher.p_holm)} after Holm)"),
        (readme, f"hyperDARTS's searches ended at a parameter-free computation on {by[HD]} seeds and "
                 f"its noise control's on {by[FOS]}"),
        (readme, f"(Fisher p = {p(hd_fo_by.p)} for hyperDARTS, {p(hd_fo_by.p_holm)} after Holm)"),
        (readme, f"(Wilson intervals {wilson(*by_n[HD])} and {wilson(*by_n[FOS])};"),
        (readme, f"its noise control's are ({p(computed.loc[(FOS, FO), 'p_holm'])} after Holm)"),
        (readme, f"allow the hypernetwork up to about {float(hd_fos['hi'].replace('−', '-')):.1f} of those "
                 "points"),
        (readme, f"own lead over first-order is {fos_fo['d']} [{fos_fo['lo']}, {fos_fo['hi']}]"),
        (readme, "cells score {d} [{lo}, {hi}] above a uniformly drawn cell's (p = {p_holm} after "
                 "Holm)".format(**vs_random[HD])),
        (readme, f"Random search at a first-order search's cost scores {interval(on['random-search'])}"),
        (findings, f"On CIFAR-10 the looked-up accuracies were {interval(on[FO])} (first-order), "
                   f"{interval(on[HD])} (hyperdarts-mlp), {interval(on[FOS])} (first-order-smoothed) "
                   f"and {interval(on[RANDOM])} (the random cell)"),
        (findings, f"Friedman's test by seed: p = {p(fr_c.p)}, {p(fr_c.p_holm)} after Holm's correction"),
        (findings, f"(Fashion-MNIST p = {p(fr_f.p)}, Holm {p(fr_f.p_holm)}; collapse share p "
                   f"{eq(p(fr_k.p))}, Holm {p(fr_k.p_holm)},"),
        (findings, f"hyperDARTS minus first-order: {hd_fo['d']} points [{hd_fo['lo']}, {hd_fo['hi']}] "
                   f"on CIFAR-10 (paired t, uncorrected, n = {hd_fo['n']}), p_Holm {hd_fo['p_holm']}; "
                   f"{hd_fo_fm['d']} [{hd_fo_fm['lo']}, {hd_fo_fm['hi']}] on Fashion-MNIST, p_Holm "
                   f"{hd_fo_fm['p_holm']}"),
        (findings, f"hyperDARTS minus its noise control: {hd_fos['d']} [{hd_fos['lo']}, {hd_fos['hi']}], "
                   f"p_Holm {hd_fos['p_holm']} ({hd_fos['mde_holm']} points detectable after Holm at "
                   f"this n, {hd_fos['n']})"),
        (findings, f"the noise control minus first-order: {fos_fo['d']} [{fos_fo['lo']}, {fos_fo['hi']}], "
                   f"p_Holm {fos_fo['p_holm']} (uncorrected p {fos_fo['p']})"),
        (findings, "against the random cell: first-order {d} [{lo}, {hi}] (p_Holm {p_holm})".format(
            **vs_random[FO])),
        (findings, "hyperdarts-mlp {d} [{lo}, {hi}], first-order-smoothed".format(**vs_random[HD])),
        (findings, "first-order-smoothed {d} [{lo}, {hi}], none significant".format(**vs_random[FOS])),
        (findings, "first-order's cells are below the random cell's, {d} [{lo}, {hi}], p_Holm "
                   "{p_holm}".format(**fo_random_fm)),
        (findings, f"Collapse: first-order {k} of {searches}"),
        (findings, f"(Fisher p = {p(fisher.p)} {against}, {p(fisher.p_holm)} after Holm over 6)"),
        (findings, f"Counted by computation: first-order {by[FO]}, hyperdarts-mlp {by[HD]}, "
                   f"first-order-smoothed {by[FOS]}, the random cell {by[RANDOM]}"),
        (findings, f"hyperDARTS minus first-order {signed(hd_fo_by['diff'])} points "
                   f"[{signed(hd_fo_by.diff_lo)}, {signed(hd_fo_by.diff_hi)}] (Fisher p = "
                   f"{p(hd_fo_by.p)}, {p(hd_fo_by.p_holm)} after Holm over 6)"),
        (findings, f"Across the {rho[1]} searches, a found cell's CIFAR-10 and Fashion-MNIST accuracies "
                   f"correlate with Spearman ρ = {rho[2]} [{rho[3]}, {rho[4]}]"),
        (findings, f"reached {interval(on['random-search'])} on seeds {rs_seeds.min()}–{rs_seeds.max()}"),
        (findings, f"(the best of {int(on['random-search'].budget)} cells drawn from the uniform sample"),
    ]


def main(tables: Path = CITED / "tables", root: Path = ROOT) -> int:
    """Print each claim of `tables` with whether its document under `root` holds it; 1 if one lacks it."""
    texts: dict[str, str] = {}
    listed = claims(tables)
    missing = 0
    for doc, claim in listed:
        if doc not in texts:
            texts[doc] = " ".join((root / doc).read_text().split())
        found = " ".join(claim.split()) in texts[doc]
        missing += not found
        print(f"{'ok     ' if found else 'MISSING'} {doc}: {claim}")
    print(f"{missing} of {len(listed)} claims missing from the prose" if missing else
          f"all {len(listed)} claims are in the prose")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
