"""analysis/stats.py and the accuracy table's statistics, against scipy and statsmodels called directly."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower, TTestPower

from analysis import stats as st
from analysis.tables import BASELINES, accuracy_numbers, accuracy_table, comparisons, detectability, slug
from resultstore.experiment import Experiment

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- intervals


def test_mean_ci_is_scipys_student_t_interval():
    x = np.array([91.2, 92.5, 90.8, 93.1, 91.9])
    mean, lo, hi, n = st.mean_ci(x)
    want = stats.t.interval(0.95, df=4, loc=x.mean(), scale=stats.sem(x))
    assert n == 5 and mean == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx(want, rel=1e-12)
    assert hi - lo == pytest.approx(2 * stats.t.ppf(0.975, 4) * x.std(ddof=1) / math.sqrt(5))
    lo90, hi90 = st.mean_ci(x, level=0.9)[1:3]
    assert lo < lo90 < hi90 < hi


def test_mean_ci_edge_cases_n_2_1_0_and_no_spread():
    mean, lo, hi, n = st.mean_ci([90.0, 92.0])            # n = 2: df 1, a wide but finite interval
    assert (n, mean) == (2, 91.0)
    assert (lo, hi) == pytest.approx(stats.t.interval(0.95, df=1, loc=91.0, scale=1.0))
    assert hi - lo == pytest.approx(2 * 12.706204736, rel=1e-6)
    mean, lo, hi, n = st.mean_ci([90.0])                  # n = 1: the mean, no interval (not zero width)
    assert (mean, n) == (90.0, 1) and math.isnan(lo) and math.isnan(hi)
    mean, lo, hi, n = st.mean_ci([])
    assert n == 0 and all(math.isnan(v) for v in (mean, lo, hi))
    assert st.mean_ci([88.5, 88.5, 88.5])[:3] == (88.5, 88.5, 88.5)
    m = st.mean_ci([0.1, 0.1, 0.1])                       # a mean that rounds: still zero width
    assert m[0] == m[1] == m[2]
    assert st.mean_ci([1.0, np.nan, 3.0])[3] == 2        # NaNs dropped


# ---------------------------------------------------------------- differences


def test_paired_difference_is_ttest_rel_on_the_seeds_both_have():
    a = pd.Series({0: 91.0, 1: 93.5, 2: 90.2, 3: 92.8, 7: 99.0})   # seed 7 has no partner
    b = pd.Series({3: 91.9, 2: 89.0, 1: 92.1, 0: 90.5, 5: 50.0})   # other order, seed 5 unpaired
    d = st.paired_difference(a, b)
    x, y = a.loc[[0, 1, 2, 3]].to_numpy(), b.loc[[0, 1, 2, 3]].to_numpy()
    res = stats.ttest_rel(x, y)
    assert d.test == "paired" and d.n == 4
    assert d.diff == pytest.approx((x - y).mean()) and d.p == pytest.approx(res.pvalue)
    assert (d.lo, d.hi) == pytest.approx(tuple(res.confidence_interval(0.95)))
    assert d.sd == pytest.approx(np.std(x - y, ddof=1))
    # (solve_power and this brentq stop within about 1e-6 of the root: scipy 1.11's noncentral t)
    assert d.mde == pytest.approx(TTestPower().solve_power(nobs=4, alpha=0.05, power=0.8) * d.sd,
                                  rel=1e-5)
    one = st.paired_difference(a.loc[[0]], b)            # one pair: a difference, nothing else
    assert one.n == 1 and one.diff == pytest.approx(0.5)
    assert all(math.isnan(v) for v in (one.lo, one.hi, one.p, one.mde))
    two = st.paired_difference(a.loc[[0, 1]], b)         # two pairs work
    assert two.p == pytest.approx(stats.ttest_rel(x[:2], y[:2]).pvalue) and not math.isnan(two.lo)


def test_pairing_by_seed_finds_a_constant_offset_that_an_unpaired_test_misses():
    rng = np.random.default_rng(1)
    seeds = np.arange(6)
    seed_effect = rng.normal(0, 4.0, len(seeds))          # seeds differ a lot (split, initialisation)
    b = pd.Series(85 + seed_effect, index=seeds)
    a = pd.Series(85 + seed_effect + 1.0 + rng.normal(0, 0.1, len(seeds)), index=seeds)
    paired = st.compare(a, b)
    unpaired = st.welch_difference(a.to_numpy(), b.to_numpy())
    assert paired.test == "paired" and paired.p < 1e-4 and paired.lo > 0
    assert unpaired.test == "welch" and unpaired.p > 0.5 and unpaired.lo < 0 < unpaired.hi
    assert unpaired.p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert paired.mde < 0.5 < unpaired.mde


def test_without_shared_seeds_the_comparison_falls_back_to_welch():
    a = pd.Series([90.0, 91.5, 92.0], index=[0, 1, 2])
    b = pd.Series([88.0, 89.5, 90.5, 89.0], index=[10, 11, 12, 13])
    d = st.compare(a, b)
    res = stats.ttest_ind(a, b, equal_var=False)
    assert d.test == "welch" and (d.n_a, d.n_b, d.n) == (3, 4, 3)
    assert d.p == pytest.approx(res.pvalue)
    assert (d.lo, d.hi) == pytest.approx(tuple(res.confidence_interval()))
    pooled = math.sqrt((2 * a.var() + 3 * b.var()) / 5)
    assert d.mde == pytest.approx(TTestIndPower().solve_power(nobs1=3, ratio=4 / 3, alpha=0.05, power=0.8)
                                  * pooled)


def test_holm_matches_statsmodels_ignores_nans_and_keeps_the_order():
    p = [0.01, 0.04, np.nan, 0.03, 0.2, 0.001]
    adj = st.holm(p)
    assert math.isnan(adj[2])
    ok = [0, 1, 3, 4, 5]
    assert adj[ok] == pytest.approx(multipletests(np.array(p)[ok], method="holm")[1])
    assert st.holm([0.01, 0.02, 0.03]) == pytest.approx([0.03, 0.04, 0.04])   # by hand: 3p, 2p, max
    raw = np.array(p)[ok]
    assert np.all(adj[ok] >= raw) and np.all(adj[ok] <= 1)
    order = np.argsort(raw)
    assert np.all(np.diff(adj[ok][order]) >= 0)            # monotone in the raw p-values
    assert np.all(np.isnan(st.holm([np.nan, np.nan])))


def test_every_comparison_uses_the_level_power_and_alpha_it_is_given():
    # (8 seeds: at 4, statsmodels' solve_power stops short at α = 0.01, power 0.9: its own power
    # at its answer is 0.85)
    rng = np.random.default_rng(4)
    a = pd.Series(91 + rng.normal(0, 1, 8))
    b = pd.Series(a + 0.5 + rng.normal(0, 0.4, 8))
    c = pd.Series(90 + rng.normal(0, 1, 9), index=range(10, 19))
    for d in (st.paired_difference(a, b, level=0.8, power=0.9, alpha=0.01),
              st.compare(a, b, level=0.8, power=0.9, alpha=0.01)):
        res = stats.ttest_rel(a, b)
        assert (d.lo, d.hi) == pytest.approx(tuple(res.confidence_interval(0.8)))
        assert d.mde == pytest.approx(TTestPower().solve_power(nobs=8, alpha=0.01, power=0.9) * d.sd,
                                      rel=1e-5)
    for d in (st.welch_difference(a.to_numpy(), c.to_numpy(), level=0.8, power=0.9, alpha=0.01),
              st.compare(a, c, level=0.8, power=0.9, alpha=0.01)):
        res = stats.ttest_ind(a, c, equal_var=False)
        assert (d.lo, d.hi) == pytest.approx(tuple(res.confidence_interval(0.8)))
        pooled = math.sqrt((7 * a.var() + 8 * c.var()) / 15)
        assert d.sd == pytest.approx(pooled)
        assert d.mde == pytest.approx(TTestIndPower().solve_power(nobs1=8, ratio=9 / 8, alpha=0.01,
                                                                  power=0.9) * pooled, rel=1e-5)
        assert (d.n, d.n_a, d.n_b, d.test) == (8, 8, 9, "welch")


def _fields(d) -> tuple:
    """A Difference as a tuple in which NaN compares equal to NaN."""
    return tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in d)


def test_comparisons_without_spread_or_values_are_not_testable():
    nan = "nan"     # every field, in Difference's order: diff lo hi p n sd mde test n_a n_b
    cases = [
        (st.paired_difference({0: 1.0, 1: 2.0, 2: 3.0}, {0: 0.5, 1: 1.5, 2: 2.5}),   # no spread
         (0.5, nan, nan, nan, 3, 0.0, nan, "paired", 3, 3)),
        (st.paired_difference({0: 1.0}, {1: 2.0}), (nan, nan, nan, nan, 0, nan, nan, "paired", 0, 0)),
        (st.paired_difference({0: 1.0, 1: 5.0}, {0: 2.0}),
         (-1.0, nan, nan, nan, 1, nan, nan, "paired", 1, 1)),
        (st.welch_difference([1.0], [2.0, 3.0]), (-1.5, nan, nan, nan, 1, nan, nan, "welch", 1, 2)),
        (st.welch_difference([1.0, 1.0], [2.0, 2.0, 2.0]), (-1.0, nan, nan, nan, 2, 0.0, nan, "welch", 2, 3)),
        (st.welch_difference([], [1.0, 2.0]), (nan, nan, nan, nan, 0, nan, nan, "welch", 0, 2)),
    ]
    for got, want in cases:
        assert _fields(got) == want
    d = st.paired_difference({0: 1.0, 1: 2.0, 2: 4.0}, {0: 0.5, 1: 1.0, 2: 1.0})      # testable
    assert (d.n, d.n_a, d.n_b, d.test) == (3, 3, 3, "paired")
    with pytest.raises(TypeError, match="needs pandas Series"):
        st.compare([1.0, 2.0], [3.0, 4.0])


# ---------------------------------------------------------------- power


def test_minimum_detectable_difference_matches_statsmodels_and_falls_with_n():
    sd = 1.7
    mdes = [st.minimum_detectable_difference(sd, n) for n in range(2, 31)]
    assert np.all(np.diff(mdes) < 0)
    for n, mde in zip(range(2, 31), mdes):
        d = TTestPower().solve_power(effect_size=None, nobs=n, alpha=0.05, power=0.8)
        assert mde == pytest.approx(d * sd, rel=1e-5)
        assert st.t_test_power(mde / sd, n) == pytest.approx(0.8, abs=1e-6)
    ind = [st.minimum_detectable_difference(sd, n, paired=False) for n in (2, 3, 5, 10)]
    assert np.all(np.diff(ind) < 0)
    assert ind[1] == pytest.approx(TTestIndPower().solve_power(nobs1=3, ratio=1, alpha=0.05, power=0.8) * sd)
    assert math.isnan(st.minimum_detectable_difference(sd, 1))
    assert math.isnan(st.minimum_detectable_difference(float("nan"), 5))
    assert st.minimum_detectable_difference(1.0, 3) == pytest.approx(3.2640, abs=1e-3)   # d for n = 3


def test_power_at_no_effect_is_alpha_and_unequal_groups_use_both_sizes():
    # at effect 0 a two-sided test rejects with probability α: both tails count
    # (to 1e-9: scipy 1.11's noncentral t at noncentrality 0 is 5e-12 from the central one)
    assert st.t_test_power(0.0, 10) == pytest.approx(0.05, abs=1e-9)
    assert math.isnan(st.t_test_power(0.5, 1))            # no degrees of freedom: no power
    assert st.t_test_power(0.0, 5, paired=False, n2=7, alpha=0.01) == pytest.approx(0.01, abs=1e-9)
    assert st.t_test_power(0.5, 12, paired=False, n2=4) == pytest.approx(
        TTestIndPower().power(0.5, nobs1=12, ratio=4 / 12, alpha=0.05))
    # a large first group and a tiny second one: the bracket must use the tiny one too
    assert st.minimum_detectable_difference(1.0, 30, paired=False, n2=2) == pytest.approx(
        TTestIndPower().solve_power(nobs1=30, ratio=2 / 30, alpha=0.05, power=0.8), rel=1e-5)
    assert math.isnan(st.minimum_detectable_difference(1.0, 1, paired=False, n2=5))
    assert math.isnan(st.minimum_detectable_difference(1.0, 5, paired=False, n2=1))


@pytest.mark.parametrize("paired", [True, False])
def test_seeds_needed_is_the_smallest_n_whose_mde_is_at_most_the_difference(paired):
    sd = 1.2
    for diff in (0.3, 0.8, 1.2, 2.5, 12.0):
        n = st.seeds_needed(diff, sd, paired=paired)
        assert n >= 2
        assert st.minimum_detectable_difference(sd, n, paired=paired) <= diff + 1e-9
        if n > 2:
            assert st.minimum_detectable_difference(sd, n - 1, paired=paired) > diff
    assert st.seeds_needed(0.3, 1.2) > st.seeds_needed(0.8, 1.2) > st.seeds_needed(2.5, 1.2)
    assert st.seeds_needed(1.0, 1.0) == 10                 # TTestPower gives 9.94 for d = 1
    assert st.seeds_needed(0.5, 0.5) == 10 and st.seeds_needed(0.3, 0.0) == 2   # sd below 1, none
    assert st.seeds_needed(1.0, 1.0, alpha=0.01) > 10
    with pytest.raises(ValueError):
        st.seeds_needed(0.0, 1.0)


# ---------------------------------------------------------------- variance components


def _nested(rng, k, repeats, sd_search, sd_train):
    rows = []
    for seed in range(k):
        search = 90 + rng.normal(0, sd_search)
        r = repeats if isinstance(repeats, int) else int(rng.choice(repeats))
        rows += [{"seed": seed, "repeat": j, "acc": search + rng.normal(0, sd_train)} for j in range(r)]
    return pd.DataFrame(rows)


def test_log_mean_ci_is_the_t_interval_of_the_logs_and_stays_positive():
    x = np.array([0.05, 0.4, 2.0])
    gm, lo, hi, n = st.log_mean_ci(x)
    want = stats.t.interval(0.95, df=2, loc=np.log(x).mean(), scale=stats.sem(np.log(x)))
    assert n == 3 and gm == pytest.approx(np.exp(np.log(x).mean()))
    assert (lo, hi) == pytest.approx(tuple(np.exp(want)))
    assert 0 < lo < gm < hi
    assert math.isnan(st.log_mean_ci([0.3])[1])
    with pytest.raises(ValueError, match="positive"):
        st.log_mean_ci([0.1, 0.0])


def test_a_cosine_interval_near_one_stays_within_range_with_a_finer_clip():
    mean, lo, hi, n = st.correlation_mean_ci([0.9999, 0.99995, 0.99999], clip=1 - 1e-9)
    assert n == 3
    assert lo <= mean <= hi <= 1.0 and lo > 0.999


def test_variance_components_recover_known_sds_balanced_and_unbalanced():
    rng = np.random.default_rng(7)
    df = _nested(rng, 600, 4, 1.5, 0.7)
    vc = st.variance_components(df, ["seed"], "acc", "repeat").iloc[0]
    assert vc.searches == 600 and vc.trainings == 2400 and vc.repeats_min == vc.repeats_max == 4
    assert vc.sd_search == pytest.approx(1.5, rel=0.08) and vc.sd_train == pytest.approx(0.7, rel=0.04)
    f = stats.f_oneway(*[g.acc.to_numpy() for _, g in df.groupby("seed")]).statistic
    assert vc.ms_between / vc.ms_within == pytest.approx(f)          # the ANOVA's mean squares
    un = st.variance_components(_nested(rng, 600, [2, 3, 5], 0.5, 1.0), ["seed"], "acc", "repeat").iloc[0]
    assert (un.repeats_min, un.repeats_max) == (2, 5)
    assert un.sd_search == pytest.approx(0.5, rel=0.15) and un.sd_train == pytest.approx(1.0, rel=0.05)


def test_variance_components_by_hand_on_a_small_unbalanced_design():
    # three searches with 3, 2 and 1 trainings, and a NaN (a training that did not finish)
    # (the repeat's number only tells rows apart: a training without one still counts)
    df = pd.DataFrame({"seed": [0, 0, 0, 1, 1, 2, 2], "repeat": [0, 1, np.nan, 0, 1, 0, 1],
                       "acc": [1.0, 2.0, 4.0, 5.0, 5.5, 7.0, np.nan]})
    vc = st.variance_components(df, ["seed"]).iloc[0]           # value "acc", repeats "repeat"
    groups = [np.array([1.0, 2.0, 4.0]), np.array([5.0, 5.5]), np.array([7.0])]
    y = np.concatenate(groups)
    ms_within = sum(((g - g.mean()) ** 2).sum() for g in groups) / (6 - 3)
    ms_between = sum(len(g) * (g.mean() - y.mean()) ** 2 for g in groups) / (3 - 1)
    r0 = (6 - (9 + 4 + 1) / 6) / 2
    assert (vc.searches, vc.trainings, vc.repeats_min, vc.repeats_max) == (3, 6, 1, 3)
    assert vc.ms_within == pytest.approx(ms_within) and vc.ms_between == pytest.approx(ms_between)
    assert vc.sd_train == pytest.approx(math.sqrt(ms_within))
    assert vc.sd_search == pytest.approx(math.sqrt((ms_between - ms_within) / r0))
    # searches closer together than their training noise: sd_search is 0, not negative or NaN
    close = pd.DataFrame({"seed": [0, 0, 1, 1], "repeat": [0, 1, 0, 1], "acc": [1.0, 3.0, 1.2, 2.9]})
    assert st.variance_components(close, ["seed"], "acc", "repeat").iloc[0].sd_search == 0.0


def test_variance_component_intervals_are_chi_square_and_cover_the_true_sds():
    """sd_train's interval is the exact χ² one on N − k df; over simulated grids of 3 searches × 2
    trainings (the cpu grid's shape) both intervals cover the true sds about 95% of the time
    (sd_search's is approximate: MS_within taken as known)."""
    df = pd.DataFrame({"seed": [0, 0, 1, 1, 2, 2], "repeat": [0, 1] * 3,
                       "acc": [40.0, 41.0, 44.0, 43.5, 42.0, 42.8]})
    vc = st.variance_components(df, ["seed"]).iloc[0]
    dfw = 3
    assert vc.sd_train_lo == pytest.approx(math.sqrt(dfw * vc.ms_within / stats.chi2.ppf(0.975, dfw)))
    assert vc.sd_train_hi == pytest.approx(math.sqrt(dfw * vc.ms_within / stats.chi2.ppf(0.025, dfw)))
    assert vc.sd_search_lo <= vc.sd_search <= vc.sd_search_hi
    assert vc.sd_search_hi == pytest.approx(
        math.sqrt((2 * vc.ms_between / stats.chi2.ppf(0.025, 2) - vc.ms_within) / 2))
    rng = np.random.default_rng(5)
    train_in = search_in = 0
    sims = 400
    for _ in range(sims):
        v = st.variance_components(_nested(rng, 3, 2, 1.5, 0.7), ["seed"], "acc", "repeat").iloc[0]
        train_in += v.sd_train_lo <= 0.7 <= v.sd_train_hi
        search_in += v.sd_search_lo <= 1.5 <= v.sd_search_hi
    assert 0.91 <= train_in / sims <= 0.99
    assert 0.88 <= search_in / sims <= 1.0
    # without repeats or with one search: no interval
    once = st.variance_components(_nested(rng, 4, 1, 1.0, 1.0), ["seed"], "acc", "repeat").iloc[0]
    assert math.isnan(once.sd_train_lo) and math.isnan(once.sd_search_hi)


def test_variance_components_per_group_and_without_repeats():
    rng = np.random.default_rng(3)
    a = _nested(rng, 300, 3, 2.0, 0.2).assign(strategy="a")
    b = _nested(rng, 300, 3, 0.2, 2.0).assign(strategy="b")
    once = _nested(rng, 5, 1, 1.0, 1.0).assign(strategy="once")
    single = _nested(rng, 1, 4, 1.0, 1.0).assign(strategy="single")
    vc = st.variance_components(pd.concat([a, b, once, single]), ["seed"], "acc", "repeat",
                                group_cols=["strategy"]).set_index("strategy")
    assert vc.loc["a", "sd_search"] == pytest.approx(2.0, rel=0.12)
    assert vc.loc["a", "sd_train"] == pytest.approx(0.2, rel=0.08)
    assert vc.loc["b", "sd_search"] < 0.6 and vc.loc["b", "sd_train"] == pytest.approx(2.0, rel=0.08)
    assert math.isnan(vc.loc["once", "sd_search"]) and math.isnan(vc.loc["once", "sd_train"])
    assert math.isnan(vc.loc["single", "sd_search"]) and vc.loc["single", "sd_train"] > 0


# ---------------------------------------------------------------- the accuracy table


def _experiment(groups: dict, repeats=2, datasets=("digits",)) -> tuple[Experiment, pd.DataFrame]:
    """groups: strategy -> (seeds, offset); accuracy = 85 + seed effect + offset + training noise."""
    rng = np.random.default_rng(11)
    seed_effect = {s: rng.normal(0, 3.0) for s in range(20)}
    rows = []
    for strategy, (seeds, offset) in groups.items():
        for seed in seeds:
            for ds in datasets:
                for r in range(repeats):
                    acc = 85 + seed_effect[seed] + offset + rng.normal(0, 0.3)
                    rows.append({"experiment": "x", "strategy": strategy, "search_dataset": "digits",
                                 "seed": seed, "profile": "p", "eval_dataset": ds, "repeat": r,
                                 "eval_seed": seed + 1000 * r, "status": "finished", "reason": "",
                                 "test_acc": acc / 100, "params": 1e5, "search_wall_s": 60.0,
                                 "search_cpu_s": 50.0, "search_device": "cpu", "eval_wall_s": 30.0,
                                 "eval_cpu_s": 25.0, "eval_device": "cpu"})
    trials = pd.DataFrame(rows)
    return Experiment(Path("x"), trials, pd.DataFrame(), pd.DataFrame()), trials


def test_comparisons_follow_the_declared_baselines():
    names = ["one-level", "first-order", "random", "first-order-smoothed", "hyperdarts-mlp"]
    assert list(BASELINES) == ["first-order", "random", "first-order-smoothed"]
    assert comparisons(names) == [
        ("one-level", "first-order"), ("one-level", "random"), ("first-order", "random"),
        ("first-order-smoothed", "first-order"), ("first-order-smoothed", "random"),
        ("hyperdarts-mlp", "first-order"), ("hyperdarts-mlp", "random"),
        ("hyperdarts-mlp", "first-order-smoothed")]
    assert comparisons(["first-order", "hyperdarts-mlp"]) == [("hyperdarts-mlp", "first-order")]
    assert comparisons(["second-order", "hyperdarts-linear"]) == []


def test_accuracy_numbers_are_scipy_and_statsmodels_on_the_search_means():
    seeds = range(5)
    exp, trials = _experiment({"first-order": (seeds, 0.0), "random": (seeds, -2.0),
                               "first-order-smoothed": (seeds, 0.0), "hyperdarts-mlp": (seeds, 1.0),
                               "second-order": ([0, 1], 0.5), "one-level": ([3], 0.0)})
    num = accuracy_numbers(exp).set_index("strategy")
    trials["acc"] = 100 * trials.test_acc
    means = trials.groupby(["strategy", "seed"])["acc"].mean()        # the unit: one search
    for s in num.index:
        x = means.loc[s]
        assert num.loc[s, "n"] == len(x) and num.loc[s, "repeats_min"] == num.loc[s, "repeats_max"] == 2
        assert num.loc[s, "acc_mean"] == pytest.approx(x.mean())
        if len(x) > 1:   # the sample standard deviation of the searches (n − 1 degrees of freedom)
            assert num.loc[s, "acc_std"] == pytest.approx(np.std(x.to_numpy(), ddof=1))
        if len(x) > 1:
            want = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
            assert (num.loc[s, "acc_ci_lo"], num.loc[s, "acc_ci_hi"]) == pytest.approx(want)
    assert math.isnan(num.loc["one-level", "acc_ci_lo"])                # n = 1: no interval
    # Every comparison of the family, recomputed directly; Holm over all of them together.
    raw, where = [], []
    for s, b in comparisons(num.index):
        x, y = means.loc[s], means.loc[b]
        both = x.index.intersection(y.index)
        col = f"vs_{slug(b)}_"
        assert num.loc[s, col + "n"] == len(both) and num.loc[s, col + "test"] == "paired"
        assert num.loc[s, col + "diff"] == pytest.approx((x.loc[both] - y.loc[both]).mean())
        if len(both) >= 2:
            res = stats.ttest_rel(x.loc[both], y.loc[both])
            assert num.loc[s, col + "p"] == pytest.approx(res.pvalue)
            assert (num.loc[s, col + "diff_lo"], num.loc[s, col + "diff_hi"]) == pytest.approx(
                tuple(res.confidence_interval(0.95)))
            sd = np.std((x.loc[both] - y.loc[both]).to_numpy(), ddof=1)
            assert num.loc[s, col + "mde"] == pytest.approx(
                TTestPower().solve_power(nobs=len(both), alpha=0.05, power=0.8) * sd)
            raw.append(res.pvalue)
            where.append((s, col))
        else:
            assert math.isnan(num.loc[s, col + "p_holm"]) and num.loc[s, col + "verdict"] == "not testable"
    assert len(raw) == 8                                  # one-level's two comparisons have 1 pair
    adjusted = multipletests(raw, method="holm")[1]
    for (s, col), p in zip(where, adjusted):
        assert num.loc[s, col + "p_holm"] == pytest.approx(p)
    assert num.loc["hyperdarts-mlp", "vs_random_verdict"] == "differs"
    assert num.loc["hyperdarts-mlp", "vs_random_diff"] == pytest.approx(3.0, abs=0.3)
    assert num.loc["first-order-smoothed", "vs_first_order_verdict"] == "not detectable"
    assert math.isnan(num.loc["second-order", "vs_first_order_smoothed_diff"])   # hyperdarts-* only
    assert num.loc["random", "vs_first_order_test"] == ""       # first-order − random instead
    # Search noise (seed effects, sd 3) against training noise (sd 0.3), per strategy.
    assert num.loc["first-order", "sd_train"] == pytest.approx(0.3, rel=0.6)
    assert num.loc["first-order", "sd_search"] > 1.0


def test_disjoint_seeds_use_welch_and_the_table_says_so():
    exp, trials = _experiment({"first-order": ([0, 1, 2], 0.0), "hyperdarts-linear": ([5, 6, 7], 1.0)},
                              repeats=1)
    num = accuracy_numbers(exp).set_index("strategy")
    trials["acc"] = 100 * trials.test_acc
    x = trials[trials.strategy == "hyperdarts-linear"].acc
    y = trials[trials.strategy == "first-order"].acc
    assert num.loc["hyperdarts-linear", "vs_first_order_test"] == "welch"
    assert num.loc["hyperdarts-linear", "vs_first_order_p"] == pytest.approx(
        stats.ttest_ind(x, y, equal_var=False).pvalue)
    assert num.loc["hyperdarts-linear", "vs_first_order_p_holm"] == num.loc["hyperdarts-linear",
                                                                               "vs_first_order_p"]
    assert math.isnan(num.loc["first-order", "sd_train"])              # no repeats
    table = accuracy_table(exp, None)
    shown = dict(table.blocks)["Differences on digits (searched on digits)"]
    assert shown.iloc[0]["n"] == "3 (Welch)"
    assert "unpaired (Welch)" in table.text[0]
    assert not any(h and h.startswith("Search noise") for h, _ in table.blocks)    # nothing to split


def test_detectability_sentence_states_the_csv_numbers():
    seeds = range(3)
    exp, _ = _experiment({"first-order": (seeds, 0.0), "random": (seeds, -1.0),
                          "hyperdarts-mlp": (seeds, 0.1)}, datasets=("digits", "mnist"))
    table = accuracy_table(exp, None)
    num = table.numbers
    assert len(table.text) == 2 and table.text == detectability(num)
    for line, ds in zip(table.text, ("digits", "mnist")):
        fam = num[num.eval_dataset == ds]
        mdes = pd.concat([fam[f"vs_{slug(b)}_mde"] for b in BASELINES]).dropna()
        holm = pd.concat([fam[f"vs_{slug(b)}_mde_holm"] for b in BASELINES]).dropna()
        assert len(mdes) == 3 and len(holm) == 3
        assert line.startswith(f"On {ds}")
        assert f"≥ {holm.min():.2f}–{holm.max():.2f} points with 80% power after Holm's correction " \
               "over the 6 comparisons of cells searched on digits" in line
        assert f"(≥ {mdes.min():.2f}–{mdes.max():.2f} points for a single comparison" in line
        assert "n = 3 searches per strategy" in line and "paired" in line
        assert "α = 0.05, two-sided" in line and "not detectable at this n" in line
        # the Holm-level MDE is the MDE at α/6 (3 comparisons on each of 2 evaluation datasets)
        r = fam[fam.strategy == "hyperdarts-mlp"].iloc[0]
        sd = r.vs_first_order_mde / st.minimum_detectable_difference(1.0, 3)
        assert r.vs_first_order_mde_holm == pytest.approx(
            st.minimum_detectable_difference(sd, 3, alpha=0.05 / 6), rel=1e-6)
    shown = dict(table.blocks)["Search noise and training noise (searched on digits)"]
    row = num[(num.strategy == "random") & (num.eval_dataset == "mnist")].iloc[0]
    assert (shown[(shown.strategy == "random") & (shown["evaluated on"] == "mnist")]
            ["sd between trainings (pts) [95% CI]"].iloc[0].startswith(f"{row.sd_train:.2f} ["))
    assert "n counts searches" in table.note and "Holm" in table.note and "ttest_rel" in table.note


def test_a_single_seed_table_says_nothing_is_detectable():
    exp, _ = _experiment({"first-order": ([0], 0.0), "hyperdarts-mlp": ([0], 1.0)})
    table = accuracy_table(exp, None)
    assert "no difference detectable at this n" in table.text[0]
    shown = dict(table.blocks)["Differences on digits (searched on digits)"]
    assert shown.iloc[0]["verdict"] == "not testable (n < 2)" and shown.iloc[0]["p_Holm"] == "—"
    assert shown.iloc[0]["Δ (pts) [95% CI]"].startswith("+") and "[" not in shown.iloc[0]["Δ (pts) [95% CI]"]


def test_the_detectable_difference_holds_at_a_holm_corrected_level_by_simulation():
    # statsmodels' solver gives up at n = 3 and α = 0.05/19 (the first step of Holm over 19
    # comparisons); the MDE there must still give 80% power: simulate the paired t-test.
    alpha = 0.05 / 19
    mde = st.minimum_detectable_difference(1.0, 3, alpha=alpha)
    assert 10 < mde < 20
    rng = np.random.default_rng(0)
    x = rng.normal(mde, 1.0, size=(200_000, 3))
    t = x.mean(1) / (x.std(1, ddof=1) / np.sqrt(3))
    power = np.mean(2 * stats.t.sf(np.abs(t), 2) < alpha)
    assert power == pytest.approx(0.8, abs=0.01)


def test_differences_without_spread_are_not_testable():
    # two seeds, both +0.5: a t-test would say p = 0 from two identical points
    d = st.paired_difference({0: 50.5, 1: 60.5}, {0: 50.0, 1: 60.0})
    assert d.diff == pytest.approx(0.5) and math.isnan(d.p) and math.isnan(d.mde) and d.sd == 0
    w = st.welch_difference([1.0, 1.0], [2.0, 2.0])
    assert math.isnan(w.p) and math.isnan(w.lo)


def test_every_number_of_the_transfer_table_recomputed_from_the_trials(tmp_path):
    from analysis.tables import transfer_table, write_table

    seeds = range(5)
    exp, trials = _experiment({"first-order": (seeds, 0.0), "random": (seeds, -2.0),
                               "hyperdarts-mlp": (seeds, 1.0), "one-level": ([7], 0.5)},
                              datasets=("digits", "mnist"))
    # shift mnist so that the ranks differ between the datasets, and drop one search's mnist rows
    trials.loc[(trials.eval_dataset == "mnist") & (trials.strategy == "random"), "test_acc"] += 0.05
    trials = trials[~((trials.strategy == "hyperdarts-mlp") & (trials.seed == 4)
                      & (trials.eval_dataset == "mnist"))].reset_index(drop=True)
    exp = Experiment(Path("x"), trials, pd.DataFrame(), pd.DataFrame())
    table = transfer_table(exp)
    write_table(table, tmp_path)
    csv = pd.read_csv(tmp_path / "transfer.csv").set_index("strategy")
    md = (tmp_path / "transfer.md").read_text()
    t = trials.assign(acc=100 * trials.test_acc)
    per_search = t.groupby(["strategy", "eval_dataset", "seed"])["acc"].mean()   # mean over repeats
    means, pairs = {}, {}
    for s in ("first-order", "random", "hyperdarts-mlp", "one-level"):
        a, b = per_search.loc[(s, "digits")], per_search.loc[(s, "mnist")]
        both = a.index.intersection(b.index)                            # paired by seed
        a, b = a.loc[both].to_numpy(), b.loc[both].to_numpy()
        row = csv.loc[s]
        assert row.n == len(both) == {"hyperdarts-mlp": 4, "one-level": 1}.get(s, 5)
        assert (row.search_dataset, row.transfer_dataset) == ("digits", "mnist")
        for prefix, x in (("search", a), ("transfer", b)):
            assert row[f"{prefix}_acc_mean"] == pytest.approx(x.mean())
            if len(x) > 1:
                lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
                assert (row[f"{prefix}_acc_ci_lo"], row[f"{prefix}_acc_ci_hi"]) == pytest.approx((lo, hi))
                assert row[f"{prefix}_acc_std"] == pytest.approx(np.std(x, ddof=1))
                assert f"{x.mean():.2f} [{lo:.2f}, {hi:.2f}]" in md
            else:
                assert math.isnan(row[f"{prefix}_acc_ci_lo"]) and math.isnan(row[f"{prefix}_acc_std"])
        means[s], pairs[s] = (a.mean(), b.mean()), (a, b)
    for i, prefix in ((0, "search"), (1, "transfer")):                  # 1 = the highest mean
        order = sorted(means, key=lambda s: -means[s][i])
        assert {s: int(csv.loc[s, f"{prefix}_rank"]) for s in means} == {s: order.index(s) + 1 for s in order}
    assert csv.loc["random", "transfer_rank"] < csv.loc["random", "search_rank"]
    rho = stats.spearmanr([m[0] for m in means.values()], [m[1] for m in means.values()]).statistic
    # its interval and the ranks' resample each strategy's searches, in the table's order
    r = st.bootstrap_ranking([pairs[s] for s in csv.index])
    assert -1 <= r.rho_lo <= r.rho_hi <= 1 and r.rho == pytest.approx(rho)
    assert f"mean accuracies = {rho:.2f} [{r.rho_lo:.2f}, {r.rho_hi:.2f}] over 4 strategies" in md
    assert csv["transfer_rank_lo"].tolist() == r.y_rank_lo and csv["search_rank_hi"].tolist() == r.x_rank_hi
    assert "| one-level | 1 |" in md and "resample each strategy's searches" in md
    # across searches: every search evaluated on both datasets, one point each
    both = per_search.unstack("eval_dataset").dropna()
    assert len(both) == 5 + 5 + 4 + 1
    rho_s = stats.spearmanr(both["digits"], both["mnist"]).statistic
    _, lo_s, hi_s = st.bootstrap_spearman(both["digits"].to_numpy(), both["mnist"].to_numpy())
    assert (f"across the 15 searches (every strategy's, each found cell's accuracy on both "
            f"datasets): Spearman ρ = {rho_s:.2f} [{lo_s:.2f}, {hi_s:.2f}]") in md




def test_each_transfer_dataset_gets_its_own_rho_and_a_search_without_both_accuracies_counts_nowhere():
    from analysis.tables import transfer_numbers, transfer_table

    seeds = range(5)
    _, trials = _experiment({"first-order": (seeds, 0.0), "random": (seeds, -2.0),
                             "hyperdarts-mlp": (seeds, 1.0)}, datasets=("digits", "mnist", "fashion"))
    hit = (trials.strategy == "random") & (trials.seed == 3) & (trials.eval_dataset == "mnist")
    trials.loc[hit, "test_acc"] = np.nan
    exp = Experiment(Path("x"), trials, pd.DataFrame(), pd.DataFrame())
    num = transfer_numbers(exp).set_index(["transfer_dataset", "strategy"])
    row = num.loc[("mnist", "random")]
    t = trials[(trials.strategy == "random") & trials.seed.isin([0, 1, 2, 4])]
    on = t.assign(acc=100 * t.test_acc).groupby(["eval_dataset", "seed"])["acc"].mean()
    assert row.n == 4 and row.search_acc_mean == pytest.approx(on.loc["digits"].mean())
    assert row.transfer_acc_mean == pytest.approx(on.loc["mnist"].mean())
    assert num.loc[("fashion", "random")].n == 5
    note = transfer_table(exp).note
    for td, n in (("mnist", 14), ("fashion", 15)):
        rho = num.loc[td].means_rho.iloc[0]
        assert f"digits→{td}: Spearman ρ between the strategies' mean accuracies = {rho:.2f}" in note
        assert f"across the {n} searches" in note
    assert note.count("resample each strategy's searches") == 1

def test_a_rankings_intervals_come_from_the_searches_not_from_the_order_of_the_means():
    """Four strategies whose means happen to be in the same order on both datasets, two of them a
    tenth of their searches' sd apart: resampling the strategies said ρ = 1 [1, 1]; resampling
    each one's searches gives the two close ones (ranks 2 and 3) the interval [2, 3] on both
    datasets and ρ an interval reaching below 1. Strategies
    far apart keep their ranks exactly; a strategy of one search stays where it is."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 3, (4, 20))
    groups = [(m + noise[i], 2 * m + noise[i] + rng.normal(0, 1, 20))   # each search's two accuracies
              for i, m in enumerate([30.0, 37.0, 37.3, 45.0])]
    means = [(x.mean(), y.mean()) for x, y in groups]
    assert np.argsort([m[0] for m in means]).tolist() == np.argsort([m[1] for m in means]).tolist()
    assert st.bootstrap_spearman(*zip(*means))[1:] == (1.0, 1.0)     # the strategies resampled
    r = st.bootstrap_ranking(groups)
    assert r.rho == 1.0 and r.rho_lo < 1.0 and r.rho_hi == 1.0
    assert (r.x_rank_lo[0], r.x_rank_hi[0], r.x_rank_lo[3], r.x_rank_hi[3]) == (4, 4, 1, 1)
    assert r.x_rank_lo[1:3] == r.y_rank_lo[1:3] == [2, 2] and r.x_rank_hi[1:3] == r.y_rank_hi[1:3] == [3, 3]
    lone = st.bootstrap_ranking([*groups[:3], (np.array([45.0]), np.array([90.0]))])
    assert (lone.x_rank_lo[3], lone.x_rank_hi[3]) == (1, 1)
    assert math.isnan(st.bootstrap_ranking(groups[:2]).rho)   # no ρ of two strategies

def test_a_correlations_interval_stays_in_its_range_and_is_the_t_interval_on_fishers_z():
    taus = [0.9, 0.6, 0.95]
    m, _, hi, n = st.mean_ci(taus)
    assert hi > 1                          # the plain t interval overruns τ's range at n = 3
    cm, clo, chi, cn = st.correlation_mean_ci(taus)
    assert (cm, cn) == (m, n) and -1 < clo < cm < chi < 1
    _, zlo, zhi, _ = st.mean_ci(np.arctanh(taus))
    assert (clo, chi) == pytest.approx((np.tanh(zlo), np.tanh(zhi)))
    assert st.correlation_mean_ci([1.0, 1.0, 0.99])[2] < 1     # ±1 clipped before atanh
    assert math.isnan(st.correlation_mean_ci([0.3])[1])


def test_the_power_of_comparing_two_collapse_rates_is_statsmodels_arcsine_power():
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    from analysis.stats import proportion_detectable_difference, proportion_power, proportion_seeds_needed

    h = proportion_effectsize(0.65, 0.35)
    for n in (10, 43, 100):
        want = NormalIndPower().power(h, nobs1=n, alpha=0.05, ratio=1.0)
        assert proportion_power(0.35, 0.65, n) == pytest.approx(want, rel=1e-6)
    # 35% against 65% needs 43 searches per strategy (2 ((1.96 + 0.84) / h)² = 42.3), more after
    # a correction
    assert proportion_seeds_needed(0.3) == 43
    assert proportion_seeds_needed(0.3, alpha=0.05 / 10) > 60
    d = proportion_detectable_difference(43)
    assert d <= 0.3 < proportion_detectable_difference(42)
    assert proportion_power(0.5 - d / 2, 0.5 + d / 2, 43) == pytest.approx(0.8, abs=1e-6)
    # a share far from 50% is easier to tell apart; a tiny n detects nothing
    assert proportion_detectable_difference(43, centre=0.2) < d
    assert np.isnan(proportion_detectable_difference(3, alpha=0.001))
    with pytest.raises(ValueError, match="lies in"):
        proportion_seeds_needed(1.2)


def test_the_exact_homogeneity_test_sums_the_tables_no_more_probable_than_the_observed():
    # 2 rows: Fisher's exact test, two-sided
    for (k1, n1), (k2, n2) in [((3, 10), (8, 10)), ((0, 5), (5, 5)), ((1, 9), (8, 10)), ((2, 7), (2, 7))]:
        fisher = stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue
        assert st.homogeneity_exact([(k1, n1), (k2, n2)]) == pytest.approx(fisher, rel=1e-9)
    # 3 rows, against every table with the margins, its probability the multivariate hypergeometric's
    counts, ns = [7, 2, 1], [23, 23, 22]
    pmf = stats.multivariate_hypergeom(m=ns, n=sum(counts)).pmf
    observed = pmf(counts)
    tables = [t for t in np.ndindex(*(n + 1 for n in ns)) if sum(t) == sum(counts)]
    expected = sum(pmf(list(t)) for t in tables if pmf(list(t)) <= observed * (1 + 1e-7))
    assert st.homogeneity_exact(zip(counts, ns)) == pytest.approx(expected, rel=1e-9)
    assert 0.05 < expected < 0.07     # where the χ² approximation says 0.030
    assert st.homogeneity_exact([(0, 10)] * 3) == 1.0
    assert st.homogeneity_exact([(5, 40)] * 5) is None    # 41⁵ tables: too many to count


def test_friedmans_exact_p_counts_the_orderings_of_each_blocks_ranks():
    """The exact permutation p of Friedman's test: the published table's values at n = 4 blocks
    and k = 3 treatments, ties by midranks, and the χ² approximation where the count would be
    too large (it is said: `exact` False)."""
    import numpy as np
    from scipy import stats as sps

    from analysis.stats import friedman

    chi2, p, exact = friedman([[3, 2, 1]] * 4)            # one ordering on every block: 6 of 6**4
    assert (chi2, exact) == (8.0, True) and p == pytest.approx(6 / 6 ** 4)
    chi2, p, exact = friedman([[3, 2, 1], [3, 1, 2], [3, 1, 2], [3, 1, 2]])
    assert chi2 == pytest.approx(6.5) and p == pytest.approx(54 / 1296)      # the table's 0.042
    assert sps.friedmanchisquare(*np.array([[3, 2, 1], [3, 1, 2], [3, 1, 2], [3, 1, 2]]).T).pvalue < p
    tied = friedman([[1, 1, 2], [2, 1, 3], [1, 2, 3]])
    assert tied[2] and 0 < tied[1] <= 1
    assert friedman([[1, 1, 1], [2, 2, 2], [5, 5, 5]]) == (0.0, 1.0, True)   # ties in every block
    x = np.random.default_rng(0).normal(size=(6, 10))     # 10! orderings a block: not counted
    chi2, p, exact = friedman(x)
    assert not exact and p == pytest.approx(sps.friedmanchisquare(*x.T).pvalue, rel=1e-6)
