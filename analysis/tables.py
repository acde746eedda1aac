"""The report's tables, computed with pandas from an experiment, written as Markdown, LaTeX and CSV.

A `Table` holds display blocks (strings, measured and published apart) and one
numeric frame for the CSV, so that other tools read numbers, not "93.1 ± 0.4".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.load import TRIAL_KEY, Experiment, reference_key, short_name

BASELINE = "first-order"
SIGNIFICANCE = ("Welch's t-test (two-sided, unequal variances) over seeds of the strategy's test accuracy "
                f"against {BASELINE}'s on the same evaluation dataset; — where either has fewer than 2 seeds")


@dataclass
class Table:
    name: str
    caption: str
    blocks: list[tuple[str | None, pd.DataFrame]]   # (heading, display frame of strings)
    numbers: pd.DataFrame                           # the CSV
    note: str = ""


def strategy_order(names) -> list[str]:
    from nas.strategies import STRATEGIES

    known = [s for s in STRATEGIES if s in set(names)]
    return known + sorted(set(names) - set(known))


def pm(mean: float, std: float, digits: int = 2) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def welch_p(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2 or (a.std() == 0 and b.std() == 0):
        return float("nan")
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def device_kind(device: str) -> str:
    return "CPU" if str(device).lower().startswith("cpu") else "GPU"


# ---------------------------------------------------------------- numbers


def accuracy_numbers(exp: Experiment) -> pd.DataFrame:
    """One row per (search dataset, strategy, evaluation dataset): accuracy statistics and costs."""
    f = exp.finished
    keys = ["search_dataset", "strategy", "eval_dataset"]
    out = f.groupby(keys).agg(n=("acc", "count"), acc_mean=("acc", "mean"), acc_std=("acc", "std"),
                              params_m=("params", lambda s: s.mean() / 1e6),
                              eval_hours=("eval_wall_s", lambda s: s.mean() / 3600)).reset_index()
    per_trial = f.drop_duplicates(TRIAL_KEY)
    cost = per_trial.groupby(["search_dataset", "strategy"]).agg(
        search_hours=("search_wall_s", lambda s: s.mean() / 3600),
        search_device=("search_device", lambda s: "; ".join(sorted(set(s)))),
        eval_device=("eval_device", lambda s: "; ".join(sorted(set(s))))).reset_index()
    out = out.merge(cost, on=["search_dataset", "strategy"], how="left")
    out["search_cost_unit"] = out["search_device"].map(lambda d: f"{device_kind(d)}-hours")
    p = []
    for r in out.itertuples():
        base = f[(f.search_dataset == r.search_dataset) & (f.eval_dataset == r.eval_dataset)
                 & (f.strategy == BASELINE)]["acc"]
        mine = f[(f.search_dataset == r.search_dataset) & (f.eval_dataset == r.eval_dataset)
                 & (f.strategy == r.strategy)]["acc"]
        p.append(float("nan") if r.strategy == BASELINE else welch_p(mine, base))
    out["p_welch_vs_first_order"] = p
    order = {s: i for i, s in enumerate(strategy_order(out["strategy"]))}
    return out.sort_values(["search_dataset", "strategy"], key=lambda c: c.map(order) if c.name == "strategy"
                           else c).reset_index(drop=True)


def transfer_numbers(exp: Experiment) -> pd.DataFrame:
    """Per (search dataset, transfer dataset, strategy): paired seeds' accuracies on both."""
    f = exp.finished
    rows = []
    for (sd, strategy), g in f.groupby(["search_dataset", "strategy"]):
        on_search = g[g.eval_dataset == sd].set_index("seed")["acc"]
        for td in sorted(set(g.eval_dataset) - {sd}):
            on_transfer = g[g.eval_dataset == td].set_index("seed")["acc"]
            both = on_search.index.intersection(on_transfer.index)
            a, b = on_search.loc[both], on_transfer.loc[both]
            rows.append({"search_dataset": sd, "transfer_dataset": td, "strategy": strategy,
                         "n": len(both), "search_acc_mean": a.mean(), "search_acc_std": a.std(),
                         "transfer_acc_mean": b.mean(), "transfer_acc_std": b.std()})
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


def accuracy_table(exp: Experiment, reference: pd.DataFrame | None) -> Table:
    num = accuracy_numbers(exp)
    blocks = []
    for sd, g in num.groupby("search_dataset", sort=False):
        evals = [sd, *sorted(set(g.eval_dataset) - {sd})]
        rows = []
        for strategy, s in g.groupby("strategy", sort=False):
            by = s.set_index("eval_dataset")
            first = by.loc[sd] if sd in by.index else by.iloc[0]
            row = {"strategy": strategy, "seeds": int(by["n"].max())}
            for e in evals:
                row[f"{short_name(e)} acc (%)"] = (pm(by.loc[e, "acc_mean"], by.loc[e, "acc_std"])
                                                   if e in by.index else "—")
            p = first["p_welch_vs_first_order"]
            row[f"p vs {BASELINE}"] = "—" if math.isnan(p) else f"{p:.3f}"
            row["params (M)"] = f"{first['params_m']:.3g}"
            row["search cost"] = f"{first['search_hours']:.2g} {first['search_cost_unit']}"
            row["eval cost (h)"] = f"{by['eval_hours'].mean():.2g}"
            rows.append(row)
        blocks.append((f"Measured: searched on {short_name(sd)}", pd.DataFrame(rows)))
    if reference is not None and not reference.empty:
        blocks.append(("Published (not measured here; DARTS search and evaluation settings)",
                       published_frame(reference)))
    devices = sorted(set(num["search_device"]))
    note = (f"Test accuracy in percent, mean ± sample std over seeds. p: {SIGNIFICANCE} (on the "
            f"search dataset). Search cost: mean wall time of one search, on {'; '.join(devices)}. "
            "Eval cost: mean wall time of one evaluation (training from scratch and testing).")
    return Table("accuracy", "Test accuracy per strategy, with its cost", blocks, num, note)


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
            "strategy": g["strategy"], "seeds": g["n"],
            f"{short_name(sd)} acc (%)": [pm(m, s) for m, s in zip(g.search_acc_mean, g.search_acc_std)],
            f"{short_name(td)} acc (%)": [pm(m, s) for m, s in zip(g.transfer_acc_mean, g.transfer_acc_std)],
            f"rank on {short_name(sd)}": g["search_rank"], f"rank on {short_name(td)}": g["transfer_rank"]})
        blocks.append((f"Searched on {short_name(sd)}, transferred to {short_name(td)}", frame))
        if len(g) >= 3:
            rho = stats.spearmanr(g.search_acc_mean, g.transfer_acc_mean).statistic
            notes.append(f"{short_name(sd)}→{short_name(td)}: Spearman ρ between the strategies' mean "
                         f"accuracies = {rho:.2f} over {len(g)} strategies")
    note = ("Accuracy of the cells found on the search dataset, trained from scratch and tested on "
            "each dataset (seeds paired). " + "; ".join(notes))
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
                 ("±", r"$\pm$"), ("—", "--"), ("→", r"$\to$"), ("ρ", r"$\rho$")):
        s = s.replace(a, b)
    return s


def to_latex(table: Table) -> str:
    out = [f"% {table.caption}. {table.note}"]
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
    parts = []
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
