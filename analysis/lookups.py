"""The report's views of an experiment that looked its cells up in a table of cells
(benchmark/cell_tables.py): per strategy the looked-up accuracy, the regret to the table's best
cell, the percentile rank among the table's cells and the share of searches that ended in a
collapse (a cell of parameter-free operations only), each with its interval; and the looked-up
accuracy of each epoch's derived cell over the search.

Regret and percentile are relative to the cells the table holds when the report runs: for a table
filled lazily by the searches, that is not the whole space, and the report says how many cells it
holds.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from analysis import stats as st
from analysis.load import TRIAL_KEY, Experiment, short_name
from analysis.tables import Table, ci_text, strategy_order
from nas.spaces.nb201 import cell_stats
from nas.spaces.nb201_cell import Cell


def find_table(exp: Experiment):
    """The experiment's table of cells: the folder of its name in the `tables/` beside the
    experiment (where `--results` puts it; a results folder copied elsewhere with its tables),
    else grid.json's path (a table named by its folder); None without one."""
    from benchmark.cell_tables import CellTable

    if not exp.table_path:
        return None
    for root in (exp.root.parent / "tables" / Path(exp.table_path).name, Path(exp.table_path)):
        if (root / "table.json").is_file():
            return CellTable(root)
    return None


def lookup_numbers(exp: Experiment, table) -> pd.DataFrame:
    """One row per search and evaluation dataset: the looked-up accuracy (%, the mean of the
    table's trainings of its cell), regret to the table's best cell (points), percentile rank
    among the table's cells, and the derived cell's numbers (nas.spaces.nb201.cell_stats)."""
    s = exp.searches
    if s.empty or table is None:
        return pd.DataFrame()
    rows = []
    for ds, g in s.groupby("eval_dataset", sort=False):
        means = table.means(ds)
        if means.empty:
            continue
        best = 100 * float(means.max())
        for r in g.itertuples(index=False):
            stats = cell_stats(Cell.parse(r.genotype))
            rows.append({"strategy": r.strategy, "search_dataset": r.search_dataset, "seed": r.seed,
                         "eval_dataset": ds, "acc": r.acc, "regret": best - r.acc,
                         "percentile": table.percentile(r.acc / 100, ds), "table_best": best,
                         "table_cells": len(means), "genotype": r.genotype, **stats})
    return pd.DataFrame(rows)


def found_cells(exp: Experiment) -> pd.DataFrame:
    """One row per search that found a cell (scored or missed): its key, genotype and the cell's
    numbers (cell_stats), for the collapse share, which does not need a lookup."""
    t = exp.trials
    if t.empty or "genotype" not in t:
        return pd.DataFrame()
    t = t[t.status.isin(["finished", "missed"]) & t.genotype.notna()]
    t = t.drop_duplicates(["strategy", "search_dataset", "seed"])
    rows = [{"strategy": r.strategy, "search_dataset": r.search_dataset, "seed": r.seed,
             "missed": r.status == "missed", **cell_stats(Cell.parse(r.genotype))}
            for r in t.itertuples(index=False)]
    return pd.DataFrame(rows)


def lookup_table(exp: Experiment, table) -> Table | None:
    """Per evaluation dataset and strategy: the looked-up accuracy, regret and percentile over the
    searches scored on it, and over every search that found a cell (the missed ones too) the share
    that collapsed and the mean parameter-free edges."""
    num = lookup_numbers(exp, table)
    cells = found_cells(exp)
    if num.empty and cells.empty:
        return None
    blocks, numbers = [], []
    datasets = list(num.eval_dataset.unique()) if not num.empty else []
    for sd in (cells.search_dataset.unique() if not cells.empty else []):   # all missed: no lookup
        if not datasets:
            datasets.append(sd)
    edges = len(Cell.parse(exp.trials.genotype.dropna().iloc[0]).ops)
    for ds in datasets:
        g = num[num.eval_dataset == ds] if not num.empty else num
        searched = g.search_dataset.unique() if not g.empty else [ds]
        mine = cells[cells.search_dataset.isin(searched)] if not cells.empty else cells
        frame = []
        for s in strategy_order(set(g.strategy if not g.empty else []) | set(mine.strategy)):
            x = g[g.strategy == s] if not g.empty else g
            c = mine[mine.strategy == s]
            acc, regret, pct = (st.mean_ci(x[col] if not x.empty else []) for col in
                                ("acc", "regret", "percentile"))
            k, n = int(c.collapsed.sum()), len(c)
            share, lo, hi = st.proportion_ci(k, n)
            miss = int(c.missed.sum())
            frame.append({"strategy": s, "searches scored": len(x),
                          "looked-up accuracy (%)": ci_text(acc[0], acc[1], acc[2]),
                          "regret (pts)": ci_text(regret[0], regret[1], regret[2]),
                          "percentile": ci_text(pct[0], pct[1], pct[2], digits=1),
                          "collapsed": f"{k}/{n} ({100 * share:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}])"
                                       if n else "—",
                          "parameter-free edges": f"{c.param_free_cell.mean():.1f} of {edges}" if n else "—",
                          "missed": miss})
            numbers.append({"eval_dataset": ds, "strategy": s, "searches": len(x), "acc": acc[0],
                            "acc_lo": acc[1], "acc_hi": acc[2], "regret": regret[0],
                            "regret_lo": regret[1], "regret_hi": regret[2], "percentile": pct[0],
                            "percentile_lo": pct[1], "percentile_hi": pct[2], "collapsed": k,
                            "cells_found": n, "collapsed_share": share, "collapsed_lo": lo,
                            "collapsed_hi": hi,
                            "param_free_edges": float(c.param_free_cell.mean()) if n else float("nan"),
                            "table_best": float(x.table_best.iloc[0]) if not x.empty else float("nan"),
                            "table_cells": int(x.table_cells.iloc[0]) if not x.empty else 0,
                            "missed": miss})
        head = f"Evaluated on {short_name(ds)}"
        if not g.empty:
            head += (f": the table's best cell {g.table_best.iloc[0]:.2f}%, {g.table_cells.iloc[0]} "
                     f"cells in the table")
        blocks.append((head, pd.DataFrame(frame)))
    from benchmark.cell_tables import describe

    text = [describe(table, ds) + "." for ds in datasets] if table is not None else []
    note = ("Each search's found cell looked up in the table of cells (its accuracy: the mean of the "
            "table's trainings of that cell, or of a cell of the same canonical form; no training "
            "for this experiment but the misses the profile trained into the table). Per strategy "
            "the mean over searches with its 95% t interval (none where n = 1); regret: the table's "
            "best mean accuracy minus the search's; percentile: the share of the table's cells "
            "whose mean is below the search's (ties half), among the cells the table holds (its "
            "canonical forms; NAS-Bench-201's file: its strings; a table filled lazily by the "
            "searches holds few, so its percentiles and best cell are not the space's); collapsed: "
            "of every search that found a cell (scored or missed), those whose cell has only "
            "parameter-free operations (none, skip, pooling; NAS-Bench-201 reports DARTS ending at "
            "the all-skip cell), with its 95% Wilson interval; missed: searches whose cell the "
            "table lacked (status missed; the report's first lines give each one's reason).")
    return Table("lookups", "Looked-up accuracy, regret, percentile and collapse", blocks,
                 pd.DataFrame(numbers), note, text)


