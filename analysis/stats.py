"""The report's statistics: intervals, paired differences, Holm's correction, power, variance components.

Small pure functions on plain arrays, each a thin wrapper of scipy.stats or
statsmodels (no formula is written out here but the one-way ANOVA sums of
squares of `variance_components`). The unit of analysis is one search: its
accuracy is the mean over the repeated trainings from scratch of the genotype
it found, and n counts searches (seeds). Strategies searched with the same
seed share the data split and the initialisation, so their differences are
paired by seed.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import optimize, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

LEVEL = 0.95     # confidence level of every interval
ALPHA = 0.05     # two-sided significance level of the tests and of the power analysis
POWER = 0.8      # power at which the minimum detectable difference is stated

NAN = float("nan")


class Difference(NamedTuple):
    """a − b: the mean difference, its interval, the test's p-value and what the design can detect."""

    diff: float        # mean of a − b (paired: mean of the per-seed differences)
    lo: float          # lower end of the `level` confidence interval of the difference
    hi: float          # upper end
    p: float           # two-sided p-value (uncorrected)
    n: int             # paired: number of seeds both have; Welch: the smaller of the two sample sizes
    sd: float          # paired: sd of the per-seed differences; Welch: pooled sd of the two samples
    mde: float         # minimum detectable difference at POWER, ALPHA (same units as the values)
    test: str          # "paired" (t-test on the per-seed differences) or "welch" (unpaired), "" if none
    n_a: int = 0       # values of a used
    n_b: int = 0       # values of b used


def _clean(values) -> np.ndarray:
    a = np.asarray(values, dtype=float).ravel()
    return a[~np.isnan(a)]


def mean_ci(values, level: float = LEVEL) -> tuple[float, float, float, int]:
    """Mean of `values` (NaNs dropped) with its Student-t confidence interval: (mean, lo, hi, n).

    The interval is scipy's `ttest_1samp(values).confidence_interval(level)`, i.e.
    mean ± t_{n−1, (1+level)/2} · sd/√n. n = 1 gives the mean with a NaN interval (one value
    says nothing about its spread); n = 0 gives NaN everywhere; values that are all equal give an
    interval of zero width.
    """
    a = _clean(values)
    n = len(a)
    if n == 0:
        return NAN, NAN, NAN, 0
    mean = float(a.mean())
    if n == 1:
        return mean, NAN, NAN, 1
    if np.all(a == a[0]):
        return mean, mean, mean, n
    ci = stats.ttest_1samp(a, 0.0).confidence_interval(level)
    return mean, float(ci.low), float(ci.high), n


def correlation_mean_ci(values, level: float = LEVEL, clip: float = 0.999
                        ) -> tuple[float, float, float, int]:
    """The mean of correlation-like values in [−1, 1] (Kendall's τ, Spearman's ρ, a cosine
    similarity) over searches or seeds, with an interval that stays in [−1, 1]: the Student-t
    interval of `mean_ci` on Fisher's z scale, z = atanh(v) (values clipped to ±`clip` first; a
    cosine of nearly 1 needs a clip closer to 1), mapped back by tanh. (mean, lo, hi, n): the mean
    is the plain mean of the values, as `mean_ci` gives it; the interval, unlike a t-interval on
    the values themselves, never overruns the range at small n."""
    a = _clean(values)
    mean, _, _, n = mean_ci(a, level)
    if n < 2:
        return mean, NAN, NAN, n
    _, lo, hi, _ = mean_ci(np.arctanh(np.clip(a, -clip, clip)), level)
    return mean, float(np.tanh(lo)), float(np.tanh(hi)), n


def proportion_ci(k: int, n: int, level: float = LEVEL) -> tuple[float, float, float]:
    """k of n as a share with its Wilson score interval (statsmodels' `proportion_confint`):
    (share, lo, hi); NaN everywhere for n = 0."""
    if n == 0:
        return NAN, NAN, NAN
    lo, hi = proportion_confint(k, n, alpha=1 - level, method="wilson")
    return k / n, float(lo), float(hi)


def log_mean_ci(values, level: float = LEVEL) -> tuple[float, float, float, int]:
    """The geometric mean of positive values (a relative error, a ratio) with the Student-t
    interval of their logarithms mapped back: it stays positive and follows a skewed spread.
    (geometric mean, lo, hi, n); lo = hi = NaN where n < 2."""
    a = _clean(values)
    if len(a) and (a <= 0).any():
        raise ValueError("log_mean_ci needs positive values")
    m, lo, hi, n = mean_ci(np.log(a), level)
    return (float(np.exp(m)) if n else NAN, float(np.exp(lo)) if n > 1 else NAN,
            float(np.exp(hi)) if n > 1 else NAN, n)


