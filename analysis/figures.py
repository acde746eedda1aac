"""The report's figures (PNG and PDF, sized for a paper column or page), drawn with seaborn/matplotlib.

Every function takes the data, an output prefix and returns the paths written (an empty list
when the experiment has nothing to draw). The rules every figure keeps:

- the unit is one search (strategy, search dataset, seed): its accuracy is the mean over its
  repeated trainings from scratch (`Experiment.searches`); each search is a dot, its repeats
  small faint dots; whiskers are the 95% Student-t interval of the mean over searches, and there
  are none where n = 1 (the figure says so). n and what the whiskers mean are printed on it;
- accuracy axes start at 0;
- the random baseline (no search) is a grey reference: a grey bar and a band across the axes;
- published numbers share the measured axes only when their `protocol` (analysis/reference.csv)
  is the measured experiment's (its trials' `protocol`); otherwise they get their own panel,
  titled "not comparable" (or are left to the table), drawn hatched grey;
- each strategy has one colour in every figure (`analysis.plotting.strategy_colors`).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import TwoSlopeNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from analysis import dense_dag
from analysis import stats as st
from analysis.plotting import RANDOM_COLOR, new_figure, op_color, strategy_colors
from analysis.tables import (
    BASELINES,
    accuracy_numbers,
    cost_hours,
    latest_fidelity,
    latest_perf,
    reference_numbers_for,
    slug,
    strategy_order,
    transfer_numbers,
)
from nas.genotype import parse_genotype
from nas.strategies import STRATEGIES
from resultstore.experiment import Experiment
from resultstore.schema import TRIAL_KEY, short_name

FORMATS = ("png", "pdf")
PAPER = {"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7,
         "ytick.labelsize": 7, "legend.fontsize": 7, "figure.dpi": 100}
WHISKERS = "whiskers: 95% CI of the mean over searches (Student t)"
FULL_DARTS = "full DARTS protocol"


def _save(fig, prefix: Path) -> list[Path]:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = prefix.with_name(f"{prefix.name}.{fmt}")
        fig.savefig(path, dpi=200, bbox_inches="tight")
        paths.append(path)
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
    return strategy_colors(strategies)


# ---------------------------------------------------------------- helpers


def is_baseline(strategy: str) -> bool:
    """A strategy that does not search (the random genotype): a reference, not a competitor."""
    cls = STRATEGIES.get(strategy)
    return strategy == "random" or (cls is not None and not getattr(cls, "searches", True))


def searches(exp: Experiment) -> pd.DataFrame:
    """One row per search and evaluation dataset: `acc` = mean over its repeats (%), `repeats`."""
    s = exp.searches
    return s if "repeats" in s else s.assign(repeats=1)


def ci(values) -> tuple[float, float, float, int]:
    """(mean, lo, hi, n): the 95% t-interval of the mean; lo = hi = NaN where n < 2."""
    return st.mean_ci(values)


def n_text(ns, repeats=None) -> str:
    """'n = 3 searches per strategy (2 trainings each); whiskers: …', or the n = 1 wording."""
    ns = [int(n) for n in ns if n]
    if not ns:
        return ""
    lo, hi = min(ns), max(ns)
    count = f"{lo}" if lo == hi else f"{lo}–{hi}"
    trainings = ""
    if repeats is not None and len(repeats) and max(repeats) > 1:
        rl, rh = int(min(repeats)), int(max(repeats))
        trainings = f" ({rl if rl == rh else f'{rl}–{rh}'} trainings each, faint dots)"
    if hi == 1:
        return f"n = 1, no interval (one search per strategy{trainings})"
    text = f"n = {count} searches per strategy{trainings}"
    return text + f"; {WHISKERS}" + ("; none where n = 1" if lo == 1 else "")


def n_caption(exp: Experiment) -> str:
    """The n sentence of a figure's caption in the report: searches per strategy (and trainings per
    search), what the whiskers are, or that n = 1 gives none. '' when nothing finished."""
    s = searches(exp)
    if s.empty:
        return ""
    return n_text(list(s.groupby(["eval_dataset", "strategy"]).size()), s["repeats"]) + "."


def count_caption(exp: Experiment) -> str:
    """The counts alone, for a caption that states its own intervals: 'n = 3 searches per strategy,
    2 trainings each.' ('' when nothing finished)."""
    s = searches(exp)
    if s.empty:
        return ""
    ns = list(s.groupby(["eval_dataset", "strategy"]).size())
    lo, hi = min(ns), max(ns)
    text = f"n = {_count_text(lo, hi)} search{'es' * (hi > 1)} per strategy"
    r = s["repeats"]
    if r.max() > 1:
        text += f", {_count_text(int(r.min()), int(r.max()))} trainings each"
    return text + "."


def _jitter(n: int, width: float = 0.32) -> np.ndarray:
    return np.zeros(1) if n <= 1 else np.linspace(-width / 2, width / 2, n)


def _acc_top(values) -> float:
    """Top of an accuracy axis that starts at 0: 100, or a round number above small accuracies."""
    vmax = float(np.nanmax(values)) if len(values) else 100.0
    return 100.0 if vmax > 60 else float(min(100.0, 10 * math.ceil((vmax + 8) / 10)))


def chance_level(dataset: str) -> float | None:
    """Chance accuracy (%) of the datasets the benchmark knows (10 or 100 classes), else None."""
    s = short_name(dataset).lower().replace("-", "").replace("_", "")
    if s.startswith("cifar100"):
        return 1.0
    if s.startswith(("cifar10", "digits", "mnist", "fashion", "svhn")):
        return 10.0
    return None


def measured_protocol(exp: Experiment) -> str | None:
    """The protocol of the measured experiment, where its trials record one (else None: unknown)."""
    t = exp.trials
    if "protocol" not in t:
        return None
    values = {str(v) for v in t["protocol"].dropna() if str(v).strip()}
    return values.pop() if len(values) == 1 else None


def _protocol_key(p) -> str:
    return str(p).split(":")[0].strip().lower()


def split_reference(reference: pd.DataFrame | None, dataset: str, protocol: str | None):
    """Published rows for `dataset`: (comparable, {protocol: rows not comparable}).

    Comparable only when the reference has a `protocol` column and its value names the measured
    experiment's protocol; without either every published row is not comparable.
    """
    if reference is None or reference.empty:
        return None, {}
    ref = reference_numbers_for(reference, dataset)
    if ref is None or ref.empty:
        return None, {}
    if "protocol" not in ref:
        return ref.iloc[0:0], {FULL_DARTS: ref}
    keys = ref["protocol"].fillna("").map(_protocol_key)
    same = keys == _protocol_key(protocol) if protocol else pd.Series(False, index=ref.index)
    apart = {}
    for p, g in ref[~same].groupby(ref["protocol"].fillna(""), sort=False):
        apart[_published_title(p)] = g
    return ref[same], apart


def _published_title(protocol: str) -> str:
    if not protocol or _protocol_key(protocol) in ("darts-full", "darts", "full"):
        return FULL_DARTS
    return str(protocol)


def _published_panel(ax, ref: pd.DataFrame, protocol_title: str) -> None:
    """Published accuracies on their own axes (0–100 %), hatched grey, whiskers = published std."""
    x = np.arange(len(ref))
    std = ref["test_error_std"].astype(float)
    ax.bar(x, ref["acc"], color="0.88", edgecolor="0.4", hatch="///", linewidth=0.4, width=0.7)
    has = ~std.isna()
    if has.any():
        ax.errorbar(x[has.to_numpy()], ref["acc"][has], yerr=std[has], fmt="none", ecolor="black",
                    elinewidth=0.8, capsize=2)
    ax.set_xticks(x, list(ref["method"]), rotation=40, ha="right", rotation_mode="anchor")
    ax.set_ylim(0, 100)
    ax.set_ylabel("test accuracy (%), as published")
    ax.set_title(textwrap.fill(f"published, {protocol_title}", 44)
                 + "\n(not comparable; whiskers: std as published)", fontsize=7.5)
    ax.grid(axis="y", lw=0.3)