def lookup_curves(exp: Experiment, table, prefix: Path) -> list[Path]:
    """The looked-up accuracy of each epoch's derived cell over the search (the epochs table's
    lookup_acc), per strategy the mean over searches with its 95% CI; the table's best and median
    cells as lines."""
    from analysis.figures import PAPER, _epoch_axis, _jitter, _palette, _save, _wrap, ci, n_text
    from analysis.plotting import new_figure

    e = exp.epochs
    if e.empty or "lookup_acc" not in e or table is None:
        return []
    e = e[(e.phase == "search")].copy()
    e["lookup_acc"] = pd.to_numeric(e["lookup_acc"], errors="coerce")
    e = e.dropna(subset=["lookup_acc"])
    if e.empty:
        return []
    e["epoch"] = e["epoch"] + 1
    per = e.groupby([*TRIAL_KEY, "epoch"])["lookup_acc"].mean().reset_index()
    per["lookup_acc"] *= 100
    strategies = strategy_order(per.strategy.unique())
    colors = _palette(strategies)
    epochs = int(per.epoch.max())
    offsets = dict(zip(strategies, _jitter(len(strategies), 0.3)))
    datasets = list(per.search_dataset.unique())
    ns = []
    with matplotlib.rc_context(PAPER):
        fig, axes = new_figure(1, len(datasets), figsize=(4.2 * len(datasets) + 2.2, 3.2), squeeze=False,
                               layout="constrained")
        for ax, ds in zip(axes[0], datasets):
            g = per[per.search_dataset == ds]
            for name in strategies:
                x = g[g.strategy == name]
                if x.empty:
                    continue
                rows = [(ep, *ci(x[x.epoch == ep].lookup_acc)) for ep in sorted(x.epoch.unique())]
                xs = np.array([r[0] for r in rows], float) + offsets[name]
                mean = np.array([r[1] for r in rows])
                lo, hi = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
                ns.append(max(r[4] for r in rows))
                ax.plot(xs, mean, marker="o", ms=3.5, lw=1.2 if len(xs) > 1 else 0, color=colors[name],
                        label=name, zorder=3)
                has = np.isfinite(lo)
                if has.any():
                    ax.errorbar(xs[has], mean[has], yerr=np.vstack([mean - lo, hi - mean])[:, has],
                                fmt="none", ecolor=colors[name], elinewidth=0.8, capsize=2, zorder=2)
            means = 100 * table.means(ds)
            if len(means):
                ax.axhline(means.max(), color="black", ls="--", lw=0.8,
                           label=f"table's best cell ({len(means)} cells)")
                ax.axhline(means.median(), color="grey", ls=":", lw=0.8, label="table's median cell")
            ax.set_title(f"searched on {short_name(ds)}")
            ax.set_xlabel("search epoch")
            ax.set_ylabel("looked-up test accuracy of the derived cell (%)")
            _epoch_axis(ax, epochs)
            ax.set_ylim(0, 100)
            ax.grid(lw=0.3)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(dict(zip(labels, handles)).values(), dict(zip(labels, handles)).keys(),
                   loc="outside right center", frameon=False)
        fig.suptitle(_wrap(n_text(ns), 110), fontsize=7.5)
        return _save(fig, prefix)
