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

import json
import math
import random
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from analysis import stats as st
from analysis.tables import Table, ci_text, strategy_order
from nas.spaces import get_space
from resultstore.experiment import Experiment
from resultstore.schema import short_name


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


def _has_role(gt: pd.DataFrame, role: str) -> pd.Series:
    """Rows of the ground truth whose architecture has `role` (candidate, chain, complete)."""
    return gt.roles.str.split(",").map(lambda roles: role in roles)


def _role(gt: pd.DataFrame, role: str) -> float:
    """The ground-truth accuracy of the architecture with `role` (chain, complete), NaN if none."""
    x = gt[_has_role(gt, role)]
    return float(x.acc.iloc[0]) if len(x) else math.nan


MAX_SPLITS = 500   # beyond this many (r > 12), a fixed random sample of the splits


def _halves(repeats: list[int]) -> list[tuple[list[int], list[int]]]:
    """Every unordered pair of disjoint halves of ⌊r/2⌋ repeats each (with an odd r, every
    repeat is left out in turn); a fixed random MAX_SPLITS of them where there are more."""
    repeats = sorted(repeats)
    h = len(repeats) // 2
    if h == 0:
        return []
    seen, out = set(), []
    for first in combinations(repeats, h):
        for second in combinations([r for r in repeats if r not in first], h):
            key = frozenset((first, second))
            if key not in seen:
                seen.add(key)
                out.append((list(first), list(second)))
    if len(out) > MAX_SPLITS:
        out = random.Random(0).sample(out, MAX_SPLITS)
    return out


def _blocks(row) -> int:
    """How many of the seed's blocks are this candidate DAG (the ground truth trains a DAG once
    however many blocks drew it; the strategies' τ and a uniform choice count blocks)."""
    try:
        return max(1, len(json.loads(row))) if isinstance(row, str) and row else 1
    except ValueError:
        return 1


def _tau_to_r(tau: float) -> float:
    return math.sin(math.pi * tau / 2)


def _r_to_tau(r: float) -> float:
    return 2 / math.pi * math.asin(max(-1.0, min(1.0, r)))


def noise_ceiling(exp: Experiment) -> pd.DataFrame:
    """Per (search dataset, seed, evaluation dataset), over the seed's blocks (a DAG counted once
    per block that drew it, as the strategies' τ counts them):

    - `split_half_tau`: Kendall's τ between the blocks' mean accuracies over two disjoint halves
      of the trainings, averaged over the splits: how well the ground truth replicates itself;
    - `reliability`: that agreement for the mean of all r trainings, by Spearman–Brown from the
      halves (τ → r = sin(πτ/2), Greiner's relation; R = 2r/(1 + r); negative r taken as 0);
    - `ceiling_tau`: the τ that a perfect ranking can reach against that mean, τ(√R): a
      strategy's τ near it is as good as this ground truth can tell, one far below it is not;
    - `anova_p`: whether the candidates differ at all, the p-value of a one-way ANOVA of their
      trainings (each distinct DAG once, with its r trainings; scipy.stats.f_oneway): where it is
      not small, no ranking of these candidates (a choice's regret, τ, the best of k) rests on
      anything but training noise."""
    gt = exp.ground_truth
    if gt.empty or "roles" not in gt:
        return pd.DataFrame()
    gt = gt[_has_role(gt, "candidate")]
    rows = []
    for (sd, seed, ev), g in gt.groupby(["search_dataset", "seed", "eval_dataset"], sort=False):
        acc = g.pivot_table(index="architecture", columns="repeat", values="test_acc")
        counts = g.groupby("architecture").blocks.first().map(_blocks) if "blocks" in g else None
        if counts is not None:   # one row per block
            acc = acc.loc[acc.index.repeat(counts.reindex(acc.index).fillna(1).astype(int))]
        taus = []
        for a, b in _halves(list(acc.columns)):
            x, y = acc[a].mean(axis=1), acc[b].mean(axis=1)
            if len(acc) > 2 and x.nunique() > 1 and y.nunique() > 1:
                taus.append(stats.kendalltau(x, y).statistic)
        half = float(np.mean(taus)) if taus else math.nan
        r = max(0.0, _tau_to_r(half)) if taus else math.nan
        reliability = 2 * r / (1 + r) if taus else math.nan
        groups = [v[~np.isnan(v)] for v in g.pivot_table(index="architecture", columns="repeat",
                                                         values="test_acc").to_numpy()]
        groups = [v for v in groups if len(v)]
        anova = (float(stats.f_oneway(*groups).pvalue)
                 if len(groups) > 1 and sum(len(v) for v in groups) > len(groups) else math.nan)
        rows.append({"search_dataset": sd, "seed": seed, "eval_dataset": ev, "anova_p": anova,
                     "blocks": len(acc), "repeats": acc.shape[1], "split_half_tau": half,
                     "reliability": reliability,
                     "ceiling_tau": _r_to_tau(math.sqrt(reliability)) if taus else math.nan,
                     "splits": len(taus)})
    return pd.DataFrame(rows)


