"""The report's tables, computed with pandas from an experiment, written as Markdown, LaTeX and CSV.

A `Table` holds display blocks (strings, measured and published apart) and one
numeric frame for the CSV, so that other tools read numbers, not "93.1 ± 0.4".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import stats as st
from nas.files import atomic_write
from nas.genotype import parse_genotype
from nas.strategies import STRATEGIES
from resultstore.experiment import Experiment, ReportError
from resultstore.schema import TRIAL_KEY, short_name
from resultstore.store import read_results

# Baseline → the strategies compared against it, as a name prefix ("" = every strategy). Two
# baselines that would each be compared with the other keep one direction only: strategy = the one
# listed first, baseline = the later one (first-order − random, not random − first-order).
BASELINES = {"first-order": "", "random": "", "first-order-smoothed": "hyperdarts-"}
COMPARISON_FIELDS = ("diff", "diff_lo", "diff_hi", "n", "test", "p", "p_holm", "mde", "mde_holm",
                     "verdict")
VERDICTS = {"differs": "differs", "not detectable": "no difference detectable at this n",
            "no spread": "not testable (the same difference on every seed)",
            "not significant": "not significant after Holm", "not testable": "not testable (n < 2)"}


@dataclass
class Table:
    name: str
    caption: str
    blocks: list[tuple[str | None, pd.DataFrame]]   # (heading, display frame of strings)
    numbers: pd.DataFrame                           # the CSV
    note: str = ""
    text: list[str] = field(default_factory=list)   # sentences shown above the blocks


def strategy_order(names) -> list[str]:
    known = [s for s in STRATEGIES if s in set(names)]
    return known + sorted(set(names) - set(known))


def _nan(x) -> bool:
    return x is None or (isinstance(x, float | np.floating) and math.isnan(x))


def pm(mean: float, std: float, digits: int = 2) -> str:
    if _nan(mean):
        return "—"
    if _nan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def ci_text(mean: float, lo: float, hi: float, digits: int = 2, sign: bool = False) -> str:
    """'93.12 [92.40, 93.84]'; the mean alone where the interval is NaN (n = 1); '—' for no mean."""
    if _nan(mean):
        return "—"
    f = f"{{:{'+' if sign else ''}.{digits}f}}"
    if _nan(lo) or _nan(hi):
        return f.format(mean)
    return f"{f.format(mean)} [{f.format(lo)}, {f.format(hi)}]"


def p_text(p: float) -> str:
    """'0.012', '<0.001', '—' for NaN."""
    return "—" if _nan(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def device_kind(device: str) -> str:
    return "CPU" if str(device).lower().startswith("cpu") else "GPU"


def cost_hours(frame: pd.DataFrame, what: str) -> tuple[pd.Series, pd.Series]:
    """Per row, the hours of its search or evaluation (`what`: "search", "eval") and their unit.

    On a CPU the cost is the process's CPU time, all threads (`<what>_cpu_s`, "CPU-hours"): wall
    time on shared cores measures the neighbours as much as the work (identical first-order
    searches of the cpu grid took 105-441 s of it). On a GPU it is the wall time of the trial on
    its device ("GPU-hours"). A CPU row without CPU time (the shipped examples run before it was
    recorded hold none) falls back to wall time, labelled "CPU wall-hours"."""
    wall = frame[f"{what}_wall_s"].astype(float)
    cpu = frame[f"{what}_cpu_s"].astype(float)
    on_cpu = frame[f"{what}_device"].map(lambda d: device_kind(d) == "CPU").astype(bool)
    use_cpu = on_cpu & cpu.notna()
    hours = pd.Series(np.where(use_cpu, cpu, wall) / 3600, index=frame.index)
    unit = pd.Series(np.where(use_cpu, "CPU-hours", np.where(on_cpu, "CPU wall-hours", "GPU-hours")),
                     index=frame.index)
    return hours, unit


def _units(values) -> str:
    return "; ".join(sorted(set(values)))


def slug(name: str) -> str:
    """'first-order-smoothed' -> 'first_order_smoothed' (for column names)."""
    return name.replace("-", "_")


def comparisons(strategies) -> list[tuple[str, str]]:
    """(strategy, baseline) pairs among `strategies` compared in one table, following BASELINES."""
    names = list(strategies)
    order = list(BASELINES)
    applies = {(s, b) for b, prefix in BASELINES.items() if b in names
               for s in names if s != b and s.startswith(prefix)}
    return [(s, b) for s in names for b in order
            if (s, b) in applies and not ((b, s) in applies and order.index(b) < order.index(s))]


def verdict(d: st.Difference, p_holm: float, mde_holm: float) -> str:
    """The short reading of one comparison (a key of VERDICTS): 'not detectable' where the
    interval holds 0 and the difference is below what the Holm-corrected test detects."""
    if d.n >= 2 and d.sd == 0:
        return "no spread"
    if _nan(p_holm):
        return "not testable"
    if p_holm < st.ALPHA:
        return "differs"
    if d.lo <= 0 <= d.hi and abs(d.diff) < mde_holm:
        return "not detectable"
    return "not significant"


def holm_mde(d: st.Difference, m: int) -> float:
    """What the comparison detects at 80% power after Holm's correction over m comparisons: the
    minimum detectable difference at α/m (Holm's first step, which a lone true difference among
    m − 1 null ones must pass)."""
    if _nan(d.sd) or d.sd == 0 or m < 1:
        return float("nan")
    if d.test == "paired":
        return st.minimum_detectable_difference(d.sd, d.n, paired=True, alpha=st.ALPHA / m)
    return st.minimum_detectable_difference(d.sd, d.n_a, paired=False, alpha=st.ALPHA / m, n2=d.n_b)


# ---------------------------------------------------------------- numbers


def accuracy_numbers(exp: Experiment) -> pd.DataFrame:
    """One row per (search dataset, strategy, evaluation dataset): accuracy statistics, variance
    components, the comparisons with the baselines (`vs_<baseline>_<field>`) and costs.

    The unit is one search (its accuracy the mean over its repeats, `Experiment.searches`); n
    counts searches. Accuracies and differences in percentage points.
    """
    f, s = exp.finished, exp.searches
    keys = ["search_dataset", "strategy", "eval_dataset"]
    if f.empty:   # nothing evaluated (yet, or a search-only grid)
        return pd.DataFrame(columns=[*keys, "n", "repeats_min", "repeats_max", "acc_mean", "acc_ci_lo",
                                     "acc_ci_hi", "acc_std", "sd_search", "sd_search_lo", "sd_search_hi",
                                     "sd_train", "sd_train_lo", "sd_train_hi"])
    rows = []
    for key, g in s.groupby(keys, sort=False):
        mean, lo, hi, n = st.mean_ci(g["acc"])
        rows.append({**dict(zip(keys, key)), "n": n, "repeats_min": int(g["repeats"].min()),
                     "repeats_max": int(g["repeats"].max()), "acc_mean": mean, "acc_ci_lo": lo,
                     "acc_ci_hi": hi, "acc_std": g["acc"].std()})
    out = pd.DataFrame(rows)
    vc = st.variance_components(f, ["seed"], "acc", "repeat", group_cols=keys)
    out = out.merge(vc[[*keys, "sd_search", "sd_search_lo", "sd_search_hi", "sd_train", "sd_train_lo",
                        "sd_train_hi"]], on=keys, how="left")
    f = f.copy()
    f["eval_hours"], f["eval_cost_unit"] = cost_hours(f, "eval")
    cost = f.groupby(keys).agg(params_m=("params", lambda v: v.mean() / 1e6),
                               eval_hours=("eval_hours", "mean"),
                               eval_cost_unit=("eval_cost_unit", _units)).reset_index()
    out = out.merge(cost, on=keys, how="left")
    per_trial = f.drop_duplicates(TRIAL_KEY).copy()
    per_trial["search_hours"], per_trial["search_cost_unit"] = cost_hours(per_trial, "search")
    cost = per_trial.groupby(["search_dataset", "strategy"]).agg(
        search_hours=("search_hours", "mean"), search_cost_unit=("search_cost_unit", _units),
        search_device=("search_device", _units),
        eval_device=("eval_device", _units)).reset_index()
    out = out.merge(cost, on=["search_dataset", "strategy"], how="left")
    for b in BASELINES:
        for c in COMPARISON_FIELDS:
            out[f"vs_{slug(b)}_{c}"] = "" if c in ("test", "verdict") else np.nan
    # Holm's family: every comparison the table makes for a search dataset, on all its evaluation
    # datasets together (a claim on CIFAR-10 and one on CIFAR-100 are two chances of a false one)
    for sd, block in out.groupby("search_dataset", sort=False):
        tests = []    # (row index, baseline, difference)
        for ed, fam in block.groupby("eval_dataset", sort=False):
            acc = s[(s.search_dataset == sd) & (s.eval_dataset == ed)]
            by_seed = {k: g.set_index("seed")["acc"] for k, g in acc.groupby("strategy")}
            for a, b in comparisons(strategy_order(fam.strategy)):
                tests.append((fam.index[fam.strategy == a][0], b, st.compare(by_seed[a], by_seed[b])))
        adjusted = st.holm([d.p for _, _, d in tests])
        m = sum(not _nan(d.p) for _, _, d in tests)
        for (i, b, d), p_holm in zip(tests, adjusted):
            pre = f"vs_{slug(b)}_"
            mde_holm = holm_mde(d, m)
            values = {"diff": d.diff, "diff_lo": d.lo, "diff_hi": d.hi, "n": d.n, "test": d.test,
                      "p": d.p, "p_holm": p_holm, "mde": d.mde, "mde_holm": mde_holm,
                      "verdict": verdict(d, p_holm, mde_holm)}
            for c, v in values.items():
                out.loc[i, pre + c] = v
    for b in BASELINES:
        out[f"vs_{slug(b)}_n"] = out[f"vs_{slug(b)}_n"].astype("Int64")
    order = {name: i for i, name in enumerate(strategy_order(out["strategy"]))}
    return out.sort_values(["search_dataset", "strategy"], key=lambda c: c.map(order) if c.name == "strategy"
                           else c, kind="stable").reset_index(drop=True)


def transfer_numbers(exp: Experiment) -> pd.DataFrame:
    """Per (search dataset, transfer dataset, strategy): the searches evaluated on both (paired by
    seed), their mean accuracy with its 95% interval on each dataset, the ranks of the means with
    their 95% intervals, and Spearman's ρ between the strategies' means on the two datasets with its
    interval (the same on every row of a pair of datasets; `stats.bootstrap_ranking`: the searches
    resampled within each strategy)."""
    s = exp.searches
    rows, paired = [], []
    for (sd, strategy), g in s.groupby(["search_dataset", "strategy"]):
        on_search = g[g.eval_dataset == sd].set_index("seed")["acc"]
        for td in sorted(set(g.eval_dataset) - {sd}):
            on_transfer = g[g.eval_dataset == td].set_index("seed")["acc"]
            both = on_search.index.intersection(on_transfer.index)
            a, b = on_search.loc[both], on_transfer.loc[both]
            ok = (a.notna() & b.notna()).to_numpy()   # the searches with both accuracies, for every number
            a, b = a[ok], b[ok]
            if a.empty:   # a strategy no seed of which has both
                continue
            sm, slo, shi, n = st.mean_ci(a)
            tm, tlo, thi, _ = st.mean_ci(b)
            rows.append({"search_dataset": sd, "transfer_dataset": td, "strategy": strategy, "n": n,
                         "search_acc_mean": sm, "search_acc_ci_lo": slo, "search_acc_ci_hi": shi,
                         "search_acc_std": a.std(), "transfer_acc_mean": tm, "transfer_acc_ci_lo": tlo,
                         "transfer_acc_ci_hi": thi, "transfer_acc_std": b.std()})
            paired.append((a.to_numpy(float), b.to_numpy(float)))
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    grp = out.groupby(["search_dataset", "transfer_dataset"])
    out["search_rank"] = grp["search_acc_mean"].rank(ascending=False, method="min").astype(int)
    out["transfer_rank"] = grp["transfer_acc_mean"].rank(ascending=False, method="min").astype(int)
    order = {s: i for i, s in enumerate(strategy_order(out["strategy"]))}
    out = out.sort_values(["search_dataset", "transfer_dataset", "strategy"],
                          key=lambda c: c.map(order) if c.name == "strategy" else c)
    # the bootstrap over each pair of datasets' strategies in the table's order (its draws follow it)
    for _, g in out.groupby(["search_dataset", "transfer_dataset"], sort=False):
        r = st.bootstrap_ranking([paired[i] for i in g.index])
        out.loc[g.index, ["search_rank_lo", "search_rank_hi", "transfer_rank_lo", "transfer_rank_hi"]] = (
            np.column_stack([r.x_rank_lo, r.x_rank_hi, r.y_rank_lo, r.y_rank_hi]))
        out.loc[g.index, ["means_rho", "means_rho_ci_lo", "means_rho_ci_hi"]] = (r.rho, r.rho_lo, r.rho_hi)
    return out.reset_index(drop=True)


REFERENCE_COLUMNS = ("method", "search_dataset", "eval_dataset", "test_error", "test_error_std",
                     "params_m", "search_gpu_days", "citation", "source", "protocol", "paper_version")
NOT_STATED = "not stated"


# the reference table's columns besides method, eval_dataset and test_error
REFERENCE_OPTIONAL = ("space", "search_dataset", "test_error_std", "params_m", "search_gpu_days",
                      "protocol", "paper_version", "citation", "source")


def load_reference(path: str | Path, space: str | None = None) -> pd.DataFrame:
    """Published results (analysis/reference.csv), one row per (method, search dataset, evaluation
    dataset, source), with `acc` = 100 − test_error added (rounded to 1e-6, so that 100 − 21.72 is
    78.28). Empty cells (no std, parameters, search cost or search dataset published) are NaN.
    `space`: only the rows of that search space (a table without a `space` column is DARTS's)."""
    try:
        ref = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ReportError(f"{path} is not a CSV table of published numbers ({e}); give --reference "
                          "a table like analysis/reference.csv, or --no-reference") from None
    missing = [c for c in ("method", "eval_dataset", "test_error") if c not in ref]
    if missing:
        raise ReportError(f"{path}: the reference table lacks the column(s) {', '.join(missing)}; "
                          "give --reference a table like analysis/reference.csv, or --no-reference")
    if not pd.api.types.is_numeric_dtype(ref["test_error"]):
        raise ReportError(f"{path}: the reference table's test_error holds text, not numbers")
    ref["acc"] = (100.0 - ref["test_error"].astype(float)).round(6)
    for column in REFERENCE_OPTIONAL:   # (a column one's own table leaves out: every cell empty)
        if column not in ref:
            ref[column] = np.nan
    ref["space"] = ref["space"].fillna("darts")
    if space is not None:
        ref = ref[ref.space == space].reset_index(drop=True)
    return ref


# ---------------------------------------------------------------- tables


def _count(lo: int, hi: int) -> str:
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def detectability(num: pd.DataFrame) -> list[str]:
    """One sentence per (search dataset, evaluation dataset): the smallest difference the grid
    detects, from the `vs_*_mde`, `vs_*_n` and `vs_*_test` columns of `accuracy_numbers`."""
    lines = []
    fields = ("n", "test", "mde", "mde_holm")

    def family_size(block: pd.DataFrame) -> int:   # Holm's family: the search dataset's comparisons
        return int(sum(block[f"vs_{slug(b)}_mde"].notna().sum() for b in BASELINES))

    families = {sd: family_size(block) for sd, block in num.groupby("search_dataset", sort=False)}
    for (sd, ed), fam in num.groupby(["search_dataset", "eval_dataset"], sort=False):
        rows = [fam[[f"vs_{slug(b)}_{c}" for c in fields]].set_axis(list(fields), axis=1)
                for b in BASELINES]
        comp = pd.concat(rows)
        comp = comp[comp["test"] != ""]
        where = f"On {short_name(ed)}" + ("" if ed == sd else f" (cells searched on {short_name(sd)})")
        searches = _count(int(fam["n"].min()), int(fam["n"].max()))
        if comp.empty:
            lines.append(f"{where}, with n = {searches} searches per strategy, no strategy has a baseline "
                         "to be compared with.")
            continue
        tested = comp[comp["mde"].notna()]
        if tested.empty:
            lines.append(f"{where}, with n = {searches} searches per strategy, fewer than 2 seeds are "
                         "shared with a baseline: no difference detectable at this n.")
            continue
        def span(col: str, tested: pd.DataFrame = tested) -> str:
            lo, hi = tested[col].min(), tested[col].max()
            return f"{lo:.2f}" if round(lo, 2) == round(hi, 2) else f"{lo:.2f}–{hi:.2f}"
        kinds = sorted(set(tested["test"]))
        kind = "paired" if kinds == ["paired"] else ("unpaired (Welch)" if kinds == ["welch"]
                                                     else "paired or unpaired (Welch)")
        pairs = _count(int(tested["n"].min()), int(tested["n"].max()))
        spread = (f"range over its {len(tested)} comparisons, each from its own observed sd of "
                  "the differences" if len(tested) > 1 else "from the observed sd of the differences")
        lines.append(f"{where}, with n = {pairs} searches per strategy, this grid detects a {kind} "
                     f"difference of ≥ {span('mde_holm')} points with {st.POWER:.0%} power after Holm's "
                     f"correction over the {families[sd]} comparisons of cells searched on "
                     f"{short_name(sd)} (≥ {span('mde')} points for a single "
                     f"comparison at α = {st.ALPHA:g}, two-sided; {spread}, itself uncertain with "
                     f"n − 1 degrees of freedom); smaller differences are not detectable at this n.")
    return lines


def _accuracy_rows(g: pd.DataFrame, sd: str, evals: list[str],
                   ran: dict[tuple[str, str], str] | None) -> list[dict]:
    """The measured block of one search dataset: a row per strategy, its accuracy on every
    evaluation dataset with its interval, its trainings per search, size and costs."""
    rows = []
    for strategy, s in g.groupby("strategy", sort=False):
        by = s.set_index("eval_dataset")
        first = by.loc[sd] if sd in by.index else by.iloc[0]
        most = int(by["n"].max())
        per = {e: _count(int(by.loc[e, "repeats_min"]), int(by.loc[e, "repeats_max"]))
               for e in evals if e in by.index}
        row = {"strategy": strategy, "searches": most,
               # trainings per search: one number where every evaluation dataset has it
               "repeats": (next(iter(per.values())) if len(set(per.values())) == 1 else
                           "; ".join(f"{short_name(e)} {r}" for e, r in per.items()))}
        for e in evals:
            cell = "—"
            if e in by.index:
                r = by.loc[e]
                cell = ci_text(r.acc_mean, r.acc_ci_lo, r.acc_ci_hi)
                cell += f" (n = {int(r.n)})" if int(r.n) != most else ""
            row[f"{short_name(e)} acc (%) [95% CI]"] = cell
        row["params (M)"] = f"{first['params_m']:.3g}"
        row["search cost"] = f"{first['search_hours']:.2g} {first['search_cost_unit']}"
        row["eval cost"] = f"{by['eval_hours'].mean():.2g} {_units(by['eval_cost_unit'])}"
        if ran is not None:
            row["ran as configured"] = ran.get((sd, strategy), "—")
        rows.append(row)
    return rows


def _accuracy_note(num: pd.DataFrame) -> str:
    """What the accuracy table's numbers are and how they were computed."""
    devices = sorted(set(num["search_device"]))
    against = "; ".join(f"{b} for {'every strategy' if not p else p + '*'}" for b, p in BASELINES.items())
    return (
        "Test accuracy in percent; differences in percentage points (pts). The unit is one search "
        "(a strategy searched with one seed): its accuracy is the mean over its repeats (trainings "
        "from scratch of the found cell with different training seeds), and n counts searches. "
        "Mean [95% CI]: Student-t interval over the n searches (scipy.stats.ttest_1samp), the mean "
        "alone where n = 1. "
        f"Differences: strategy − baseline ({against}), with its 95% CI, paired by seed (the same "
        "seed gives both strategies the same data split, initialisation and training seeds): a "
        "paired t-test (scipy.stats.ttest_rel) over the seeds both have; where they share no seed, "
        "Welch's unpaired t-test (scipy.stats.ttest_ind, equal_var=False), marked 'Welch'. "
        "p_Holm: the two-sided p-value corrected by Holm's method (statsmodels multipletests) over "
        "all the comparisons the table makes for that search dataset, on every evaluation dataset. "
        f"MDE: the smallest true difference the same test detects with {st.POWER:.0%} power, with "
        "that n and the observed sd of the differences (noncentral t, scipy.stats.nct; "
        "equal variances assumed for Welch), at α/m, m the comparisons of that family "
        f"(Holm's first step; the uncorrected MDE at α = {st.ALPHA:g} is in the CSV). "
        f"Verdict: '{VERDICTS['differs']}' where p_Holm < {st.ALPHA:g}; "
        f"'{VERDICTS['not detectable']}' where the CI includes 0 and |Δ| < MDE; "
        f"'{VERDICTS['no spread']}' where every seed gives the same difference (e.g. the same "
        f"cell); '{VERDICTS['not significant']}' otherwise. Searches that diverged have no "
        "accuracy and drop out of the pairing. "
        "Search and training noise (where a found cell was trained more than once): sd of the "
        "search means; sd between searches and between trainings from a one-way "
        "random-effects ANOVA over each strategy's trainings (search = group, repeats within it): "
        "sd_train = √MS_within, sd_search = √(max(0, MS_between − MS_within)/r), r the repeats per "
        "search (the unbalanced ANOVA's r₀ where they differ); '—' without repeats or with fewer "
        "than 2 searches; [95% CI]: χ² intervals (sd_train's exact under normality with N − k "
        "df; sd_search's approximate, from MS_between's with k − 1 df, MS_within taken as known: "
        "with 3 searches, 2 df, it spans about a factor of 6). "
        f"Search cost: the mean cost of one search, on {'; '.join(devices)}; eval cost: that of one "
        "training from scratch and test; in the unit each column names: CPU-hours (process CPU "
        "time, all threads) on CPUs, GPU-hours (wall time on the device) on GPUs, CPU wall-hours "
        "for rows without CPU time (runs before it was recorded).")


def accuracy_table(exp: Experiment, reference: pd.DataFrame | None,
                   ran: dict[tuple[str, str], str] | None = None) -> Table | None:
    """The accuracy table; None where no evaluation has finished. `ran`: per (search dataset,
    strategy), whether its searches ran as configured (analysis/health.py), shown beside them."""
    if exp.finished.empty:
        return None
    num = accuracy_numbers(exp)
    blocks = []
    for sd, g in num.groupby("search_dataset", sort=False):
        evals = [sd, *sorted(set(g.eval_dataset) - {sd})]
        rows = _accuracy_rows(g, sd, evals, ran)
        blocks.append((f"Measured: searched on {short_name(sd)}", pd.DataFrame(rows)))
        for e in evals:
            frame = comparison_frame(g[g.eval_dataset == e], ran)
            if not frame.empty:
                blocks.append((f"Differences on {short_name(e)} (searched on {short_name(sd)})", frame))
        spread = variance_frame(g, exp.finished[exp.finished.search_dataset == sd])
        if not spread.empty:
            blocks.append((f"Search noise and training noise (searched on {short_name(sd)})", spread))
    if reference is not None and not reference.empty:
        blocks.append(("Published (not measured here; each row's protocol and paper version in its columns)",
                       published_frame(reference)))
    note = _accuracy_note(num)
    return Table("accuracy", "Test accuracy per strategy, with its cost", blocks, num, note,
                 detectability(num))


def comparison_frame(fam: pd.DataFrame,
                     ran: dict[tuple[str, str], str] | None = None) -> pd.DataFrame:
    """Display rows of one family (one search and evaluation dataset): one per comparison. Where
    `ran` says a strategy (or its baseline) did not run as configured, the verdict says so instead
    of comparing it."""
    ran = ran or {}

    def broken(strategy: str, sd: str) -> bool:
        return ran.get((sd, strategy), "").startswith("no:")

    rows = []
    for r in fam.itertuples():
        for b in BASELINES:
            v = {c: getattr(r, f"vs_{slug(b)}_{c}") for c in COMPARISON_FIELDS}
            if v["test"] == "":
                continue
            bad = [s for s in (r.strategy, b) if broken(s, r.search_dataset)]
            rows.append({"strategy": r.strategy, "against": b,
                         "n": f"{v['n']}" if v["test"] == "paired" else f"{v['n']} (Welch)",
                         "Δ (pts) [95% CI]": ci_text(v["diff"], v["diff_lo"], v["diff_hi"], sign=True),
                         "p_Holm": p_text(v["p_holm"]),
                         "MDE after Holm (pts)": "—" if _nan(v["mde_holm"]) else f"{v['mde_holm']:.2f}",
                         "verdict": VERDICTS[v["verdict"]] if not bad else
                         f"not compared: {' and '.join(bad)} did not run as configured"})
    return pd.DataFrame(rows)


def variance_frame(g: pd.DataFrame, trainings: pd.DataFrame | None = None) -> pd.DataFrame:
    """Display rows of the spread per strategy, on the evaluation datasets with repeats, and (from
    `trainings`, the finished rows) a row per such dataset pooled over strategies; empty
    without any repeats."""
    g = g[g["repeats_max"] >= 2]
    if g.empty:
        return pd.DataFrame()

    def fmt(x):
        return "—" if _nan(x) else f"{x:.2f}"

    def with_ci(x, lo, hi):
        return fmt(x) if _nan(lo) else f"{fmt(x)} [{fmt(lo)}, {fmt(hi)}]"

    out = pd.DataFrame({
        "strategy": g["strategy"], "evaluated on": g["eval_dataset"].map(short_name),
        "searches": g["n"], "repeats": [_count(a, b) for a, b in zip(g.repeats_min, g.repeats_max)],
        "sd of search means (pts)": g["acc_std"].map(fmt),
        "sd between searches (pts) [95% CI]": [with_ci(*v) for v in zip(g.sd_search, g.sd_search_lo,
                                                                        g.sd_search_hi)],
        "sd between trainings (pts) [95% CI]": [with_ci(*v) for v in zip(g.sd_train, g.sd_train_lo,
                                                                         g.sd_train_hi)]}).reset_index(drop=True)
    if trainings is None:
        return out
    pooled = []
    for e in dict.fromkeys(g["eval_dataset"]):
        t = trainings[trainings.eval_dataset == e]
        vc = st.variance_components(t, ["strategy", "seed"], "acc", "repeat")
        if vc.empty:
            continue
        v = vc.iloc[0]
        pooled.append({"strategy": "pooled over strategies", "evaluated on": short_name(e),
                       "searches": int(v["searches"]),
                       "repeats": _count(int(v["repeats_min"]), int(v["repeats_max"])),
                       "sd of search means (pts)": "—", "sd between searches (pts) [95% CI]": "—",
                       "sd between trainings (pts) [95% CI]": with_ci(v["sd_train"], v["sd_train_lo"],
                                                                      v["sd_train_hi"])})
    return pd.concat([out, pd.DataFrame(pooled)], ignore_index=True)


def _stated(value, default: str = NOT_STATED) -> str:
    """A text cell of the reference table: `default` where it is empty (NaN, None, blank)."""
    if _nan(value):
        return default
    text = str(value).strip()
    return text if text and text.lower() != "nan" else default


def _number(value, fmt: str) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(x) else fmt.format(x)


def published_frame(reference: pd.DataFrame) -> pd.DataFrame:
    """Display rows of the published results, one per row of the reference table: the method,
    where it was searched and evaluated, accuracy (± std where published), parameters, search cost,
    the protocol it was measured with and the paper (and version) it comes from.

    Rows are grouped by protocol (in the order the protocols first appear), then by evaluation
    dataset. Empty cells are '—' (numbers) or 'not stated' (search dataset, protocol, version), so a
    row with no std, parameters or search cost (the course project's) shows only what is known.
    """
    if reference is None or reference.empty:
        return pd.DataFrame()
    ref = reference.reset_index(drop=True)
    protocol = ref["protocol"].map(_stated)
    first = {p: i for i, p in reversed(list(enumerate(protocol)))}
    order = sorted(ref.index, key=lambda i: (first[protocol[i]], str(ref.at[i, "eval_dataset"]), i))
    rows = []
    for i in order:
        r = ref.loc[i]
        acc = r["acc"]
        std = r.get("test_error_std", float("nan"))
        citation = _stated(r.get("citation"), "")
        source = ", ".join(x for x in (short_citation(citation) if citation else "",
                                       _stated(r.get("source"), "")) if x)
        rows.append({
            "method (published)": r["method"],
            "searched on": _stated(r.get("search_dataset")),
            "evaluated on": r["eval_dataset"],
            "acc (%)": pm(float(acc), float("nan") if _stated(std, "") == "" else float(std)),
            "params (M)": _number(r.get("params_m"), "{:.1f}"),
            "search cost": _number(r.get("search_gpu_days"), "{:g} GPU-days"),
            "protocol": protocol[i],
            "paper version": _stated(r.get("paper_version")),
            "source": source or NOT_STATED})
    return pd.DataFrame(rows)


def short_citation(citation: str) -> str:
    """'Liu, Simonyan, Yang. DARTS: ... ICLR 2019' -> 'Liu et al., ICLR 2019'; a citation that is
    not 'Authors. Title. Venue' (the course project's) is returned as it is."""
    parts = str(citation).split(". ")
    if len(parts) < 3:
        return str(citation).strip()
    authors, venue = parts[0], parts[-1]
    first = authors.split(",")[0]
    return f"{first} et al., {venue}" if "," in authors else f"{first}, {venue}"


def search_pairs(exp: Experiment, search_dataset: str, transfer_dataset: str) -> pd.DataFrame:
    """One row per search of `search_dataset` evaluated on both datasets: `search` and `transfer`,
    its found cell's accuracy (%, mean over repeats) on each."""
    s = exp.searches
    if s.empty:
        return pd.DataFrame(columns=["search", "transfer"])
    s = s[s.search_dataset == search_dataset]
    wide = s.pivot_table(index=["strategy", "seed"], columns="eval_dataset", values="acc")
    if search_dataset not in wide or transfer_dataset not in wide:
        return pd.DataFrame(columns=["search", "transfer"])
    return (wide[[search_dataset, transfer_dataset]].dropna()
            .set_axis(["search", "transfer"], axis=1).reset_index(drop=True))


def rank_text(g: pd.DataFrame, prefix: str) -> list[str]:
    """A transfer block's ranks on one dataset with their bootstrap intervals: '2 [1, 3]', or the
    rank alone where the interval is that rank."""
    out = []
    for rank, lo, hi in zip(g[f"{prefix}_rank"], g[f"{prefix}_rank_lo"], g[f"{prefix}_rank_hi"]):
        out.append(f"{rank:d}" if lo == hi == rank else f"{rank:d} [{lo:.0f}, {hi:.0f}]")
    return out


def transfer_table(exp: Experiment) -> Table | None:
    num = transfer_numbers(exp)
    if num.empty:
        return None
    blocks, notes = [], []
    for (sd, td), g in num.groupby(["search_dataset", "transfer_dataset"], sort=False):
        frame = pd.DataFrame({
            "strategy": g["strategy"], "searches": g["n"],
            f"{short_name(sd)} acc (%) [95% CI]": [ci_text(m, lo, hi) for m, lo, hi in
                                                   zip(g.search_acc_mean, g.search_acc_ci_lo,
                                                       g.search_acc_ci_hi)],
            f"{short_name(td)} acc (%) [95% CI]": [ci_text(m, lo, hi) for m, lo, hi in
                                                   zip(g.transfer_acc_mean, g.transfer_acc_ci_lo,
                                                       g.transfer_acc_ci_hi)],
            f"rank on {short_name(sd)}": rank_text(g, "search"),
            f"rank on {short_name(td)}": rank_text(g, "transfer")})
        blocks.append((f"Searched on {short_name(sd)}, transferred to {short_name(td)}", frame))
        if len(g) >= 3:
            r = g.iloc[0]
            notes.append(f"{short_name(sd)}→{short_name(td)}: Spearman ρ between the strategies' mean "
                         f"accuracies = {ci_text(r.means_rho, r.means_rho_ci_lo, r.means_rho_ci_hi)} over "
                         f"{len(g)} strategies")
        pairs = search_pairs(exp, sd, td)
        if len(pairs) >= 3:
            rho, lo, hi = st.bootstrap_spearman(pairs["search"], pairs["transfer"])
            notes.append(f"across the {len(pairs)} searches (every strategy's, each found cell's accuracy "
                         f"on both datasets): Spearman ρ = {ci_text(rho, lo, hi)} (95% percentile-"
                         "bootstrap interval, resampling the searches)")
    notes.append("the ranks (1 = the highest mean) and the strategies' ρ with 95% percentile-bootstrap "
                 "intervals that resample each strategy's searches (its seeds, each search's two "
                 "accuracies kept together), not the strategies, which are the ones compared: the spread "
                 "that the searches' noise at this n gives the ranking, not a guaranteed coverage (a "
                 "strategy of one search counts as exact; strategies are resampled apart, so a seed "
                 "effect they share widens the ranks' intervals)")
    note = ("Test accuracy in percent of the cells found on the search dataset, trained from scratch (or "
            "looked up in a table of cells) and "
            "tested on each dataset; the unit is one search (mean over its repeats), n = searches "
            "evaluated on both datasets (paired by seed). Mean [95% CI]: Student-t interval over the "
            "searches (scipy.stats.ttest_1samp), the mean alone where n = 1. " + "; ".join(notes))
    return Table("transfer", "Transferability: search-dataset accuracy against transfer accuracy",
                 blocks, num, note.strip())


# ---------------------------------------------------------------- writers


def to_markdown(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def _tex(s) -> str:
    s = str(s)
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("_", r"\_"),
                 ("±", r"$\pm$"), ("—", "--"), ("→", r"$\to$"), ("ρ", r"$\rho$"), ("Δ", r"$\Delta$"),
                 ("α", r"$\alpha$"), ("≥", r"$\geq$"), ("−", "$-$"), ("<", r"$<$")):
        s = s.replace(a, b)
    return s


def to_latex(table: Table) -> str:
    out = [f"% {table.caption}. {table.note}", *(f"% {line}" for line in table.text)]
    for heading, df in table.blocks:
        out.append(r"\begin{tabular}{l" + "r" * (len(df.columns) - 1) + "}")
        out.append(r"\toprule")
        if heading:
            out.append(rf"\multicolumn{{{len(df.columns)}}}{{l}}{{\emph{{{_tex(heading)}}}}} \\")
            out.append(r"\midrule")
        out.append(" & ".join(_tex(c) for c in df.columns) + r" \\")
        out.append(r"\midrule")
        out += [" & ".join(_tex(v) for v in row) + r" \\" for row in df.itertuples(index=False)]
        out.append(r"\bottomrule")
        out.append(r"\end{tabular}")
        out.append("")
    return "\n".join(out)


def markdown_blocks(table: Table) -> str:
    parts = [line + "\n" for line in table.text]
    for heading, df in table.blocks:
        if heading:
            parts.append(f"*{heading}*\n")
        parts.append(to_markdown(df) + "\n")
    if table.note:
        parts.append(table.note + "\n")
    return "\n".join(parts)


def write_table(table: Table, out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{table.name}.{ext}" for ext in ("md", "tex", "csv")]

    atomic_write(paths[0], f"**{table.caption}**\n\n{markdown_blocks(table)}")
    atomic_write(paths[1], to_latex(table))
    atomic_write(paths[2], table.numbers.to_csv(index=False))
    return paths


def reference_numbers_for(reference: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Published rows for a measured evaluation dataset (cifar10 / cifar100 look-alikes), else none."""
    key = reference_key(dataset)
    return reference[reference.eval_dataset == key] if key else reference.iloc[0:0]


# ---------------------------------------------------------------- speed (benchmark/perf.py)

PERF_KEY = ["device", "kind", "strategy", "batch", "layers", "channels", "image_size", "speed", "hvp",
            "partial_channels"]


def latest_perf(path: Path) -> pd.DataFrame:
    """`benchmark/perf.py`'s perf table (a results folder or one parquet file), the latest
    measurement of each configuration."""
    df = read_results(path, "perf")
    if df.empty:
        return df
    missing = [c for c in (*PERF_KEY, "measured_at") if c not in df]
    if missing:
        raise ReportError(f"{path} is not benchmark/perf.py's perf table: it lacks the column(s) "
                          f"{', '.join(missing)}")
    df["partial_channels"] = df.partial_channels.astype(int)
    df = df.sort_values("measured_at").drop_duplicates(PERF_KEY, keep="last")
    return df.reset_index(drop=True)


def perf_table(path: Path) -> Table | None:
    """Time per search step against its passes, peak memory; evaluation images/s."""
    df = latest_perf(path)
    if df.empty:
        return None
    blocks, numbers = [], []
    for device, d in df.groupby("device", sort=False):
        s = d[d.kind == "search"].copy()
        if not s.empty:
            s["order"] = s.strategy.map({n: i for i, n in enumerate(strategy_order(s.strategy))})
            s = s.sort_values(["layers", "channels", "batch", "speed", "order"])
            show = pd.DataFrame({
                "strategy": s.strategy + np.where(s.hvp == "finite-difference", " (fd hvp)", "")
                + np.where(s.partial_channels > 1, " (pc " + s.partial_channels.astype(str) + ")", ""),
                "cells × C, batch": [f"{a} × {b}, {c}" for a, b, c in zip(s.layers, s.channels, s.batch)],
                "speed": s.speed.replace("", "—"),
                "step s": s.step_s.map("{:.3f}".format), "pass s": s.pass_s.map("{:.3f}".format),
                "step / pass": s.step_over_pass.map("{:.2f}".format),
                "expected passes": s.expected_passes.map("{:g}".format),
                "overhead": s.overhead.map("{:.2f}".format),
                "peak MB": (s.peak_mem_bytes / 2**20).map("{:.0f}".format)})
            blocks.append((f"{device}: search steps", show.reset_index(drop=True)))
        e = d[d.kind == "eval"]
        if not e.empty:
            e = e.sort_values(["layers", "channels", "batch", "strategy"])
            show = pd.DataFrame({
                "loop": e.strategy, "cells × C, batch": [f"{a} × {b}, {c}" for a, b, c in
                                                         zip(e.layers, e.channels, e.batch)],
                "speed": e.speed.replace("", "—"), "step s": e.step_s.map("{:.3f}".format),
                "images / s": e.images_per_s.map("{:.1f}".format),
                "peak MB": (e.peak_mem_bytes / 2**20).map("{:.0f}".format)})
            blocks.append((f"{device}: evaluation network training", show.reset_index(drop=True)))
        numbers.append(d)
    note = ("`python benchmark/perf.py`: median time per step after warm-up; pass = one forward+backward "
            "of the supernet on the same batch; overhead = step / (expected passes × pass). Peak memory: "
            "CUDA peak allocated on a GPU, peak RSS of the process on a CPU.")
    return Table("perf", "Speed and memory", blocks, pd.concat(numbers, ignore_index=True), note)


# ---------------------------------------------------------------- what the search did


def gene_sets(genotype: str) -> dict[tuple[str, int], set]:
    """{(cell, node): {(input, operation), …}} of a genotype in the DARTS text form."""
    g = parse_genotype(genotype)
    out = {}
    for cell in ("normal", "reduce"):
        genes = getattr(g, cell)
        for node in range(len(genes) // 2):
            out[(cell, node)] = {(inp, op) for op, inp in genes[2 * node: 2 * node + 2]}
    return out


def gene_difference(a: str, b: str) -> float:
    """The share of the (input, operation) genes of genotype a that genotype b lacks (0: the same
    cells, 1: no gene in common), over both cells' nodes."""
    ga, gb = gene_sets(a), gene_sets(b)
    total = sum(len(v) for v in ga.values())
    shared = sum(len(v & gb.get(k, set())) for k, v in ga.items())
    return 1.0 - shared / total if total else float("nan")


def movement_numbers(exp: Experiment) -> pd.DataFrame:
    """Per (search dataset, strategy): how far α moved and how much the found cells differ.

    `max_weight_*`: the largest softmax weight of each edge after the last search epoch, averaged
    over the edges of both cells (1/8 = 0.125 for a uniform α over 8 operations), mean and 95%
    interval over searches (the random baseline's α is drawn, not searched, so it has none).
    `vs_random` / `vs_first_order`: the share of genes that differ from the genotype of the same
    seed's random baseline / first-order search, mean over the seeds both have. `distinct`: the
    number of distinct genotypes among the strategy's searches.
    """
    a = exp.alphas
    if a.empty or "weight" not in a:
        return pd.DataFrame()
    last = a[a["epoch"] == a.groupby(TRIAL_KEY)["epoch"].transform("max")]
    per_edge = last.groupby([*TRIAL_KEY, "cell", "edge"])["weight"].max()
    per_search = per_edge.groupby(TRIAL_KEY).mean().rename("max_weight").reset_index()
    # every search's genotype: finished trials, and a search-only experiment's "searched" ones
    f = exp.trials
    if "genotype" in f:
        f = f[f["genotype"].map(lambda x: isinstance(x, str) and x != "")]
    genotypes = (f.drop_duplicates(TRIAL_KEY).set_index(TRIAL_KEY)["genotype"]
                 if "genotype" in f else pd.Series(dtype=object))
    rows = []
    for (sd, strategy), g in per_search.groupby(["search_dataset", "strategy"]):
        mean, lo, hi, n = st.mean_ci(g["max_weight"])
        if strategy == "random":
            mean = lo = hi = float("nan")
        row = {"search_dataset": sd, "strategy": strategy, "n": n, "max_weight_mean": mean,
               "max_weight_lo": lo, "max_weight_hi": hi}
        mine = {s: genotypes.get((strategy, sd, s)) for s in g["seed"]}
        mine = {s: x for s, x in mine.items() if isinstance(x, str)}
        for base, col in (("random", "vs_random"), ("first-order", "vs_first_order")):
            diffs = [gene_difference(x, genotypes[(base, sd, s)]) for s, x in mine.items()
                     if (base, sd, s) in genotypes.index and isinstance(genotypes[(base, sd, s)], str)]
            row[col] = float(np.mean(diffs)) if diffs and strategy != base else float("nan")
            row[f"{col}_n"] = len(diffs) if strategy != base else 0
        row["distinct"] = len(set(mine.values()))
        rows.append(row)
    out = pd.DataFrame(rows)
    order = {s: i for i, s in enumerate(strategy_order(out["strategy"]))}
    return out.sort_values(["search_dataset", "strategy"], key=lambda c: c.map(order)
                           if c.name == "strategy" else c).reset_index(drop=True)


def movement_table(exp: Experiment) -> Table | None:
    num = movement_numbers(exp)
    if num.empty:
        return None
    blocks = []
    for sd, g in num.groupby("search_dataset", sort=False):
        frame = pd.DataFrame({
            "strategy": g["strategy"], "searches": g["n"],
            "largest softmax(α) per edge [95% CI]": [
                "— (drawn, not searched)" if s == "random" else ci_text(m, lo, hi, digits=3)
                for s, m, lo, hi in zip(g.strategy, g.max_weight_mean, g.max_weight_lo, g.max_weight_hi)],
            "genes ≠ random's (same seed)": [_share(v, n) for v, n in zip(g.vs_random, g.vs_random_n)],
            "genes ≠ first-order's (same seed)": [_share(v, n) for v, n in zip(g.vs_first_order,
                                                                                g.vs_first_order_n)],
            "distinct genotypes": [f"{d} of {n}" for d, n in zip(g.distinct, g.n)]})
        blocks.append((f"Searched on {short_name(sd)}", frame))
    chance = chance_gene_difference(exp)
    note = ("Largest softmax(α) per edge: after the last search epoch, the largest of each edge's 8 "
            "operation weights, averaged over the edges of the normal and the reduction cell (0.125 = "
            "uniform, where every search starts; 1 = one operation per edge), mean and 95% Student-t "
            "interval over searches. Genes ≠: the share of the found cells' (input, operation) pairs "
            "that the same seed's random or first-order genotype lacks (0% = the same cells), mean over "
            "the seeds both have (n in parentheses)."
            + ("" if _nan(chance) else f" Two cells drawn independently and uniformly from this space "
               f"differ in {100 * chance:.0f}% of their genes on average (computed for its "
               "nodes and operations): values near it mean cells as different as random ones."))
    return Table("search", "What the search did: how far α moved, how much the found cells differ",
                 blocks, num, note)


def chance_gene_difference(exp: Experiment) -> float:
    """The expected share of genes of one uniform random DARTS genotype that another lacks: node i
    of a cell has k = i + 2 inputs and keeps 2 of them, each with one of the m non-`none`
    operations, so a given gene is in the other cell with probability (2/k)·(1/m); averaged over
    the nodes. NaN without a DARTS genotype or the operation list."""
    f = exp.finished
    if "genotype" not in f or f.empty or exp.alphas.empty or "op" not in exp.alphas:
        return float("nan")
    try:
        steps = len(gene_sets(str(f["genotype"].iloc[0]))) // 2
    except ValueError:
        return float("nan")
    m = exp.alphas["op"].nunique() - int("none" in set(exp.alphas["op"]))
    return random_gene_difference(steps, m)


def random_gene_difference(steps: int, ops: int) -> float:
    """1 − mean over the nodes i < steps of 2/((i + 2)·ops): see `chance_gene_difference`."""
    if steps < 1 or ops < 1:
        return float("nan")
    return 1.0 - float(np.mean([2.0 / ((i + 2) * ops) for i in range(steps)]))


def _share(value: float, n: int) -> str:
    return "—" if _nan(value) else f"{100 * value:.0f}% (n={n})"


COLLAPSE_COLUMNS = {"param_free_normal": ("parameter-free ops, normal", 1),
                    "param_free_reduce": ("parameter-free ops, reduction", 1),
                    "largest_eigenvalue": ("largest eigenvalue of ∇²_α L_val", 3),
                    "alpha_entropy": ("entropy of softmax(α) (nats)", 3),
                    "discretisation_gap": ("discretisation gap (pts)", 1)}


def collapse_table(exp: Experiment) -> Table | None:
    """The collapse diagnostics per strategy at every epoch they were computed: the mean over its
    searches of each, written as a sequence over the epochs (first → … → last), so that a drift to
    parameter-free operations and a rise of the eigenvalue before it can be read off."""
    e = exp.epochs
    if e.empty or "alpha_entropy" not in e:
        return None
    e = e[(e.phase == "search") & e.alpha_entropy.notna()]   # the epochs that were diagnosed
    cols = [c for c in COLLAPSE_COLUMNS if c in e and e[c].notna().any()]
    if e.empty or not cols:
        return None
    # only the searches diagnosed at every epoch their strategy was (a diverged search, stopped
    # early, would leave the later epochs' means to the survivors)
    full = e.groupby(["strategy", "search_dataset"]).epoch.transform("nunique")
    mine = e.groupby(["strategy", "search_dataset", "seed"]).epoch.transform("nunique")
    e = e[mine == full]
    blocks, numbers = [], []
    for sd, g in e.groupby("search_dataset", sort=False):
        frame = []
        for s in strategy_order(g.strategy.unique()):
            x = g[g.strategy == s]
            means = x.groupby("epoch")[cols].mean()
            row = {"strategy": s, "searches": int(x.groupby(["seed"]).ngroups),
                   "epochs": " → ".join(str(int(ep) + 1) for ep in means.index)}
            for c in cols:
                label, digits = COLLAPSE_COLUMNS[c]
                row[label] = " → ".join(f"{v:.{digits}f}" for v in means[c])
            frame.append(row)
            for ep, vals in means.iterrows():
                numbers.append({"search_dataset": sd, "strategy": s, "epoch": int(ep) + 1,
                                "searches": row["searches"], **{c: vals[c] for c in cols}})
        blocks.append((f"Searched on {short_name(sd)}", pd.DataFrame(frame)))
    note = ("Each strategy's collapse diagnostics after each search epoch at which the profile computes "
            "them (`search_diagnostics_every`), on one fixed validation batch: the mean over its searches "
            "that were diagnosed at every one of these epochs (no interval; the per-search values are in "
            "epochs.parquet and the figure). Parameter-free "
            "operations: skip connections and poolings among the derived cell's edges (DARTS's collapse "
            "fills the normal cell with skips); the largest eigenvalue of the validation loss's Hessian in "
            "α (power iteration, shifted where the eigenvalue of largest magnitude is negative; Zela et "
            "al. 2020 read a growing one as the sign of a coming collapse); "
            "entropy: the mean over edges of softmax(α)'s entropy (uniform over 8 operations: 2.079 nats; "
            "falling: α commits); discretisation gap: the supernet's accuracy with the mixed α minus with "
            "the derived one-hot architecture, on the same batch (accuracy points).")
    return Table("collapse", "Collapse diagnostics over the search", blocks, pd.DataFrame(numbers), note)


def latest_fidelity(rows: pd.DataFrame) -> pd.DataFrame:
    """The fidelity table (`python -m studies fidelity --out`), the latest measurement of each
    (point seed, weights fitted or not, search step, strategy, options): a rerun replaces its
    rows, runs with other seeds add to them. Adds `point_seed` and `pretrain_steps` (from the
    `point` column)."""
    if rows.empty:
        return rows
    rows = rows.copy()
    points = rows["point"].map(json.loads)
    rows["point_seed"] = points.map(lambda p: int(p["seed"]))
    rows["pretrain_steps"] = points.map(lambda p: int(p["pretrain_steps"]))
    key = ["point_seed", "pretrain_steps", "search_step", "strategy", "options", "variant"]
    rows = rows.sort_values("measured_at")
    return rows.drop_duplicates(key, keep="last").reset_index(drop=True)


def reference_key(dataset: str) -> str | None:
    """Which published dataset a measured one corresponds to (cifar10, cifar100, imagenet16-120:
    NAS-Bench-201's), if any."""
    s = short_name(dataset).lower().replace("-", "").replace("_", "")
    if s.startswith("cifar100"):
        return "cifar100"
    if s.startswith("cifar10"):
        return "cifar10"
    if s.startswith("imagenet16"):
        return "imagenet16-120"
    return None