def bootstrap_spearman(x, y, reps: int = 2000, seed: int = 0,
                       level: float = LEVEL) -> tuple[float, float, float]:
    """Spearman's ρ of paired values and its percentile-bootstrap interval (resampling the pairs,
    `reps` times from a seeded generator; a resample whose x or y is constant is skipped)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rho = float(stats.spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(reps):
        i = rng.integers(0, len(x), len(x))
        if len(set(x[i])) > 1 and len(set(y[i])) > 1:
            boots.append(stats.spearmanr(x[i], y[i]).statistic)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(boots, [tail, 100 - tail]) if boots else (NAN, NAN)
    return rho, float(lo), float(hi)


class RankingInterval(NamedTuple):
    """What `bootstrap_ranking` returns: Spearman's ρ between the groups' means on x and on y with
    its interval (NaN with fewer than 3 groups), and each group's rank on x and on y (1 = the
    highest mean; ties share the lowest rank) with its interval, in the groups' order."""
    rho: float
    rho_lo: float
    rho_hi: float
    x_rank_lo: list[float]
    x_rank_hi: list[float]
    y_rank_lo: list[float]
    y_rank_hi: list[float]


def bootstrap_ranking(groups, reps: int = 2000, seed: int = 0, level: float = LEVEL) -> RankingInterval:
    """How sure the ranking of groups (strategies) by their mean is on two paired measures (a
    search's accuracy on its search dataset, x, and on a transfer dataset, y): a percentile bootstrap
    that resamples each group's pairs (its searches) within the group, `reps` times from a seeded
    generator, and ranks the resampled means. The groups are the ones compared, not a sample of
    groups, so they are not resampled: the intervals are those of the measurement, which with
    resampled groups would be [1, 1] wherever the means happen to be in the same order on x and y.
    `groups`: one (x, y) pair of equal-length arrays per group; a group of one pair is kept as it
    is. A resample whose means are constant on x or y gives no ρ (left out of ρ's interval)."""
    pairs = [(np.asarray(x, float), np.asarray(y, float)) for x, y in groups]
    mx, my = (np.array([p[i].mean() for p in pairs]) for i in (0, 1))
    rho = float(stats.spearmanr(mx, my).statistic) if len(pairs) >= 3 else NAN
    rng = np.random.default_rng(seed)
    rhos, ranks_x, ranks_y = [], [], []
    for _ in range(reps):
        picks = [rng.integers(0, len(x), len(x)) for x, _ in pairs]
        bx = np.array([x[i].mean() for (x, _), i in zip(pairs, picks)])
        by = np.array([y[i].mean() for (_, y), i in zip(pairs, picks)])
        ranks_x.append(stats.rankdata(-bx, method="min"))
        ranks_y.append(stats.rankdata(-by, method="min"))
        if len(pairs) >= 3 and np.ptp(bx) > 0 and np.ptp(by) > 0:
            rhos.append(stats.spearmanr(bx, by).statistic)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(rhos, [tail, 100 - tail]) if rhos else (NAN, NAN)
    # ranks are whole numbers: the interval's ends are ranks that the resamples took (no interpolation)
    (xlo, xhi), (ylo, yhi) = ((np.percentile(np.array(r), tail, axis=0, method="lower"),
                               np.percentile(np.array(r), 100 - tail, axis=0, method="higher"))
                              for r in (ranks_x, ranks_y))
    return RankingInterval(rho, float(lo), float(hi), xlo.tolist(), xhi.tolist(), ylo.tolist(), yhi.tolist())


def _as_series(values):
    if isinstance(values, pd.Series):
        return values.astype(float).dropna()
    if isinstance(values, dict):
        return pd.Series(values, dtype=float).dropna()
    raise TypeError("paired_difference needs pandas Series (or dicts) indexed by seed")


