"""Tables and figures of an experiment of the benchmark, on one page.

    python analysis/report.py                      # the experiment most recently written under results/
    python analysis/report.py smoke                # results/smoke
    python analysis/report.py path/to/experiment --edge "1->3" --no-toy

Reads the parquet tables of `benchmark/run.py` (see results/README.md) and
writes, under <experiment>/report/:

    report.md, report.html     every table and figure, each with one line on what it shows
    tables/*.md|.tex|.csv      accuracy (95% intervals, paired differences from the baselines with
                               Holm-corrected p, detectable differences, search and training
                               noise, costs), transferability, and the toy problem's iterations
                               beside the course project's
    figures/*.png|.pdf         accuracy bars, transfer scatter, α heatmaps, α of one edge over
                               the epochs, the found cells, search curves, cost vs accuracy,
                               the toy problem's trajectories, hypergradient fidelity (if measured)

Published numbers (analysis/reference.csv) sit in their own block of the
tables and are drawn hatched grey. A grid still running, or with failed or
diverged trials, gives a report of what is there with the missing trials named.
"""

from __future__ import annotations

import html
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np
import pandas as pd

from analysis import figures
from analysis import stats as st
from analysis.dense_dag import (
    choice_table,
    datasets_table,
    properties_table,
    space_size_table,
    stability_table,
)
from analysis.health import health_table, search_health, strategy_flags
from analysis.lookups import (
    collapse_differences,
    find_table,
    lookup_curves,
    lookup_table,
    lookups_by_seed,
    strategies_differ,
    table_figure,
    table_summary,
    with_table_datasets,
)
from analysis.plotting import plot_genotype
from analysis.tables import (
    Table,
    accuracy_table,
    collapse_table,
    latest_fidelity,
    latest_perf,
    load_reference,
    markdown_blocks,
    movement_table,
    perf_table,
    strategy_order,
    transfer_table,
    write_table,
)
from analysis.toy import COURSE_TIME, TABLE_NOTE, course_iterations, plot_trajectories
from nas.files import FileError, PathError, atomic_write, check_writable
from nas.genotype import GenotypeError, parse_genotype
from nas.options import Parser, program
from resultstore.experiment import Experiment, ReportError, find_experiment, load_experiment, only_strategies
from resultstore.store import ResultStore, default_results_dir

REFERENCE = Path(__file__).with_name("reference.csv")


def toy_records(exp: Experiment) -> list[dict]:
    """The toy problem's runs from the experiment folder's toy table (written by `python -m studies
    toy --out <experiment folder>`); [] where there is none."""
    df = ResultStore(exp.root).read("toy")
    records = []
    for r in df.to_dict("records"):
        r["options"] = json.loads(r["options"])
        r["start"] = [float(v) for v in r["start"]]
        if r.get("trajectory") is not None:
            r["trajectory"] = [[float(a), float(w)] for a, w in r["trajectory"]]
        records.append(r)
    return records


def toy_table(records: list[dict]) -> Table | None:
    """The toy runs as a table: measured iterations, end point and time per iteration beside the
    course project's iterations for the same run (`analysis.toy.course_iterations`) and whether they match."""
    if not records:
        return None

    numbers, rows = [], []
    for r in records:
        course = course_iterations(r)
        numbers.append({
            "run": r["label"], "strategy": r["strategy"], "xi": r.get("options", {}).get("xi"),
            "lr": r["lr"], "tol": r["tol"], "max_iter": r["max_iter"], "iterations": r["iterations"],
            "converged": r["converged"], "alpha": r["alpha"], "w": r["w"],
            "first_hypergradient": r["first_hypergradient"], "us_per_iter": r["time_per_iter_s"] * 1e6,
            "course_iterations": course, "course_us_per_iter": COURSE_TIME if course is not None else "",
            "iterations_match": None if course is None else r["iterations"] == course})
        rows.append({
            "run": r["label"], "iterations": f"{r['iterations']}" + ("" if r["converged"] else " (cap)"),
            "end (α, w)": f"({r['alpha']:.3f}, {r['w']:.3f})",
            "first hypergradient": f"{r['first_hypergradient']:.3f}",
            "µs/iter (measured)": f"{r['time_per_iter_s'] * 1e6:.0f}",
            "course project: iterations": "—" if course is None else f"{course}",
            "course project: µs/iter": "—" if course is None else COURSE_TIME,
            "same iterations": "—" if course is None else
            ("yes" if r["iterations"] == course else f"no ({r['iterations'] - course:+d})")})
    num = pd.DataFrame(numbers)
    num["course_iterations"] = num["course_iterations"].astype("Int64")
    num["iterations_match"] = num["iterations_match"].astype("boolean")
    settings = {(r["lr"], r["tol"], r["max_iter"]) for r in records}
    how = "; ".join(f"lr {lr:g}, tol {tol:g}, cap {cap:,}" for lr, tol, cap in sorted(settings))
    note = (f"One deterministic run per strategy and ξ ({how}; start {tuple(records[0]['start'])}, "
            "α-step first); µs/iter measured on this machine when the runs were made (one run, no "
            "interval). (cap): stopped at the iteration cap without converging. " + TABLE_NOTE)
    return Table("toy", "The toy bilevel problem: iterations to stop, measured and the course project's",
                 [(None, pd.DataFrame(rows))], num, note)