NOISE_CEILING = "noise ceiling"   # the choice table's row: what the ground truth can tell


def choice_table(exp: Experiment) -> Table | None:
    """Per strategy: the chosen block's ground-truth accuracy against the candidates and references,
    with the ground truth's own split-half τ (its noise ceiling) as a last row."""
    scores = search_scores(exp)
    if scores.empty:
        return None
    ceiling = noise_ceiling(exp)
    cols = {"chosen": "chosen block", "best": "best candidate", "mean_candidate": "mean candidate",
            "regret": "regret (best − chosen)", "kendall_tau": "Kendall τ (α vs accuracy)",
            "chain": "chain", "complete": "complete DAG"}
    blocks, numbers, text = [], [], []
    for sd, g in scores.groupby("search_dataset", sort=False):
        ceil = (ceiling[(ceiling.search_dataset == sd) & (ceiling.eval_dataset == sd)] if len(ceiling)
                else ceiling)
        if len(ceil) and ceil.anova_p.notna().any():
            ps = ceil.sort_values("seed")
            differ = int((ps.anova_p < st.ALPHA).sum())
            text.append(f"On {short_name(sd)}: do a seed's candidates differ at all? One-way ANOVA of "
                        "their trainings, per seed: p = " + ", ".join(
                            f"{p:.2g} (seed {s})" for s, p in zip(ps.seed, ps.anova_p))
                        + f"; {differ} of {len(ps)} seeds below {st.ALPHA:g}. "
                        + ("Where the candidates do not differ detectably, the regret, τ and best "
                           "candidate below rank training noise, not blocks." if differ < len(ps)
                           else "The rankings below rank blocks that differ."))
        frame = []
        for s in strategy_order(g.strategy.unique()):
            x = g[g.strategy == s]
            row, num = {"strategy": s, "searches": len(x)}, {"search_dataset": sd, "strategy": s,
                                                              "searches": len(x)}
            for c, label in cols.items():
                m, lo, hi, _ = (st.correlation_mean_ci if c == "kendall_tau" else st.mean_ci)(x[c])
                row[label] = ci_text(m, lo, hi, digits=3 if c == "kendall_tau" else 2)
                num.update({c: m, f"{c}_lo": lo, f"{c}_hi": hi})
            frame.append(row)
            numbers.append(num)
        if len(ceil) and ceil.ceiling_tau.notna().any():
            m, lo, hi, _ = st.correlation_mean_ci(ceil.ceiling_tau.dropna())
            half = float(ceil.split_half_tau.mean())
            frame.append({"strategy": f"{NOISE_CEILING} (split-half τ {half:.2f} of "
                                      f"{int(ceil.repeats.min()) // 2} vs {int(ceil.repeats.min()) // 2} "
                                      "trainings)",
                          "searches": len(ceil), "Kendall τ (α vs accuracy)": ci_text(m, lo, hi, digits=3)})
            numbers.append({"search_dataset": sd, "strategy": "noise-ceiling", "searches": len(ceil),
                            "kendall_tau": m, "kendall_tau_lo": lo, "kendall_tau_hi": hi,
                            "split_half_tau": half})
        blocks.append((f"Searched on {short_name(sd)}", pd.DataFrame(frame).astype(object).fillna("")))
    note = ("Accuracies in % on the search dataset's test set, each architecture's ground truth the "
            "mean of its trainings from scratch for that seed; per strategy the mean over searches "
            "[95% Student-t CI] (none where n = 1). Chosen: the block with the largest α after the "
            "search; regret: best candidate − chosen; τ: Kendall's rank correlation of the final α "
            "with the candidates' accuracies (undefined where all candidates tie); its interval, and the "
            "noise ceiling's, is the t interval on Fisher's z scale (atanh), mapped back, so that it "
            "stays within τ's range [−1, 1]. The random "
            "baseline chooses a block uniformly: a strategy that does not beat it on regret and τ "
            "has learned nothing about the blocks at this n. Last row, the noise ceiling: the τ a perfect "
            "ranking of the blocks can reach against this ground truth, from the split-half τ of its "
            "trainings (two disjoint halves, averaged over the splits) by Spearman–Brown (τ → r = "
            "sin(πτ/2), R = 2r/(1 + r), ceiling τ(√R)); per seed, then the mean over seeds. A strategy's "
            "τ near it is as good as this ground truth can tell; where the ceiling is near 0 the ground "
            "truth cannot rank the blocks at all and no τ means anything. Chain and complete DAG: the "
            "references, He-initialised like every standalone network.")
    return Table("dense_dag_choice", "What each strategy chose, against the ground truth",
                 blocks, pd.DataFrame(numbers), note, text)


