"""The report's figures (PNG and PDF, sized for a paper column or page), drawn with seaborn/matplotlib.

Every function takes the data, an output prefix and returns the paths written
(an empty list when the experiment has nothing to draw). Published numbers are
drawn hatched and grey, apart from the measured ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter, MaxNLocator

from analysis.load import TRIAL_KEY, Experiment, short_name
from analysis.tables import reference_numbers_for, strategy_order

FORMATS = ("png", "pdf")
PAPER = {"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7,
         "ytick.labelsize": 7, "legend.fontsize": 7, "figure.dpi": 100}


def _save(fig, prefix: Path) -> list[Path]:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = prefix.with_name(f"{prefix.name}.{fmt}")
        fig.savefig(path, dpi=200, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def _epoch_axis(ax, epochs: int) -> None:
    """Epochs 1..epochs on the x axis, integer ticks only (MaxNLocator alone falls back to
    fractions when fewer than two integers fit)."""
    ax.set_xlim(0.5, epochs + 0.5)
    if epochs <= 12:
        ax.set_xticks(range(1, epochs + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _palette(strategies) -> dict:
    order = strategy_order(strategies)
    return dict(zip(order, sns.color_palette("colorblind", len(order))))


def accuracy_bars(exp: Experiment, reference: pd.DataFrame | None, prefix: Path) -> list[Path]:
    """Per evaluation dataset: mean test accuracy per strategy (± std, seeds as dots), then the
    published numbers for that dataset, hatched grey."""
    f = exp.finished
    if f.empty:
        return []
    evals = list(dict.fromkeys(f.sort_values("eval_dataset").eval_dataset))
    strategies = strategy_order(f.strategy.unique())
    colors = _palette(strategies)
    with plt.rc_context(PAPER):
        fig, axes = plt.subplots(1, len(evals), figsize=(3.6 * len(evals), 3.6), squeeze=False)
        for ax, e in zip(axes[0], evals):
            g = f[f.eval_dataset == e]
            stat = g.groupby("strategy")["acc"].agg(["mean", "std"]).reindex(strategies).dropna(how="all")
            x = np.arange(len(stat))
            ax.bar(x, stat["mean"], yerr=stat["std"].fillna(0), capsize=2,
                   color=[colors[s] for s in stat.index], edgecolor="black", linewidth=0.4)
            for i, s in enumerate(stat.index):
                seeds = g[g.strategy == s]["acc"]
                ax.plot(np.full(len(seeds), i), seeds, "k.", ms=3)
            ticks, labels = list(x), list(stat.index)
            values = list(g["acc"]) + list(stat["mean"] - stat["std"].fillna(0))
            ref = reference_numbers_for(reference, e) if reference is not None else None
            if ref is not None and not ref.empty:
                xr = np.arange(len(ref)) + len(stat) + 1
                ax.bar(xr, ref["acc"], yerr=ref["test_error_std"].fillna(0), capsize=2, color="0.85",
                       edgecolor="0.4", hatch="///", linewidth=0.4)
                ax.axvline(len(stat), color="0.5", lw=0.6, ls=":")
                ticks += list(xr)
                labels += list(ref["method"])
                values += list(ref["acc"])
                ax.text(xr.mean(), 1.01, "published (hatched)", transform=ax.get_xaxis_transform(),
                        ha="center", va="bottom", fontsize=7, color="0.3")
                ax.text((len(stat) - 1) / 2, 1.01, "measured", transform=ax.get_xaxis_transform(),
                        ha="center", va="bottom", fontsize=7, color="0.3")
            ax.set_xticks(ticks)
            ax.set_xticklabels(labels, rotation=45, ha="right", rotation_mode="anchor")
            bottom = max(0.0, 5 * np.floor((min(values) - 5) / 5))
            ax.set_ylim(bottom, min(100.0, max(values) + 3))
            ax.set_ylabel(f"test accuracy (%){'' if bottom == 0 else f', axis from {bottom:g}'}")
            ax.set_title(f"evaluated on {short_name(e)}", pad=12)
            ax.grid(axis="y", lw=0.3)
        fig.tight_layout()
        return _save(fig, prefix)


def transfer_scatter(exp: Experiment, reference: pd.DataFrame | None, prefix: Path) -> list[Path]:
    """Search-dataset accuracy against transfer accuracy, one point per seed."""
    f = exp.finished
    pairs = []
    for (strategy, sd, seed), g in f.groupby(TRIAL_KEY):
        by = g.set_index("eval_dataset")["acc"]
        for td in by.index:
            if td != sd and sd in by.index:
                pairs.append({"search_dataset": sd, "transfer": td, "strategy": strategy, "seed": seed,
                              "x": by[sd], "y": by[td]})
    if not pairs:
        return []
    p = pd.DataFrame(pairs)
    panels = list(p.groupby(["search_dataset", "transfer"]))
    colors = _palette(p.strategy.unique())
    with plt.rc_context(PAPER):
        fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.0), squeeze=False)
        for ax, ((sd, td), g) in zip(axes[0], panels):
            sns.scatterplot(data=g, x="x", y="y", hue="strategy", palette=colors, ax=ax, s=22,
                            hue_order=strategy_order(g.strategy.unique()), edgecolor="black", linewidth=0.3)
            if reference is not None:
                rs, rt = reference_numbers_for(reference, sd), reference_numbers_for(reference, td)
                both = rs.merge(rt, on=["method", "search_dataset"], suffixes=("_s", "_t"))
                for r, marker in zip(both.itertuples(), "sDv^PX<>"):
                    ax.scatter([r.acc_s], [r.acc_t], marker=marker, facecolor="0.9", edgecolor="0.35",
                               hatch="////", s=28, lw=0.6, label=f"{r.method} (published)")
            ax.set_xlabel(f"accuracy on {short_name(sd)} (search dataset, %)")
            ax.set_ylabel(f"accuracy on {short_name(td)} (%)")
            ax.grid(lw=0.3)
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        fig.tight_layout()
        return _save(fig, prefix)


def alpha_heatmaps(exp: Experiment, strategy: str, prefix: Path) -> list[Path]:
    """The softmaxed α of the last search epoch (mean over seeds), edges × operations, both cells."""
    a = exp.alphas
    if a.empty or strategy not in set(a.strategy):
        return []
    a = a[a.strategy == strategy]
    last = a[a.epoch == a.epoch.max()]
    ops = list(dict.fromkeys(last.op))
    edges = list(dict.fromkeys(last.edge))
    n_seeds = last.seed.nunique()
    means = {cell: (last[last.cell == cell].groupby(["edge", "op"])["weight"].mean().unstack()
                    .reindex(index=edges, columns=ops)) for cell in ("normal", "reduce")}
    uniform = 1.0 / len(ops)
    dev = max(1e-5, *(float(np.nanmax(np.abs(m.values - uniform))) for m in means.values()))
    digits = min(5, max(2, int(np.ceil(-np.log10(dev))) + 1))   # enough to tell the cells apart
    with plt.rc_context(PAPER):
        fig, axes = plt.subplots(1, 2, figsize=(7.0, 0.28 * len(edges) + 1.6), sharey=True)
        for ax, cell in zip(axes, ("normal", "reduce")):
            # Diverging around the uniform mixture, so that early, small departures still show.
            sns.heatmap(means[cell], ax=ax, cmap="RdBu_r", center=uniform, vmin=uniform - dev,
                        vmax=uniform + dev, annot=True, fmt=f".{digits}f",
                        annot_kws={"fontsize": 5 if digits < 4 else 4.2}, cbar=cell == "reduce",
                        cbar_kws={"label": f"softmax(α) within the edge (white: uniform, 1/{len(ops)})"})
            ax.set_title(f"{'normal' if cell == 'normal' else 'reduction'} cell")
            ax.set_xticks(np.arange(len(ops)) + 0.5, ops, rotation=45, ha="right", rotation_mode="anchor")
            ax.set_yticks(np.arange(len(edges)) + 0.5, edges, rotation=0)
            ax.set_xlabel("operation")
            ax.set_ylabel("edge (input→node)" if cell == "normal" else "")
        fig.suptitle(f"{strategy}: α after search epoch {int(last.epoch.max()) + 1} "
                     f"(mean of {n_seeds} seed{'s' if n_seeds > 1 else ''})", fontsize=9)
        fig.tight_layout()
        return _save(fig, prefix)


def alpha_over_epochs(exp: Experiment, prefix: Path, edge: str | None = None,
                      cell: str = "normal") -> list[Path]:
    """softmax(α) of one edge over the search epochs, one panel per strategy (mean over seeds)."""
    a = exp.alphas
    if a.empty:
        return []
    a = a[a.cell == cell]
    edge = edge or next(iter(dict.fromkeys(a.edge)))
    a = a[a.edge == edge]
    if a.empty:
        return []
    strategies = strategy_order(a.strategy.unique())
    cols = min(4, len(strategies))
    rows = -(-len(strategies) // cols)
    with plt.rc_context(PAPER):
        fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols + 1.2, 1.7 * rows + 0.4),
                                 sharex=True, sharey=True, squeeze=False)
        for ax, s in zip(axes.flat, strategies):
            g = a[a.strategy == s].copy()
            g["epoch"] = g["epoch"] + 1
            sns.lineplot(data=g, x="epoch", y="weight", hue="op", ax=ax, marker="o", ms=3,
                         errorbar="sd", legend=ax is axes.flat[0])
            ax.set_title(s)
            ax.set_ylabel("softmax(α)")
            _epoch_axis(ax, int(a.epoch.max()) + 1)
            ax.grid(lw=0.3)
        for ax in list(axes.flat)[len(strategies):]:
            ax.axis("off")
        if axes.flat[0].get_legend():
            handles, labels = axes.flat[0].get_legend_handles_labels()
            axes.flat[0].get_legend().remove()
            fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        fig.suptitle(f"softmax(α) of edge {edge} of the {cell} cell over the search epochs", fontsize=9)
        fig.tight_layout()
        return _save(fig, prefix)


def search_curves(exp: Experiment, prefix: Path) -> list[Path]:
    """Supernet training and validation accuracy over the search epochs (mean ± std over seeds)."""
    e = exp.epochs
    if e.empty:
        return []
    e = e[e.phase == "search"].copy()
    if e.empty:
        return []
    e["epoch"] = e["epoch"] + 1
    long = e.melt(id_vars=[*TRIAL_KEY, "epoch"], value_vars=["train_acc", "val_acc"],
                  var_name="split", value_name="accuracy")
    long["accuracy"] = 100 * long["accuracy"].astype(float)
    long["split"] = long["split"].map({"train_acc": "train (w step)", "val_acc": "validation (α step)"})
    colors = _palette(long.strategy.unique())
    with plt.rc_context(PAPER):
        fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.8), sharey=True)
        for ax, split in zip(axes, ["train (w step)", "validation (α step)"]):
            sns.lineplot(data=long[long.split == split], x="epoch", y="accuracy", hue="strategy",
                         hue_order=strategy_order(long.strategy.unique()), palette=colors,
                         errorbar="sd", marker="o", ms=3, ax=ax, legend=split.startswith("valid"))
            ax.set_title(f"supernet, {split} batches")
            ax.set_ylabel("accuracy (%)")
            _epoch_axis(ax, int(e.epoch.max()))
            ax.grid(lw=0.3)
        if axes[1].get_legend():
            sns.move_legend(axes[1], "center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        fig.tight_layout()
        return _save(fig, prefix)


def cost_vs_accuracy(exp: Experiment, prefix: Path) -> list[Path]:
    """Search wall time against test accuracy on the search dataset (mean ± std per strategy)."""
    f = exp.finished
    f = f[f.eval_dataset == f.search_dataset].copy()
    if f.empty:
        return []
    f["hours"] = f["search_wall_s"] / 3600
    kinds = {"CPU" if str(d).lower().startswith("cpu") else "GPU" for d in f.search_device}
    colors = _palette(f.strategy.unique())
    with plt.rc_context(PAPER):
        fig, ax = plt.subplots(figsize=(4.2, 3.0))
        for s in strategy_order(f.strategy.unique()):
            g = f[f.strategy == s]
            ax.scatter(g.hours, g.acc, color=colors[s], s=10, alpha=0.5)
            ax.errorbar(g.hours.mean(), g.acc.mean(), xerr=g.hours.std() if len(g) > 1 else None,
                        yerr=g.acc.std() if len(g) > 1 else None, fmt="o", color=colors[s],
                        mec="black", mew=0.4, ms=5, capsize=2, label=s)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
        ax.set_xlabel(f"search wall time per trial ({'/'.join(sorted(kinds))}-hours, log)")
        ax.set_ylabel("test accuracy on the search dataset (%)")
        ax.grid(lw=0.3, which="both")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        fig.tight_layout()
        return _save(fig, prefix)


def fidelity_bars(path: Path, prefix: Path) -> list[Path]:
    """`python -m nas fidelity --out` results: cosine and relative error to the reference."""
    if not path.is_file():
        return []
    rows = pd.DataFrame(json.loads(path.read_text())["rows"])
    if rows.empty:
        return []
    order = strategy_order(rows.strategy)
    colors = _palette(order)
    with plt.rc_context(PAPER):
        fig, axes = plt.subplots(1, 3, figsize=(7.0, 2.6))
        for ax, col, label in zip(axes, ("cosine", "relative_error", "time_s"),
                                  ("cosine to the reference", "relative error", "seconds per call")):
            sns.barplot(data=rows, y="strategy", x=col, order=order, palette=colors, hue="strategy",
                        legend=False, ax=ax, edgecolor="black", linewidth=0.4)
            ax.set_xlabel(label)
            ax.set_ylabel("" if ax is not axes[0] else "strategy")
            if ax is not axes[0]:
                ax.set_yticklabels([])
            ax.grid(axis="x", lw=0.3)
        axes[2].set_xscale("log")
        fig.tight_layout()
        return _save(fig, prefix)


def perf_bars(path: Path, prefix: Path) -> list[Path]:
    """Step time in passes against the passes each strategy needs, per device and configuration."""
    from analysis.tables import latest_perf

    df = latest_perf(path)
    df = df[df.kind == "search"] if not df.empty else df
    if df.empty:
        return []
    df = df.assign(config=[f"{dev.split(' (')[0]}, {a}×{b}, batch {c}" + (f", {s}" if s else "")
                           for dev, a, b, c, s in zip(df.device, df.layers, df.channels, df.batch,
                                                      df.speed)],
                   name=df.strategy + np.where(df.hvp == "finite-difference", " (fd)", "")
                   + np.where(df.partial_channels > 1, " (pc " + df.partial_channels.astype(str) + ")", ""))
    order = list(dict.fromkeys(n for s in strategy_order(df.strategy)
                               for n in df[df.strategy == s].name))
    with plt.rc_context(PAPER):
        fig, ax = plt.subplots(figsize=(7.0, 0.35 * len(order) + 1.2))
        sns.barplot(data=df, y="name", x="step_over_pass", hue="config", order=order, ax=ax,
                    edgecolor="black", linewidth=0.4)
        expected = df.drop_duplicates("name").set_index("name").expected_passes
        ax.scatter([expected[n] for n in order], range(len(order)), marker="|", s=200, color="black",
                   zorder=5, label="expected passes")
        ax.set_xlabel("time per step / time of one forward+backward pass")
        ax.set_ylabel("")
        ax.grid(axis="x", lw=0.3)
        ax.legend(fontsize=6, loc="lower right")
        fig.tight_layout()
        return _save(fig, prefix)