def fidelity_table(rows: pd.DataFrame) -> Table | None:
    """The fidelity measurements (`python -m studies fidelity --out`, `latest_fidelity`): per regime
    (weights fitted to one batch or as the search left them) and point of the search, each
    strategy's cosine and relative error to both references over the seeds measured (mean, with
    a 95% t interval where n ≥ 2), its passes per step and, for `--variant` rows, the options that
    differ; the block's heading states n, the references' convergence (the implicit one's damping,
    products and true residual; the unrolled one's T) and the training Hessian's extreme
    eigenvalues, as ranges over the seeds."""
    rows = latest_fidelity(rows)
    if rows.empty:
        return None
    blocks, numbers = [], []
    order = {s: i for i, s in enumerate(strategy_order(rows.strategy))}
    for (pre, step), g in rows.groupby(["pretrain_steps", "search_step"], sort=True):
        frame, found = _fidelity_rows(g, order, pre, step)
        numbers += found
        blocks.append((_fidelity_heading(g, pre, step), pd.DataFrame(frame)))
    note = ("Each strategy's hypergradient at the same weights and (train, val) batch pair, against the "
            "implicit reference (in float64, the damped system solved by CG where positive definite, "
            "else MINRES, to the stated true residual) and against the exact hypergradient of T unrolled "
            "steps of the real weight optimiser; one measurement per seed (a seed draws the supernet, "
            "the split and the batches, and runs its own first-order search to the point). Cosines: "
            "the mean over the n seeds [95% Student-t interval on Fisher's z scale, atanh, mapped "
            "back: it stays within ±1]; relative errors: the geometric mean [the t interval of their "
            "logarithms, mapped back]; the value alone where n = 1. Rows in "
            "brackets: the same strategy with the options shown (`--variant`). CG products used: the "
            "Hessian-vector products implicit-cg's conjugate gradient computed (mean over seeds), and "
            "on how many seeds it stopped on negative curvature.")
    return Table("fidelity", "Hypergradient fidelity along a search, against both references", blocks,
                 pd.DataFrame(numbers), note)


def _span(g, col, spec):
    """A column's range over the seeds, formatted ('?' where it is missing)."""
    if col not in g or g[col].isna().all():
        return "?"
    lo, hi = g[col].min(), g[col].max()
    return format(lo, spec) if format(lo, spec) == format(hi, spec) else f"{lo:{spec}} to {hi:{spec}}"


def _fidelity_heading(g: pd.DataFrame, pre, step) -> str:
    """One block's heading: its regime and point, n, both references' convergence and the training
    Hessian's extreme eigenvalues, as ranges over the seeds."""
    refs = g.drop_duplicates("point_seed")
    n = refs.point_seed.nunique()
    regime = (f"weights fitted to one batch ({pre} steps)" if pre else "weights as the search left them")
    solvers = "/".join(sorted(set(refs.get("reference_solver", pd.Series(["minres"]))
                                  .astype(str).str.upper())))
    stops = ", ".join(sorted(set(refs.get("reference_stop", pd.Series(["?"])).astype(str))))
    heading = (f"After {step} first-order search steps, {regime}, n = {n} seed{'s' * (n > 1)}: implicit "
               f"reference (H + δI)⁻¹ by {solvers} "
               f"with δ = {_span(refs, 'reference_damping', '.3g')} "
               f"({refs.get('reference_damping_rule', pd.Series(['given'])).iloc[0]}), "
               f"{_span(refs, 'reference_iterations', 'g')} products, stopped: "
               f"{stops}, true "
               f"relative residual ≤ {refs.get('reference_residual', pd.Series([np.nan])).max():.1e}; "
               f"unrolled reference: T = {_span(refs, 'reference_unrolled_steps', 'g')} steps")
    if "reference_cosine" in refs and refs.reference_cosine.notna().any():
        heading += f"; cosine between the two {_span(refs, 'reference_cosine', '+.2f')}"
    if "hessian_min" in refs and refs.hessian_min.notna().any():
        heading += (f"; training Hessian λ_min {_span(refs, 'hessian_min', '+.3g')}, λ_max "
                    f"{_span(refs, 'hessian_max', '.3g')} (η·λ_max = "
                    f"{_span(refs, 'hessian_eta_times_max', '.2f')} for Neumann's default η)")
    return heading


def _fidelity_stat(v, spec):
    """A column's mean over seeds with its interval, as text and as (mean, lo, hi)."""
    v = v.dropna()
    if v.empty:
        return "—", (np.nan, np.nan, np.nan)
    # cosines: the mean with its interval on Fisher's z scale (within [−1, 1]); relative
    # errors: the geometric mean with the interval of their logarithms (positive)
    m, lo, hi, n = (st.correlation_mean_ci(v, clip=1 - 1e-9) if spec.startswith("+")
                    else st.log_mean_ci(v.clip(lower=1e-300)))
    if n < 2:
        return format(m, spec), (m, np.nan, np.nan)
    return f"{m:{spec}} [{lo:{spec}}, {hi:{spec}}]", (m, lo, hi)