def properties_table(exp: Experiment) -> Table | None:
    """Spearman's ρ between each DAG property and ground-truth accuracy, per evaluation dataset."""
    gt = ground_truth_accuracy(exp)
    if gt.empty:
        return None

    space = get_space(exp.space)   # its `properties` name the columns the ground truth has for them
    props = [c for c in space.properties(space.parse(gt.architecture.iloc[0])) if c in gt]
    if not props:
        return None
    # The sampled candidates only: the chain and the complete DAG are references (in the choice
    # table), not draws from the space; pooling them would let two extreme points carry ρ.
    gt = gt[_has_role(gt, "candidate")]
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
            rho, lo, hi = st.bootstrap_spearman(g[p], g.acc)
            frame.append({"property": p, "Spearman ρ [95% bootstrap CI]": ci_text(rho, lo, hi),
                          "DAGs": len(g)})
            numbers.append({"eval_dataset": ev, "property": p, "rho": rho, "lo": lo, "hi": hi,
                            "dags": len(g)})
        blocks.append((f"Trained on {short_name(ev)}", pd.DataFrame(frame)))
    note = ("Over the distinct candidate DAGs trained as the ground truth (every seed's sampled blocks; "
            "the chain and the complete DAG, references, are left out; each the mean of its trainings "
            "over repeats and seeds); the interval resamples "
            "the architectures (2,000 bootstrap replicates). The properties are the space's own "
            "(dense DAG: depth = edges on the longest path; edges = count; longest_skip = max j − i; "
            "fan-in = in-degree of the vertices after the input).")
    return Table("dense_dag_properties", "DAG properties against ground-truth accuracy", blocks,
                 pd.DataFrame(numbers), note)


