"""The report's views of an experiment that looked its cells up in a table of cells
(resultstore/cells.py): per strategy the looked-up accuracy, the regret to the table's best
cell, the percentile rank among the table's cells and the share of searches that ended in a
collapse (a cell of parameter-free operations only), each with its interval; and the looked-up
accuracy of each epoch's derived cell over the search.

Regret and percentile are relative to the cells the table holds when the report runs: for a table
filled lazily by the searches, that is not the whole space, and the report says how many cells it
holds.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

from analysis import stats as st
from analysis.figures import PAPER, _epoch_axis, _jitter, _palette, _save, _wrap, ci, n_text
from analysis.plotting import new_figure
from analysis.tables import VERDICTS, Table, ci_text, comparisons, p_text, strategy_order
from nas.spaces import get_space, space_config
from nas.spaces.nb201 import cell_stats, collapsed_by_computation
from nas.spaces.nb201_cell import NB201_BEST, Cell, all_cells
from nas.strategies import STRATEGIES
from resultstore.cells import CellTable, canonical_form, describe, fill_order, uniform_sample
from resultstore.experiment import Experiment, ReportError
from resultstore.schema import TRIAL_KEY, short_name


def find_table(exp: Experiment):
    """The experiment's table of cells: the folder of its name in the `tables/` beside the
    experiment (where `--results` puts it; a results folder copied elsewhere with its tables),
    else grid.json's path (a table named by its folder); None without one."""
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
    order = space_order(exp)
    for ds, g in s.groupby("eval_dataset", sort=False):
        means, among = ranked_among(table, ds, order)
        if means.empty:
            continue
        best = 100 * float(means.max())
        for r in g.itertuples(index=False):
            stats = cell_stats(Cell.parse(r.genotype))
            rows.append({"strategy": r.strategy, "search_dataset": r.search_dataset, "seed": r.seed,
                         "eval_dataset": ds, "acc": r.acc, "regret": best - r.acc,
                         "percentile": table.percentile(r.acc / 100, ds, among=means),
                         "table_best": best, "table_cells": len(means), "ranked_among": among,
                         "genotype": r.genotype, **stats})
    return pd.DataFrame(rows)


def space_order(exp: Experiment) -> list[str]:
    """The experiment's space's cells in the order a fill of the whole space takes them
    (resultstore/cells.py `fill_order`); [] for a space without a list of cells."""
    try:
        return fill_order(exp.space, space_config(exp.space, **exp.space_options))
    except (NotImplementedError, TypeError, ValueError):
        return []


def ranked_among(table, dataset: str, order: list[str]) -> tuple[pd.Series, str]:
    """The cells a search's cell is ranked among, and what they are (`uniform_sample`)."""
    if not order:
        return table.means(dataset), "table"
    return uniform_sample(table, dataset, order)


def search_budget(exp: Experiment, table, dataset: str) -> int | None:
    """Trainings of the table's protocol that cost what a first-order search on `dataset` costs: the
    median CPU-seconds of the experiment's finished first-order searches on it over the median
    CPU-seconds of the table's trainings on it; None without either."""
    t = exp.trials
    if t.empty or "search_cpu_s" not in t:
        return None
    t = t[(t.strategy == "first-order") & (t.status == "finished") & (t.search_dataset == dataset)]
    searches = pd.to_numeric(t.drop_duplicates(TRIAL_KEY).search_cpu_s, errors="coerce").dropna()
    rows = table.rows()
    if searches.empty or rows.empty or "train_cpu_s" not in rows:
        return None
    train = pd.to_numeric(rows[rows.dataset == dataset].train_cpu_s, errors="coerce").dropna()
    if train.empty or train.median() <= 0:
        return None
    return max(1, round(float(searches.median() / train.median())))


def random_search(table, dataset: str, among: pd.Series, budget: int, seeds) -> pd.DataFrame:
    """Random search at a budget of `budget` trainings, once per seed: `budget` cells drawn without
    replacement (numpy's generator seeded by the seed) from the cells of `among` (the cells a
    search is ranked among) that the table trained at least twice on `dataset`; the one whose
    first training (the table's first training seed) reached the highest training accuracy is
    chosen, and scored by the mean test accuracy of its other trainings, so that neither the test
    images nor the luck of the training it was chosen on enter its score. Per seed: the chosen
    cell (`unit`), its score (%), regret and percentile among `among`, whether it collapsed, and
    `pool`, the cells drawn from. Empty where the pool is empty."""
    rows = table.rows()
    rows = rows[(rows.dataset == dataset) & rows[table.unit].isin(among.index)]
    first = rows.train_seed.min() if not rows.empty else None
    chosen_on = rows[rows.train_seed == first].groupby(table.unit).train_acc.mean()
    scored_on = rows[rows.train_seed != first].groupby(table.unit).test_acc.mean()
    collapsed = rows.groupby(table.unit).collapsed.first() if "collapsed" in rows else None
    pool = sorted(set(chosen_on.dropna().index) & set(scored_on.dropna().index))
    if not pool:
        return pd.DataFrame()
    best = 100 * float(among.max())
    out = []
    for seed in seeds:
        drawn = np.random.default_rng(int(seed)).choice(len(pool), min(budget, len(pool)),
                                                        replace=False)
        pick = max((pool[i] for i in drawn), key=lambda c: (chosen_on[c], c))
        acc = 100 * float(scored_on[pick])
        out.append({"seed": int(seed), "cell": pick, "acc": acc, "regret": best - acc,
                    "percentile": table.percentile(acc / 100, dataset, among=among),
                    "collapsed": None if collapsed is None else bool(collapsed[pick]),
                    "pool": len(pool)})
    return pd.DataFrame(out)


# what a percentile and a regret are relative to, in words
AMONG = {"space": "every cell of the space",
         "sample": "a uniform random sample of the space's cells (the table's fill so far)",
         "table": "the cells the table holds (not a sample of the space: the searches filled it)"}