def paired_difference(a, b, level: float = LEVEL, power: float = POWER, alpha: float = ALPHA) -> Difference:
    """a − b paired by index (the seed): scipy's `ttest_rel` on the seeds both have.

    `a` and `b` are Series (or dicts) indexed by seed. The difference is the mean of the
    per-seed differences, its interval `ttest_rel(...).confidence_interval(level)`, p the
    two-sided p-value, and `mde` the minimum detectable difference of a paired test with that
    many pairs and the observed sd of the differences (`minimum_detectable_difference`).
    Fewer than 2 shared seeds: the difference (if 1 pair) with NaN interval, p and mde.
    Differences that are all equal (no spread: e.g. the same genotype on every seed) are not
    testable either: a t-test on them would claim p = 0 from two identical points; NaN interval,
    p and mde, sd 0.
    """
    sa, sb = _as_series(a), _as_series(b)
    both = sa.index.intersection(sb.index)
    x, y = sa.loc[both].to_numpy(), sb.loc[both].to_numpy()
    n = len(both)
    d = x - y
    if n == 0:
        return Difference(NAN, NAN, NAN, NAN, 0, NAN, NAN, "paired", 0, 0)
    mean = float(d.mean())
    if n == 1:
        return Difference(mean, NAN, NAN, NAN, 1, NAN, NAN, "paired", 1, 1)
    if np.all(d == d[0]):
        return Difference(mean, NAN, NAN, NAN, n, 0.0, NAN, "paired", n, n)
    sd = float(np.std(d, ddof=1))
    mde = minimum_detectable_difference(sd, n, paired=True, power=power, alpha=alpha)
    res = stats.ttest_rel(x, y)
    ci = res.confidence_interval(level)
    return Difference(mean, float(ci.low), float(ci.high), float(res.pvalue), n, sd, mde, "paired", n, n)


def welch_difference(a, b, level: float = LEVEL, power: float = POWER, alpha: float = ALPHA) -> Difference:
    """a − b unpaired: scipy's `ttest_ind(a, b, equal_var=False)` (Welch) and its interval.

    The fallback where the two samples share no seed. `mde` is that of an independent two-sample
    t-test (`TTestIndPower`, the actual sample sizes) at the pooled sd of the two samples. Either
    side with fewer than 2 values, or no spread in either: the difference of the means with NaN
    interval, p and mde. (The power calculation assumes equal variances: optimistic where they
    differ.)
    """
    x, y = _clean(a), _clean(b)
    na, nb = len(x), len(y)
    if na == 0 or nb == 0:
        return Difference(NAN, NAN, NAN, NAN, 0, NAN, NAN, "welch", na, nb)
    mean = float(x.mean() - y.mean())
    n = min(na, nb)
    if na < 2 or nb < 2:
        return Difference(mean, NAN, NAN, NAN, n, NAN, NAN, "welch", na, nb)
    sd = math.sqrt(((na - 1) * np.var(x, ddof=1) + (nb - 1) * np.var(y, ddof=1)) / (na + nb - 2))
    if sd == 0:
        return Difference(mean, NAN, NAN, NAN, n, 0.0, NAN, "welch", na, nb)
    mde = minimum_detectable_difference(sd, na, paired=False, power=power, alpha=alpha, n2=nb)
    res = stats.ttest_ind(x, y, equal_var=False)
    ci = res.confidence_interval(level)
    return Difference(mean, float(ci.low), float(ci.high), float(res.pvalue), n, sd, mde, "welch", na, nb)


def compare(a, b, level: float = LEVEL, power: float = POWER, alpha: float = ALPHA) -> Difference:
    """a − b: `paired_difference` on the seeds both have, or `welch_difference` if they share none."""
    sa, sb = _as_series(a), _as_series(b)
    if len(sa.index.intersection(sb.index)) > 0:
        return paired_difference(sa, sb, level, power, alpha)
    return welch_difference(sa.to_numpy(), sb.to_numpy(), level, power, alpha)


# The work (distinct vectors of rank sums × orderings of a block) above which the exact
# distribution of Friedman's statistic is not enumerated: k = 3 strategies stay below it at 40
# seeds (under a second), not at 100; 4 not at 10; beyond, the χ² approximation is used and said
# to be.
HOMOGENEITY_WORK = 2_000_000   # the k × 2 tables `homogeneity_exact` may count before it declines