def _candidate_accuracy(exp: Experiment) -> pd.DataFrame:
    """Mean accuracy (%) per (seed, evaluation dataset, architecture) over the candidates' trainings,
    whichever search dataset's ground truth trained them (a seed draws the same DAGs for every
    dataset)."""
    gt = exp.ground_truth
    if gt.empty or "roles" not in gt:
        return pd.DataFrame()
    gt = gt[_has_role(gt, "candidate")]
    g = gt.groupby(["seed", "eval_dataset", "architecture"], sort=False)
    out = g["test_acc"].mean().reset_index()
    out["acc"] = 100 * out.pop("test_acc")
    out["blocks"] = g.blocks.first().map(_blocks).to_numpy() if "blocks" in gt else 1
    return out


def expected_best_of(accs, k: int) -> float:
    """E[max] of k candidates drawn without replacement, uniformly, from `accs` (exact: the i-th
    smallest of n is the best of a k-subset with probability C(i−1, k−1)/C(n, k))."""
    a = np.sort(np.asarray(accs, float))
    n = len(a)
    if not 1 <= k <= n:
        return math.nan
    weights = np.array([math.comb(i, k - 1) for i in range(n)], float) / math.comb(n, k)
    return float(weights @ a)


def winners_curse(trainings: list[np.ndarray], blocks: list[int], permutations: int = 1000,
                  seed: int = 0) -> tuple[float, float, float]:
    """(measured gain, gain from noise alone, p) of the best candidate over the mean block.

    The gain is max − weighted mean of the candidates' mean accuracies (a candidate counted once
    per block that drew it, as `space_size_table` counts them). Under "the candidates do not
    differ", every training could have belonged to any candidate: `permutations` times, the
    trainings are pooled and dealt back at random into groups of the same sizes, and the gain is
    recomputed. Its mean is the winner's curse (the gain a best-of-K shows from training noise
    alone); p is the share of permutations whose gain reaches the measured one (with the usual
    +1 correction)."""
    sizes = [len(x) for x in trainings]
    w = np.asarray(blocks, float)

    def gain(means):
        m = np.asarray(means, float)
        return float(m.max() - (w @ m) / w.sum())

    measured = gain([x.mean() for x in trainings])
    pool = np.concatenate(trainings)
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(sizes)[:-1]
    null = np.array([gain([x.mean() for x in np.split(rng.permutation(pool), cuts)])
                     for _ in range(permutations)])
    return measured, float(null.mean()), float((1 + (null >= measured - 1e-12).sum()) / (1 + permutations))


def _seed_curse(exp: Experiment, sd: str, seed, candidates: pd.DataFrame) -> tuple | None:
    """`winners_curse` of one seed's candidates (rows of `ground_truth_accuracy`) on the search
    dataset, from their trainings; None where some candidate has none or none has two."""
    raw = exp.ground_truth
    raw = raw[(raw.search_dataset == sd) & (raw.seed == seed) & (raw.eval_dataset == sd)]
    runs = [100 * raw[raw.architecture == a].test_acc.dropna().to_numpy() for a in candidates.architecture]
    if not runs or any(len(r) == 0 for r in runs) or sum(len(r) for r in runs) <= len(runs):
        return None
    blocks = [_blocks(b) for b in candidates.blocks] if "blocks" in candidates else [1] * len(runs)
    return winners_curse(runs, blocks)


def noise_gains(exp: Experiment) -> pd.DataFrame:
    """Per (search dataset, seed): the best candidate's gain over the mean block (`gain`), the same
    from training noise alone (`noise`) and its permutation p (`winners_curse`)."""
    gt = ground_truth_accuracy(exp)
    if gt.empty or "roles" not in gt:
        return pd.DataFrame()
    rows = []
    for (sd, seed), x in gt[gt.eval_dataset == gt.search_dataset].groupby(["search_dataset", "seed"],
                                                                           sort=False):
        curse = _seed_curse(exp, sd, seed, x[_has_role(x, "candidate")])
        if curse is not None:
            rows.append({"search_dataset": sd, "seed": seed, "gain": curse[0], "noise": curse[1],
                         "p": curse[2]})
    return pd.DataFrame(rows)


