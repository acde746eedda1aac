"""The report's tables for a space with a ground truth (the dense-DAG space): how good is the
architecture each strategy chose, against the candidates it chose among and the references?

Per search (strategy, search dataset, seed): the candidates are the blocks of the last search
epoch (the alphas table: one row per block, `op` = its DAG, `weight` = softmax(α)); each one's
ground-truth accuracy is the mean over the ground truth's trainings of that DAG for that seed on
the search dataset. From them: the chosen block's ground-truth accuracy, the best and the mean
candidate's, the regret (best − chosen), Kendall's τ between α and the accuracies, and the chain's
and the complete DAG's accuracies (the references). The table gives each strategy's mean over
searches with its 95% Student-t interval and n; a second table correlates DAG properties with
accuracy (Spearman's ρ with a percentile-bootstrap interval over the trained DAGs).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis import stats as st
from analysis.load import Experiment, short_name
from analysis.tables import Table, ci_text, strategy_order


def ground_truth_accuracy(exp: Experiment) -> pd.DataFrame:
    """Mean test accuracy (%) over repeats per (search dataset, seed, eval dataset, architecture)."""
    gt = exp.ground_truth
    if gt.empty:
        return gt
    keys = ["search_dataset", "seed", "eval_dataset", "architecture"]
    first = gt.groupby(keys, sort=False).first().reset_index()
    first["acc"] = (100 * gt.groupby(keys, sort=False)["test_acc"].mean()).to_numpy()
    first["trainings"] = gt.groupby(keys, sort=False)["test_acc"].count().to_numpy()
    return first


def search_scores(exp: Experiment) -> pd.DataFrame:
    """One row per search: chosen, best and mean candidate, regret, τ, chain and complete (%)."""
    from scipy import stats

    gt = ground_truth_accuracy(exp)
    a, f = exp.alphas, exp.finished
    if gt.empty or a.empty or f.empty:
        return pd.DataFrame()
    finished = set(f[["strategy", "search_dataset", "seed"]].itertuples(index=False, name=None))
    rows = []
    for (s, sd, seed), g in a.groupby(["strategy", "search_dataset", "seed"], sort=False):
        if (s, sd, seed) not in finished:   # diverged (or not evaluated yet): it chose nothing
            continue
        last = g[g.epoch == g.epoch.max()]   # one row per candidate, in the supernet's order
        mine = gt[(gt.search_dataset == sd) & (gt.seed == seed) & (gt.eval_dataset == sd)]
        acc = dict(zip(mine.architecture, mine.acc))
        accs = [acc.get(dag, math.nan) for dag in last.op]
        if not accs or any(math.isnan(x) for x in accs):
            continue   # the ground truth of this seed is not (yet) complete
        weights = last.weight.to_numpy()
        chosen = int(np.argmax(weights))
        tau = stats.kendalltau(weights, accs).statistic if len(set(accs)) > 1 else math.nan

        rows.append({"strategy": s, "search_dataset": sd, "seed": seed, "chosen": accs[chosen],
                     "best": max(accs), "mean_candidate": float(np.mean(accs)),
                     "regret": max(accs) - accs[chosen], "kendall_tau": tau,
                     "chain": _role(mine, "chain"), "complete": _role(mine, "complete")})
    return pd.DataFrame(rows)


def _role(gt: pd.DataFrame, role: str) -> float:
    """The ground-truth accuracy of the architecture with `role` (chain, complete), NaN if none."""
    x = gt[gt.roles.str.split(",").map(lambda roles: role in roles)]
    return float(x.acc.iloc[0]) if len(x) else math.nan


def choice_table(exp: Experiment) -> Table | None:
    """Per strategy: the chosen block's ground-truth accuracy against the candidates and references."""
    scores = search_scores(exp)
    if scores.empty:
        return None
    cols = {"chosen": "chosen block", "best": "best candidate", "mean_candidate": "mean candidate",
            "regret": "regret (best − chosen)", "kendall_tau": "Kendall τ (α vs accuracy)",
            "chain": "chain", "complete": "complete DAG"}
    blocks, numbers = [], []
    for sd, g in scores.groupby("search_dataset", sort=False):
        frame = []
        for s in strategy_order(g.strategy.unique()):
            x = g[g.strategy == s]
            row, num = {"strategy": s, "searches": len(x)}, {"search_dataset": sd, "strategy": s,
                                                              "searches": len(x)}
            for c, label in cols.items():
                m, lo, hi, _ = st.mean_ci(x[c])
                row[label] = ci_text(m, lo, hi, digits=3 if c == "kendall_tau" else 2)
                num.update({c: m, f"{c}_lo": lo, f"{c}_hi": hi})
            frame.append(row)
            numbers.append(num)
        blocks.append((f"Searched on {short_name(sd)}", pd.DataFrame(frame)))
    note = ("Accuracies in % on the search dataset's test set, each architecture's ground truth the "
            "mean of its trainings from scratch for that seed; per strategy the mean over searches "
            "[95% Student-t CI] (none where n = 1). Chosen: the block with the largest α after the "
            "search; regret: best candidate − chosen; τ: Kendall's rank correlation of the final α "
            "with the candidates' accuracies (undefined where all candidates tie); its t interval is not "
            "clipped to τ's range [−1, 1] and overruns it at small n. The random "
            "baseline chooses a block uniformly: a strategy that does not beat it on regret and τ "
            "has learned nothing about the blocks at this n.")
    return Table("dense_dag_choice", "What each strategy chose, against the ground truth",
                 blocks, pd.DataFrame(numbers), note)