def _fidelity_rows(g: pd.DataFrame, order: dict, pre, step) -> tuple[list[dict], list[dict]]:
    """One block's rows, as displayed and as numbers: each strategy (and --variant) at the point."""
    frame, numbers = [], []
    g = g.assign(_o=g.strategy.map(order)).sort_values(["variant", "_o"], kind="stable")
    for (strategy, options, variant), r in g.groupby(["strategy", "options", "variant"], sort=False):
        label = strategy
        if variant:
            label += " [" + ", ".join(f"{k}={v}" for k, v in json.loads(options).items()
                                      if k in _varied(g, strategy)) + "]"
        texts, vals = {}, {}
        for c, spec in (("cosine", "+.3f"), ("relative_error", ".3f"), ("cosine_unrolled", "+.3f"),
                        ("relative_error_unrolled", ".3f")):
            texts[c], (vals[c], vals[f"{c}_lo"], vals[f"{c}_hi"]) = _fidelity_stat(
                r[c] if c in r else pd.Series(dtype=float), spec)
        its = r["solver_iterations"].dropna() if "solver_iterations" in r else pd.Series(dtype=float)
        stops = r["solver_stop"].dropna() if "solver_stop" in r else pd.Series(dtype=str)
        neg = int((stops == "negative curvature").sum())
        passes = r["passes"].iloc[0] if "passes" in r else np.nan
        frame.append({"strategy": label, "n": len(r), "passes": "—" if pd.isna(passes) else f"{passes:g}",
                      "cosine (implicit)": texts["cosine"],
                      "rel. error (implicit)": texts["relative_error"],
                      "cosine (unrolled)": texts["cosine_unrolled"],
                      "rel. error (unrolled)": texts["relative_error_unrolled"],
                      "CG products used": "" if its.empty else
                      f"{its.mean():.1f}" + (f"; negative curvature on {neg} of {len(stops)}" if neg
                                             else "; no negative curvature")})
        numbers.append({"pretrain_steps": pre, "search_step": step, "strategy": strategy,
                        "options": options, "variant": bool(variant), "n": len(r), "passes": passes,
                        **vals})
    return frame, numbers


def _cos_refs(g: pd.DataFrame) -> float:
    """The cosine between the two references of one point (the fidelity table's reference_cosine)."""
    return float(g["reference_cosine"].iloc[0])


def _varied(g: pd.DataFrame, strategy: str) -> set[str]:
    """The options of `strategy` that differ between its rows at one point."""
    opts = [json.loads(o) for o in g[g.strategy == strategy].options]
    keys = set().union(*opts)
    return {k for k in keys if len({json.dumps(o.get(k)) for o in opts}) > 1}


def genotype_of(exp: Experiment, strategy: str) -> tuple[str, int] | None:
    """The genotype found by the strategy's lowest seed on the first search dataset."""
    t = exp.trials
    t = t[(t.strategy == strategy) & (t.status == "finished")].sort_values(["search_dataset", "seed"])
    if t.empty or "genotype" not in t:
        return None
    return str(t.iloc[0]["genotype"]), int(t.iloc[0]["seed"])


class Page:
    """The report's blocks in order (tables, figures, and what is absent and why) and the folders
    their files go to."""

    def __init__(self, out: Path):
        self.tdir, self.fdir = out / "tables", out / "figures"
        self.blocks: list[dict] = []

    def table(self, table: Table | None, missing_reason: str) -> None:
        if table is None:   # (an empty reason: nothing to say, e.g. a table that needs 2 seeds)
            if missing_reason:
                self.blocks.append({"kind": "absent", "title": missing_reason})
            return
        write_table(table, self.tdir)
        self.blocks.append({"kind": "table", "title": table.caption, "table": table,
                            "files": [f"tables/{table.name}.{e}" for e in ("md", "tex", "csv")]})

    def figure(self, name: str, paths: list[Path], title: str, caption: str, absent: str = "") -> None:
        if paths:
            self.blocks.append({"kind": "figure", "title": title, "caption": caption,
                                "image": f"figures/{name}.png"})
        elif absent:
            self.blocks.append({"kind": "absent", "title": absent})


def build(exp: Experiment, out: Path, reference: pd.DataFrame | None, edge: str | None = None,
          toy: bool = True, log=print, perf: Path | None = None) -> list[dict]:
    """Write tables and figures under `out`; returns the report's blocks in order: a table of
    cells' own report for a grid that fills one, else the searches' sections; then the toy
    problem's, the fidelity study's and the step costs' where their files are there."""
    page = Page(out)
    if exp.fills_table:   # a grid that fills a table of cells: the table's report
        table_fill_section(page, exp, log)
    elif exp.trials.empty:   # a folder of `python -m studies ... --out` alone: the studies' sections
        log(f"report of {exp.root}: no grid trials, the studies' tables only")
    else:
        log(f"report of {exp.root}: {len(exp.finished)} finished evaluations")
        search_sections(page, exp, reference, edge)
    if toy:
        toy_section(page, exp)
    fidelity_section(page, exp)
    if perf is not None and perf.exists():
        perf_section(page, perf)
    return page.blocks