def with_table_datasets(exp: Experiment, table, names) -> Experiment:
    """The experiment with each scored search's cell looked up in its table on each dataset of
    `names` (trained there after the searches, `--fill-from`), as evaluations of the search
    (`evaluated_by` "table after the search"): transfer datasets the trials did not evaluate, which
    join every table, figure and Holm family of the report, an analysis after the fact that its
    status line names. ReportError (one sentence) for a name the trials evaluated, or one on which
    the table lacks a found cell or holds fewer trainings of some (it says how to train them); with
    no name, a note of the datasets the table holds every found cell on."""
    if exp.fills_table or exp.trials.empty or table is None:
        if names:
            raise ReportError(f"{exp.root} holds no search whose cell a table of cells that is "
                              "there could serve, so --table-datasets has nothing to read; leave it out")
        return exp
    done = exp.finished.drop_duplicates(["strategy", "search_dataset", "seed"])
    evaluated = set(exp.trials.eval_dataset.dropna())
    if not names:
        whole = [d for d in table.datasets() if d not in evaluated and not done.empty
                 and all(f is not None for f in _table_lookups(exp, table, d, done))]
        return exp if not whole else dataclasses.replace(exp, notes=(*exp.notes, (
            f"The table {table.name} holds trainings on {', '.join(whole)} too, of every cell the "
            "searches found, which the trials did not evaluate; `--table-datasets NAME` adds them "
            "as transfer datasets.")))
    if done.empty:
        raise ReportError(f"{exp.root} has no scored search, so --table-datasets has nothing to read")
    rows = []
    for name in dict.fromkeys(names):
        if name in evaluated:
            raise ReportError(f"the trials of {exp.root} evaluated {name} themselves; --table-datasets "
                              "names a dataset they did not")
        lookups = _table_lookups(exp, table, name, done)
        _check_served(exp, table, name, lookups)
        for r, found in zip(done.to_dict("records"), lookups):
            rows += [{**r, "eval_dataset": name, "repeat": i, "eval_seed": seed, "test_acc": acc,
                      "test_loss": None, "params": found.params, "eval_wall_s": 0.0,
                      "eval_device": found.device, "eval_epochs": found.epochs,
                      "table_train_s": found.cost_s / found.n, "evaluated_by": "table after the search",
                      "lookup_match": found.match, "canonical": found.canonical, "table": table.name}
                     for i, (acc, seed) in enumerate(zip(found.accs, found.seeds))]
    added = pd.DataFrame(rows)[exp.trials.columns.intersection(rows[0].keys())]
    note = (f"**Looked up after the searches** (`--table-datasets`): {', '.join(dict.fromkeys(names))}, "
            f"the table {table.name}'s trainings of the {len(done)} scored searches' cells (trained "
            "there after the searches). An analysis after the fact: these datasets join every "
            "comparison and its Holm family here, so the families are larger than those of the "
            "report without the option, which keeps any analysis fixed before the grid ran.")
    return dataclasses.replace(exp, trials=pd.concat([exp.trials, added], ignore_index=True),
                               notes=(*exp.notes, note))


def _table_lookups(exp: Experiment, table, name: str, done: pd.DataFrame) -> list:
    """The table's trainings on `name` of each search's cell in `done` (None where it has none)."""
    parse = get_space(exp.space).parse
    return [table.lookup(g, canonical_form(parse(g)), name) for g in done.genotype]


def _check_served(exp: Experiment, table, name: str, lookups: list) -> None:
    """ReportError where the table lacks a found cell on `name`, or holds fewer trainings of some
    than of others (a fill stopped, or under way)."""
    lacking = sum(found is None for found in lookups)
    command = (f"python benchmark/run.py --grid GRID --fill-from {exp.root} --datasets {name} "
               f"[--data-root DIR], where GRID fills the table {table.name} (nb201-table fills "
               "nb201-c8-n3-e2)")
    if lacking:
        raise ReportError(f"the table {table.name} has no training on {name} of the cells that "
                          f"{lacking} of {exp.name}'s {len(lookups)} scored searches found; train "
                          f"them first: {command}")
    counts = sorted({found.n for found in lookups})
    if len(counts) > 1:
        short = sum(found.n < counts[-1] for found in lookups)
        raise ReportError(f"the table {table.name} holds fewer trainings on {name} of the cells of "
                          f"{short} of {exp.name}'s {len(lookups)} scored searches than of the others "
                          f"({counts[0]} against {counts[-1]}); let the fill finish: {command}")


def found_cells(exp: Experiment) -> pd.DataFrame:
    """One row per search that found a cell (scored or missed): its key, genotype and the cell's
    numbers (its `nodes`, cell_stats, and `collapsed_computation`: `collapsed_by_computation`),
    for the collapse share, which does not need a lookup."""
    t = exp.found
    if t.empty:
        return pd.DataFrame()
    rows = []
    for r in t.itertuples(index=False):
        cell = Cell.parse(r.genotype)
        rows.append({"strategy": r.strategy, "search_dataset": r.search_dataset, "seed": r.seed,
                     "missed": r.status == "missed", "nodes": cell.nodes, **cell_stats(cell),
                     "collapsed_computation": float(collapsed_by_computation(cell))})
    return pd.DataFrame(rows)


def on_scale(ci: tuple, column: str) -> tuple:
    """A mean and its t interval (`st.mean_ci`) with the interval cut to the 0–100 scale of an
    accuracy or a percentile (a t interval over a few searches reaches past it; the quantity
    cannot); a regret's is left as it is."""
    mean, lo, hi, n = ci
    if column == "regret":
        return ci
    return mean, float(np.clip(lo, 0, 100)), float(np.clip(hi, 0, 100)), n


def _summary(name: str, x: pd.DataFrame, collapsed: pd.Series | None) -> tuple[dict, dict]:
    """One row of a lookups block, as displayed and as numbers: the mean looked-up accuracy, regret
    and percentile of the scored searches `x` with their intervals, and the collapse share of
    `collapsed` (one bool a search; None: not known)."""
    acc, regret, pct = (on_scale(st.mean_ci(x[col] if not x.empty else []), col) for col in
                        ("acc", "regret", "percentile"))
    k, n = (int(collapsed.sum()), len(collapsed)) if collapsed is not None else (0, 0)
    share, lo, hi = st.proportion_ci(k, n)
    shown = {"strategy": name, "searches scored": len(x),
             "looked-up accuracy (%)": ci_text(acc[0], acc[1], acc[2]),
             "regret (pts)": ci_text(regret[0], regret[1], regret[2]),
             "percentile": ci_text(pct[0], pct[1], pct[2], digits=1),
             "collapsed": f"{k}/{n} ({100 * share:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}])"
                          if n else "—"}
    numbers = {"strategy": name, "searches": len(x), "acc": acc[0], "acc_lo": acc[1],
               "acc_hi": acc[2], "regret": regret[0], "regret_lo": regret[1],
               "regret_hi": regret[2], "percentile": pct[0], "percentile_lo": pct[1],
               "percentile_hi": pct[2], "collapsed": k, "cells_found": n,
               "collapsed_share": share, "collapsed_lo": lo, "collapsed_hi": hi,
               "table_best": float(x.table_best.iloc[0]) if not x.empty else float("nan"),
               "table_cells": int(x.table_cells.iloc[0]) if not x.empty else 0}
    return shown, numbers


def _lookup_rows(g: pd.DataFrame, mine: pd.DataFrame, ds: str, edges: int) -> tuple[list[dict], list[dict]]:
    """One evaluation dataset's block, as displayed and as numbers: per strategy the looked-up
    accuracy, regret and percentile of its scored searches (`g`), the collapse share and
    parameter-free edges of every search that found a cell (`mine`)."""
    frame, numbers = [], []
    for s in strategy_order(set(g.strategy if not g.empty else []) | set(mine.strategy)):
        x = g[g.strategy == s] if not g.empty else g
        c = mine[mine.strategy == s]
        shown, found = _summary(s, x, c.collapsed)
        n, miss = len(c), int(c.missed.sum())
        cut = int(c.zero_output.sum()) if n else 0
        frame.append({**shown,
                      "parameter-free edges": f"{c.param_free_cell.mean():.1f} of {edges}" if n else "—",
                      "input cut off": f"{cut}/{n}" if n else "—", "missed": miss})
        numbers.append({"eval_dataset": ds, **found,
                        "param_free_edges": float(c.param_free_cell.mean()) if n else float("nan"),
                        "cut_off": cut, "missed": miss})
    return frame, numbers


