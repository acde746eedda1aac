"""The report's tables, computed with pandas from an experiment, written as Markdown, LaTeX and CSV.

A `Table` holds display blocks (strings, measured and published apart) and one
numeric frame for the CSV, so that other tools read numbers, not "93.1 ± 0.4".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis import stats as st
from analysis.load import TRIAL_KEY, Experiment, reference_key, short_name

# Baseline → the strategies compared against it, as a name prefix ("" = every strategy). Two
# baselines that would each be compared with the other keep one direction only: strategy = the one
# listed first, baseline = the later one (first-order − random, not random − first-order).
BASELINES = {"first-order": "", "random": "", "first-order-smoothed": "hyperdarts-"}
COMPARISON_FIELDS = ("diff", "diff_lo", "diff_hi", "n", "test", "p", "p_holm", "mde", "verdict")
VERDICTS = {"differs": "differs", "not detectable": "no difference detectable at this n",
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
    from nas.strategies import STRATEGIES

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


def verdict(d: st.Difference, p_holm: float) -> str:
    """The short reading of one comparison (a key of VERDICTS)."""
    if _nan(p_holm):
        return "not testable"
    if p_holm < st.ALPHA:
        return "differs"
    if d.lo <= 0 <= d.hi and abs(d.diff) < d.mde:
        return "not detectable"
    return "not significant"


# ---------------------------------------------------------------- numbers


def accuracy_numbers(exp: Experiment) -> pd.DataFrame:
    """One row per (search dataset, strategy, evaluation dataset): accuracy statistics, variance
    components, the comparisons with the baselines (`vs_<baseline>_<field>`) and costs.

    The unit is one search (its accuracy the mean over its repeats, `Experiment.searches`); n
    counts searches. Accuracies and differences in percentage points.
    """
    f, s = exp.finished, exp.searches
    keys = ["search_dataset", "strategy", "eval_dataset"]
    rows = []
    for key, g in s.groupby(keys, sort=False):
        mean, lo, hi, n = st.mean_ci(g["acc"])
        rows.append({**dict(zip(keys, key)), "n": n, "repeats_min": int(g["repeats"].min()),
                     "repeats_max": int(g["repeats"].max()), "acc_mean": mean, "acc_ci_lo": lo,
                     "acc_ci_hi": hi, "acc_std": g["acc"].std()})
    out = pd.DataFrame(rows)
    vc = st.variance_components(f, ["seed"], "acc", "repeat", group_cols=keys)
    out = out.merge(vc[[*keys, "sd_search", "sd_train"]], on=keys, how="left")
    cost = f.groupby(keys).agg(params_m=("params", lambda v: v.mean() / 1e6),
                               eval_hours=("eval_wall_s", lambda v: v.mean() / 3600)).reset_index()
    out = out.merge(cost, on=keys, how="left")
    per_trial = f.drop_duplicates(TRIAL_KEY)
    cost = per_trial.groupby(["search_dataset", "strategy"]).agg(
        search_hours=("search_wall_s", lambda v: v.mean() / 3600),
        search_device=("search_device", lambda v: "; ".join(sorted(set(v)))),
        eval_device=("eval_device", lambda v: "; ".join(sorted(set(v))))).reset_index()
    out = out.merge(cost, on=["search_dataset", "strategy"], how="left")
    out["search_cost_unit"] = out["search_device"].map(lambda d: f"{device_kind(d)}-hours")
    for b in BASELINES:
        for c in COMPARISON_FIELDS:
            out[f"vs_{slug(b)}_{c}"] = "" if c in ("test", "verdict") else np.nan
    for (sd, ed), fam in out.groupby(["search_dataset", "eval_dataset"], sort=False):
        acc = s[(s.search_dataset == sd) & (s.eval_dataset == ed)]
        by_seed = {k: g.set_index("seed")["acc"] for k, g in acc.groupby("strategy")}
        pairs = comparisons(strategy_order(fam.strategy))
        diffs = [st.compare(by_seed[a], by_seed[b]) for a, b in pairs]
        adjusted = st.holm([d.p for d in diffs])
        for (a, b), d, p_holm in zip(pairs, diffs, adjusted):
            i = fam.index[fam.strategy == a][0]
            pre = f"vs_{slug(b)}_"
            values = {"diff": d.diff, "diff_lo": d.lo, "diff_hi": d.hi, "n": d.n, "test": d.test,
                      "p": d.p, "p_holm": p_holm, "mde": d.mde, "verdict": verdict(d, p_holm)}
            for c, v in values.items():
                out.loc[i, pre + c] = v
    for b in BASELINES:
        out[f"vs_{slug(b)}_n"] = out[f"vs_{slug(b)}_n"].astype("Int64")
    order = {name: i for i, name in enumerate(strategy_order(out["strategy"]))}
    return out.sort_values(["search_dataset", "strategy"], key=lambda c: c.map(order) if c.name == "strategy"
                           else c, kind="stable").reset_index(drop=True)


def transfer_numbers(exp: Experiment) -> pd.DataFrame:
    """Per (search dataset, transfer dataset, strategy): the searches evaluated on both (paired by
    seed), their mean accuracy with its 95% interval on each dataset, and the ranks."""
    s = exp.searches
    rows = []
    for (sd, strategy), g in s.groupby(["search_dataset", "strategy"]):
        on_search = g[g.eval_dataset == sd].set_index("seed")["acc"]
        for td in sorted(set(g.eval_dataset) - {sd}):
            on_transfer = g[g.eval_dataset == td].set_index("seed")["acc"]
            both = on_search.index.intersection(on_transfer.index)
            a, b = on_search.loc[both], on_transfer.loc[both]
            sm, slo, shi, n = st.mean_ci(a)
            tm, tlo, thi, _ = st.mean_ci(b)
            rows.append({"search_dataset": sd, "transfer_dataset": td, "strategy": strategy, "n": n,
                         "search_acc_mean": sm, "search_acc_ci_lo": slo, "search_acc_ci_hi": shi,
                         "search_acc_std": a.std(), "transfer_acc_mean": tm, "transfer_acc_ci_lo": tlo,
                         "transfer_acc_ci_hi": thi, "transfer_acc_std": b.std()})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    grp = out.groupby(["search_dataset", "transfer_dataset"])
    out["search_rank"] = grp["search_acc_mean"].rank(ascending=False, method="min").astype(int)
    out["transfer_rank"] = grp["transfer_acc_mean"].rank(ascending=False, method="min").astype(int)
    order = {s: i for i, s in enumerate(strategy_order(out["strategy"]))}
    return out.sort_values(["search_dataset", "transfer_dataset", "strategy"],
                           key=lambda c: c.map(order) if c.name == "strategy" else c).reset_index(drop=True)


def load_reference(path: str | Path) -> pd.DataFrame:
    ref = pd.read_csv(path)
    ref["acc"] = 100.0 - ref["test_error"]
    return ref


# ---------------------------------------------------------------- tables


def _count(lo: int, hi: int) -> str:
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def detectability(num: pd.DataFrame) -> list[str]:
    """One sentence per (search dataset, evaluation dataset): the smallest difference the grid
    detects, from the `vs_*_mde`, `vs_*_n` and `vs_*_test` columns of `accuracy_numbers`."""
    lines = []
    for (sd, ed), fam in num.groupby(["search_dataset", "eval_dataset"], sort=False):
        rows = [fam[[f"vs_{slug(b)}_{c}" for c in ("n", "test", "mde")]].set_axis(
            ["n", "test", "mde"], axis=1) for b in BASELINES]
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
        lo, hi = tested["mde"].min(), tested["mde"].max()
        size = f"{lo:.2f}" if round(lo, 2) == round(hi, 2) else f"{lo:.2f}–{hi:.2f}"
        kinds = sorted(set(tested["test"]))
        kind = "paired" if kinds == ["paired"] else ("unpaired (Welch)" if kinds == ["welch"]
                                                     else "paired or unpaired (Welch)")
        pairs = _count(int(tested["n"].min()), int(tested["n"].max()))
        spread = (f"range over its {len(tested)} comparisons, each from its own observed sd of "
                  "the differences" if len(tested) > 1 else "from the observed sd of the differences")
        lines.append(f"{where}, with n = {pairs} searches per strategy, this grid detects a {kind} "
                     f"difference of ≥ {size} points ({st.POWER:.0%} power, α = {st.ALPHA:g}, two-sided, "
                     f"before Holm's correction; {spread}); smaller differences are not detectable "
                     "at this n.")
    return lines


def accuracy_table(exp: Experiment, reference: pd.DataFrame | None) -> Table | None:
    """The accuracy table; None where no evaluation has finished."""
    if exp.finished.empty:
        return None
    num = accuracy_numbers(exp)
    blocks = []
    for sd, g in num.groupby("search_dataset", sort=False):
        evals = [sd, *sorted(set(g.eval_dataset) - {sd})]
        rows = []
        for strategy, s in g.groupby("strategy", sort=False):
            by = s.set_index("eval_dataset")
            first = by.loc[sd] if sd in by.index else by.iloc[0]
            most = int(by["n"].max())
            row = {"strategy": strategy, "searches": most,
                   "repeats": _count(int(by["repeats_min"].min()), int(by["repeats_max"].max()))}
            for e in evals:
                cell = "—"
                if e in by.index:
                    r = by.loc[e]
                    cell = ci_text(r.acc_mean, r.acc_ci_lo, r.acc_ci_hi)
                    cell += f" (n = {int(r.n)})" if int(r.n) != most else ""
                row[f"{short_name(e)} acc (%) [95% CI]"] = cell
            row["params (M)"] = f"{first['params_m']:.3g}"
            row["search cost"] = f"{first['search_hours']:.2g} {first['search_cost_unit']}"
            row["eval cost (h)"] = f"{by['eval_hours'].mean():.2g}"
            rows.append(row)
        blocks.append((f"Measured: searched on {short_name(sd)}", pd.DataFrame(rows)))
        for e in evals:
            frame = comparison_frame(g[g.eval_dataset == e])
            if not frame.empty:
                blocks.append((f"Differences on {short_name(e)} (searched on {short_name(sd)})", frame))
        spread = variance_frame(g)
        if not spread.empty:
            blocks.append((f"Search noise and training noise (searched on {short_name(sd)})", spread))
    if reference is not None and not reference.empty:
        blocks.append(("Published (not measured here; DARTS search and evaluation settings)",
                       published_frame(reference)))
    devices = sorted(set(num["search_device"]))
    against = "; ".join(f"{b} for {'every strategy' if not p else p + '*'}" for b, p in BASELINES.items())
    note = (
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
        "all comparisons on that evaluation dataset. "
        f"MDE: the smallest true difference the same test detects with {st.POWER:.0%} power at "
        f"α = {st.ALPHA:g} (two-sided, uncorrected) with that n and the observed sd of the "
        "differences (statsmodels TTestPower; TTestIndPower for Welch). "
        f"Verdict: '{VERDICTS['differs']}' where p_Holm < {st.ALPHA:g}; "
        f"'{VERDICTS['not detectable']}' where the CI includes 0 and |Δ| < MDE; "
        f"'{VERDICTS['not significant']}' otherwise. "
        "Search and training noise (where a found cell was trained more than once): sd of the "
        "search means; sd between searches and between trainings from a one-way "
        "random-effects ANOVA over each strategy's trainings (search = group, repeats within it): "
        "sd_train = √MS_within, sd_search = √(max(0, MS_between − MS_within)/r), r the repeats per "
        "search (the unbalanced ANOVA's r₀ where they differ); '—' without repeats or with fewer "
        "than 2 searches. "
        f"Search cost: mean wall time of one search, on {'; '.join(devices)}. "
        "Eval cost: mean wall time of one training from scratch and test, in hours.")
    return Table("accuracy", "Test accuracy per strategy, with its cost", blocks, num, note,
                 detectability(num))


def comparison_frame(fam: pd.DataFrame) -> pd.DataFrame:
    """Display rows of one family (one search and evaluation dataset): one per comparison."""
    rows = []
    for r in fam.itertuples():
        for b in BASELINES:
            v = {c: getattr(r, f"vs_{slug(b)}_{c}") for c in COMPARISON_FIELDS}
            if v["test"] == "":
                continue
            rows.append({"strategy": r.strategy, "against": b,
                         "n": f"{v['n']}" if v["test"] == "paired" else f"{v['n']} (Welch)",
                         "Δ (pts) [95% CI]": ci_text(v["diff"], v["diff_lo"], v["diff_hi"], sign=True),
                         "p_Holm": p_text(v["p_holm"]),
                         "MDE (pts)": "—" if _nan(v["mde"]) else f"{v['mde']:.2f}",
                         "verdict": VERDICTS[v["verdict"]]})
    return pd.DataFrame(rows)


def variance_frame(g: pd.DataFrame) -> pd.DataFrame:
    """Display rows of the spread per strategy and evaluation dataset; empty without any repeats."""
    if (g["repeats_max"] < 2).all():
        return pd.DataFrame()

    def fmt(x):
        return "—" if _nan(x) else f"{x:.2f}"

    return pd.DataFrame({
        "strategy": g["strategy"], "evaluated on": g["eval_dataset"].map(short_name),
        "searches": g["n"], "repeats": [_count(a, b) for a, b in zip(g.repeats_min, g.repeats_max)],
        "sd of search means (pts)": g["acc_std"].map(fmt),
        "sd between searches (pts)": g["sd_search"].map(fmt),
        "sd between trainings (pts)": g["sd_train"].map(fmt)}).reset_index(drop=True)


def published_frame(reference: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (method, sd), g in reference.groupby(["method", "search_dataset"], sort=False):
        by = g.set_index("eval_dataset")
        row = {"method (published)": method, "searched on": sd}
        for e in ("cifar10", "cifar100"):
            row[f"{e} acc (%)"] = pm(by.loc[e, "acc"], by.loc[e, "test_error_std"]) if e in by.index else "—"
        first = g.iloc[0]
        row["params (M)"] = f"{first['params_m']:.1f}"
        row["search cost"] = f"{first['search_gpu_days']:g} GPU-days"
        row["source"] = short_citation(first["citation"])
        rows.append(row)
    return pd.DataFrame(rows)


def short_citation(citation: str) -> str:
    """'Liu, Simonyan, Yang. DARTS: ... ICLR 2019' -> 'Liu et al., ICLR 2019'."""
    authors, venue = citation.split(". ")[0], citation.split(". ")[-1]
    first = authors.split(",")[0]
    return f"{first} et al., {venue}" if "," in authors else f"{first}, {venue}"


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
            f"rank on {short_name(sd)}": g["search_rank"], f"rank on {short_name(td)}": g["transfer_rank"]})
        blocks.append((f"Searched on {short_name(sd)}, transferred to {short_name(td)}", frame))
        if len(g) >= 3:
            rho = stats.spearmanr(g.search_acc_mean, g.transfer_acc_mean).statistic
            notes.append(f"{short_name(sd)}→{short_name(td)}: Spearman ρ between the strategies' mean "
                         f"accuracies = {rho:.2f} over {len(g)} strategies")
    note = ("Test accuracy in percent of the cells found on the search dataset, trained from scratch and "
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
    paths[0].write_text(f"**{table.caption}**\n\n{markdown_blocks(table)}")
    paths[1].write_text(to_latex(table))
    table.numbers.to_csv(paths[2], index=False)
    return paths


def reference_numbers_for(reference: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Published rows for a measured evaluation dataset (cifar10 / cifar100 look-alikes), else none."""
    key = reference_key(dataset)
    return reference[reference.eval_dataset == key] if key else reference.iloc[0:0]


# ---------------------------------------------------------------- speed (benchmark/perf.py)

PERF_KEY = ["device", "kind", "strategy", "batch", "layers", "channels", "image_size", "speed", "hvp",
            "partial_channels"]


def latest_perf(path: Path) -> pd.DataFrame:
    """`benchmark/perf.py`'s parquet, the latest measurement of each configuration."""
    if not Path(path).is_file():
        return pd.DataFrame()
    df = pd.read_parquet(path)
    if df.empty:
        return df
    if "partial_channels" not in df:
        df["partial_channels"] = 1
    df["partial_channels"] = df.partial_channels.fillna(1).astype(int)
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