def table_fill_section(page: Page, exp: Experiment, log) -> None:
    """A grid that fills a table of cells: the table's summary and its figure."""
    table = find_table(exp)
    log(f"report of {exp.root}: {len(exp.fills)} chunks of cells trained into "
        f"{table.root if table else exp.table_path}")
    if table is None:
        page.blocks.append({"kind": "absent", "title": f"The table of cells {exp.table_path} is not there"})
    else:
        page.table(table_summary(table), "The table of cells: no training yet")
        page.figure("cell_table", table_figure(table, page.fdir / "cell_table"), "Every cell of the table",
                    "Every cell the table holds, sorted by its mean test accuracy (axis from 0): "
                    "grey dots its trainings, dark dots its mean; open circles the named cells "
                    "(the uniform cells of each operation and NAS-Bench-201's best CIFAR-10 cell). "
                    "Where the dots of one cell spread as far as the means of neighbouring cells, "
                    "the table cannot rank them.")


def search_sections(page: Page, exp: Experiment, reference: pd.DataFrame | None, edge: str | None) -> None:
    """A grid's searches: accuracy and health, lookups in a table of cells, the ground truth's
    tables, the comparisons' figures, the searches' own figures and the DARTS cells' views."""
    darts = exp.space == "darts"    # the α, gene and cell views below read DARTS cells
    search_only = not exp.trials.empty and set(exp.trials.status) == {"searched"}
    health = search_health(exp)
    flags = strategy_flags(health) if not health.empty else None
    page.table(accuracy_table(exp, reference, flags),
               "Accuracy table: a search-only experiment (`--search-only`) trains nothing" if search_only
               else "Accuracy table: no evaluation has finished yet")
    page.table(health_table(exp), "")
    if exp.table_path:
        lookup_section(page, exp, flags)
    if darts:
        page.table(movement_table(exp), "")
    if not exp.ground_truth.empty:
        ground_truth_section(page, exp)
    page.table(transfer_table(exp), "Transferability table: this experiment evaluates no transfer "
                                    "dataset (a grid's transfer_datasets)")
    comparison_figures(page, exp, reference, flags)
    search_figures(page, exp, darts)
    darts_views(page, exp, edge, darts)


def lookup_section(page: Page, exp: Experiment, flags: dict | None = None) -> None:
    """The searches looked up in their table of cells: regret, percentiles, collapse, the curves."""
    table = find_table(exp)
    if table is None:
        page.blocks.append({"kind": "absent", "title": f"Lookups: the table of cells {exp.table_path} "
                                                       "is not there (nor in tables/ beside this "
                                                       "experiment); copy it to see regret and "
                                                       "percentiles"})
    page.table(lookup_table(exp, table), "" if table is None else
               "Lookups: no search has been looked up in the table yet")
    page.table(lookups_by_seed(exp, table), "")
    page.table(strategies_differ(exp, table, flags), "")
    page.table(collapse_differences(exp), "Collapse differences: no baseline to compare with "
               "(first-order, random or first-order-smoothed) or no cell found yet")
    page.table(collapse_differences(exp, by_computation=True), "")
    page.figure("lookup_curves", lookup_curves(exp, table, page.fdir / "lookup_curves"),
                "Looked-up accuracy and collapse over the search",
                "The derived cell after every search epoch, per strategy: top, looked up in the table "
                "of cells (the mean of its trainings there), on an axis fitted to the curves and the "
                "reference lines (not from 0); middle, its parameter-free edges (none, skip, "
                "pooling); bottom, the share of searches whose derived cell is a collapse (every "
                "edge parameter-free). Lines are the mean over searches, shaded bands the 95% t CI "
                "(the collapse share's: its Wilson interval) cut to the axis (none where n = 1); a "
                "baseline that does not search (the random cell) is a grey line and band across "
                "the epochs; dash-dotted: random search at a first-order search's cost, the mean "
                "and 95% t band of its draws on the seeds searched (as in the lookups table); "
                "dashed: the best cell, dotted: the median cell, of the cells "
                "a search is ranked among (the space's, a uniform sample of them, or the table's: "
                "the legend says which). NATS-Bench reports search curves this way. "
                + figures.count_caption(exp),
                "Lookup curves: the profile does not look up every epoch's cell (lookup_epochs)")


def ground_truth_section(page: Page, exp: Experiment) -> None:
    """A space with a ground truth (the dense-DAG space's candidates): the choice against it."""
    page.table(choice_table(exp), "Choice against the ground truth: no search of a seed whose "
                                  "ground truth is complete has finished yet")
    page.figure("dense_dag_choice", figures.dense_dag_choice(exp, page.fdir / "dense_dag_choice"),
                "The chosen blocks and the candidates' ranking, drawn",
                "Per search dataset. Left: the ground-truth accuracy of the block each search chose "
                "minus its seed's mean candidate (0: what a uniform choice gets on average), grey "
                "dots the searches, coloured markers the mean over searches with its 95% t CI, the "
                "dashed line the seed's best candidate and the dotted line the gain a best of K "
                "shows from training noise alone (both means over seeds; the winner's curse of the "
                "space-size table). Right: Kendall's τ between the final α and the candidates' "
                "accuracies, grey dots the searches, coloured markers the mean with its 95% CI on "
                "Fisher's z scale, the band the ground truth's noise ceiling (the τ a perfect ranking "
                "reaches against it, 95% CI over seeds). The right panels' titles give each seed's "
                "one-way ANOVA p of its candidates' trainings: where it is not small, the candidates "
                "do not differ detectably and neither panel ranks anything but training noise. "
                + figures.count_caption(exp))
    page.table(stability_table(exp), "Stability table: fewer than two searches per strategy so far")
    page.table(space_size_table(exp), "")
    page.table(properties_table(exp), "")
    page.table(datasets_table(exp), "Datasets table: the candidates have a ground truth on one "
                                    "dataset only")