def _random_reference(ax, values, label_prefix: str = "random genotype (no search)") -> list:
    """A grey line at the random baseline's mean and a band over its 95% CI, across the axes."""
    mean, lo, hi, n = ci(values)
    if n == 0:
        return []
    ax.axhline(mean, color=RANDOM_COLOR, lw=1.0, ls="--", zorder=0.5)
    handles = [Line2D([], [], color=RANDOM_COLOR, lw=1.0, ls="--", label=f"{label_prefix}: mean of n = {n}")]
    if n > 1 and hi > lo:
        ax.axhspan(lo, hi, color=RANDOM_COLOR, alpha=0.18, lw=0, zorder=0.4)
        handles.append(Patch(color=RANDOM_COLOR, alpha=0.3, label="random: 95% CI"))
    return handles


# ---------------------------------------------------------------- accuracy


def accuracy_bars(exp: Experiment, reference: pd.DataFrame | None, prefix: Path,
                  ran: dict[tuple[str, str], str] | None = None) -> list[Path]:
    """One row per evaluation dataset: each strategy's mean test accuracy over searches (bar, from
    0), each search's accuracy (dot: mean of its repeats; faint dots: the repeats), the 95% CI of the
    mean (whiskers; none where n = 1), n under each bar; the random genotype as a grey bar and
    band; chance dotted; published numbers in a panel of their own beside it unless their protocol
    is the measured one.
    (Long: one figure drawn top to bottom, its panels, axes and legend in order; split, one picture's
    decisions would scatter.)"""
    s = searches(exp)
    if s.empty:
        return []
    f = exp.finished
    # the search datasets first, then the transfer datasets, each alphabetically
    searched = set(s.search_dataset)
    evals = sorted(dict.fromkeys(s.eval_dataset), key=lambda e: (e not in searched, str(e)))
    colors = _palette(s.strategy.unique())
    protocol = measured_protocol(exp)
    layout = [split_reference(reference, e, protocol) for e in evals]
    n_pub = max(len(apart) for _, apart in layout)
    n_strat = max(s[s.eval_dataset == e].strategy.nunique() + (0 if same is None else len(same))
                  for e, (same, _) in zip(evals, layout))
    widths = [max(3.0, 0.42 * n_strat + 0.8)]
    widths += [max(1.8, 0.3 * max(len(r) for _, a in layout for r in a.values()) + 0.8)] * n_pub \
        if n_pub else []
    with matplotlib.rc_context(PAPER):
        fig, grid = new_figure(len(evals), 1 + n_pub, figsize=(sum(widths) + 0.4, 3.7 * len(evals) + 0.5),
                                 squeeze=False, gridspec_kw={"width_ratios": widths}, layout="constrained")
        handles = {}
        for row, e, (same, apart) in zip(grid, evals, layout):
            ax = row[0]
            g = s[s.eval_dataset == e]
            order = strategy_order(g.strategy.unique())
            order = [x for x in order if is_baseline(x)] + [x for x in order if not is_baseline(x)]
            ns, values = [], []
            for i, name in enumerate(order):
                gs = g[g.strategy == name].sort_values("seed")
                mean, lo, hi, n = ci(gs["acc"])
                ns.append(n)
                base = is_baseline(name)
                ax.bar(i, mean, width=0.7, color=RANDOM_COLOR if base else colors[name],
                       alpha=0.55 if base else 0.85, edgecolor="black", linewidth=0.4, zorder=1)
                if n > 1:
                    ax.errorbar(i, mean, yerr=[[mean - lo], [hi - mean]], fmt="none", ecolor="black",
                                elinewidth=1.0, capsize=3, zorder=4)
                dx = _jitter(n)
                for x_off, r in zip(dx, gs.itertuples()):
                    reps = f[(f.strategy == name) & (f.search_dataset == r.search_dataset)
                             & (f.seed == r.seed) & (f.eval_dataset == e)]["acc"]
                    if len(reps) > 1:
                        # beside the search's dot, not under it: each training stays visible
                        ax.scatter(np.full(len(reps), i + x_off + 0.09), reps, s=7, color="black",
                                   alpha=0.5, lw=0, zorder=6)
                        values += list(reps)
                ax.scatter(i + dx, gs["acc"], s=12, color="white", edgecolor="black", lw=0.7, zorder=5)
                values += list(gs["acc"]) + ([hi] if n > 1 else [])
            for h in _random_reference(ax, g[g.strategy.map(is_baseline)]["acc"]):
                handles.setdefault(h.get_label().split(":")[0], h)
            flagged = {x for x in order if any(v.startswith("no:") for (sd, s), v in (ran or {}).items()
                                               if s == x and sd in set(g.search_dataset))}
            labels = [f"{x}{' (no search)' if is_baseline(x) else ''}{' (flagged)' if x in flagged else ''}, "
                      f"n={n}" for x, n in zip(order, ns)]
            ticks = list(range(len(order)))
            if same is not None and not same.empty:   # same protocol: beside the measured bars
                xr = np.arange(len(same)) + len(order) + 0.5
                ax.bar(xr, same["acc"], width=0.7, color="0.88", edgecolor="0.4", hatch="///", lw=0.4)
                ax.axvline(len(order) - 0.25, color="0.5", lw=0.6, ls=":")
                ticks += list(xr)
                labels += [f"{m} (published)" for m in same["method"]]
                values += list(same["acc"])
            ax.set_xticks(ticks, labels, rotation=40, ha="right", rotation_mode="anchor")
            ax.set_xlim(-0.6, max(ticks) + 0.6)
            ax.set_ylim(0, _acc_top(values))
            chance = chance_level(e)
            if chance is not None:
                ax.axhline(chance, color="0.2", lw=0.8, ls=":", zorder=0.5)
                handles.setdefault("chance", Line2D([], [], color="0.2", lw=0.8, ls=":",
                                                    label="chance (1 / classes)"))
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"measured, evaluated on {short_name(e)}\n{_wrap(n_text(ns, g.repeats))}",
                         fontsize=7.5)
            ax.grid(axis="y", lw=0.3)
            for k, pax in enumerate(row[1:]):
                if k < len(apart):
                    title, ref = list(apart.items())[k]
                    _published_panel(pax, ref, title)
                else:
                    pax.axis("off")
        handles = list(handles.values())
        handles += [Line2D([], [], ls="", marker="o", mfc="white", mec="black", ms=4,
                           label="one search (mean of its trainings)")]
        if (s.repeats > 1).any():
            handles.append(Line2D([], [], ls="", marker="o", color="black", alpha=0.5, ms=2.6,
                                  label="one training from scratch (repeat), right of its search"))
        if (s.groupby(["eval_dataset", "strategy"]).size() > 1).any():
            handles.append(Line2D([], [], color="black", lw=1, marker="_", ms=6,
                                  label="95% CI of the mean over searches"))
        fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
        return _save(fig, prefix)


def _wrap(text: str, width: int = 62) -> str:
    """Break a long subtitle at '; ' into lines of about `width` characters."""
    lines, line = [], ""
    for part in text.split("; "):
        candidate = f"{line}; {part}" if line else part
        if line and len(candidate) > width:
            lines.append(line + ";")
            line = part
        else:
            line = candidate
    return "\n".join([*lines, line])


def _fit_axis(setter, values, pad: float = 0.08) -> None:
    """Limits around the data (not from 0), padded by `pad` of its range (at least 0.5 points)."""
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return
    lo, hi = min(v), max(v)
    margin = max(pad * (hi - lo), 0.5)
    setter(lo - margin, hi + margin)