def _random_searches(exp: Experiment, table, ds: str, seeds) -> tuple[pd.DataFrame, int] | None:
    """Random search at a first-order search's budget (`random_search`) on the search dataset
    `ds`, one draw per seed, and that budget; None where the cells ranked against are not a uniform
    sample of the space, the budget is unknown, or it reaches the whole pool (every seed would
    choose the same cell)."""
    means, among = ranked_among(table, ds, space_order(exp))
    budget = search_budget(exp, table, ds)
    if among == "table" or budget is None:
        return None
    r = random_search(table, ds, means, budget, seeds)
    if r.empty or budget >= r.pool.iloc[0]:
        return None
    return r.assign(table_best=100 * float(means.max()), table_cells=len(means)), budget


def _random_search_row(exp: Experiment, table, ds: str, seeds) -> tuple[dict, dict] | None:
    """The lookups block's row of random search (`_random_searches`), as displayed and as
    numbers; None where there is none."""
    found = _random_searches(exp, table, ds, seeds)
    if found is None:
        return None
    r, budget = found
    known = r.collapsed.notna().all()
    shown, numbers = _summary(f"random search (best of {budget} of {r.pool.iloc[0]} cells)", r,
                              r.collapsed.astype(bool) if known else None)
    return ({**shown, "parameter-free edges": "—", "input cut off": "—", "missed": 0},
            {"eval_dataset": ds, **numbers, "strategy": "random-search", "budget": budget,
             "pool": int(r.pool.iloc[0]), "missed": 0})


# What the lookup table's numbers are and how they were computed.
LOOKUP_NOTE = (
    "Each search's found cell looked up in the table of cells (its accuracy: the mean of the "
    "table's trainings of that cell, or of a cell of the same canonical form; no training "
    "for this experiment but the misses the profile trained into the table). Per strategy "
    "the mean over searches with its 95% t interval (none where n = 1; an accuracy's and a "
    "percentile's cut to 0–100, which a t interval over few searches overshoots); regret: the best "
    "mean accuracy among the cells ranked against minus the search's; percentile: the share "
    "of those cells whose mean is below the search's (ties half). The cells ranked against "
    "(each block's head says which): every cell of the space where the table holds them all "
    "(its canonical forms; NAS-Bench-201's file: its strings); else the cells a fill of the "
    "whole space has trained so far, in whole blocks of 16 of its seeded random order (a uniform "
    "sample: its best is below the space's, so regret is understated); else, for a table the "
    "searches alone "
    "filled, the cells it holds (not the space's: neither number is the space's); collapsed: "
    "of every search that found a cell (scored or missed), those whose cell has only "
    "parameter-free operations (none, skip, pooling; NAS-Bench-201 reports DARTS ending at "
    "the all-skip cell), with its 95% Wilson interval; input cut off: of those searches, the "
    "ones whose cell has no path without `none` from its input to its output (the network "
    "then predicts one class for every image, whatever its other edges); missed: searches "
    "whose cell the table lacked (status missed; the report's first lines give each one's "
    "reason). Random search (a control, not a strategy of the grid, so in no comparison; on the "
    "search dataset only, where the cells ranked against are a uniform sample): on each seed "
    "that a search was scored on, as many cells as a first-order search costs trainings (the "
    "median CPU-seconds of the experiment's finished first-order searches over those of the "
    "table's trainings) drawn from the cells ranked against that the table trained at least "
    "twice, the one with the highest training accuracy in its first training chosen and scored "
    "by the test accuracy of its other trainings (neither the test images nor the luck of the "
    "training it was chosen on enter its score; it is scored by one training where a search's "
    "cell is scored by the mean of two, which widens its spread but does not bias its mean); "
    "left out where that budget reaches every cell of the pool.")


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
        frame, found = _lookup_rows(g, mine, ds, edges)
        rs = (_random_search_row(exp, table, ds, sorted(g.seed.unique()))
              if not g.empty and ds in set(g.search_dataset) else None)
        if rs is not None:
            frame.append(rs[0])
            found.append(rs[1])
        numbers += found
        head = f"Evaluated on {short_name(ds)}"
        if not g.empty:
            head += (f": ranked among {g.table_cells.iloc[0]:,} cells, "
                     f"{AMONG[g.ranked_among.iloc[0]]}; the best of them {g.table_best.iloc[0]:.2f}%")
        blocks.append((head, pd.DataFrame(frame)))

    text = [describe(table, ds) + "." for ds in datasets] if table is not None else []
    return Table("lookups", "Looked-up accuracy, regret, percentile and collapse", blocks,
                 pd.DataFrame(numbers), LOOKUP_NOTE, text)


SEED_NOTE = (
    "Each search's looked-up accuracy (%: the mean of the table's trainings of its cell, as in the "
    "lookups table), by seed, the unit the comparisons pair; '(collapsed)': a cell of "
    "parameter-free operations only; 'missed': the table lacked the cell; —: no search. Random "
    "search: the lookups table's control, its draw for that seed (on the search dataset only). "
    "The CSV holds every search's cell, regret and percentile besides.")


def lookups_by_seed(exp: Experiment, table) -> Table | None:
    """Per evaluation dataset, one row per seed: each strategy's looked-up accuracy, marked where
    its cell collapsed or was missed, and random search's draw for that seed where the lookups
    table has one; the CSV one row per search (and random search's draws)."""
    num = lookup_numbers(exp, table)
    cells = found_cells(exp)
    if num.empty:
        return None
    missed = cells[cells.missed] if not cells.empty else cells
    blocks, numbers = [], []
    searched = set(num.search_dataset)
    for ds in sorted(num.eval_dataset.unique(), key=lambda d: d not in searched):   # searched first
        g = num[num.eval_dataset == ds]
        g = g.assign(collapsed=g.collapsed.astype(bool))
        numbers.append(g[["eval_dataset", "strategy", "seed", "acc", "regret", "percentile",
                          "collapsed", "genotype"]])
        rs = _random_searches(exp, table, ds, sorted(g.seed.unique())) if ds in searched else None
        if rs is not None:
            numbers.append(rs[0].assign(eval_dataset=ds, strategy="random-search")
                           .rename(columns={"cell": "genotype"})[numbers[-1].columns])
        gone = missed[missed.search_dataset.isin(g.search_dataset.unique())]
        names = strategy_order(set(g.strategy) | set(gone.strategy))
        rows = []
        for seed in sorted(set(g.seed) | set(gone.seed)):
            row = {"seed": int(seed)}
            for s in names:
                hit = g[(g.strategy == s) & (g.seed == seed)]
                lost = gone[(gone.strategy == s) & (gone.seed == seed)]
                row[s] = ("missed" if not lost.empty else "—") if hit.empty else \
                    f"{hit.acc.iloc[0]:.2f}" + (" (collapsed)" if hit.collapsed.iloc[0] else "")
            if rs is not None:
                draw = rs[0][rs[0].seed == seed]
                row["random search"] = f"{draw.acc.iloc[0]:.2f}" if not draw.empty else "—"
            rows.append(row)
        blocks.append((f"Evaluated on {short_name(ds)}", pd.DataFrame(rows)))
    return Table("lookups_by_seed", "Looked-up accuracy per seed", blocks,
                 pd.concat(numbers, ignore_index=True), SEED_NOTE)