def comparison_figures(page: Page, exp: Experiment, reference: pd.DataFrame | None, flags) -> None:
    """The strategies compared: accuracy, differences from the baselines, noise, transfer."""
    page.figure("accuracy", figures.accuracy_bars(exp, reference, page.fdir / "accuracy", flags),
                "Accuracy per strategy",
                ("Test accuracy of each strategy's cells, looked up in the table of cells (each training "
                 "there a 'training from scratch' below)" if exp.table_path else
                 "Test accuracy of each strategy's cells trained from scratch")
                + ", on an axis from 0: bars are "
                "the mean over searches, white dots the searches (each the mean of its trainings from "
                "scratch), faint dots the single trainings, whiskers the 95% Student-t confidence "
                "interval of the mean over searches (none where n = 1). The random genotype (no search) "
                "is the grey "
                "bar and the grey band (its mean and 95% CI) across the panel; dotted: chance; "
                "'(flagged)': the strategy did not run as configured (health table). "
                + ("" if reference is None else "Published results share the measured axes only when "
                   "measured with the same protocol; otherwise (the full DARTS protocol: 32×32 CIFAR, 600 "
                   "epochs; the course project's reduced protocol) they stand in panels of their own, one "
                   "per protocol, hatched grey, not comparable. ")
                + figures.n_caption(exp))
    page.figure("differences", figures.paired_differences(exp, page.fdir / "differences", flags),
                "Differences from the baselines",
                "Each strategy's test accuracy minus first-order's (left; hyperDARTS minus "
                "first-order-smoothed, its noise control, labelled so) and minus the random genotype's "
                "(right), in points, per evaluation dataset: dots with whiskers are the mean difference "
                "and its uncorrected 95% CI (paired t over the seeds both searched, Welch where they "
                "share none; n in the label), small grey dots each seed's paired difference, and the "
                "grey band ± "
                "the minimum detectable difference after Holm's correction (over every comparison of the "
                "search dataset's cells, all evaluation datasets together) at 80% power: a true "
                "difference inside the band would likely go unseen at this n. The right margin gives "
                "that MDE and the Holm-corrected p (p_H): a CI that excludes 0 is not a finding unless "
                "p_H < 0.05. A band wider than the axis is cut at its edge. Hollow, '(flagged)': the "
                "strategy did not run as configured and is not compared (health table). A blank line: "
                "no such comparison in that panel (a baseline is not compared with itself; "
                "hyperDARTS's comparison with its noise control is in the first-order panel only).",
                "")
    page.figure("noise", figures.noise_bars(exp, page.fdir / "noise"), "Search noise and training noise",
                "Per strategy, the sd between its searches (training noise taken out) and the sd between "
                "trainings from scratch of one found cell, in accuracy points, from the one-way "
                "random-effects ANOVA of the accuracy table; dashed: the training sd pooled over every "
                "strategy's searches. Whiskers: 95% χ² intervals (the sd between trainings exact under "
                "normality; the sd between searches approximate, from the searches' mean square with "
                "k − 1 degrees of freedom: with 3 searches, 2 df, the interval spans a factor of about "
                "6, and its lower end is often 0). "
                + figures.count_caption(exp),
                "No cell was trained more than once (a profile's eval_repeats)")
    page.figure("transfer", figures.transfer_scatter(exp, reference, page.fdir / "transfer"),
                "Transfer", "Accuracy on the search dataset against accuracy on each transfer dataset, "
                "on axes fitted to the points (not from 0): faint dots are searches (each the mean of its "
                "trainings), solid markers each strategy's mean with the 95% CI on both axes (none where "
                "n = 1); the box gives Spearman's ρ between the strategies' means with its 95% "
                "percentile-bootstrap interval (each strategy's searches resampled), as in the transfer "
                "table: every "
                "strategy with both accuracies, the random genotype and strategies flagged in the health "
                "table included. "
                + ("" if reference is None else "Published cells appear only where their protocol is this "
                   "experiment's; otherwise see the table. ")
                + figures.n_caption(exp),
                "Transfer scatter: no transfer dataset in this experiment")


def search_figures(page: Page, exp: Experiment, darts: bool) -> None:
    """What the searches did: their curves, the collapse diagnostics, their cost."""
    page.figure("search_curves", figures.search_curves(exp, page.fdir / "search_curves"), "Search curves",
                "Supernet accuracy on the training and validation batches over the search epochs (axis "
                "from 0): per strategy the mean over searches, whiskers the 95% CI of the mean (none "
                "where "
                "n = 1); the random baseline does not search and has no curve. "
                f"{figures.n_caption(exp)}")
    page.figure("collapse", figures.collapse_curves(exp, page.fdir / "collapse"), "Collapse diagnostics",
                "Per strategy over the search epochs, on one fixed validation batch (nas/diagnostics.py): "
                "the mean entropy of softmax(α) (log #ops is uniform), the largest eigenvalue of the "
                "Hessian of the validation loss in α (power iteration; RobustDARTS saw it grow before a "
                "collapse), the discretisation gap (the mixed supernet's accuracy minus that "
                "with the derived architecture's one-hot α), the space's counts of the derived "
                "architecture (DARTS: parameter-free operations, skip and pooling, per cell) and a "
                "per-epoch metrics of what each search did (α's change, the hypergradient's norm, and a "
                "strategy's own: CG's products and stops, Neumann's growth, hyperDARTS's response); "
                "lines are means over searches, "
                "whiskers 95% CIs (none where n = 1). " + figures.n_caption(exp),
                "Collapse diagnostics: none recorded (a profile's search_diagnostics_every is 0)")
    if darts:
        page.table(collapse_table(exp), "")
    page.figure("cost", figures.cost_vs_accuracy(exp, page.fdir / "cost"), "Search cost against accuracy",
                "Cost per search (log scale: the process's CPU time, all threads, where it ran on a CPU; "
                "its wall time on the GPU where it ran on one; the axis names the unit) against test "
                "accuracy on the search dataset "
                "(axis from 0): faint dots are searches; solid markers per strategy the geometric mean "
                "time and the mean accuracy, with 95% CIs (the time's on the log scale; none where "
                "n = 1). "
                "The random genotype (no search time) is the grey line and band (mean, 95% CI). "
                f"{figures.n_caption(exp)}")