def homogeneity_exact(counts) -> float | None:
    """The Fisher–Freeman–Halton exact test of a k × 2 table, `counts` a (successes, trials) pair
    per row: under equal shares, with both margins fixed, the probability of a table no more
    probable than the observed one (for k = 2, Fisher's exact test, two-sided, as scipy gives it).
    The tables are counted one by one; None where more than HOMOGENEITY_WORK could be (the caller
    then says it used the χ² approximation)."""
    counts = list(counts)
    ks, ns = [int(k) for k, _ in counts], [int(n) for _, n in counts]
    if math.prod(n + 1 for n in ns) > HOMOGENEITY_WORK:
        return None
    total = sum(ks)
    log_comb = [[math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) for j in range(n + 1)]
                for n in ns]
    observed = sum(log_comb[i][k] for i, k in enumerate(ks))
    rest = [sum(ns[i:]) for i in range(len(ns) + 1)]   # the trials of the rows from i on
    norm = math.lgamma(rest[0] + 1) - math.lgamma(total + 1) - math.lgamma(rest[0] - total + 1)
    p = 0.0

    def walk(i: int, left: int, logp: float) -> None:
        nonlocal p
        if i == len(ns):
            if logp <= observed + 1e-7:    # (a relative tolerance for ties in probability)
                p += math.exp(logp - norm)
            return
        for j in range(max(0, left - rest[i + 1]), min(ns[i], left) + 1):
            walk(i + 1, left - j, logp + log_comb[i][j])

    walk(0, total, 0.0)
    return min(1.0, p)


FRIEDMAN_WORK = 100_000


def friedman(blocks) -> tuple[float, float, bool]:
    """Friedman's test of k treatments over n blocks (`blocks`: n × k, a row a block; ties get
    midranks; k ≥ 3): (its χ² statistic, scipy's, corrected for ties; its p; whether that p is
    exact). The p is the exact permutation
    p, P(ΣR² ≥ observed) over the k! orderings of each block's ranks, by dynamic programming over
    the blocks' sums of ranks, where those stay few; else the χ² approximation of
    scipy.stats.friedmanchisquare, which is rough for few blocks (at n = 4 and k = 3 it gives 0.050
    where the exact p is 0.069)."""
    x = np.asarray(blocks, dtype=float)
    k = x.shape[1]
    ranks = np.apply_along_axis(stats.rankdata, 1, x)
    if (ranks == ranks[:, :1]).all():   # every block all ties: no ordering at all (scipy's is 0/0)
        return 0.0, 1.0, True
    sums = ranks.sum(axis=0)
    # scipy's statistic (corrected for ties); under H0 each block's ranks are exchangeable, so the
    # permutations leave that correction as it is and order their outcomes by ΣR² alone
    chi2 = float(stats.friedmanchisquare(*x.T).statistic)
    dist: dict[tuple, int] = {(0.0,) * k: 1}
    if math.factorial(k) > FRIEDMAN_WORK:
        return chi2, float(stats.chi2.sf(chi2, k - 1)), False
    for row in ranks:
        orders = set(itertools.permutations(row))
        new: dict[tuple, int] = {}
        for s, c in dist.items():
            for o in orders:
                key = tuple(a + b for a, b in zip(s, o))
                new[key] = new.get(key, 0) + c
        dist = new
        if len(dist) * len(orders) > FRIEDMAN_WORK:
            return chi2, float(stats.chi2.sf(chi2, k - 1)), False
    observed = float((sums ** 2).sum())
    total = sum(dist.values())
    above = sum(c for s, c in dist.items() if sum(v * v for v in s) >= observed - 1e-9)
    return chi2, above / total, True


def holm(pvalues) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (statsmodels `multipletests(method="holm")`).

    The family is the non-NaN entries: NaNs stay NaN and are not counted as comparisons. The
    adjusted values keep the input's order.
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=ALPHA, method="holm")[1]
    return out


def t_test_power(effect: float, n: int, paired: bool = True, alpha: float = ALPHA,
                 n2: int | None = None) -> float:
    """Power of a two-sided t-test at `alpha` for the standardised effect `effect`.

    paired: a one-sample t-test on n differences (df = n − 1, noncentrality effect·√n); else an
    independent two-sample t-test with n and n2 values and a common sd (df = n + n2 − 2,
    noncentrality effect·√(n·n2/(n + n2))). Computed with scipy's noncentral t distribution, the
    same formula as statsmodels' `TTestPower`/`TTestIndPower`, which return NaN at large effects.
    """
    n2 = n if n2 is None else n2
    if paired:
        df, nc = n - 1, effect * math.sqrt(n)
    else:
        df, nc = n + n2 - 2, effect * math.sqrt(n * n2 / (n + n2))
    crit = stats.t.ppf(1 - alpha / 2, df)
    upper = float(stats.nct.sf(crit, df, nc))
    if math.isnan(upper):
        upper = 1.0 - float(stats.nct.cdf(crit, df, nc))
    # the far tail (a significant result of the wrong sign) is below 1e-9 where scipy returns NaN
    lower = float(np.nan_to_num(stats.nct.cdf(-crit, df, nc), nan=0.0))
    return upper + lower