def _share(values) -> tuple[float, float, float, int]:
    """(share %, lo, hi, n) of 0/1 `values`: the Wilson 95% interval (`st.proportion_ci`); none
    (NaN) for one value, as for a mean's."""
    v = np.asarray(values, float)
    share, lo, hi = st.proportion_ci(int(v.sum()), len(v))
    if len(v) < 2:
        lo = hi = float("nan")
    return 100 * share, 100 * lo, 100 * hi, len(v)


def _curve(ax, x: pd.DataFrame, column: str, name: str, color, offset: float, interval=ci,
           top: float = 100) -> int:
    """One strategy's line of `lookup_curves`: the mean of `column` per epoch with its 95% interval
    (`interval`: a t interval, or `_share`'s Wilson one) as a band cut to 0–`top` (a t interval
    over 2 searches spans it), or as a whisker for a single point (a baseline that does not
    search); returns the most searches an epoch has."""
    rows = [(ep, *interval(x[x.epoch == ep][column])) for ep in sorted(x.epoch.unique())]
    xs = np.array([r[0] for r in rows], float) + offset
    mean = np.array([r[1] for r in rows])
    lo, hi = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    ax.plot(xs, mean, marker="o", ms=3.5, lw=1.2 if len(xs) > 1 else 0, color=color, label=name,
            zorder=3)
    has = np.isfinite(lo)
    lo, hi = np.clip(lo, 0, top), np.clip(hi, 0, top)
    if has.sum() > 1:
        ax.fill_between(xs, lo, hi, where=has, color=color, alpha=0.12, lw=0, zorder=2)
    elif has.any():
        err = np.maximum(np.vstack([mean - lo, hi - mean]), 0)   # (a Wilson end a rounding past 0)
        ax.errorbar(xs[has], mean[has], yerr=err[:, has], fmt="none", ecolor=color, elinewidth=0.8,
                    capsize=2, zorder=2)
    return max(r[4] for r in rows)


def _level(ax, values, label: str, color, interval=ci, top: float = 100, ls: str = "-") -> float:
    """A baseline that does not search, across the epochs: its mean as a line and its 95%
    interval (`interval`) as a band cut to 0–`top`; returns the mean."""
    mean, lo, hi, _ = interval(values)
    ax.axhline(mean, color=color, ls=ls, lw=1.0, label=label, zorder=2.5)
    if np.isfinite(lo):
        ax.axhspan(max(lo, 0), min(hi, top), color=color, alpha=0.15, lw=0, zorder=1)
    return mean


def epoch_cells(exp: Experiment) -> pd.DataFrame:
    """One row per search and search epoch (counted from 1) with a derived cell: its looked-up
    accuracy (%, NaN where the table lacked it), its parameter-free edges, whether it is a
    collapse (`cell_stats`) and whether it computes what one does (`collapsed_computation`:
    `collapsed_by_computation`, a count made after the fact)."""
    e = exp.epochs
    if e.empty or "genotype" not in e:
        return pd.DataFrame()
    e = e[(e.phase == "search") & e.genotype.notna()].copy()
    if e.empty:
        return pd.DataFrame()
    e["epoch"] = e["epoch"] + 1
    e["lookup_acc"] = 100 * pd.to_numeric(e.get("lookup_acc", np.nan), errors="coerce")
    per = e.groupby([*TRIAL_KEY, "epoch"]).agg(lookup_acc=("lookup_acc", "mean"),
                                               genotype=("genotype", "first")).reset_index()
    cells = [Cell.parse(g) for g in per.genotype]
    stats = pd.DataFrame([{**cell_stats(c), "collapsed_computation": float(collapsed_by_computation(c))}
                          for c in cells], index=per.index)
    return per.join(stats[["param_free_cell", "collapsed", "collapsed_computation"]])


def _reference_lines(ax, table, ds: str, order: list[str]) -> list[float]:
    """The best and the median of the cells a search on `ds` is ranked among, as lines; their
    values."""
    means, among = ranked_among(table, ds, order)
    means = 100 * means
    if not len(means):
        return []
    what = {"space": "of the space", "sample": "of a uniform sample", "table": "of the table"}[among]
    ax.axhline(means.max(), color="black", ls="--", lw=0.8, label=f"best cell {what} ({len(means):,} cells)")
    ax.axhline(means.median(), color="grey", ls=":", lw=0.8, label=f"median cell {what}")
    return [float(means.max()), float(means.median())]


def _fit_axis(ax, seen: list[float], lines: list[float]) -> None:
    """The accuracy axis fitted to the curves' means and the reference lines, 3 points of margin,
    within 0–100 (the bands are cut to it)."""
    values = [v for v in [*seen, *lines] if np.isfinite(v)]
    if values:
        ax.set_ylim(max(0.0, min(values) - 3), min(100.0, max(values) + 3))


def _computation_lines(ax, g: pd.DataFrame, strategies, colors, offsets, epochs: int) -> None:
    """The collapse panel's dashed lines: per strategy, the share of searches whose derived cell
    computes what a collapse does (`collapsed_computation`, counted after the fact; no band), a
    baseline's as a grey line across the epochs, and one legend entry for them all."""
    for name in strategies:
        x = g[g.strategy == name].dropna(subset=["collapsed_computation"])
        if x.empty:
            continue
        if x.epoch.nunique() == 1 and epochs > 1:    # a baseline's one cell
            ax.axhline(100 * x.collapsed_computation.mean(), color="grey", ls="--", lw=1.0)
            continue
        share = 100 * x.groupby("epoch").collapsed_computation.mean()
        ax.plot(share.index + offsets[name], share.values, color=colors[name], ls="--", lw=1.0, zorder=2.8)
    ax.plot([], [], color="dimgrey", ls="--", lw=1.0,
            label="the same, counted by computation\n(after the fact; no band)")