def transfer_scatter(exp: Experiment, reference: pd.DataFrame | None, prefix: Path) -> list[Path]:
    """Accuracy on the search dataset against accuracy on each transfer dataset: one faint dot per
    search (means of its repeats), each strategy's mean with 95% CIs on both axes (none where
    n = 1), and Spearman's ρ between the strategies' means with its bootstrap interval (3 or more
    strategies). Axes fitted to what is drawn (not from 0: this figure reads a ranking, not a
    level). Published cells only where their protocol is the measured one.
    (Long: one figure drawn top to bottom, its panels, axes and legend in order; split, one picture's
    decisions would scatter.)"""
    s = searches(exp)
    pairs = []
    for (strategy, sd, seed), g in s.groupby(TRIAL_KEY):
        by = g.set_index("eval_dataset")["acc"]
        for td in by.index:
            if td != sd and sd in by.index:
                pairs.append({"search_dataset": sd, "transfer": td, "strategy": strategy, "seed": seed,
                              "x": by[sd], "y": by[td]})
    if not pairs:
        return []

    numbers = transfer_numbers(exp)
    p = pd.DataFrame(pairs)
    panels = list(p.groupby(["search_dataset", "transfer"]))
    colors = _palette(p.strategy.unique())
    protocol = measured_protocol(exp)
    with matplotlib.rc_context(PAPER):
        fig, axes = new_figure(1, len(panels), figsize=(4.4 * len(panels) + 1.8, 3.6), squeeze=False,
                                 layout="constrained")
        legend = {}
        for ax, ((sd, td), g) in zip(axes[0], panels):
            ns, xs, ys = [], [], []
            for name in strategy_order(g.strategy.unique()):
                gs = g[g.strategy == name]
                color = RANDOM_COLOR if is_baseline(name) else colors[name]
                ax.scatter(gs.x, gs.y, s=12, color=color, alpha=0.45, lw=0, zorder=2)
                mx, xlo, xhi, n = ci(gs.x)
                my, ylo, yhi, _ = ci(gs.y)
                ns.append(n)
                xs += [*gs.x, xlo, xhi]
                ys += [*gs.y, ylo, yhi]
                err = n > 1
                h = ax.errorbar(mx, my, xerr=[[mx - xlo], [xhi - mx]] if err else None,
                                yerr=[[my - ylo], [yhi - my]] if err else None, fmt="D" if is_baseline(name)
                                else "o", color=color, mec="black", mew=0.5, ms=5, capsize=2, elinewidth=0.9,
                                zorder=4, label=f"{name}{' (no search)' if is_baseline(name) else ''}")
                legend.setdefault(h.get_label(), h)
            rs, rt = split_reference(reference, sd, protocol)[0], split_reference(reference, td, protocol)[0]
            shown = False
            if rs is not None and rt is not None and not rs.empty and not rt.empty:
                both = rs.merge(rt, on=["method", "search_dataset"], suffixes=("_s", "_t"))
                for r, marker in zip(both.itertuples(), "sDv^PX<>"):
                    h = ax.scatter([r.acc_s], [r.acc_t], marker=marker, facecolor="0.9", edgecolor="0.35",
                                   hatch="////", s=28, lw=0.6, label=f"{r.method} (published)", zorder=3)
                    legend.setdefault(h.get_label(), h)
                    xs.append(r.acc_s)
                    ys.append(r.acc_t)
                    shown = True
            if reference is not None and not shown:
                ax.text(0.02, 0.98, "published numbers: another protocol,\nsee the table",
                        transform=ax.transAxes, ha="left", va="top", fontsize=5.5, color="0.35")
            _fit_axis(ax.set_xlim, xs)
            _fit_axis(ax.set_ylim, ys)
            means = numbers[(numbers.search_dataset == sd) & (numbers.transfer_dataset == td)]
            if len(means) >= 3:   # the transfer table's (searches resampled within strategies)
                rho, lo, hi = means.iloc[0][["means_rho", "means_rho_ci_lo", "means_rho_ci_hi"]]
                ax.text(0.98, 0.02, f"Spearman ρ of the {len(means)} strategies' means\n= "
                        f"{rho:+.2f} [{lo:+.2f}, {hi:+.2f}] (95% bootstrap CI)", transform=ax.transAxes,
                        ha="right", va="bottom", fontsize=6,
                        bbox={"facecolor": "white", "edgecolor": "0.7", "lw": 0.4, "pad": 2})
            ax.set_xlabel(f"accuracy on {short_name(sd)} (search dataset, %)")
            ax.set_ylabel(f"accuracy on {short_name(td)} (transfer, %)")
            ax.set_title(f"searched on {short_name(sd)}, transferred to {short_name(td)}\n"
                         f"{_wrap(n_text(ns), 58)}", fontsize=7.5)
            ax.grid(lw=0.3)
        legend["one search"] = Line2D([], [], ls="", marker="o", color="0.4", alpha=0.45, ms=4,
                                      label="one search (faint)")
        fig.legend(handles=list(legend.values()), loc="outside right center", frameon=False)
        return _save(fig, prefix)


# ---------------------------------------------------------------- α


def alpha_heatmaps(exp: Experiment, strategy: str, prefix: Path) -> list[Path]:
    """softmax(α) of the last search epoch (mean over searches), edges × operations, both cells, on a
    diverging scale centred at the uniform mixture 1/#ops, symmetric about it, its range printed."""
    a = exp.alphas
    if a.empty or strategy not in set(a.strategy):
        return []
    a = a[a.strategy == strategy]
    last = a[a.epoch == a.epoch.max()]
    ops = list(dict.fromkeys(last.op))
    edges = list(dict.fromkeys(last.edge))
    n_searches = last[["search_dataset", "seed"]].drop_duplicates().shape[0]
    means = {cell: (last[last.cell == cell].groupby(["edge", "op"])["weight"].mean().unstack()
                    .reindex(index=edges, columns=ops)) for cell in ("normal", "reduce")}
    uniform = 1.0 / len(ops)
    dev = max(1e-5, *(float(np.nanmax(np.abs(m.values - uniform))) for m in means.values()
                      if np.isfinite(m.values).any()))
    digits = min(5, max(2, int(np.ceil(-np.log10(dev))) + 1))   # enough to tell the cells apart
    norm = TwoSlopeNorm(vcenter=uniform, vmin=uniform - dev, vmax=uniform + dev)
    cmap = matplotlib.colormaps["RdBu_r"]
    with matplotlib.rc_context(PAPER):
        fig, axes = new_figure(1, 2, figsize=(7.4, 0.28 * len(edges) + 2.0), sharey=True,
                                 layout="constrained")
        for ax, cell in zip(axes, ("normal", "reduce")):
            m = means[cell].to_numpy(dtype=float)
            mesh = ax.pcolormesh(np.arange(len(ops) + 1), np.arange(len(edges) + 1), m, cmap=cmap,
                                 norm=norm, edgecolors="white", linewidth=0.3)
            for (r, c), v in np.ndenumerate(m):
                if np.isfinite(v):
                    dark = abs(norm(v) - 0.5) > 0.3
                    ax.text(c + 0.5, r + 0.5, f"{v:.{digits}f}", ha="center", va="center",
                            fontsize=5 if digits < 4 else 4.2, color="white" if dark else "black")
            ax.set_xlim(0, len(ops))
            ax.set_ylim(len(edges), 0)
            ax.set_title(f"{'normal' if cell == 'normal' else 'reduction'} cell")
            ax.set_xticks(np.arange(len(ops)) + 0.5, ops, rotation=45, ha="right", rotation_mode="anchor")
            ax.set_yticks(np.arange(len(edges)) + 0.5, edges)
            ax.set_xlabel("operation")
            ax.set_ylabel("edge (input→node)" if cell == "normal" else "")
        frac = f"1/{len(ops)}"
        cbar = fig.colorbar(mesh, ax=axes, shrink=0.9, pad=0.02)
        cbar.set_label(f"softmax(α) within the edge\n(white: uniform, {frac} = {uniform:.4g})")
        low = max(0.0, uniform - dev)   # the scale is symmetric; softmax weights stop at 0
        cbar.ax.set_ylim(low, uniform + dev)
        cbar.set_ticks([low, uniform, uniform + dev],
                       labels=[f"{low:.{digits}f}", frac, f"{uniform + dev:.{digits}f}"])
        cbar.ax.tick_params(labelsize=6)
        what = ("α drawn at random (no search)" if is_baseline(strategy)
                else f"softmax(α) after search epoch {int(last.epoch.max()) + 1}")
        fig.suptitle(f"{strategy}: {what}, mean over n = {n_searches} search{'es' if n_searches > 1 else ''}"
                     f"\ncolour scale: softmax(α) − {frac} in [−{dev:.{digits}f}, +{dev:.{digits}f}] "
                     "(the largest departure from uniform in either cell)", fontsize=8)
        return _save(fig, prefix)