def minimum_detectable_difference(sd: float, n: int, paired: bool = True, power: float = POWER,
                                  alpha: float = ALPHA, n2: int | None = None) -> float:
    """The smallest true difference a two-sided t-test detects with probability `power` at `alpha`.

    paired: a one-sample t-test on n paired differences whose sd is `sd`; else an independent
    two-sample t-test with n and `n2` (default n) values and common sd `sd`. The standardised
    effect at which `t_test_power` reaches `power` (scipy's `brentq`), times `sd`, in the units of
    `sd`. Give a corrected `alpha` (e.g. α/m, the first step of Holm's method over m comparisons)
    for what a corrected test detects. NaN when n < 2 (or n2 < 2) or sd is NaN.
    """
    n2 = n if n2 is None else n2
    if n is None or n < 2 or n2 < 2 or sd is None or math.isnan(sd):
        return NAN
    hi = 1.0
    while t_test_power(hi, n, paired, alpha, n2) < power:
        hi *= 2.0
        if hi > 1e6:
            return NAN
    d = optimize.brentq(lambda e: t_test_power(e, n, paired, alpha, n2) - power, 0.0, hi, xtol=1e-10)
    return float(d) * float(sd)


def seeds_needed(difference: float, sd: float, power: float = POWER, alpha: float = ALPHA,
                 paired: bool = True) -> int:
    """The smallest number of seeds (searches per strategy) whose t-test detects `difference`.

    Two-sided, at `alpha`, with probability at least `power`, given `sd` (paired: the sd of the
    per-seed differences; else the common sd of two independent groups of that many seeds each):
    the smallest n ≥ 2 with `t_test_power` ≥ power, so that
    `minimum_detectable_difference(sd, seeds_needed(d, sd)) <= d`. sd = 0 needs 2 seeds.
    """
    difference, sd = abs(float(difference)), float(sd)
    if not difference > 0 or math.isnan(sd) or sd < 0:
        raise ValueError(f"seeds_needed needs a positive difference and sd >= 0, got {difference}, {sd}")
    if sd == 0:
        return 2
    effect = difference / sd
    n = 2
    while t_test_power(effect, n, paired, alpha) < power:
        n = n * 2 if n < 64 and t_test_power(effect, n * 2, paired, alpha) < power else n + 1
        if n > 1_000_000:
            raise ValueError(f"detecting {difference} at sd {sd} needs more than a million seeds")
    while n > 2 and t_test_power(effect, n - 1, paired, alpha) >= power:
        n -= 1
    return n


def proportion_power(p1: float, p2: float, n: int, alpha: float = ALPHA) -> float:
    """Power of a two-sided test of two proportions (n searches each, independent) to tell p1 from
    p2 at `alpha`, in the arcsine approximation (Cohen's h = |2 asin √p1 − 2 asin √p2|, the
    difference of two transformed shares having variance 2/n)."""
    if n < 1:
        return NAN
    h = abs(2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2)))
    z = stats.norm.ppf(1 - alpha / 2)
    shift = h * math.sqrt(n / 2)
    return float(stats.norm.sf(z - shift) + stats.norm.cdf(-z - shift))


def proportion_detectable_difference(n: int, power: float = POWER, alpha: float = ALPHA,
                                     centre: float = 0.5) -> float:
    """The smallest difference of two proportions, centre ± d/2, that `proportion_power` detects
    with n searches each (a share near 50%, the default, is the hardest to tell apart)."""
    if n is None or n < 2:
        return NAN
    top = 2 * min(centre, 1 - centre)
    if proportion_power(centre - top / 2, centre + top / 2, n, alpha) < power:
        return NAN
    return float(optimize.brentq(
        lambda d: proportion_power(centre - d / 2, centre + d / 2, n, alpha) - power, 1e-9, top,
        xtol=1e-9))


def proportion_seeds_needed(difference: float, power: float = POWER, alpha: float = ALPHA,
                            centre: float = 0.5) -> int:
    """The smallest number of searches per strategy at which `proportion_power` tells centre ±
    difference/2 apart."""
    if not 0 < difference <= 2 * min(centre, 1 - centre):
        raise ValueError(f"a difference of proportions around {centre} lies in (0, "
                         f"{2 * min(centre, 1 - centre)}], got {difference}")
    n = 2
    while proportion_power(centre - difference / 2, centre + difference / 2, n, alpha) < power:
        n += 1
    return n