def lookup_curves(exp: Experiment, table, prefix: Path) -> list[Path]:
    """Per search dataset, over the search epochs, per strategy the mean over searches with its 95%
    interval of the derived cell's looked-up accuracy (the epochs table's lookup_acc), with the
    best and median of the cells a search is ranked among (`ranked_among`) and random search
    (`_random_searches`, on the seeds searched) as lines; of its parameter-free edges; and the
    share of searches whose derived cell is a collapse (and, dashed without a band, the share
    whose cell computes what a collapse does: `collapsed_by_computation`, the count made after the
    fact). A baseline that does not search (one epoch) is a grey line and band across the epochs."""
    per = epoch_cells(exp)
    if per.empty or per.lookup_acc.isna().all() or table is None:
        return []
    order = space_order(exp)
    strategies = strategy_order(per.strategy.unique())
    colors = _palette(strategies)
    epochs = int(per.epoch.max())
    edges = len(Cell.parse(per.genotype.iloc[0]).ops)
    offsets = dict(zip(strategies, _jitter(len(strategies), 0.3)))
    datasets = list(per.search_dataset.unique())
    ns = []
    panels = (("lookup_acc", "looked-up test accuracy\nof the derived cell (%)", ci, 100),
              ("param_free_cell", f"parameter-free edges of\nthe derived cell (of {edges})", ci, edges),
              ("collapsed", "searches whose derived cell\nis a collapse (%, Wilson CI)", _share, 100))
    with matplotlib.rc_context(PAPER):
        fig, axes = new_figure(3, len(datasets), figsize=(4.6 * len(datasets) + 2.8, 7.6), squeeze=False,
                               layout="constrained", sharex="col")
        for j, ds in enumerate(datasets):
            g = per[per.search_dataset == ds]
            for i, (column, label, interval, top) in enumerate(panels):
                ax, seen = axes[i][j], []
                for name in strategies:
                    x = g[g.strategy == name].dropna(subset=[column])
                    if x.empty:
                        continue
                    if x.epoch.nunique() == 1 and epochs > 1:     # a baseline: its one cell
                        seen.append(_level(ax, x[column], f"{name} cell (no search)", "grey", interval, top))
                        continue
                    n = _curve(ax, x, column, name, colors[name], offsets[name], interval, top)
                    if i == 0:
                        ns.append(n)
                    seen += list(x.groupby("epoch")[column].mean())
                if column == "collapsed":
                    _computation_lines(ax, g, strategies, colors, offsets, epochs)
                if i == 0:
                    searched = sorted(g[g.epoch > 1].seed.unique())
                    rs = _random_searches(exp, table, ds, searched) if searched else None
                    if rs is not None:
                        seen.append(_level(ax, rs[0].acc, f"random search: the best of {rs[1]}\ncells "
                                           "(a first-order search's cost)", "black", ls="-."))
                    _fit_axis(ax, seen, _reference_lines(ax, table, ds, order))
                    ax.set_title(f"searched on {short_name(ds)}")
                else:
                    ax.set_ylim(-0.03 * top, 1.03 * top)
                ax.set_ylabel(label)
                _epoch_axis(ax, epochs)
                ax.grid(lw=0.3)
            axes[-1][j].set_xlabel("search epoch")
        handles, labels = axes[0][0].get_legend_handles_labels()
        more = axes[-1][0].get_legend_handles_labels()      # the by-computation line's entry
        handles, labels = handles + more[0][-1:], labels + more[1][-1:]
        fig.legend(dict(zip(labels, handles)).values(), dict(zip(labels, handles)).keys(),
                   loc="outside right center", frameon=False)
        fig.suptitle(_wrap(n_text(ns).replace("whiskers:", "bands:") + ", cut to the axis; "
                           "collapse: a cell of parameter-free operations only, its band the Wilson "
                           "95% interval; dashed: a cell that computes what one does (its convolutions "
                           "on no path from input to output), counted after the fact", 110), fontsize=7.5)
        return _save(fig, prefix)


# ---------------------------------------------------------------- a table on its own (a fill grid)

def named_cells(table) -> dict[str, str]:
    """{name: string} of the cells a pilot trains by name: the uniform cells and NAS-Bench-201's
    best CIFAR-10 cell, those the table holds."""
    names = {f"all-{op}": str(Cell((op,) * 6)) for op in ("skip_connect", "avg_pool_3x3",
                                                        "nor_conv_1x1", "nor_conv_3x3")}
    names["NAS-Bench-201's best (CIFAR-10)"] = NB201_BEST
    have = set(table.rows().arch) if not table.rows().empty else set()
    return {k: v for k, v in names.items() if v in have}


COLLAPSE_BY_COMPUTATION_NOTE = (
    "A second count of the same searches, defined after the fact (2026-12-07, after an interim look "
    "at the nb201-cpu grid's searches) and not pre-declared: a found cell counts as a collapse "
    "where its output depends on its input only through parameter-free operations, a convolution "
    "on no path from the input to the output counting as absent (one into a node whose result is "
    "never used, or out of a node the input does not reach, which adds an input-independent "
    "term; nas.spaces.nb201.collapsed_by_computation). The pre-declared count above asks every "
    "edge to be parameter-free: it misses a cell whose convolutions are all on no such path, which "
    "computes what a collapse computes, and it counts a cell of parameter-free edges whose output "
    "is cut off from its input, which this count does not; neither count contains the other. {rates}"
    "Read it as a sensitivity analysis of the count above, not as a test of its own; the test "
    "across the searching strategies in the heading is not corrected for the report's other tests. ")
COLLAPSE_NOTE = (
    "every search that found a cell counted (missed lookups too). Difference: the strategy's share "
    "minus the baseline's, in points, with its 95% Newcombe (Wilson score) interval; p: Fisher's "
    "exact test, two-sided; Holm: over the comparisons of the search dataset; detectable: the "
    "smallest difference of two shares around 50% that these numbers of searches detect with 80% "
    "power (arcsine approximation), at α = 0.05 and at Holm's first step. 'No difference detectable "
    "at this n' where the difference is below that and Holm does not reject.")


@functools.cache
def collapse_chance(nodes: int) -> tuple[int, int, int]:
    """(cells of the `nodes`-node space, those collapsed by computation, those collapsed by their
    edges): how often a uniformly drawn cell is a collapse by each count."""
    cells = list(all_cells(nodes))
    return (len(cells), sum(collapsed_by_computation(c) for c in cells),
            sum(cell_stats(c)["collapsed"] == 1.0 for c in cells))