def darts_views(page: Page, exp: Experiment, edge: str | None, darts: bool) -> None:
    """Where α went and the cells found, drawn (DARTS cells only; said absent otherwise)."""
    if not darts:
        page.blocks.append({"kind": "absent", "title": f"α heatmaps and cell drawings: they draw DARTS "
                                                        f"cells, and this experiment searched the "
                                                        f"{exp.space} space"})
    page.figure("alpha_edge", figures.alpha_over_epochs(exp, page.fdir / "alpha_edge", edge) if darts else [],
                "α of one edge over the search", "softmax(α) of one edge of the normal cell after each "
                "search epoch, per strategy: the mean over searches, bands the 95% CI of the mean (none "
                "where n = 1), dotted the uniform mixture; n in each panel's title.",
                "α over the epochs: no α recorded (or no such edge)" if darts else "")
    for s in strategy_order(exp.alphas.strategy.unique() if darts and not exp.alphas.empty else []):
        page.figure(f"alphas_{s}", figures.alpha_heatmaps(exp, s, page.fdir / f"alphas_{s}"),
                    f"Final α: {s}", f"softmax(α) after the last search epoch of {s}, edges × operations, "
                    "normal and reduction cells, mean over searches (n in the title), on a diverging "
                    "colour scale centred at the uniform mixture 1/#operations (white) and symmetric "
                    "about it; the "
                    "scale's range is printed on the figure.")
    for s in strategy_order(exp.trials.strategy.unique() if darts else []):
        found = genotype_of(exp, s)
        if found is None:
            continue
        try:
            paths = plot_genotype(parse_genotype(found[0]), page.fdir / f"cell_{s}")
        except GenotypeError as e:
            page.blocks.append({"kind": "absent",
                                "title": f"Cells of {s}: the recorded genotype is malformed ({e})"})
            continue
        for kind in ("normal", "reduce"):
            page.figure(f"cell_{s}_{kind}", [p for p in paths if p.stem.endswith(kind)],
                        f"Found {'normal' if kind == 'normal' else 'reduction'} cell: {s}",
                        f"The {'normal' if kind == 'normal' else 'reduction'} cell derived by {s} "
                        f"(seed {found[1]}); each edge and its label in its operation's colour.")


def toy_section(page: Page, exp: Experiment) -> None:
    """The toy bilevel problem's figure and table, where the experiment folder holds its runs."""
    records = toy_records(exp)
    if not records:
        page.blocks.append({"kind": "absent", "title": "The toy bilevel problem: no toy table in this "
                            f"experiment; run `python -m studies toy --out {exp.root}` to add it"})
    if records:
        paths = plot_trajectories(records, page.fdir / "toy.png")
        page.figure("toy", paths, "The toy bilevel problem (DARTS, Figure 2)",
                    "Trajectories of (α, w) on the DARTS toy problem over the contours of the validation "
                    "loss, with the best response w*(α) = α dashed: (a) second-order DARTS over the "
                    "unrolling step ξ (ξ = 0 is first-order), (b) the other strategies; (c) each run's "
                    "distance to the optimum (1, 1) over the iterations. A run has the same colour in "
                    "every panel; one deterministic run per strategy and ξ.")
        page.table(toy_table(records), "")



def fidelity_section(page: Page, exp: Experiment) -> None:
    """The fidelity study's table and figures, where the experiment folder holds its rows."""
    fidelity = ResultStore(exp.root).read("fidelity")
    page.table(fidelity_table(fidelity), "")
    # the figures show every strategy at its defaults, over the seeds measured
    page.figure("fidelity", figures.fidelity_bars(fidelity, page.fdir / "fidelity"),
                "Hypergradient fidelity", "Each strategy's hypergradient against the implicit reference "
                "(`python -m studies fidelity --out <experiment folder>`), at the last point of the search "
                "measured and at its default settings: cosine, relative error, time per call, over the "
                "seeds measured as the fidelity table gives them (cosines: the mean with its 95% t "
                "interval on Fisher's z scale; relative errors: the geometric mean with the interval of "
                "their logarithms; time: the mean with its t interval; none where n = 1; n in the title).")
    page.figure("fidelity_cost", figures.fidelity_vs_cost(fidelity, page.fdir / "fidelity_cost"),
                "Hypergradient fidelity against cost",
                "Each strategy's cosine to the implicit and to the unrolled reference against its "
                "passes per step, at every point of the search the fidelity tool measured (marker shape), "
                "at its default settings: the mean over the seeds measured, whiskers its 95% t interval on "
                "Fisher's z scale (none where n = 1; n in the title). The references' own convergence "
                "(the solver's true residual) is in the fidelity table above.")


