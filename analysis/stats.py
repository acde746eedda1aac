"""The report's statistics: intervals, paired differences, Holm's correction, power, variance components.

Small pure functions on plain arrays, each a thin wrapper of scipy.stats or
statsmodels (no formula is written out here but the one-way ANOVA sums of
squares of `variance_components`). The unit of analysis is one search: its
accuracy is the mean over the repeated trainings from scratch of the genotype
it found, and n counts searches (seeds). Strategies searched with the same
seed share the data split and the initialisation, so their differences are
paired by seed.

pandas is imported only inside `variance_components`: `benchmark/run.py --plan`
imports `seeds_needed` from here without it.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower, TTestPower

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


def _as_series(values):
    import pandas as pd

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
    Differences that are all equal: a zero-width interval, p = 1 if they are all 0, else 0.
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
    sd = float(np.std(d, ddof=1))
    mde = minimum_detectable_difference(sd, n, paired=True, power=power, alpha=alpha)
    if np.all(d == d[0]):
        return Difference(mean, mean, mean, 1.0 if mean == 0 else 0.0, n, 0.0, mde, "paired", n, n)
    res = stats.ttest_rel(x, y)
    ci = res.confidence_interval(level)
    return Difference(mean, float(ci.low), float(ci.high), float(res.pvalue), n, sd, mde, "paired", n, n)


def welch_difference(a, b, level: float = LEVEL, power: float = POWER, alpha: float = ALPHA) -> Difference:
    """a − b unpaired: scipy's `ttest_ind(a, b, equal_var=False)` (Welch) and its interval.

    The fallback where the two samples share no seed. `mde` is that of an independent two-sample
    t-test (`TTestIndPower`, the actual sample sizes) at the pooled sd of the two samples. Either
    side with fewer than 2 values: the difference of the means with NaN interval, p and mde.
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
    mde = minimum_detectable_difference(sd, na, paired=False, power=power, alpha=alpha, n2=nb)
    if sd == 0:
        return Difference(mean, mean, mean, 1.0 if mean == 0 else 0.0, n, 0.0, mde, "welch", na, nb)
    res = stats.ttest_ind(x, y, equal_var=False)
    ci = res.confidence_interval(level)
    return Difference(mean, float(ci.low), float(ci.high), float(res.pvalue), n, sd, mde, "welch", na, nb)


def compare(a, b, level: float = LEVEL, power: float = POWER, alpha: float = ALPHA) -> Difference:
    """a − b: `paired_difference` on the seeds both have, or `welch_difference` if they share none."""
    sa, sb = _as_series(a), _as_series(b)
    if len(sa.index.intersection(sb.index)) > 0:
        return paired_difference(sa, sb, level, power, alpha)
    return welch_difference(sa.to_numpy(), sb.to_numpy(), level, power, alpha)


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


def minimum_detectable_difference(sd: float, n: int, paired: bool = True, power: float = POWER,
                                  alpha: float = ALPHA, n2: int | None = None) -> float:
    """The smallest true difference a two-sided t-test detects with probability `power` at `alpha`.

    paired: a one-sample t-test on n paired differences whose sd is `sd` (statsmodels
    `TTestPower`); else an independent two-sample t-test with n and `n2` (default n) values and
    common sd `sd` (`TTestIndPower`). The standardised effect d solved for `power` times `sd`, in
    the units of `sd`. NaN when n < 2 (or n2 < 2) or sd is NaN.
    """
    n2 = n if n2 is None else n2
    if n is None or n < 2 or n2 < 2 or sd is None or math.isnan(sd):
        return NAN
    if paired:
        d = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power,
                                     alternative="two-sided")
    else:
        d = TTestIndPower().solve_power(effect_size=None, nobs1=n, ratio=n2 / n, alpha=alpha,
                                        power=power, alternative="two-sided")
    return float(np.squeeze(d)) * float(sd)


def _power(effect: float, n: int, paired: bool, alpha: float) -> float:
    if paired:
        return float(TTestPower().power(effect_size=effect, nobs=n, alpha=alpha, alternative="two-sided"))
    return float(TTestIndPower().power(effect_size=effect, nobs1=n, ratio=1.0, alpha=alpha,
                                       alternative="two-sided"))


def seeds_needed(difference: float, sd: float, power: float = POWER, alpha: float = ALPHA,
                 paired: bool = True) -> int:
    """The smallest number of seeds (searches per strategy) whose t-test detects `difference`.

    Two-sided, at `alpha`, with probability at least `power`, given `sd` (paired: the sd of the
    per-seed differences, `TTestPower`; else the common sd of two independent groups of that many
    seeds each, `TTestIndPower`). statsmodels' `solve_power` for the sample size, rounded up, then
    raised until the power is reached (at least 2), so that
    `minimum_detectable_difference(sd, seeds_needed(d, sd)) <= d`. sd = 0 needs 2 seeds.
    """
    difference, sd = abs(float(difference)), float(sd)
    if not difference > 0 or math.isnan(sd) or sd < 0:
        raise ValueError(f"seeds_needed needs a positive difference and sd >= 0, got {difference}, {sd}")
    if sd == 0:
        return 2
    effect = difference / sd
    if _power(effect, 2, paired, alpha) >= power:     # (statsmodels' solver fails to converge there)
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if paired:
            est = TTestPower().solve_power(effect_size=effect, nobs=None, alpha=alpha, power=power,
                                           alternative="two-sided")
        else:
            est = TTestIndPower().solve_power(effect_size=effect, nobs1=None, ratio=1.0, alpha=alpha,
                                              power=power, alternative="two-sided")
    est = float(np.squeeze(est))
    n = max(2, math.ceil(est - 1e-9)) if math.isfinite(est) else 2
    while n > 2 and _power(effect, n - 1, paired, alpha) >= power:
        n -= 1
    while _power(effect, n, paired, alpha) < power:
        n += 1
    return n


def variance_components(frame, unit_cols, value_col: str = "acc", repeat_col: str = "repeat",
                        group_cols=()):
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
    there are fewer than 2 searches. Returns a DataFrame: group_cols, `searches` (k), `trainings`
    (N), `repeats_min`, `repeats_max`, `ms_between`, `ms_within`, `sd_search`, `sd_train`.
    """
    import pandas as pd

    unit_cols, group_cols = list(unit_cols), list(group_cols)
    cols = ["searches", "trainings", "repeats_min", "repeats_max", "ms_between", "ms_within",
            "sd_search", "sd_train"]
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
        sd_search = NAN
        if k >= 2 and not math.isnan(ms_within):
            r0 = (big_n - float((r ** 2).sum()) / big_n) / (k - 1)
            sd_search = math.sqrt(max(0.0, ms_between - ms_within) / r0)
        rows.append({**dict(zip(group_cols, key)), "searches": k, "trainings": int(big_n),
                     "repeats_min": int(r.min()), "repeats_max": int(r.max()), "ms_between": ms_between,
                     "ms_within": ms_within, "sd_search": sd_search,
                     "sd_train": math.sqrt(ms_within) if not math.isnan(ms_within) else NAN})
    return pd.DataFrame(rows, columns=[*group_cols, *cols])