def _collapse_frame(c: pd.DataFrame, column: str, pairs: list) -> pd.DataFrame:
    """The numbers of `collapse_differences` for the found cells `c` of one search dataset, a
    collapse read from `column`, one row per (strategy, baseline) of `pairs`."""
    rows = []
    for s, b in pairs:
        x, y = c.loc[c.strategy == s, column], c.loc[c.strategy == b, column]
        k1, n1, k2, n2 = int(x.sum()), len(x), int(y.sum()), len(y)
        diff = k1 / n1 - k2 / n2
        lo, hi = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
        p = float(stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)
        rows.append({"search_dataset": c.search_dataset.iloc[0], "strategy": s, "baseline": b,
                     "collapsed": k1, "searches": n1, "baseline_collapsed": k2, "baseline_searches": n2,
                     "diff": 100 * diff, "diff_lo": 100 * float(lo), "diff_hi": 100 * float(hi),
                     "p": p})
    frame = pd.DataFrame(rows)
    frame["p_holm"] = st.holm(frame.p.to_numpy())
    m = len(frame)
    frame["mde"] = [100 * st.proportion_detectable_difference(min(a, b)) for a, b in
                    zip(frame.searches, frame.baseline_searches)]
    frame["mde_holm"] = [100 * st.proportion_detectable_difference(min(a, b), alpha=st.ALPHA / m)
                         for a, b in zip(frame.searches, frame.baseline_searches)]
    frame["verdict"] = [
        "not testable" if min(r.searches, r.baseline_searches) < 2 else
        "differs" if r.p_holm < st.ALPHA else
        "not detectable" if (np.isnan(r.mde_holm) or abs(r.diff) < r.mde_holm) else
        "not significant" for r in frame.itertuples()]
    return frame


def collapse_differences(exp: Experiment, by_computation: bool = False) -> Table | None:
    """Per search dataset, each strategy's collapse share against its baselines' (the report's
    comparisons: first-order, random, and hyperDARTS's noise control): the difference in points
    with its 95% Newcombe interval, Fisher's exact p, Holm's correction over the comparisons of
    the search dataset, and the smallest difference those numbers of searches detect (80% power,
    arcsine approximation) at α and after Holm. Searches of the same seed are treated as
    independent (a strategy's collapse hardly pairs with another's). A collapse is `cell_stats`'s
    (every edge parameter-free, pre-declared), or with `by_computation` the table
    `collapse_by_computation`, `collapsed_by_computation`'s (COLLAPSE_BY_COMPUTATION_NOTE)."""
    column = "collapsed_computation" if by_computation else "collapsed"
    cells = found_cells(exp)
    if cells.empty:
        return None
    blocks, numbers = [], []
    for sd, c in cells.groupby("search_dataset", sort=False):
        pairs = comparisons(strategy_order(c.strategy.unique()))
        if not pairs:
            continue
        frame = _collapse_frame(c, column, pairs)
        m = len(frame)
        numbers.append(frame)
        shown = pd.DataFrame({
            "strategy": frame.strategy, "against": frame.baseline,
            "collapsed": [f"{r.collapsed}/{r.searches} vs {r.baseline_collapsed}/{r.baseline_searches}"
                          for r in frame.itertuples()],
            "difference (pts)": [ci_text(r.diff, r.diff_lo, r.diff_hi, digits=0, sign=True)
                                 for r in frame.itertuples()],
            "p (Fisher)": [p_text(r.p) for r in frame.itertuples()],
            "p (Holm)": [p_text(r.p_holm) for r in frame.itertuples()],
            "detectable (pts)": ["—" if np.isnan(r.mde_holm) else
                                 f"≥ {r.mde:.0f} (≥ {r.mde_holm:.0f} after Holm)"
                                 for r in frame.itertuples()],
            "verdict": [VERDICTS[v] for v in frame.verdict]})
        title = f"Searched on {short_name(sd)}: {m} comparison{'s' if m != 1 else ''}"
        searching = _searching(c.strategy.unique())
        if by_computation and len(searching) > 1:   # (strategies_differ tests the pre-declared count)
            counts = {x: (int(c.loc[c.strategy == x, column].sum()), int((c.strategy == x).sum()))
                      for x in searching}
            _, chi_p, rough = _collapse_test(counts)
            exact = st.homogeneity_exact(counts.values())
            title += (f"; across the {len(searching)} searching strategies (uncorrected), "
                      + (f"Freeman–Halton exact test p = {p_text(exact)}, χ² test of homogeneity "
                         f"p = {p_text(chi_p)}" if exact is not None else
                         f"χ² test of homogeneity p = {p_text(chi_p)} (too many tables to count "
                         "an exact p)")
                      + (" (expected counts < 5: rough)" if rough else ""))
        blocks.append((title, shown))
    if not blocks:
        return None
    if by_computation:
        total, computed, edges = collapse_chance(int(cells.nodes.iloc[0]))
        rates = (f"A uniformly drawn cell of the space is a collapse by this count with probability "
                 f"{100 * computed / total:.1f}% ({computed:,} of {total:,} cells), by the pre-declared "
                 f"one {100 * edges / total:.1f}% ({edges:,}). ")
        return Table("collapse_by_computation", "Collapse share counted by computation (after the "
                     "fact): differences from the baselines", blocks, pd.concat(numbers, ignore_index=True),
                     COLLAPSE_BY_COMPUTATION_NOTE.format(rates=rates) + "Collapse here: as above; "
                     + COLLAPSE_NOTE)
    note = "Collapse: a found cell of parameter-free operations only (none, skip, pooling), " + COLLAPSE_NOTE
    return Table("collapse_differences", "Collapse share: differences from the baselines", blocks,
                 pd.concat(numbers, ignore_index=True), note)


def _searching(names) -> list[str]:
    """The strategies of `names` that search (the random cell is a baseline, compared in pairs)."""
    return [s for s in strategy_order(names) if getattr(STRATEGIES.get(s), "searches", True)]


def _left_out(flags: dict | None, sd: str, sizes: dict[str, int]) -> tuple[list[str], list[str]]:
    """(the strategies to test, what was left out and why) of `sizes` {strategy: searches} on
    search dataset `sd`: a strategy that did not run as configured, or with fewer than 2 searches."""
    keep, out = [], []
    for s in _searching(sizes):
        if str((flags or {}).get((sd, s), "")).startswith("no:"):
            out.append(f"{s} (did not run as configured)")
        elif sizes[s] < 2:
            out.append(f"{s} ({sizes[s]} search{'es' if sizes[s] != 1 else ''})")
        else:
            keep.append(s)
    return keep, out


def _accuracy_test(g: pd.DataFrame) -> dict:
    """The tests of the looked-up accuracies `g` (strategy, seed, acc): Friedman's over the seeds
    every strategy searched, the primary where there are 3 or more strategies and 2 such seeds
    (the seeds pair the searches), else the one-way ANOVA; the other beside it. p = 1 where every
    accuracy is the same."""
    wide = g.pivot_table(index="seed", columns="strategy", values="acc").dropna()
    blocked = wide.shape[1] >= 3 and len(wide) >= 2
    if np.ptp(g.acc.to_numpy()) == 0:
        return {"test": "Friedman" if blocked else "one-way ANOVA", "statistic": 0.0, "p": 1.0,
                "anova_p": 1.0, "friedman_p": 1.0 if blocked else float("nan"), "blocks": len(wide),
                "exact": True}
    f = stats.f_oneway(*[x.acc.to_numpy() for _, x in g.groupby("strategy")])
    out = {"test": "one-way ANOVA", "statistic": float(f.statistic), "p": float(f.pvalue),
           "anova_p": float(f.pvalue), "friedman_p": float("nan"), "blocks": len(wide),
           "exact": False}
    if blocked:
        chi2, p, exact = st.friedman(wide.to_numpy())
        out.update(test="Friedman", statistic=chi2, p=p, friedman_p=p, exact=exact)
    return out