def space_size_table(exp: Experiment) -> Table | None:
    """How many candidates a space needs: the expected ground-truth accuracy of the best of k
    blocks drawn at random from a seed's candidates, k = 1 (a random block) … K (the best), beside
    the chain and the complete DAG (research question 3, within one experiment's space)."""
    gt = ground_truth_accuracy(exp)
    if gt.empty or "roles" not in gt:
        return None
    blocks, numbers = [], []
    for sd, g in gt[gt.eval_dataset == gt.search_dataset].groupby("search_dataset", sort=False):
        per_seed = []
        for _, x in g.groupby("seed", sort=False):
            c = x[_has_role(x, "candidate")]
            cand = np.repeat(c.acc.to_numpy(), [_blocks(b) for b in c.blocks] if "blocks" in c
                             else 1)   # one entry per block, as the search chooses among them
            ks = sorted({1, *[2 ** i for i in range(1, 8) if 2 ** i < len(cand)], len(cand)})
            row = {f"best of {k}": expected_best_of(cand, k) for k in ks}
            row.update(chain=_role(x, "chain"), complete=_role(x, "complete"), K=len(cand))
            curse = _seed_curse(exp, sd, x.seed.iloc[0], c)
            if curse is not None:
                gained, noise, p = curse
                row.update({"best − mean block": gained, "same, from noise alone": noise, "_p": p})
            per_seed.append(row)
        frame = pd.DataFrame(per_seed)
        cells = {"seeds": len(frame), "blocks per seed": int(frame.K.min())}
        if "_p" in frame:
            ps = frame.pop("_p")
            cells["best beats noise? permutation p per seed"] = ", ".join(f"{p:.2g}" for p in ps)
            numbers += [{"search_dataset": sd, "column": "winners_curse_p", "mean": p, "lo": np.nan,
                         "hi": np.nan, "seeds": 1} for p in ps]
        for col in [c for c in frame.columns if c != "K"]:
            m, lo, hi, _ = st.mean_ci(frame[col].dropna())
            cells[col] = ci_text(m, lo, hi)
            numbers.append({"search_dataset": sd, "column": col, "mean": m, "lo": lo, "hi": hi,
                            "seeds": len(frame)})
        blocks.append((f"On {short_name(sd)}", pd.DataFrame([cells])))
    note = ("Ground-truth test accuracy (%) of the best of k blocks drawn uniformly without replacement "
            "from a seed's K blocks (a DAG drawn by several blocks counts once per block; exact "
            "expectation over the draws; best of 1 = the mean block, best of K = the best one), per seed, "
            "then the mean over seeds [95% Student-t CI]; "
            "chain and complete DAG: the He-initialised references. The winner's curse: best − mean "
            "block is what the best of K gains over a random block; 'same, from noise alone' is that "
            "gain with every seed's trainings dealt back to the candidates at random (1,000 "
            "permutations, the candidates made alike): the part of a best-of-k gain that training "
            "noise alone produces; the permutation p per seed is the share of permutations that gain "
            "as much as measured. Where p is not small, the best candidate is not detectably better "
            "than the mean one, and no best-of-k gain in this table is more than noise. "
            "Where best of k stops rising, a "
            "larger space (more blocks of this kind) would not help; a search can only do as well as best "
            "of K. Other sizes (blocks, layers) are other experiments: `python benchmark/run.py --grid "
            "dense-dag --space-set blocks=16 --space-set layers=6 --experiment <name>`.")
    return Table("dense_dag_space_size", "How large a space must be: the best of k candidates", blocks,
                 pd.DataFrame(numbers), note)


def _distance(a: str, b: str, space) -> int:
    """Edges in one DAG and not the other (Hamming distance of the adjacency matrices)."""
    ma, mb = space.parse(a).mask(), space.parse(b).mask()
    if ma.shape != mb.shape:
        return -1
    return int((ma ^ mb).sum())