def perf_section(page: Page, perf: Path) -> None:
    """The step costs in passes, from `benchmark/perf.py`'s results."""
    page.table(perf_table(perf), "")
    page.figure("perf", figures.perf_bars(perf, page.fdir / "perf"), "Cost of a step in passes",
                "Time per search step divided by the time of one forward+backward pass (bars), and "
                "the passes the strategy's maths needs (ticks), from `benchmark/perf.py`; one measurement "
                "(a median over its timed steps) per configuration, no interval.")


# the unfinished trials a report names one by one (a grid in progress has hundreds)
MISSING_SHOWN = 10


def status_lines(exp: Experiment) -> list[str]:
    lines = []
    if exp.left_out:
        kept = ", ".join(strategy_order(set(exp.trials.strategy))) if not exp.trials.empty else "none"
        lines.append(f"**Some strategies only** (`--strategies`): {kept}; the experiment's "
                     f"{', '.join(exp.left_out)} are left out of every table, figure and Holm family.")
    lines += list(exp.notes)
    if exp.trials.empty:   # a studies-only folder: nothing declared, nothing missing
        return lines
    missing = exp.missing()
    if missing:
        shown = ", ".join(missing[:MISSING_SHOWN]) + (
            f", and {len(missing) - MISSING_SHOWN} more (grid.json declares them)"
            if len(missing) > MISSING_SHOWN else "")
        lines.append(f"**Incomplete:** {len(missing)} declared trial(s) or evaluation(s) have no result "
                     f"yet (still running, failed, or not started): {shown}.")
    for r in exp.diverged.itertuples():
        lines.append(f"**Diverged:** {r.strategy} on {r.search_dataset}, seed {r.seed}: {r.reason}")
    for r in exp.trials[exp.trials.status == "missed"].itertuples():
        lines.append(f"**Missed** (not scored: its cell is not in the table): {r.strategy} on "
                     f"{r.search_dataset}, seed {r.seed}: {r.reason}")
    if not exp.declared and not exp.trials.empty:
        lines.append("(No grid.json: the declared trials are unknown, so missing ones cannot be named.)")
    return lines


def provenance(exp: Experiment) -> str:
    t = exp.trials
    if exp.fills_table:
        t = exp.fills

        def values(col: str) -> str:
            short = 10 if col == "git_commit" else None
            return ", ".join(sorted({str(v)[:short] for v in t[col].dropna()}))

        return (f"{len(t)} chunks of cells trained into the table of cells {Path(str(exp.table_path)).name}; "
                + "; ".join(f"{label} {values(col)}" for col, label in
                            (("profile", "profile"), ("torch_version", "torch"), ("git_commit", "commit"))
                            if col in t))
    if t.empty:
        return "No grid trials: the tables of `python -m studies ... --out` only"
    parts = [f"{t[['strategy', 'search_dataset', 'seed']].drop_duplicates().shape[0]} trials"]
    for col, label in (("profile", "profile"), ("torch_version", "torch"), ("git_commit", "commit")):
        if col in t:
            vals = sorted({str(v)[:10] if col == "git_commit" else str(v) for v in t[col].dropna()})
            parts.append(f"{label} {', '.join(vals)}")
    return "; ".join(parts)


def write_markdown(exp: Experiment, blocks: list[dict], out: Path) -> Path:
    lines = [f"# Experiment `{exp.name}`", "", provenance(exp) + ".", ""]
    lines += [line + "\n" for line in status_lines(exp)]
    for b in blocks:
        if b["kind"] == "table":
            lines += [f"## {b['title']}", "", markdown_blocks(b["table"]),
                      "Files: " + ", ".join(f"[{Path(f).suffix[1:]}]({f})" for f in b["files"]), ""]
        elif b["kind"] == "figure":
            lines += [f"## {b['title']}", "", b["caption"], "", f"![{b['title']}]({b['image']})", ""]
        else:
            lines += [f"*Not available — {b['title']}.*", ""]
    path = out / "report.md"
    atomic_write(path, "\n".join(lines))
    return path