def _collapse_test(counts: dict) -> tuple[float, float, bool]:
    """(χ², its p, whether an expected count is below 5) of the k × 2 table of collapsed and not;
    p = 1 where no search, or every one, collapsed."""
    table = np.array([[k, n - k] for k, n in counts.values()])
    if table[:, 0].sum() == 0 or table[:, 1].sum() == 0:
        return 0.0, 1.0, False
    r = stats.chi2_contingency(table, correction=False)
    return float(r.statistic), float(r.pvalue), bool((r.expected_freq < 5).any())


def _differ_rows(num: pd.DataFrame, cells: pd.DataFrame, flags: dict | None) -> list[dict]:
    rows = []
    for (sd, ds), g in (num.groupby(["search_dataset", "eval_dataset"], sort=False)
                        if not num.empty else []):
        g = g.dropna(subset=["acc"])
        keep, out = _left_out(flags, sd, g.strategy.value_counts().to_dict())
        if len(keep) > 1:
            g = g[g.strategy.isin(keep)]
            rows.append({"search_dataset": sd, "eval_dataset": ds, "outcome": "looked-up accuracy",
                         "strategies": len(keep), "searches": len(g), **_accuracy_test(g),
                         "approximate": False, "left_out": "; ".join(out)})
    for sd, c in (cells.groupby("search_dataset", sort=False) if not cells.empty else []):
        keep, out = _left_out(flags, sd, c.strategy.value_counts().to_dict())
        if len(keep) > 1:
            counts = {s: (int(c[c.strategy == s].collapsed.sum()), int((c.strategy == s).sum()))
                      for s in keep}
            chi2, p, rough = _collapse_test(counts)
            rows.append({"search_dataset": sd, "eval_dataset": sd, "outcome": "collapse share",
                         "strategies": len(keep), "searches": sum(n for _, n in counts.values()),
                         "test": "χ² test of homogeneity", "statistic": chi2, "p": p,
                         "anova_p": float("nan"), "friedman_p": float("nan"), "blocks": 0,
                         "exact": False, "approximate": rough, "left_out": "; ".join(out)})
    return rows


def _test_text(r) -> str:
    if r.test == "Friedman":
        return f"Friedman, by seed ({r.blocks} seeds; {'exact' if r.exact else 'χ² approximation'})"
    return r.test + (" (expected counts < 5: rough)" if r.approximate else "")


def strategies_differ(exp: Experiment, table, flags: dict | None = None) -> Table | None:
    """Whether the searching strategies differ at all, beside their pairwise comparisons: per
    search and evaluation dataset, Friedman's test of the looked-up accuracy, blocked by seed and
    by ranks (the seeds pair the searches, and a search's accuracy is two-peaked where some
    collapse), with the one-way ANOVA beside it (the test where fewer than 3 strategies or 2
    shared seeds leave Friedman's undefined); per search dataset, a χ² test of homogeneity of the
    collapse share. The random cell is a baseline, not a strategy here; strategies that did not run as
    configured (`flags`, analysis/health.py) or have fewer than 2 searches are left out and named."""
    rows = _differ_rows(lookup_numbers(exp, table), found_cells(exp), flags)
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    # the rows of one search dataset are one family (the same searches on several outcomes)
    frame["p_holm"] = frame.groupby("search_dataset", sort=False)["p"].transform(st.holm)
    shown = pd.DataFrame({
        "searched on": frame.search_dataset.map(short_name),
        "outcome": [r.outcome if r.outcome == "collapse share" else
                    f"{r.outcome} on {short_name(r.eval_dataset)}" for r in frame.itertuples()],
        "strategies (searches)": [f"{r.strategies} ({r.searches})" for r in frame.itertuples()],
        "test": [_test_text(r) for r in frame.itertuples()],
        "statistic": [f"{r.statistic:.2f}" for r in frame.itertuples()],
        "p": [p_text(r.p) + (f" (one-way ANOVA {p_text(r.anova_p)})" if r.test == "Friedman" else "")
              for r in frame.itertuples()],
        "p (Holm)": [p_text(r.p_holm) for r in frame.itertuples()],
        "verdict": ["they differ" if r.p_holm < st.ALPHA
                    else "no difference detectable among them at this n" for r in frame.itertuples()],
        "left out": frame.left_out.replace("", "—")})
    note = ("Whether the searching strategies differ at all on an outcome (the random cell is a "
            "baseline, compared with each in pairs, not a strategy here), over every strategy with "
            "two or more searches that ran as configured. Looked-up accuracy: Friedman's test on "
            "the seeds every strategy searched (paired by seed, as the grid is, and by ranks, which a "
            "two-peaked outcome does not upset; its p exact, from the permutations of each seed's "
            "ranks, where they are few enough to count, else the χ² approximation: "
            "analysis/stats.py `friedman`), with a one-way ANOVA across the "
            "strategies' searches beside it (scipy.stats.f_oneway; the test itself where fewer than "
            "3 strategies or 2 shared seeds leave Friedman's undefined). Collapse share: a χ² "
            "test of homogeneity of the k × 2 table of collapsed and not "
            "(scipy.stats.chi2_contingency, no continuity correction); with expected counts below "
            "5 its p is rough. p: each row's own; p (Holm): corrected over the rows of its search "
            "dataset (one family: the same searches on each outcome), and the verdict reads it. "
            "Where a row does not reject, the strategies' order on that outcome is not evidence of "
            "a difference; the pairwise comparisons with Holm's correction are read on their own.")
    return Table("strategies_differ", "Do the strategies differ at all?", [("", shown)], frame, note)