def expected_modal_share(blocks_per_search: list[list[str]], draws: int = 5000, seed: int = 0) -> float:
    """The expected share of the most frequent DAG when each search picks one of its blocks
    uniformly (Monte Carlo over `draws` draws): what a strategy that has learned nothing scores."""
    rng = np.random.default_rng(seed)
    picks = [np.asarray(b)[rng.integers(0, len(b), draws)] for b in blocks_per_search]
    stacked = np.stack(picks, axis=1)            # [draws, searches]
    shares = [pd.Series(row).value_counts().iloc[0] for row in stacked]
    return float(np.mean(shares)) / len(blocks_per_search)


def stability_table(exp: Experiment) -> Table | None:
    """Does a strategy find the same block when only the search seed changes? Per strategy: how
    many distinct DAGs its searches found, how often the most frequent one, and how far apart the
    found DAGs are (edges that differ, mean over pairs of searches), beside what a uniform choice
    among the same candidates gives."""

    f, a = exp.finished, exp.alphas
    if f.empty or a.empty or "genotype" not in f:
        return None
    space = get_space(exp.space)
    found = f.drop_duplicates(["strategy", "search_dataset", "seed"])
    blocks, numbers = [], []
    for sd, g in found.groupby("search_dataset", sort=False):
        # each seed's candidates (the last search epoch's blocks, the same for every strategy)
        last = a[(a.search_dataset == sd)]
        last = last[last.epoch == last.groupby(["strategy", "seed"]).epoch.transform("max")]
        # one entry per block (a DAG drawn by two blocks twice), from one strategy's record
        cands = {seed: list(x[x.strategy == x.strategy.iloc[0]].op) for seed, x in last.groupby("seed")}
        shared = len({tuple(sorted(c)) for c in cands.values()}) == 1
        seeds = sorted(cands)
        pairs = list(combinations(seeds, 2))
        uniform = [_distance(x, y, space) for s, t in pairs for x in cands[s] for y in cands[t]]
        frame = []
        for strat in strategy_order(g.strategy.unique()):
            x = g[g.strategy == strat].set_index("seed").genotype
            if len(x) < 2:
                continue
            d = [_distance(x[s], x[t], space) for s, t in combinations(sorted(x.index), 2)]
            counts = x.value_counts()
            m, lo, hi, _ = st.mean_ci(pd.Series(d, dtype=float))
            frame.append({"strategy": strat, "searches": len(x), "distinct DAGs found": str(len(counts)),
                          "most frequent (share)": f"{counts.iloc[0] / len(x):.2f}",
                          "edges that differ between two searches": ci_text(m, lo, hi)})
            numbers.append({"search_dataset": sd, "strategy": strat, "searches": len(x),
                            "distinct": len(counts), "modal_share": counts.iloc[0] / len(x),
                            "distance": m, "distance_lo": lo, "distance_hi": hi, "shared": shared})
        if not frame:
            continue
        if uniform:
            share = expected_modal_share([cands[s] for s in seeds])
            frame.append({"strategy": "uniform choice", "searches": len(seeds),
                          "most frequent (share)": f"{share:.2f} (expected)",
                          "edges that differ between two searches": f"{np.mean(uniform):.2f} (expected)"})
            numbers.append({"search_dataset": sd, "strategy": "uniform choice", "searches": len(seeds),
                            "modal_share": share, "distance": float(np.mean(uniform)), "shared": shared})
        title = (f"Searched on {short_name(sd)}: every seed searched the same {len(cands[seeds[0]])} "
                 "candidates" if shared else
                 f"Searched on {short_name(sd)}: each seed searched its own candidates")
        blocks.append((title, pd.DataFrame(frame).astype(object).fillna("")))
    if not blocks:
        return None
    note = ("Per strategy, over its searches (one per seed): the number of distinct DAGs found; the share "
            "of the searches that found the most frequent one; the edges in which the DAGs found by two "
            "searches differ (Hamming distance of the adjacency matrices), mean over pairs of searches "
            "[95% Student-t CI, pairs are not independent: indicative]. Uniform choice: what a strategy "
            "that picks a block uniformly at random scores (its modal share by Monte Carlo, its distance "
            "over every pair of blocks of two seeds; a DAG drawn by several blocks counts once per block). "
            "Where every seed searches the same "
            "candidates (`dense-dag-stability`), a stable strategy finds the same block (share 1, "
            "distance 0); where each seed draws its own, only the distance compares, to the uniform row.")
    return Table("dense_dag_stability", "Stability: the same search, other seeds", blocks,
                 pd.DataFrame(numbers), note)