def alpha_over_epochs(exp: Experiment, prefix: Path, edge: str | None = None,
                      cell: str = "normal") -> list[Path]:
    """softmax(α) of one edge over the search epochs, one panel per searching strategy: the mean
    over searches, with the 95% CI as a band where n > 1, and the uniform mixture dotted."""
    a = exp.alphas
    if a.empty:
        return []
    a = a[(a.cell == cell) & ~a.strategy.map(is_baseline)]
    edge = edge or next(iter(dict.fromkeys(a.edge)), None)
    a = a[a.edge == edge]
    if a.empty:
        return []
    strategies = strategy_order(a.strategy.unique())
    ops = list(dict.fromkeys(a.op))
    op_colors = {op: op_color(op) for op in ops}   # the colours of the cell drawings
    epochs = int(a.epoch.max()) + 1
    cols = min(4, len(strategies))
    rows = -(-len(strategies) // cols)
    ns, top = [], 1 / len(ops)
    with matplotlib.rc_context(PAPER):
        fig, axes = new_figure(rows, cols, figsize=(1.9 * cols + 1.4, 1.7 * rows + 0.8),
                                 sharex=True, sharey=True, squeeze=False, layout="constrained")
        for ax, name in zip(axes.flat, strategies):
            g = a[a.strategy == name]
            n = g[["search_dataset", "seed"]].drop_duplicates().shape[0]
            ns.append(n)
            for op in ops:
                stats_ = [ci(g[(g.op == op) & (g.epoch == ep)]["weight"]) for ep in range(epochs)]
                x = np.arange(1, epochs + 1)
                mean = np.array([r[0] for r in stats_])
                top = np.nanmax([top, *mean, *(r[2] for r in stats_)])
                ax.plot(x, mean, marker="o", ms=2.5, lw=1.0, color=op_colors[op], label=op,
                        ls="--" if op == "none" else "-")
                if n > 1:
                    ax.fill_between(x, [r[1] for r in stats_], [r[2] for r in stats_], color=op_colors[op],
                                    alpha=0.12, lw=0)
            ax.axhline(1 / len(ops), color="0.3", lw=0.7, ls=":")
            ax.set_title(f"{name} (n = {n})")
            ax.set_ylabel("softmax(α)")
            ax.set_xlabel("search epoch")
            _epoch_axis(ax, epochs)
            ax.xaxis.set_tick_params(labelbottom=True)   # also above an empty panel
            ax.grid(lw=0.3)
        axes.flat[0].set_ylim(0, 1.1 * top)   # shared: from 0 to above every value and interval
        for ax in list(axes.flat)[len(strategies):]:
            ax.axis("off")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        handles.append(Line2D([], [], color="0.3", lw=0.7, ls=":"))
        labels.append(f"uniform, 1/{len(ops)}")
        fig.legend(handles, labels, loc="outside right center", frameon=False)
        band = ("; bands: 95% CI of the mean over searches" + ("; none where n = 1" if min(ns) == 1 else "")
                if max(ns) > 1 else "; n = 1, no interval")
        fig.suptitle(f"softmax(α) of edge {edge} of the {cell} cell over the search epochs\n"
                     f"mean over n searches per strategy (n in each title){band}", fontsize=8)
        return _save(fig, prefix)


# ---------------------------------------------------------------- search and cost


def search_curves(exp: Experiment, prefix: Path) -> list[Path]:
    """Supernet training and validation accuracy over the search epochs: per strategy the mean over
    searches (line and markers) with the 95% CI (whiskers; none where n = 1). Strategies that do not
    search (random) have no curve."""
    e = exp.epochs
    if e.empty:
        return []
    e = e[(e.phase == "search") & ~e.strategy.map(is_baseline)].copy()
    for col in ("train_acc", "val_acc"):
        e[col] = pd.to_numeric(e[col], errors="coerce")
    e = e.dropna(subset=["train_acc", "val_acc"], how="all")
    if e.empty:
        return []
    e["epoch"] = e["epoch"] + 1
    per_search = e.groupby([*TRIAL_KEY, "epoch"])[["train_acc", "val_acc"]].mean().reset_index()
    strategies = strategy_order(per_search.strategy.unique())
    colors = _palette(strategies)
    epochs = int(per_search.epoch.max())
    offsets = dict(zip(strategies, _jitter(len(strategies), 0.36 if epochs == 1 else 0.2)))
    skipped = sorted({s for s in exp.epochs.strategy.unique() if is_baseline(s)})
    ns = []
    with matplotlib.rc_context(PAPER):
        fig, axes = new_figure(1, 2, figsize=(7.6, 3.0), sharey=True, layout="constrained")
        for ax, (col, split) in zip(axes, [("train_acc", "training batches (w step)"),
                                           ("val_acc", "validation batches (α step)")]):
            for name in strategies:
                g = per_search[per_search.strategy == name]
                rows = [(ep, *ci(100 * g[g.epoch == ep][col])) for ep in sorted(g.epoch.unique())]
                x = np.array([r[0] for r in rows], float) + offsets[name]
                mean = np.array([r[1] for r in rows])
                lo, hi = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
                n = max(r[4] for r in rows)
                if col == "train_acc":
                    ns.append(n)
                has = np.isfinite(lo)
                yerr = np.vstack([mean - lo, hi - mean])[:, has]
                ax.plot(x, mean, marker="o", ms=3.5, lw=1.2 if len(x) > 1 else 0, color=colors[name],
                        label=name, zorder=3)
                if has.any():
                    ax.errorbar(x[has], mean[has], yerr=yerr, fmt="none", ecolor=colors[name],
                                elinewidth=0.8, capsize=2, zorder=2)
            ax.set_title(split)
            ax.set_ylabel("supernet accuracy (%)" if col == "train_acc" else "")
            ax.set_xlabel("search epoch" + (" (strategies side by side)" if epochs == 1 else ""))
            _epoch_axis(ax, epochs)
            ax.set_ylim(0, 100)
            ax.grid(lw=0.3)
        handles, labels = axes[1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center", frameon=False)
        note = f"; {', '.join(skipped)}: no search, no curve" if skipped else ""
        fig.suptitle(_wrap(n_text(ns) + note, 110), fontsize=7.5)
        return _save(fig, prefix)


# The epochs table's standard columns: anything else numeric in a search row is a strategy's own
# metric or a collapse diagnostic (nas/diagnostics.py), drawn by `collapse_curves`.
EPOCH_COLUMNS = {"experiment", "strategy", "search_dataset", "seed", "profile", "phase", "eval_dataset",
                 "repeat", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "time_s",
                 # the derived cell and its lookup in a table of cells (analysis/lookups.py draws it)
                 "genotype", "lookup_acc", "lookup_n", "lookup_train_acc"}
# what each search did, from its own steps (the others: the collapse diagnostics, on a fixed batch)
SEARCH_METRICS = ("alpha_change", "hypergrad_norm", "hypergrad_norm_max", "cg_iterations",
                  "cg_negative_curvature", "cg_damping", "neumann_growth", "neumann_growth_max",
                  "response_change")
DIAGNOSTIC_LABELS = {
    "alpha_entropy": "mean entropy of softmax(α) (nats)",
    "largest_eigenvalue": "largest eigenvalue of ∇²_α L_val",
    "discretisation_gap": "discretisation gap (acc. pts)",
    "param_free_normal": "parameter-free ops, normal cell",
    "param_free_reduce": "parameter-free ops, reduction cell",
    # the nb201 space's (nas.spaces.nb201.cell_stats)
    "param_free_cell": "parameter-free edges of the derived cell",
    "convolutions": "convolutions in the derived cell",
    "collapsed": "share of searches whose cell collapsed (parameter-free only)",
    "zero_output": "share of searches whose cell outputs zero",
    # what each search did (analysis/health.py reads them)
    "alpha_change": "α change per epoch (mean |Δ log softmax α|)",
    "hypergrad_norm": "‖hypergradient‖, mean over the epoch",
    "hypergrad_norm_max": "‖hypergradient‖, largest in the epoch",
    "cg_iterations": "CG iterations per step (implicit-cg)",
    "cg_negative_curvature": "share of CG solves stopped by negative curvature",
    "cg_damping": "CG damping δ in use, mean (implicit-cg)",
    "neumann_growth": "Neumann series growth (last / first term), mean",
    "neumann_growth_max": "Neumann series growth, largest in the epoch",
    "response_change": "hyperDARTS response (relative weight change)",
}


PARAMETER_FREE = {"skip_connect", "max_pool_3x3", "avg_pool_3x3"}


def uniform_references(exp: Experiment) -> dict[str, tuple[float, str]]:
    """Per diagnostic, the value of a uniform α and its label: log(#ops) for the entropy, and for
    the DARTS cells' parameter-free operations the expected count of a genotype drawn uniformly
    (genes × parameter-free ops / non-`none` ops); {} where the α table or a genotype is missing."""
    a = exp.alphas
    if a.empty or not {"cell", "edge", "op"} <= set(a):
        return {}
    ops = int(a.groupby([*TRIAL_KEY, "epoch", "cell", "edge"]).op.nunique().max())
    out = {"alpha_entropy": (math.log(ops), f"uniform α: log {ops}")}
    names = set(a.op) - {"none"}
    f = exp.trials
    genotype = next((g for g in f.get("genotype", []) if isinstance(g, str) and g.startswith("Genotype(")),
                    None)
    if exp.space == "nb201" and names:   # every edge keeps an operation, `none` included
        edges = int(a.groupby([*TRIAL_KEY, "epoch", "cell"]).edge.nunique().max())
        free = {"none", "skip_connect", "avg_pool_3x3"} & set(a.op)
        expected = edges * len(free) / ops
        out["param_free_cell"] = (expected, f"uniform draw: {expected:.1f}")
    elif genotype and names:
        g = parse_genotype(genotype)
        share = len(names & PARAMETER_FREE) / len(names)
        for kind, genes in (("normal", g.normal), ("reduce", g.reduce)):
            out[f"param_free_{kind}"] = (len(genes) * share, f"uniform draw: {len(genes) * share:.1f}")
    return out


def collapse_curves(exp: Experiment, prefix: Path) -> list[Path]:
    """The collapse diagnostics and the strategies' own metrics over the search epochs, one panel
    each: per strategy the mean over searches (line and markers) and the 95% CI (whiskers; none
    where n = 1). The random baseline (no search) is drawn at its one record; a dashed line marks
    a uniform α's value where it is known (`uniform_references`); counts get integer ticks.
    (Long: one figure drawn top to bottom, its panels, axes and legend in order; split, one picture's
    decisions would scatter.)"""
    e = exp.epochs
    if e.empty:
        return []
    e = e[e.phase == "search"].copy()
    cols = [c for c in e.columns if c not in EPOCH_COLUMNS and not c.endswith("_s")
            and pd.api.types.is_numeric_dtype(e[c]) and e[c].notna().any()]
    if not cols:
        return []
    cols = [c for c in DIAGNOSTIC_LABELS if c in cols] + sorted(set(cols) - set(DIAGNOSTIC_LABELS))
    e["epoch"] = e["epoch"] + 1
    per_search = e.groupby([*TRIAL_KEY, "epoch"])[cols].mean().reset_index()
    uniform = uniform_references(exp)
    strategies = strategy_order(per_search.strategy.unique())
    colors = _palette(strategies)
    epochs = int(per_search.epoch.max())
    offsets = dict(zip(strategies, _jitter(len(strategies), 0.36 if epochs == 1 else 0.2)))
    ncols = min(3, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    ns = []
    with matplotlib.rc_context(PAPER):
        fig, axes = new_figure(nrows, ncols, figsize=(2.6 * ncols + 1.6, 2.3 * nrows + 0.6),
                               squeeze=False, layout="constrained")
        for ax, col in zip(axes.flat, cols):
            for name in strategies:
                g = per_search[(per_search.strategy == name) & per_search[col].notna()]
                if g.empty:
                    continue
                rows = [(ep, *ci(g[g.epoch == ep][col])) for ep in sorted(g.epoch.unique())]
                x = np.array([r[0] for r in rows], float) + offsets[name]
                mean = np.array([r[1] for r in rows])
                lo, hi = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
                ns.append(max(r[4] for r in rows))
                has = np.isfinite(lo)
                ax.plot(x, mean, marker="o", ms=3, lw=1.1 if len(x) > 1 else 0, color=colors[name],
                        label=name, zorder=3)
                if has.any():
                    ax.errorbar(x[has], mean[has], yerr=np.vstack([mean - lo, hi - mean])[:, has],
                                fmt="none", ecolor=colors[name], elinewidth=0.8, capsize=2, zorder=2)
            ax.set_title(DIAGNOSTIC_LABELS.get(col, col), fontsize=8)
            ax.set_xlabel("search epoch")
            _epoch_axis(ax, epochs)
            if col == "discretisation_gap":
                ax.axhline(0, color="black", lw=0.6)
            if col in uniform:
                value, label = uniform[col]
                ax.axhline(value, color="0.35", lw=0.9, ls="--", label=label, zorder=1)
                ax.legend(handles=[Line2D([], [], color="0.35", lw=0.9, ls="--")], labels=[label],
                          fontsize=6.5, frameon=False, loc="best")
            if col.startswith("param_free"):
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(lw=0.3)
        for ax in list(axes.flat)[len(cols):]:
            ax.set_visible(False)
        handles = {}
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab in strategies:   # not the panels' own reference lines
                    handles.setdefault(lab, h)
        fig.legend(list(handles.values()), list(handles), loc="outside right center", frameon=False)
        # (the collapse diagnostics come from a fixed batch; what each search did, from its steps)
        batch = [c for c in cols if c in DIAGNOSTIC_LABELS and c not in SEARCH_METRICS]
        fig.suptitle(_wrap(n_text(ns) + ("; diagnostics measured on one fixed validation batch after "
                                         "the epochs shown" if batch else "; from each epoch's search steps"),
                           110), fontsize=7.5)
        return _save(fig, prefix)


def cost_vs_accuracy(exp: Experiment, prefix: Path) -> list[Path]:
    """Search cost (CPU time on a CPU, device time on a GPU: `cost_hours`) against test accuracy
    on the search dataset: one faint dot per search; per
    strategy the geometric mean of the time and the mean accuracy, each with its 95% CI (the time's
    on the log scale; none where n = 1). The random genotype (no search) is a grey band."""
    s = searches(exp)
    s = s[s.eval_dataset == s.search_dataset].copy()
    if s.empty:
        return []
    s["hours"], s["unit"] = cost_hours(s, "search")
    base = s[s.strategy.map(is_baseline)]
    s = s[~s.strategy.map(is_baseline) & (s.hours > 0)]
    if s.empty:
        return []
    colors = _palette(s.strategy.unique())
    ns = []
    with matplotlib.rc_context(PAPER):
        fig, ax = new_figure(figsize=(5.6, 3.4), layout="constrained")
        handles = []
        for name in strategy_order(s.strategy.unique()):
            g = s[s.strategy == name]
            ax.scatter(g.hours, g.acc, color=colors[name], s=10, alpha=0.45, lw=0)
            lm, llo, lhi, n = ci(np.log(g.hours))
            my, ylo, yhi, _ = ci(g.acc)
            ns.append(n)
            mx = math.exp(lm)
            err = n > 1
            handles.append(ax.errorbar(
                mx, my, xerr=[[mx - math.exp(llo)], [math.exp(lhi) - mx]] if err else None,
                yerr=[[my - ylo], [yhi - my]] if err else None, fmt="o", color=colors[name],
                mec="black", mew=0.4, ms=5, capsize=2, elinewidth=0.9, label=name))
        handles += _random_reference(ax, base["acc"])
        ax.set_xscale("log")
        lo, hi = ax.get_xlim()
        decades = math.log10(hi / lo)
        subs = (1.0,) if decades > 2.5 else (1.0, 2.0, 5.0) if decades > 1 else (1.0, 2.0, 3.0, 5.0, 7.0)
        ax.xaxis.set_major_locator(LogLocator(subs=subs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"cost per search ({' / '.join(sorted(set(s.unit)))}, log scale)")
        ax.set_ylabel("test accuracy on the search dataset (%)")
        ax.set_ylim(0, _acc_top([*s.acc, *base.acc]))
        ax.grid(lw=0.3, which="both")
        handles.append(Line2D([], [], ls="", marker="o", color="0.4", alpha=0.45, ms=3,
                              label="one search (faint)"))
        fig.legend(handles=handles, loc="outside right center", frameon=False)
        ax.set_title(_wrap(n_text(ns) + "; time: geometric mean", 70), fontsize=7)
        return _save(fig, prefix)


def _fidelity_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Each strategy's default row per regime and search step, over the seeds measured: mean and
    95% t interval (NaN where n = 1) of its time, of its relative error on the log scale (the
    geometric mean) and of its cosines on Fisher's z scale (within ±1), as the fidelity table."""
    rows = latest_fidelity(rows)
    rows = rows[~rows.variant.astype(bool)]
    out = []
    for (pre, step, strategy), g in rows.groupby(["pretrain_steps", "search_step", "strategy"], sort=False):
        r = {"pretrain_steps": pre, "search_step": step, "strategy": strategy, "n": len(g),
             "passes": g["passes"].iloc[0] if "passes" in g else np.nan}
        for c in ("cosine", "cosine_unrolled", "relative_error", "time_s"):
            if c in g:   # (cosines on Fisher's z scale, as the fidelity table gives them)
                stat = ((lambda v: st.correlation_mean_ci(v, clip=1 - 1e-9)) if c.startswith("cosine")
                        else (lambda v: st.log_mean_ci(v.clip(lower=1e-300))) if c == "relative_error"
                        else ci)
                r[c], r[f"{c}_lo"], r[f"{c}_hi"], _ = stat(g[c])
        out.append(r)
    return pd.DataFrame(out)


def _regime_text(means: pd.DataFrame) -> str:
    regimes = sorted(means.pretrain_steps.unique())
    return "; ".join("weights as the search left them" if p == 0
                     else f"weights fitted to one batch ({p} steps)" for p in regimes)


def fidelity_vs_cost(rows: pd.DataFrame, prefix: Path) -> list[Path]:
    """Cosine to each reference (implicit, unrolled) against the strategy's passes per step (log
    scale), one marker per strategy and point of the search (marker shape = search step): the mean
    over the seeds measured with its 95% t interval (none where n = 1), the strategies' default
    settings; the latest regime (weights as the search left them where measured). [] without the
    unrolled columns."""
    if rows.empty or "cosine_unrolled" not in rows or "passes" not in rows:
        return []
    means = _fidelity_means(rows)
    means = means[means.pretrain_steps == means.pretrain_steps.min()]
    steps = sorted(means.search_step.unique())
    shapes = dict(zip(steps, "os^Dv<>p"))
    order = strategy_order(means.strategy)
    colors = _palette(order)
    n_lo, n_hi = int(means.n.min()), int(means.n.max())
    with matplotlib.rc_context(PAPER):
        fig, axes = new_figure(1, 2, figsize=(7.6, 3.0), sharey=True, layout="constrained")
        for ax, col, title in ((axes[0], "cosine", "against the implicit reference"),
                               (axes[1], "cosine_unrolled", "against the unrolled reference")):
            # side by side around each x: the strategies of equal cost, and within each its points
            # of the search (first-order-smoothed's hypergradient is first-order's: not hidden)
            passes = means.groupby("strategy").passes.first()
            peers = {s: [t for t in order if passes[t] == passes[s]] for s in order}
            for r in means.itertuples():
                k = len(peers[r.strategy])
                shift = (1 + 0.07 * (peers[r.strategy].index(r.strategy) - (k - 1) / 2)
                         + 0.02 * (steps.index(r.search_step) - (len(steps) - 1) / 2))
                m, lo, hi = getattr(r, col), getattr(r, f"{col}_lo"), getattr(r, f"{col}_hi")
                if not math.isnan(lo):
                    # (max: an interval of identical values has its ends a rounding off the mean)
                    ax.errorbar(r.passes * shift, m, yerr=[[max(m - lo, 0)], [max(hi - m, 0)]], fmt="none",
                                ecolor=colors[r.strategy], elinewidth=0.8, capsize=1.5, zorder=2)
                ax.scatter(r.passes * shift, m, color=colors[r.strategy], marker=shapes[r.search_step],
                           edgecolor="black", lw=0.4, s=26, zorder=3)
            ax.set_xscale("log")
            ticks = sorted(means.passes.unique())
            ax.set_xticks(ticks)
            # a label per tick, but one for ticks closer than 20% (e.g. 4.5 and 5 passes)
            labels, last = [], None
            for t in ticks:
                close = last is not None and t / last < 1.2
                labels.append("" if close else f"{t:g}")
                if close:
                    labels[-2] = f"{last:g}, {t:g}"
                last = t
            ax.set_xticklabels(labels)
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("passes per step (log scale)")
            ax.set_title(title, fontsize=8)
            ax.axhline(0, color="black", lw=0.6)
            ax.set_ylim(-1, 1)
            ax.grid(lw=0.3)
        axes[0].set_ylabel("cosine to the reference")
        handles = [Line2D([], [], marker="o", ls="", color=colors[s], label=s) for s in order]
        handles += [Line2D([], [], marker=shapes[t], ls="", color="grey", label=f"after {t} steps")
                    for t in steps]
        fig.legend(handles=handles, loc="outside right center", frameon=False)
        count = _count_text(n_lo, n_hi)
        fig.suptitle(f"{_regime_text(means)}; n = {count} seed(s) per marker"
                     + ("; whiskers: 95% t interval over seeds on Fisher's z scale" if n_hi > 1
                        else " (no interval)"),
                     fontsize=7.5)
        return _save(fig, prefix)


def fidelity_bars(rows: pd.DataFrame, prefix: Path) -> list[Path]:
    """The fidelity table (`python -m studies fidelity --out`) at the last point of the search
    (the latest regime): each strategy's cosine and relative error to the implicit reference and
    its time per call, the mean over the seeds measured with its 95% t interval (none where
    n = 1)."""
    if rows.empty:
        return []
    means = _fidelity_means(rows)
    means = means[means.pretrain_steps == means.pretrain_steps.min()]
    means = means[means.search_step == means.search_step.max()]
    order = strategy_order(means.strategy)
    colors = _palette(order)
    n_lo, n_hi = int(means.n.min()), int(means.n.max())
    with matplotlib.rc_context(PAPER):
        fig, axes = new_figure(1, 3, figsize=(7.0, 2.6), sharey=True)
        y = np.arange(len(order))
        by = means.set_index("strategy").reindex(order)
        for ax, col, label in zip(axes, ("cosine", "relative_error", "time_s"),
                                  ("cosine to the reference (−1 to 1)", "relative error",
                                   "seconds per call (log scale)")):
            if col not in by:
                continue
            lo, hi = by[f"{col}_lo"].to_numpy(), by[f"{col}_hi"].to_numpy()
            if col == "time_s":   # a log axis has no zero for bars to start from: dots
                ax.scatter(by[col], y, color=[colors[s] for s in order], edgecolor="black", lw=0.4, s=22,
                           zorder=3)
                ax.set_xscale("log")
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            else:
                ax.barh(y, by[col], color=[colors[s] for s in order], edgecolor="black", linewidth=0.4)
            ok = ~np.isnan(lo)
            if ok.any():
                v = by[col].to_numpy()
                ax.errorbar(v[ok], y[ok], xerr=[v[ok] - lo[ok], hi[ok] - v[ok]], fmt="none", ecolor="black",
                            elinewidth=0.8, capsize=2, zorder=4)
            if col == "cosine":
                ax.set_xlim(-1, 1)
                ax.axvline(0, color="black", lw=0.6)
            if col == "relative_error":
                ax.set_xlim(left=0)
            ax.set_xlabel(label)
            ax.grid(axis="x", lw=0.3)
        axes[0].set_yticks(y, order)
        axes[0].set_ylim(len(order) - 0.5, -0.5)
        axes[0].set_ylabel("strategy")
        count = _count_text(n_lo, n_hi)
        fig.suptitle(f"after {int(means.search_step.max())} search steps, {_regime_text(means)}; n = {count} "
                     "seed(s)" + ("; whiskers: 95% t interval over seeds (cosines: on Fisher's z scale)"
                                  if n_hi > 1 else " (no interval)")
                     + "; time: median of the timed calls", fontsize=7.5)
        fig.tight_layout()
        return _save(fig, prefix)


def perf_bars(path: Path, prefix: Path) -> list[Path]:
    """Step time in passes against the passes each strategy needs, per device and configuration."""
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
    with matplotlib.rc_context(PAPER):
        fig, ax = new_figure(figsize=(7.0, 0.35 * len(order) + 1.2))
        # Colours name configurations here, so not the strategies' colours (Set2, not tab10).
        sns.barplot(data=df, y="name", x="step_over_pass", hue="config", order=order, ax=ax,
                    palette="Set2", edgecolor="black", linewidth=0.4)
        expected = df.drop_duplicates("name").set_index("name").expected_passes
        ax.scatter([expected[n] for n in order], range(len(order)), marker="|", s=200, color="black",
                   zorder=5, label="expected passes")
        ax.set_xlabel("time per step / time of one forward+backward pass")
        ax.set_ylabel("")
        ax.grid(axis="x", lw=0.3)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        steps = sorted({int(v) for v in df.steps.dropna()}) if "steps" in df else []
        ax.set_title("median time per step after the warm-up"
                     + (f" ({'/'.join(map(str, steps))} timed steps)" if steps else "")
                     + "; one measurement per configuration, no interval", fontsize=7.5)
        fig.tight_layout()
        return _save(fig, prefix)


def noise_bars(exp: Experiment, prefix: Path) -> list[Path]:
    """Per strategy, on each evaluation dataset whose cells were trained more than once: the sd
    between searches and the sd between trainings of one cell (points), from the accuracy table's
    one-way random-effects ANOVA, with their 95% χ² intervals (`stats.variance_components`: the
    search sd's approximate, its lower bound often 0), and the training sd pooled over strategies
    as a line. [] without repeats."""
    num = accuracy_numbers(exp)
    num = num[num["repeats_max"] >= 2]
    if num.empty:
        return []
    evals = list(dict.fromkeys(num["eval_dataset"]))
    fig, axes = new_figure(1, len(evals), figsize=(max(5.0, 0.55 * num.strategy.nunique() + 2) * len(evals),
                                                     3.4), squeeze=False)
    for ax, e in zip(axes[0], evals):
        g = num[num.eval_dataset == e]
        order = strategy_order(g.strategy)
        g = g.set_index("strategy").loc[order]
        x = np.arange(len(order))
        # NaN (fewer than 2 searches) draws no bar, rather than a bar of height 0
        for dx, col, color, label in ((-0.2, "sd_search", "#4c72b0", "sd between searches"),
                                      (0.2, "sd_train", "#dd8452", "sd between trainings of one cell")):
            v, lo, hi = (g[c].astype(float).to_numpy() for c in (col, f"{col}_lo", f"{col}_hi"))
            ax.bar(x + dx, v, 0.4, color=color, label=label)
            ok = ~np.isnan(lo)
            ax.errorbar(x[ok] + dx, v[ok], yerr=[v[ok] - lo[ok], hi[ok] - v[ok]], fmt="none",
                        ecolor="black", elinewidth=0.8, capsize=2)
        t = exp.finished[exp.finished.eval_dataset == e]
        pooled = st.variance_components(t, ["strategy", "seed"], "acc", "repeat")
        if not pooled.empty and not math.isnan(pooled["sd_train"].iloc[0]):
            ax.axhline(pooled["sd_train"].iloc[0], color="#dd8452", ls="--", lw=0.9,
                       label=f"training sd pooled over strategies: {pooled['sd_train'].iloc[0]:.2f} "
                             f"[{pooled['sd_train_lo'].iloc[0]:.2f}, {pooled['sd_train_hi'].iloc[0]:.2f}]")
        ax.set_xticks(x, order, rotation=40, ha="right", rotation_mode="anchor")
        ax.set_ylabel("standard deviation (accuracy points)")
        ax.set_ylim(0, None)
        n = _count_text(int(g["n"].min()), int(g["n"].max()))
        r = _count_text(int(g["repeats_min"].min()), int(g["repeats_max"].max()))
        ax.set_title(f"evaluated on {short_name(e)}\nn = {n} searches per strategy, {r} trainings each; "
                     "whiskers: 95% χ² intervals", fontsize=8)
        ax.grid(axis="y", lw=0.3)
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return _save(fig, prefix)


def _count_text(lo: int, hi: int) -> str:
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


# ---------------------------------------------------------------- paired differences


def paired_differences(exp: Experiment, prefix: Path,
                       ran: dict[tuple[str, str], str] | None = None) -> list[Path]:
    """The accuracy comparisons as a forest plot: one row of panels per evaluation dataset, one
    panel per baseline (first-order, random; hyperDARTS against first-order-smoothed, its noise
    control, in the first-order panel), one line per strategy. Each line: the mean difference
    (strategy − baseline, points) with its 95% CI (paired t over shared seeds, else Welch), each
    seed's paired difference as a small dot, and a grey band of ± the minimum detectable difference
    after Holm (80% power; its value in the margin): a true difference inside the band is not
    detectable at this n. Strategies that did not run as configured (`ran`, from analysis.health)
    are drawn hollow and marked "(flagged)". [] without any comparison.
    (Long: one figure drawn top to bottom, its panels, axes and legend in order; split, one picture's
    decisions would scatter.)"""
    num = accuracy_numbers(exp)
    if num.empty:
        return []
    s = searches(exp)
    ran = ran or {}
    columns = ("first-order", "random")
    searched = set(num["search_dataset"])   # the search datasets' rows first, then the transfers'
    evals = sorted(dict.fromkeys(num["eval_dataset"]), key=lambda e: (e not in searched, str(e)))
    # (eval, column) -> {line label: (strategy, base, row)}
    panels: dict[tuple[str, str], dict[str, tuple]] = {}
    lines: dict[str, list[str]] = {}                       # eval -> line labels, in order
    for e in evals:
        lines[e] = []
        for r in num[num.eval_dataset == e].itertuples():
            for base in BASELINES:
                if getattr(r, f"vs_{slug(base)}_test") == "":
                    continue
                column = "first-order" if base == "first-order-smoothed" else base
                label = r.strategy + ("" if base == column else f" − {base}")
                if label not in lines[e]:
                    lines[e].append(label)
                panels.setdefault((e, column), {})[label] = (r.strategy, base, r)
    if not panels:
        return []
    height = max(len(v) for v in lines.values())
    colors = _palette(s.strategy.unique())
    with matplotlib.rc_context(PAPER):
        fig, axes = new_figure(len(evals), len(columns),
                               figsize=(8.2, (0.3 * height + 1.0) * len(evals) + 0.8),
                               squeeze=False, layout="constrained")
        for row, e in zip(axes, evals):
            for ax, column in zip(row, columns):
                drawn = panels.get((e, column), {})
                span = []
                for y, label in enumerate(lines[e]):
                    if label not in drawn:
                        continue
                    name, base, r = drawn[label]

                    def f(c, base=base, r=r):
                        return getattr(r, f"vs_{slug(base)}_{c}")

                    diff, lo, hi, mde, p_holm = (f("diff"), f("diff_lo"), f("diff_hi"), f("mde_holm"),
                                                 f("p_holm"))
                    broken = any(ran.get((r.search_dataset, x), "").startswith("no:") for x in (name, base))
                    if not math.isnan(mde):
                        ax.add_patch(matplotlib.patches.Rectangle((-mde, y - 0.32), 2 * mde, 0.64,
                                                                  color="0.88", lw=0, zorder=0.5))
                        p_txt = "" if math.isnan(p_holm) else f"  p_H {p_holm:.2f}"
                        ax.text(1.01, y, f"±{mde:.1f}{p_txt}", transform=ax.get_yaxis_transform(),
                                va="center", fontsize=5.5, color="0.3")
                    if f("test") == "paired":
                        a, c = (s[(s.strategy == x) & (s.search_dataset == r.search_dataset)
                                  & (s.eval_dataset == e)].set_index("seed")["acc"] for x in (name, base))
                        d = (a - c).dropna()
                        ax.scatter(d, y + _jitter(len(d), 0.3), s=8, color="0.2", alpha=0.55, lw=0, zorder=3)
                        span += list(d)
                    if not math.isnan(lo):
                        ax.errorbar(diff, y, xerr=[[diff - lo], [hi - diff]], fmt="none", ecolor="black",
                                    elinewidth=1.0, capsize=2.5, zorder=4)
                        span += [lo, hi]
                    color = colors.get(name, "0.3")
                    ax.scatter([diff], [y], s=28, zorder=5, edgecolor=color if broken else "black",
                               facecolor="white" if broken else color, lw=1.3 if broken else 0.6)
                    span.append(diff)
                ax.axvline(0, color="black", lw=0.8, zorder=1)
                ticks = []
                for label in lines[e]:
                    name, base, r = drawn.get(label, (label.split(" − ")[0], None, None))
                    flagged = r is not None and any(
                        ran.get((r.search_dataset, x), "").startswith("no:") for x in (name, base))
                    n = "" if r is None else f", n={getattr(r, f'vs_{slug(base)}_n')}"
                    ticks.append(f"{label}{' (flagged)' if flagged else ''}{n}" if r is not None else "")
                ax.set_yticks(range(len(lines[e])), ticks)
                ax.tick_params(axis="y", length=0)
                ax.set_ylim(len(lines[e]) - 0.5, -0.5)
                top = max([abs(v) for v in span if not math.isnan(v)] or [1.0]) * 1.15
                ax.set_xlim(-top, top)
                ax.set_xlabel(f"accuracy − {column}'s (points)")
                ax.set_title(f"evaluated on {short_name(e)}: strategy − {column}", fontsize=8)
                ax.grid(axis="x", lw=0.3)
        handles = [Line2D([], [], color="black", marker="o", ms=5, lw=1.0,
                          label="mean difference, uncorrected 95% CI"),
                   Line2D([], [], ls="", marker="o", color="0.2", alpha=0.55, ms=3,
                          label="one seed's paired difference"),
                   Patch(color="0.88", label="± minimum detectable difference after Holm, 80% power "
                                             "(at the right, with p_H: Holm-corrected p)"),
                   Line2D([], [], ls="", marker="o", mfc="white", mec="0.3", ms=5,
                          label="(flagged): did not run as configured, not compared")]
        fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
        return _save(fig, prefix)


# ---------------------------------------------------------------- dense-DAG choice


def dense_dag_choice(exp: Experiment, prefix: Path) -> list[Path]:
    """The dense-DAG report's central result, one row of two panels per search dataset. Left: each
    strategy's chosen block against its seed's candidates, as ground-truth accuracy minus the
    seed's mean candidate (0 = what a uniform choice gets on average; dots: searches; whiskers:
    95% t CI of the mean; the dashed line: the best candidate, averaged over seeds). Right:
    Kendall's τ between α and the candidates' accuracies (95% CI on Fisher's z scale), with the
    ground truth's noise ceiling (the τ a perfect ranking reaches against it) as a band. The
    panel title gives the per-seed ANOVA p of the candidates: where they do not differ, neither
    panel ranks anything but training noise. [] without a complete ground truth.
    (Long: one figure drawn top to bottom, its panels, axes and legend in order; split, one picture's
    decisions would scatter.)"""
    scores = dense_dag.search_scores(exp)
    if scores.empty:
        return []
    ceiling = dense_dag.noise_ceiling(exp)
    curse = dense_dag.noise_gains(exp)
    datasets = list(dict.fromkeys(scores.search_dataset))
    colors = _palette(scores.strategy.unique())
    with matplotlib.rc_context(PAPER):
        fig, axes = new_figure(len(datasets), 2, figsize=(8.6, 3.4 * len(datasets) + 0.6), squeeze=False,
                               layout="constrained")
        for (left, right), sd in zip(axes, datasets):
            g = scores[scores.search_dataset == sd].copy()
            g["rel_chosen"] = g["chosen"] - g["mean_candidate"]
            g["rel_best"] = g["best"] - g["mean_candidate"]
            order = strategy_order(g.strategy.unique())
            order = [x for x in order if not is_baseline(x)] + [x for x in order if is_baseline(x)]
            ceil = ceiling[(ceiling.search_dataset == sd) & (ceiling.eval_dataset == sd)] \
                if len(ceiling) else ceiling
            ns = []
            for i, name in enumerate(order):
                gs = g[g.strategy == name].sort_values("seed")
                color = RANDOM_COLOR if is_baseline(name) else colors[name]
                for ax, col, stat in ((left, "rel_chosen", st.mean_ci), (right, "kendall_tau",
                                                                           st.correlation_mean_ci)):
                    v = gs[col].dropna()
                    m, lo, hi, n = stat(v)
                    ax.scatter(i + _jitter(len(v), 0.3), v, s=9, color="0.25", alpha=0.55, lw=0, zorder=3)
                    if n > 1 and not math.isnan(lo):
                        ax.errorbar(i, m, yerr=[[m - lo], [hi - m]], fmt="none", ecolor="black",
                                    elinewidth=1.0, capsize=2.5, zorder=4)
                    if not math.isnan(m):
                        ax.scatter([i], [m], s=32, color=color, edgecolor="black", lw=0.6, zorder=5,
                                   marker="D" if is_baseline(name) else "o")
                ns.append(len(gs))
            best = float(g.drop_duplicates("seed")["rel_best"].mean())
            left.axhline(best, color="0.2", ls="--", lw=0.9, zorder=1)
            left.text(len(order) - 0.45, best, "best candidate\n(mean over seeds)", fontsize=6,
                      va="bottom", ha="right", color="0.2")
            left.axhline(0, color="0.2", lw=0.8, zorder=1)
            c = curse[curse.search_dataset == sd] if len(curse) else curse
            if len(c):
                noise = float(c.noise.mean())
                left.axhline(noise, color="#b5651d", ls=":", lw=1.1, zorder=1)
                left.text(-0.45, noise, "best of K from noise alone\n(winner's curse, mean over seeds)",
                          fontsize=6, va="bottom", ha="left", color="#b5651d")
            left.set_ylabel("chosen block − seed's mean candidate\n(ground-truth accuracy points)")
            right.axhline(0, color="0.2", lw=0.8, zorder=1)
            if len(ceil) and ceil.ceiling_tau.notna().any():
                m, lo, hi, _ = st.correlation_mean_ci(ceil.ceiling_tau.dropna())
                right.axhline(m, color="#2a9d8f", lw=1.0, ls="--", zorder=1)
                if not math.isnan(lo):
                    right.axhspan(lo, hi, color="#2a9d8f", alpha=0.15, lw=0, zorder=0.5)
                right.text(len(order) - 0.45, m, "noise ceiling", fontsize=6, va="bottom", ha="right",
                           color="#2a9d8f")
            right.set_ylabel("Kendall τ (final α vs accuracy)")
            right.set_ylim(-1.05, 1.05)
            anova = ""
            if len(ceil) and ceil.anova_p.notna().any():
                ps = ceil.sort_values("seed")
                anova = "; candidates differ? ANOVA p per seed: " + ", ".join(f"{p:.2g}" for p in ps.anova_p)
            labels = [f"{x}{' (no search)' if is_baseline(x) else ''}" for x in order]
            for ax in (left, right):
                ax.set_xticks(range(len(order)), labels, rotation=40, ha="right", rotation_mode="anchor")
                ax.set_xlim(-0.6, len(order) - 0.4)
                ax.grid(axis="y", lw=0.3)
            left.set_title(f"searched on {short_name(sd)}: the chosen block\n"
                           f"{_wrap(n_text(ns), 60)}", fontsize=7.5)
            right.set_title(f"searched on {short_name(sd)}: ranking the candidates\n"
                            f"{_wrap(anova.lstrip('; '), 60)}", fontsize=7.5)
        handles = [Line2D([], [], ls="", marker="o", color="0.25", alpha=0.55, ms=3, label="one search"),
                   Line2D([], [], color="black", marker="o", ms=5, lw=1.0,
                          label="mean over searches, 95% CI"),
                   Line2D([], [], color="0.2", ls="--", lw=0.9, label="best candidate (left)"),
                   Line2D([], [], color="#b5651d", ls=":", lw=1.1,
                          label="best candidate from training noise alone (left)"),
                   Patch(color="#2a9d8f", alpha=0.3, label="noise ceiling of τ, 95% CI over seeds (right)")]
        fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
        return _save(fig, prefix)