def bootstrap_spearman(x, y, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Spearman's ρ and a percentile-bootstrap 95% interval (resampling the DAGs)."""
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    rho = float(stats.spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(reps):
        i = rng.integers(0, len(x), len(x))
        if len(set(x[i])) > 1 and len(set(y[i])) > 1:
            boots.append(stats.spearmanr(x[i], y[i]).statistic)
    lo, hi = np.percentile(boots, [2.5, 97.5]) if boots else (math.nan, math.nan)
    return rho, float(lo), float(hi)


def properties_table(exp: Experiment) -> Table | None:
    """Spearman's ρ between each DAG property and ground-truth accuracy, per evaluation dataset."""
    gt = ground_truth_accuracy(exp)
    if gt.empty:
        return None
    from nas.spaces import get_space

    space = get_space(exp.space)   # its `properties` name the columns the ground truth has for them
    props = [c for c in space.properties(space.parse(gt.architecture.iloc[0])) if c in gt]
    if not props:
        return None
    # One point per distinct architecture: its accuracy averaged over the seeds that trained it.
    gt = gt.groupby(["eval_dataset", "architecture"], sort=False).agg(
        {**{p: "first" for p in props}, "acc": "mean"}).reset_index()
    blocks, numbers = [], []
    for ev, g in gt.groupby("eval_dataset", sort=False):
        frame = []
        for p in props:
            if g[p].nunique() < 2 or len(g) < 4:
                frame.append({"property": p, "Spearman ρ [95% bootstrap CI]": "— (constant or < 4 DAGs)",
                              "DAGs": len(g)})
                continue
            rho, lo, hi = bootstrap_spearman(g[p], g.acc)
            frame.append({"property": p, "Spearman ρ [95% bootstrap CI]": ci_text(rho, lo, hi),
                          "DAGs": len(g)})
            numbers.append({"eval_dataset": ev, "property": p, "rho": rho, "lo": lo, "hi": hi,
                            "dags": len(g)})
        blocks.append((f"Trained on {short_name(ev)}", pd.DataFrame(frame)))
    note = ("Over the distinct architectures trained as the ground truth (every seed's candidates and "
            "references; each the mean of its trainings over repeats and seeds); the interval resamples "
            "the architectures (2,000 bootstrap replicates). The properties are the space's own "
            "(dense DAG: depth = edges on the longest path; edges = count; longest_skip = max j − i; "
            "fan-in = in-degree of the vertices after the input).")
    return Table("dense_dag_properties", "DAG properties against ground-truth accuracy", blocks,
                 pd.DataFrame(numbers), note)