def datasets_table(exp: Experiment) -> Table | None:
    """Does the ranking of the candidates hold across datasets? Per pair of evaluation datasets on
    which the same candidates were trained: Kendall's τ between their accuracies there, per seed,
    beside each dataset's noise ceiling (research question 5)."""
    acc = _candidate_accuracy(exp)
    if acc.empty or acc.eval_dataset.nunique() < 2:
        return None
    ceiling = noise_ceiling(exp)
    reliability = ({(r.seed, r.eval_dataset): r.reliability for r in ceiling.itertuples()}
                   if len(ceiling) else {})
    frame, numbers = [], []
    for d1, d2 in combinations(list(dict.fromkeys(acc.eval_dataset)), 2):
        taus, attainable = [], []
        for seed, x in acc.groupby("seed"):
            p = x.pivot_table(index="architecture", columns="eval_dataset", values="acc")
            if d1 in p and d2 in p:
                p = p[[d1, d2]].dropna()
                reps = x.groupby("architecture").blocks.first().reindex(p.index).fillna(1).astype(int)
                p = p.loc[p.index.repeat(reps)]          # one row per block, as the ceilings count
                if len(p) > 2 and p[d1].nunique() > 1 and p[d2].nunique() > 1:
                    taus.append(stats.kendalltau(p[d1], p[d2]).statistic)
                    r1, r2 = reliability.get((seed, d1), math.nan), reliability.get((seed, d2), math.nan)
                    attainable.append(_r_to_tau(math.sqrt(r1 * r2)) if r1 == r1 and r2 == r2 else math.nan)
        if not taus:
            continue
        m, lo, hi, _ = st.mean_ci(pd.Series(taus))
        row = {"datasets": f"{short_name(d1)} vs {short_name(d2)}", "seeds": len(taus),
               "Kendall τ between datasets": ci_text(m, lo, hi, digits=3)}
        a = pd.Series(attainable, dtype=float).dropna()
        am, alo, ahi, _ = st.mean_ci(a) if len(a) else (math.nan,) * 4
        row["attainable τ (noise ceiling)"] = ci_text(am, alo, ahi, digits=3) if len(a) else "—"
        frame.append(row)
        numbers.append({"dataset_1": d1, "dataset_2": d2, "seeds": len(taus), "tau": m, "lo": lo, "hi": hi,
                        "attainable_tau": am})
    if not frame:
        return None
    note = ("The same candidates (a seed draws the same DAGs whatever the dataset) trained from scratch on "
            "two datasets: Kendall's τ between their mean accuracies on the one and on the other over the "
            "seed's blocks, per seed, then the mean over seeds [95% Student-t CI]. Attainable τ: what two "
            "rankings that agree perfectly in truth would show through the noise of these ground truths, "
            "τ(√(R₁R₂)) from each dataset's Spearman–Brown reliability R (see the choice table's noise "
            "ceiling). A τ between datasets near it: the ranking transfers as far as it replicates at all; "
            "near 0 with a high attainable τ: what is good on one dataset is not on the other.")
    return Table("dense_dag_datasets", "Does the ranking hold across datasets?", [("", pd.DataFrame(frame))],
                 pd.DataFrame(numbers), note)