def table_numbers(table, dataset: str) -> dict:
    """What a table of cells shows on `dataset`: its size and noise ceiling, whether its cells differ
    at all (one-way ANOVA over the cells trained at least twice), the spread of its cells' means,
    the gap between its best cell and the all-skip cell (DARTS's collapse) in points and in
    training sds, and the cost of a training (median CPU-seconds) with the cost of all 6,466 (at the
    mean CPU-seconds of the cells but the named ones)."""
    rows = table.rows()
    rows = rows[rows.dataset == dataset]
    ceiling = table.noise_ceiling(dataset)
    by = rows.groupby(table.unit)["test_acc"]
    groups = [100 * g.to_numpy() for _, g in by if len(g) >= 2]
    anova = stats.f_oneway(*groups) if len(groups) >= 2 else None
    means = 100 * by.mean()
    named = named_cells(table)
    key = {v: Cell.parse(v).canonical() if table.unit == "canonical" else v for v in named.values()}
    skip = means.get(key.get(named.get("all-skip_connect", ""), ""), float("nan"))
    cpu = rows["train_cpu_s"].dropna()   # (none for NAS-Bench-201's imported trainings)
    # the whole space's cost is its cells' mean cost: from the cells other than the named ones (the
    # uniform cells are the cheapest and the dearest), where the table has others
    drawn = rows[~rows.arch.isin(set(named.values()))]
    cpu_drawn = drawn["train_cpu_s"].dropna() if len(drawn) else cpu
    per_cell = rows.groupby(table.unit).size().median() if len(rows) else float("nan")
    sd = 100 * ceiling["sd"]
    return {"dataset": dataset, "cells": ceiling["cells"], "trainings": len(rows),
            "trainings_per_cell": float(per_cell), "sd_train": sd,
            "split_half_rho": ceiling["split_half_rho"], "separable_pairs": ceiling["separable_pairs"],
            "anova_f": float(anova.statistic) if anova else float("nan"),
            "anova_p": float(anova.pvalue) if anova else float("nan"),
            "best": float(means.max()) if len(means) else float("nan"),
            "worst": float(means.min()) if len(means) else float("nan"),
            "median": float(means.median()) if len(means) else float("nan"),
            "all_skip": float(skip),
            "gap_best_skip": float(means.max() - skip) if len(means) else float("nan"),
            "gap_in_sds": float((means.max() - skip) / sd) if sd > 0 else float("nan"),
            "cpu_s_median": float(cpu.median()) if len(cpu) else float("nan"),
            "cpu_s_mean": float(cpu_drawn.mean()) if len(cpu_drawn) else float("nan"),
            "cpu_s_mean_of": len(cpu_drawn),
            "core_hours_all": float(6466 * per_cell * cpu_drawn.mean() / 3600) if len(cpu_drawn)
            else float("nan")}


def table_summary(table) -> Table | None:
    """The table-of-cells report's table: per dataset its numbers (`table_numbers`) and its named
    cells' accuracies with their trainings."""

    rows = table.rows()
    if rows.empty:
        return None
    blocks, numbers, text = [], [], []
    for ds in table.datasets():
        n = table_numbers(table, ds)
        numbers.append(n)
        text.append(
            f"On {short_name(ds)}: {n['cells']} cells, {n['trainings']} trainings (median "
            f"{n['trainings_per_cell']:.0f} per cell); sd between trainings {n['sd_train']:.2f} points, "
            f"split-half ρ (Spearman–Brown) {n['split_half_rho']:.2f}, pairs of cells apart beyond training "
            f"noise {100 * n['separable_pairs']:.0f}%; do the cells differ at all? One-way ANOVA over "
            f"the cells: F = {n['anova_f']:.1f}, p {p_sentence(n['anova_p'])}. Cell means from "
            f"{n['worst']:.2f}% to {n['best']:.2f}% (median {n['median']:.2f}%); the best cell is "
            f"{n['gap_best_skip']:.2f} points above the all-skip cell ({n['all_skip']:.2f}%), "
            f"{n['gap_in_sds']:.1f} training sds. "
            f"A training costs {n['cpu_s_median']:.1f} CPU-seconds (median; mean "
            f"{n['cpu_s_mean']:.1f} over the {n['cpu_s_mean_of']} trainings of the cells but the named "
            f"ones): all 6,466 cells at {n['trainings_per_cell']:.0f} trainings would take "
            f"{n['core_hours_all']:.1f} core-hours (at that mean).")
        d = rows[rows.dataset == ds]
        frame = []
        for name, arch in named_cells(table).items():
            x = d[d.arch == arch].sort_values("train_seed")
            if x.empty:
                continue
            frame.append({"cell": name, "trainings": len(x),
                          "accuracy (%)": ", ".join(f"{100 * a:.2f}" for a in x.test_acc),
                          "mean (%)": f"{100 * x.test_acc.mean():.2f}",
                          "parameters": f"{x.params.mean():,.0f}"})
        if frame:
            blocks.append((f"Named cells on {short_name(ds)}", pd.DataFrame(frame)))
    protocol = table.protocol() or {}
    note = ("The table's trainings (resultstore/cells.py): each cell trained at the table's "
            f"protocol ({json_text(protocol.get('train', {}))}; training images "
            f"{protocol.get('train_subset') or 'all'}, image side "
            f"{protocol.get('image_size') or 'as stored'}) "
            "with the training seeds 0, 1000, …; split-half ρ: each cell's odd against its even "
            "trainings, Spearman's ρ over cells raised by Spearman–Brown; apart beyond noise: the "
            "share of pairs of cells whose means differ by more than twice the standard error of the "
            "difference; the ANOVA over the cells trained at least twice.")
    return Table("cell_table", f"The table of cells {table.name}", blocks, pd.DataFrame(numbers), note, text)


def p_sentence(p: float) -> str:
    """'< 0.001' or '= 0.012' (p_text's number after the sign it needs)."""
    text = p_text(p)
    return f"< {text[1:]}" if text.startswith("<") else f"= {text}"


def json_text(d: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items())


def table_figure(table, prefix: Path) -> list[Path]:
    """Every cell of the table, sorted by its mean accuracy: its trainings as faint dots, its mean as
    a marker, the named cells coloured; one panel per dataset."""
    rows = table.rows()
    if rows.empty:
        return []
    datasets = table.datasets()
    named = named_cells(table)
    colors = dict(zip(named, ("tab:red", "tab:orange", "tab:blue", "tab:green", "black")))
    with matplotlib.rc_context(PAPER):
        fig, axes = new_figure(1, len(datasets), figsize=(4.6 * len(datasets) + 2.4, 3.4), squeeze=False,
                               layout="constrained")
        for ax, ds in zip(axes[0], datasets):
            d = rows[rows.dataset == ds]
            means = d.groupby(table.unit)["test_acc"].mean().sort_values()
            rank = {k: i for i, k in enumerate(means.index)}
            x = d[table.unit].map(rank)
            ax.scatter(x, 100 * d.test_acc, s=6, color="0.6", alpha=0.7, lw=0,
                       label="a training", zorder=2)
            ax.plot(range(len(means)), 100 * means.to_numpy(), "o", ms=3, color="0.25",
                    label="the cell's mean", zorder=3)
            for name, arch in named.items():
                k = Cell.parse(arch).canonical() if table.unit == "canonical" else arch
                if k in rank:
                    ax.plot(rank[k], 100 * means[k], "o", ms=7, mfc="none", mew=1.5,
                            color=colors[name], label=name, zorder=4)
            ax.set_title(f"{short_name(ds)}: {len(means)} cells")
            ax.set_xlabel("cells, sorted by mean test accuracy")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("test accuracy (%)")
            ax.set_ylim(0, 100)
            ax.grid(lw=0.3)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center", frameon=False)
        per = rows.groupby([table.unit, "dataset"]).size()
        count = f"{int(per.min())}" if per.min() == per.max() else f"{int(per.min())}–{int(per.max())}"
        fig.suptitle(_wrap(f"table {table.name}: {count} trainings per cell (training seeds 0, 1000, …)",
                           110), fontsize=7.5)
        return _save(fig, prefix)