def write_html(exp: Experiment, blocks: list[dict], out: Path) -> Path:
    e = html.escape
    body = [f"<h1>Experiment <code>{e(exp.name)}</code></h1>", f"<p>{e(provenance(exp))}.</p>"]
    body += [f"<p>{e(line.replace('**', ''))}</p>" for line in status_lines(exp)]
    for b in blocks:
        if b["kind"] == "table":
            body.append(f"<h2>{e(b['title'])}</h2>")
            body += [f"<p>{e(line)}</p>" for line in b["table"].text]
            for heading, df in b["table"].blocks:
                if heading:
                    body.append(f"<p><em>{e(heading)}</em></p>")
                body.append(df.to_html(index=False, border=0, classes="t"))
            body.append(f"<p>{e(b['table'].note)}</p>")
            body.append("<p>Files: " + ", ".join(f'<a href="{f}">{Path(f).suffix[1:]}</a>'
                                                  for f in b["files"]) + "</p>")
        elif b["kind"] == "figure":
            body += [f"<h2>{e(b['title'])}</h2>", f"<p>{e(b['caption'])}</p>",
                     f'<img src="{b["image"]}" alt="{e(b["title"])}" style="max-width:100%">']
        else:
            body.append(f"<p><em>Not available — {e(b['title'])}.</em></p>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
             "table.t{border-collapse:collapse;font-size:90%}table.t td,table.t th{padding:2px 8px;"
             "border-bottom:1px solid #ddd;text-align:right}table.t td:first-child{text-align:left}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(exp.name)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
    path = out / "report.html"
    atomic_write(path, page)
    return path


def check_edge(exp: Experiment, edge: str) -> None:
    """ReportError where --edge names no edge of the DARTS normal cell whose α the report draws."""
    if exp.space != "darts":
        raise ReportError(f"--edge draws an edge of the DARTS normal cell; {exp.root} searched the "
                          f"{exp.space} space")
    alphas = exp.alphas
    edges = sorted(set(alphas.loc[alphas.cell == "normal", "edge"])) if not alphas.empty else []
    if edge not in edges:
        raise ReportError(f"--edge {edge} is not an edge of the normal cell; its edges are "
                          f"{', '.join(edges) or 'none (no α recorded)'}")


def report(experiment: str | Path, out: str | Path | None = None, reference: str | Path | None = REFERENCE,
           edge: str | None = None, toy: bool = True, log=print, perf: str | Path | None = None,
           strategies=None, table_datasets=()) -> Path:
    """Build the report of one experiment folder (of its `strategies` only, where given; with its
    found cells looked up in its table on `table_datasets` too); returns the path of report.md."""
    exp = load_experiment(experiment)
    if strategies:
        exp = only_strategies(exp, strategies)
    exp = with_table_datasets(exp, find_table(exp), table_datasets or ())
    # (a report with datasets looked up after the fact leaves the report without them as it is)
    out = Path(out) if out else exp.root / ("report-with-" + "-".join(dict.fromkeys(table_datasets))
                                            if table_datasets else "report")
    ref = None
    if reference:
        if not Path(reference).is_file():
            raise ReportError(f"the reference table {reference} does not exist")
        ref = load_reference(reference, space=exp.space)   # the published numbers of its space
        if ref.empty:
            ref = None
    if perf:
        latest_perf(Path(perf))   # a damaged perf table is refused before anything is written
    if edge is not None:
        check_edge(exp, edge)
    out.mkdir(parents=True, exist_ok=True)
    blocks = build(exp, out, ref, edge=edge, toy=toy, log=log, perf=Path(perf) if perf else None)
    write_html(exp, blocks, out)
    return write_markdown(exp, blocks, out)


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog=program("analysis/report.py"),
               description="Tables and figures of a benchmark experiment, on one page "
                           "(<experiment>/report/report.md and report.html).")
    p.add_argument("experiment", nargs="?", default=None,
                   help="an experiment folder, or its name under --results (default: the experiment "
                        "written most recently)")

    p.add_argument("--results", default=str(default_results_dir()),
                   help="folder of experiments (default: results/ of the project, or ./results "
                        "where the project is installed)")
    p.add_argument("--out", default=None, help="output folder (default: <experiment>/report)")
    p.add_argument("--reference", default=str(REFERENCE),
                   help="published numbers to show beside the measured ones (default: %(default)s)")
    p.add_argument("--no-reference", action="store_true", help="show no published numbers")
    p.add_argument("--edge", default=None,
                   help='the normal-cell edge whose α is drawn over the epochs, e.g. "0->2" '
                        "(default: the first)")
    p.add_argument("--no-toy", action="store_true",
                   help="leave out the toy problem's section (else it is read from the experiment "
                        "folder's toy table, written by `python -m studies toy --out FOLDER`)")
    p.add_argument("--perf", default=None,
                   help="benchmark/perf.py's results (a folder, or one parquet file) to add as a speed "
                        "section (default: <results>/perf where it exists)")
    p.add_argument("--strategies", nargs="+", default=None, metavar="STRATEGY",
                   help="report these strategies only (a comparison declared among some of the "
                        "experiment's: its Holm family is theirs alone; the page names the others "
                        "it leaves out) (default: all)")
    p.add_argument("--table-datasets", nargs="+", default=None, metavar="NAME",
                   help="look the found cells up in the experiment's table on these datasets too, as "
                        "transfer datasets the trials did not evaluate (trained into the table after "
                        "the searches: `benchmark/run.py --grid nb201-table --fill-from EXPERIMENT "
                        "--datasets NAME`); they join every comparison and its Holm family, an "
                        "analysis after the fact (default --out: <experiment>/report-with-NAME)")
    args = p.parse_args(argv)
    perf = args.perf or str(Path(args.results) / "perf")
    start = time.perf_counter()
    try:
        if args.out:
            check_writable(args.out, "--out")
        path = report(find_experiment(args.experiment, args.results), args.out,
                      None if args.no_reference else args.reference, edge=args.edge, toy=not args.no_toy,
                      perf=perf, strategies=args.strategies, table_datasets=args.table_datasets)
    except (ReportError, FileError, PathError) as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path} and {path.with_suffix('.html').name} in {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