def variance_components(frame, unit_cols, value_col: str = "acc", repeat_col: str = "repeat",
                        group_cols=(), level: float = LEVEL):
    """Between-search and between-training sd per group, by one-way random-effects ANOVA.

    `frame` has one row per training from scratch; the rows that share `unit_cols` (within a
    group of `group_cols`) are the repeated trainings of one search (one found genotype), told
    apart by `repeat_col`. With k searches of r_i trainings each (N in all):

    - sd_train = √MS_within, MS_within = Σ_i Σ_j (y_ij − ȳ_i)² / (N − k): the pooled sd of the
      repeats about their search's mean (the training noise);
    - sd_search = √(max(0, MS_between − MS_within) / r₀), MS_between = Σ_i r_i (ȳ_i − ȳ)² / (k − 1):
      the sd of the searches' true accuracies, with the training noise taken out. r₀ = r when
      balanced; unbalanced, r₀ = (N − Σ r_i²/N)/(k − 1), the usual coefficient of the unbalanced
      one-way ANOVA (then the estimate is unbiased but not the ANOVA's exact MS expectation).

    sd_train is NaN when no search has 2 trainings (N = k); sd_search is NaN then too, and when
    there are fewer than 2 searches. Each has a 95% interval (`level`):

    - sd_train_lo/hi: exact under normality, √(df·MS_within/χ²_{1−a/2, df}) to
      √(df·MS_within/χ²_{a/2, df}), df = N − k;
    - sd_search_lo/hi: approximate, MS_between's χ² interval (k − 1 df) with MS_within taken as
      known, √(max(0, bound − MS_within)/r₀); the lower bound is often 0. With k = 3 searches the
      interval spans about a factor of 6 (2 df): an sd of 2 df is a rough estimate.

    Returns a DataFrame: group_cols, `searches` (k), `trainings` (N), `repeats_min`,
    `repeats_max`, `ms_between`, `ms_within`, `sd_search` (+ `_lo`, `_hi`), `sd_train` (+ `_lo`,
    `_hi`).
    """
    unit_cols, group_cols = list(unit_cols), list(group_cols)
    cols = ["searches", "trainings", "repeats_min", "repeats_max", "ms_between", "ms_within",
            "sd_search", "sd_search_lo", "sd_search_hi", "sd_train", "sd_train_lo", "sd_train_hi"]
    a = 1.0 - level
    df = frame[[*group_cols, *unit_cols, repeat_col, value_col]].dropna(subset=[value_col])
    rows = []
    groups = df.groupby(group_cols, sort=False) if group_cols else [((), df)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        units = g.groupby(unit_cols, sort=False)[value_col]
        r = units.count().to_numpy(dtype=float)
        means = units.mean().to_numpy()
        y = g[value_col].to_numpy(dtype=float)
        k, big_n = len(r), float(r.sum())
        ms_within = NAN
        if big_n > k:
            ss_within = float(((g[value_col] - units.transform("mean")) ** 2).sum())
            ms_within = ss_within / (big_n - k)
        ms_between = NAN
        if k >= 2:
            ms_between = float((r * (means - y.mean()) ** 2).sum() / (k - 1))
        sd_search = search_lo = search_hi = train_lo = train_hi = NAN
        if not math.isnan(ms_within):
            df_w = big_n - k
            train_lo = math.sqrt(df_w * ms_within / stats.chi2.ppf(1 - a / 2, df_w))
            train_hi = math.sqrt(df_w * ms_within / stats.chi2.ppf(a / 2, df_w))
        if k >= 2 and not math.isnan(ms_within):
            r0 = (big_n - float((r ** 2).sum()) / big_n) / (k - 1)
            sd_search = math.sqrt(max(0.0, ms_between - ms_within) / r0)
            df_b = k - 1
            search_lo, search_hi = (
                math.sqrt(max(0.0, df_b * ms_between / stats.chi2.ppf(q, df_b) - ms_within) / r0)
                for q in (1 - a / 2, a / 2))
        rows.append({**dict(zip(group_cols, key)), "searches": k, "trainings": int(big_n),
                     "repeats_min": int(r.min()), "repeats_max": int(r.max()), "ms_between": ms_between,
                     "ms_within": ms_within, "sd_search": sd_search, "sd_search_lo": search_lo,
                     "sd_search_hi": search_hi,
                     "sd_train": math.sqrt(ms_within) if not math.isnan(ms_within) else NAN,
                     "sd_train_lo": train_lo, "sd_train_hi": train_hi})
    return pd.DataFrame(rows, columns=[*group_cols, *cols])
