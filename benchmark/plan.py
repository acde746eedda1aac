"""`python benchmark/run.py --grid NAME --plan`: what a grid declares, what it can detect, what it costs.

Nothing runs. The plan prints

1. the declared trials (strategies × search datasets × seeds, the evaluation datasets and the
   repeated trainings of each found genotype) and the steps and images each one processes;
2. power, from an earlier experiment of the grid when one exists (`results/<experiment>/`): the
   standard deviation over seeds of each strategy's paired difference from first-order (search
   means over the repeats), the difference this grid's seeds detect with 80% power at α = 0.05,
   and, with `--detect D` (accuracy points), the seeds needed to detect D;
3. the projected cost: from the earlier experiment's measured wall times per search and per
   evaluation when it exists (the best guide: the same profile and machine), else from those of
   the `--power-from` experiment (named as another experiment), else from the step
   times and images/s of `benchmark/perf.py` (`results/perf/`), which are measured at
   their own sizes and are named beside the projection.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.stats import (
    ALPHA,
    POWER,
    minimum_detectable_difference,
    proportion_detectable_difference,
    proportion_seeds_needed,
    seeds_needed,
)
from analysis.tables import comparisons
from benchmark.codec import FormatError, manifest_matches
from benchmark.fills import fill_cells
from benchmark.grids import Grid
from benchmark.perf import perf_options
from nas.options import program
from nas.spaces import get_space
from nas.spaces.nb201_cell import Cell
from nas.strategies import get_strategy
from resultstore.cells import CellTable
from resultstore.experiment import ReportError, load_experiment
from resultstore.schema import short_name
from resultstore.store import ResultStore, read_results

# Training-set sizes of the named datasets, for the images an evaluation processes when a profile
# does not cut the training set.
TRAIN_SIZES = {"cifar10": 50_000, "cifar100": 50_000, "fashion-mnist": 60_000, "digits": 1_348,
               "cifar10-jpeg": 50_000}
BASELINE = "first-order"


def train_images(grid: Grid, dataset: str) -> int | None:
    known = TRAIN_SIZES.get(short_name(dataset))
    n = grid.profile.train_subset
    if n is None:
        return known
    return min(n, known) if known else n


def search_steps(grid: Grid, dataset: str) -> int | None:
    """Steps of one search: epochs × (half the search images // batch), as the search split does."""
    p = grid.profile
    n = train_images(grid, dataset)
    if p.search_subset is not None:
        n = p.search_subset if n is None else min(n, p.search_subset)
    if n is None:
        return None
    return p.search_epochs * ((n // 2) // p.search_batch_size)


def earlier_searches(folder: Path) -> pd.DataFrame:
    """One row per finished search and evaluation dataset of the experiment in `folder` (the
    report's `Experiment.searches`: accuracy in points, the mean over repeats), with
    `eval_wall_s` the mean over its trainings; empty where there is none."""
    try:
        exp = load_experiment(folder)
    except ReportError:
        return pd.DataFrame()
    searches = exp.searches
    if searches.empty:
        return searches
    keys = ["strategy", "search_dataset", "seed", "eval_dataset"]
    wall = exp.finished.groupby(keys)["eval_wall_s"].mean().rename("eval_wall_s").reset_index()
    return searches.drop(columns="eval_wall_s").merge(wall, on=keys, how="left")


def difference_sd(searches: pd.DataFrame) -> pd.DataFrame:
    """Per evaluation dataset: the root mean square over strategies of the sd over seeds of the
    strategy's paired difference from first-order, the number of strategies, and the fewest seeds
    a strategy pairs with first-order (a seed only one of them ran counts for none)."""
    rows = []
    for (sd, ev), g in searches.groupby(["search_dataset", "eval_dataset"]):
        wide = g.pivot_table(index="seed", columns="strategy", values="acc")
        if BASELINE not in wide:
            continue
        diffs = [(wide[s] - wide[BASELINE]).dropna() for s in wide if s != BASELINE]
        spread = [(d.std(ddof=1), len(d)) for d in diffs if len(d) > 1]   # (sd, paired seeds)
        if spread:
            rows.append({"search_dataset": sd, "eval_dataset": ev,
                         "sd": math.sqrt(np.mean([x ** 2 for x, _ in spread])),
                         "strategies": len(spread), "seeds": min(n for _, n in spread)})
    return pd.DataFrame(rows)


def _nearest(rows: pd.DataFrame, target: dict) -> pd.Series | None:
    if rows.empty:
        return None
    dist = sum(np.abs(np.log(rows[k].astype(float) / v)) for k, v in target.items())
    return rows.loc[dist.idxmin()]


def perf_projection(grid: Grid, perf: pd.DataFrame) -> tuple[dict, dict, list[str]]:
    """Seconds per search (by strategy) and per evaluation, from perf.py rows, and notes on
    the sizes those rows were measured at."""
    p, notes = grid.profile, []
    steps = search_steps(grid, grid.search_datasets[0]) or 0
    search, evals = {}, {}
    side = p.image_size or 32
    if p.space != "darts":
        return search, evals, [f"perf.py times the DARTS supernet and evaluation network only: no "
                               f"projection for the {p.space} space"]
    sp, tr = p.search_space, p.train
    rows = perf[(perf["kind"] == "search")]
    for s in grid.strategies:
        mine = rows[rows["strategy"] == s]
        hvp = grid.strategy_options.get(s, {}).get("hvp", "exact")
        if "hvp" in mine and "hvp" in perf_options(s):
            mine = mine[mine["hvp"].fillna("exact").replace("", "exact") == hvp]
        if "speed" in mine:
            mine = mine[mine["speed"].fillna("") == ",".join(p.search_speed)]
        row = _nearest(mine, {"layers": sp.layers, "channels": sp.channels,
                              "batch": p.search_batch_size, "image_size": side})
        if not get_strategy(s).searches:
            search[s] = 0.0
        elif row is not None:
            search[s] = float(row["step_s"]) * steps
    ev = perf[(perf["kind"] == "eval") & (perf["strategy"] == "eval-trainer")]
    row = _nearest(ev, {"layers": tr.layers, "channels": tr.channels,
                        "batch": tr.batch_size, "image_size": side})
    if row is not None:
        for d in grid.trials()[0].eval_datasets:
            n = train_images(grid, d)
            if n:
                evals[d] = tr.epochs * n / float(row["images_per_s"])
        notes.append(f"evaluation images/s from the perf row at {int(row['layers'])} cells × "
                     f"{int(row['channels'])} channels, batch {int(row['batch'])}, "
                     f"{int(row['image_size'])} px on {row['device']}")
    ref = rows[rows["strategy"] == BASELINE]
    r0 = _nearest(ref, {"layers": sp.layers, "channels": sp.channels,
                        "batch": p.search_batch_size, "image_size": side})
    if r0 is not None:
        notes.append(f"search step times from perf rows at {int(r0['layers'])} cells × "
                     f"{int(r0['channels'])} channels, batch {int(r0['batch'])}, "
                     f"{int(r0['image_size'])} px on {r0['device']} (this grid: {sp.layers} × "
                     f"{sp.channels}, batch {p.search_batch_size}, {side} px): a rough guide")
    return search, evals, notes


def slots(grid: Grid, cpus: int, gpus: int) -> int:
    if gpus > 0:
        return max(1, int(gpus / grid.profile.gpus_per_trial))
    return max(1, cpus // grid.profile.cpus_per_trial)


def _hours(seconds: float) -> str:
    if seconds >= 100 * 3600:
        return f"{seconds / 3600:,.0f} h"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


# analysis/reference.csv: published results, for the scale of a standard deviation in points
REFERENCE = Path(__file__).resolve().parents[1] / "analysis" / "reference.csv"


def sd_units(n: int, family: int, table_spread: tuple[str, float, int] | None = None) -> list[str]:
    """What n seeds detect without any data, in units of the sd of a strategy's paired difference
    over seeds, and in points for DARTS's published spread on CIFAR-10 (the sd over trainings of
    one cell: a lower bound on the spread between searches); for a profile that looks its cells up
    in a table, in points for the spread of the table's cells instead (`table_spread`: its name,
    the sd of its cells' means in points and their number)."""
    if n < 2:
        return [f"  with {n} seed there is no sd over seeds: nothing is detectable"]
    one = minimum_detectable_difference(1.0, n, paired=True, power=POWER, alpha=ALPHA)
    holm = minimum_detectable_difference(1.0, n, paired=True, power=POWER, alpha=ALPHA / max(1, family))
    def after(text: str, over: bool = False) -> str:   # (a grid without comparisons: no Holm)
        return (f", {text} after Holm" + (f" over {family}" if over else "")) if family else ""
    lines = [f"  without data, in units of that sd: with {n} seeds one paired comparison detects "
             f"≥ {one:.1f} sd{after(f'≥ {holm:.1f} sd', over=True)}"]
    if table_spread is not None:
        name, spread, cells = table_spread
        lines.append(f"    for scale: the cells of the table {name} differ by an sd of {spread:.2f} points "
                     f"({cells:,} cells; a search's looked-up accuracy varies on that scale, and two "
                     f"strategies that find cells as different as two random ones differ by √2 × that); "
                     f"at that sd: ≥ {one * spread:.2f} points{after(f'≥ {holm * spread:.2f}')}")
        return lines
    try:
        ref = pd.read_csv(REFERENCE)
        darts = ref[ref["method"].str.startswith("DARTS (") & (ref["search_dataset"] == "cifar10")
                    & (ref["eval_dataset"] == "cifar10")]["test_error_std"].dropna()
    except (OSError, KeyError, ValueError):
        darts = pd.Series(dtype=float)
    if not darts.empty:
        lo, hi = float(darts.min()), float(darts.max())
        lines.append(f"    for scale: DARTS's published test errors on CIFAR-10 vary by {lo:g}–{hi:g} points "
                     "between trainings of its cell (analysis/reference.csv), a lower bound on the sd "
                     f"between searches; at that sd: ≥ {one * lo:.2f}–{one * hi:.2f} points"
                     f"{after(f'≥ {holm * lo:.2f}–{holm * hi:.2f}')}")
    return lines


def same_grid(experiment_dir: Path, grid: Grid) -> bool:
    """Whether the experiment's grid.json declares this grid's profile (one of another format
    does not)."""
    try:
        return bool(manifest_matches(experiment_dir, grid))
    except FormatError:
        return False


def plan(grid: Grid, experiment_dir: Path, perf_path: Path | None, detect: float | None,
         cpus: int, gpus: int = 0, power_dir: Path | None = None,
         tables_root: Path | None = None) -> str:
    """The plan's text: what the grid declares, what it can detect and what it costs. `power_dir`
    (default: `experiment_dir`) is the earlier run whose standard deviations the power analysis
    uses; `tables_root` where a table of cells is named."""
    p = grid.profile
    if p.fill:
        return fill_plan(grid, cpus, tables_root)
    specs = [s for s in grid.trials(tables_root=tables_root) if s.kind == "search"]
    lines = [f"grid {grid.name} (profile {p.name}, the {p.space} space)", ""]
    lines += declared_lines(grid, specs)
    searches = earlier_searches(experiment_dir)
    if not searches.empty and not same_grid(experiment_dir, grid):
        lines += ["", f"(the results in {experiment_dir} come from another profile: not used; name them "
                      "with --power-from to take their standard deviations anyway)"]
        searches = pd.DataFrame()
    power_dir = power_dir or experiment_dir
    power_searches = searches if power_dir == experiment_dir else earlier_searches(power_dir)
    lines += power_lines(grid, specs, detect, power_dir, power_searches, experiment_dir)
    lines += cost_lines(grid, specs, perf_path, cpus, gpus, experiment_dir, searches, power_dir,
                        power_searches)
    return "\n".join(lines)


# Optuna's TPESampler draws its first n_startup_trials (10, its default, which Ray's OptunaSearch
# keeps) uniformly from the ranges before it models them: a tuning of fewer samples is a random search.
TPE_STARTUP = 10


def grace_period(profile) -> int:
    """The epochs every tuning sample searches before ASHA may stop it: a quarter of the search.
    The search-validation accuracy of the first epochs measures the weights' training, which α's
    options barely touch yet (a grace of one epoch made ASHA's choice close to a draw)."""
    return max(1, profile.search_epochs // 4)


# What a tuning chooses by: where the grid looks every epoch's derived cell up in a table of cells
# made here, that cell's training accuracy in its first training there (its lowest training seed, on
# that training's own images: no test image enters the choice, as in random search's choice);
# elsewhere the supernet's search-validation accuracy. On
# the nb201-cpu grid the supernet's accuracy did not track the found cell's (first-order's supernet
# the most accurate, its cells the least), while a cell's training accuracy in one training tracked
# its test accuracy in another (docs/findings.md; results/examples/nb201-cpu/supernet_vs_cell.py).
CELL_METRIC, SUPERNET_METRIC = "cell_train_acc", "val_acc"


def tuning_metric(profile) -> str:
    """The metric a tuning on this profile reports to ASHA and chooses by (see above): the cell's
    only in a table made here (NAS-Bench-201's file is the benchmark's own answer, and cannot be
    trained into)."""
    made_here = bool(profile.table) and not profile.table.startswith("nb201:")
    return CELL_METRIC if made_here and profile.lookup_epochs else SUPERNET_METRIC


def tuning_plan(grid: Grid, strategy: str, samples: int, declared_seeds: tuple[int, ...],
                timed_dir: Path) -> str:
    """The plan of `--tune STRATEGY`: what the tuning samples, what it chooses by, what it costs
    (at most `samples` whole searches, at the mean search time of `timed_dir`'s finished ones), and
    a warning where its seed is one of `declared_seeds`, the seeds the grid compares on."""
    p, seed, dataset = grid.profile, grid.seeds[0], grid.search_datasets[0]
    if tuning_metric(p) == CELL_METRIC:
        criterion = (f"the training accuracy of each epoch's derived cell in the table {p.table} (in "
                     "its first training there; a cell the table lacks is trained into it)")
        scope = ("the search, with every epoch's cell looked up; no found cell is evaluated, and no "
                 "test image enters the choice")
    else:
        criterion = "the supernet's search-validation accuracy"
        scope = ("searches only: no found cell is trained or looked up, so no test image and no "
                 "table of cells enters the choice")
    ranges = ", ".join(f"{name} {r.low:g}–{r.high:g}{' (log-uniform)' if r.log else ''}"
                       for name, r in get_strategy(strategy).tunable.items())
    lines = [f"tuning {strategy} on grid {grid.name} (profile {p.name}, the {p.space} space)", "",
             f"  {samples} configurations of its own options ({ranges}), sampled by Optuna's TPE "
             f"(seeded {seed}; its first {TPE_STARTUP} are drawn at random), each a search on seed "
             f"{seed} of up to {p.search_epochs} epochs on {short_name(dataset)};",
             f"  ASHA stops the poorer ones early (after {grace_period(p)} epochs at the first) by "
             f"{criterion}, and the configuration with the highest of it at its last epoch (the "
             f"epoch whose α gives the cell) is written to results/tuned/{grid.name}/{strategy}.json "
             "(`--tuned` gives it to a grid);",
             f"  {scope}"]
    if warning := tuning_seed_warning(grid.name, seed, declared_seeds):
        lines.append(f"  {warning}")
    timed = earlier_searches(timed_dir)
    timed = (timed[(timed["strategy"] == strategy) & (timed["search_dataset"] == dataset)]
             if not timed.empty else timed)
    lines += ["", "projected cost:"]
    if timed.empty:
        lines.append(f"  no finished {strategy} search in {timed_dir}: cannot project")
    else:
        each = float(timed.groupby("seed")["search_wall_s"].first().mean())
        extra = ("; the trainings of the epochs' cells the table lacks come on top"
                 if tuning_metric(p) == CELL_METRIC else "")
        lines.append(f"  at most {_hours(samples * each)} of search time ({samples} × {each:.0f} s, "
                     f"the mean of {timed['seed'].nunique()} finished search(es) in "
                     f"{timed_dir.name}; ASHA's early stops make it less{extra})")
    return "\n".join(lines)


def tuning_seed_warning(grid_name: str, seed: int, declared_seeds: tuple[int, ...]) -> str | None:
    """A warning where a tuning's seed is one the grid compares strategies on, else None."""
    if seed not in declared_seeds:
        return None
    return (f"warning: seed {seed} is one the grid {grid_name} compares on; tune on a seed it does "
            f"not use (--seeds {max(declared_seeds) + 100}), or the tuned strategy is judged on the "
            "search its options were chosen by")


def declared_lines(grid: Grid, specs: list) -> list[str]:
    """What the grid runs: its searches, their evaluation, its ground truth, its settings."""
    p = grid.profile
    evals = specs[0].eval_datasets
    lines = []
    trainings = sum(spec.repeats(d) for spec in specs for d in spec.eval_datasets)
    # with every epoch's cell looked up, a cell each epoch (search dataset) may be trained on a miss
    epoch_trainings = (sum(spec.repeats(spec.search_dataset) for spec in specs) * p.search_epochs
                       if p.lookup_epochs and p.table else 0)
    lines.append(f"declared: {len(grid.strategies)} strategies × {len(grid.search_datasets)} search "
                 f"dataset(s) × {len(grid.seeds)} seeds = {len(specs)} searches; "
                 + ("search only: no training" if not p.evaluate else
                    f"each found cell looked up in the table {specs[0].table_path} on {len(evals)} "
                    "evaluation dataset(s)" + (", a cell it lacks trained into it (at most "
                                               f"{trainings + epoch_trainings:,} trainings)"
                                               if p.on_miss == "train" else
                                               ", a search whose cell it lacks ends 'missed'")
                    + ("; every epoch's cell looked up too" if p.lookup_epochs else "")
                    if p.table else
                    f"each found genotype trained from scratch on {len(evals)} evaluation dataset(s): "
                    f"{trainings} trainings"))
    if p.ground_truth:
        count = len(grid.seeds) * len(grid.search_datasets)
        truth = [s for s in grid.trials() if s.kind != "search"]
        times = sorted({truth[0].repeats(d) for d in truth[0].eval_datasets}) if truth else []
        lines.append(f"  and a ground truth per seed and search dataset ({count} "
                     "trials): every candidate the space draws for the seed and its reference "
                     "architectures trained from scratch the same way, "
                     f"{'/'.join(map(str, times))} times per evaluation dataset")
    lines.append(f"  strategies: {', '.join(grid.strategies)}")
    lines.append(f"  seeds: {', '.join(map(str, grid.seeds))}; search datasets: "
                 f"{', '.join(grid.search_datasets)}; evaluated on: {', '.join(evals)}")
    space = get_space(p.space)
    seeded = ", ".join(f"{o} = the search seed" if p.space_seeded
                       else f"{o} = {getattr(p.search_space, o)} for every seed"
                       for o in space.seeded_options)
    for d in grid.search_datasets:
        steps = search_steps(grid, d)
        lines.append(f"  search on {short_name(d)}: {space.describe(p.search_space)}"
                     f"{'; ' + seeded if seeded else ''}; "
                     f"batch {p.search_batch_size}, {p.search_epochs} epochs = "
                     f"{steps if steps is not None else '?'} steps"
                     + (f", images {p.image_size} px" if p.image_size else ""))
    for d in evals if p.evaluate and (not p.table or p.on_miss == "train") else ():
        n = train_images(grid, d)
        seeds = ("the table's training seeds 0, 1000, … for every cell" if p.table else
                 "training seeds seed + 1000·r")
        what = "per cell the table lacks" if p.table else "per search"
        lines.append(f"  evaluation on {short_name(d)}: {space.describe_training(p.train)}; on "
                     f"{n if n else '?'} training images, {specs[0].repeats(d)} training(s) {what} ({seeds})")
    options = {s: o for s, o in grid.strategy_options.items() if o and s in grid.strategies}
    if options:
        lines.append("  strategy options: " + "; ".join(f"{s} {o}" for s, o in options.items()))
    return lines


def power_lines(grid: Grid, specs: list, detect: float | None, power_dir: Path,
                power_searches: pd.DataFrame, experiment_dir: Path) -> list[str]:
    """What the grid can detect after Holm's correction over the report's comparisons, in sd units
    and (with earlier searches) in points, and how many seeds `detect` points would need."""
    p = grid.profile
    evals = specs[0].eval_datasets
    lines = []
    # the report's Holm family: every comparison for a search dataset, on all its evaluation datasets
    family = len(comparisons(grid.strategies)) * (len(evals) if p.evaluate else 1)
    holm_alpha = ALPHA / max(1, family)
    if family:
        lines += ["", f"power (paired by seed; 80% power, two-sided α = {ALPHA:g}; after Holm's "
                      f"correction over the report's {family} comparisons per search dataset (on "
                      f"{len(evals)} evaluation dataset(s)), α/{family} at its first step):"]
    else:
        lines += ["", f"power (paired by seed; 80% power, two-sided α = {ALPHA:g}; the grid's "
                      f"strategies ({', '.join(grid.strategies)}) hold no pair the report compares, "
                      "so no Holm correction):"]
    n = len(grid.seeds)
    lines += sd_units(n, family, table_spread(specs[0]) if p.table else None)
    if p.space == "nb201":
        lines += collapse_power(n, len(comparisons(grid.strategies)))
    if power_dir != experiment_dir:
        lines.append(f"  standard deviations from {power_dir} (another experiment: its profile's noise, "
                     "not necessarily this grid's)")
    if power_searches.empty:
        lines.append(f"  no earlier results in {power_dir}: run the grid once (or name an earlier "
                     "experiment with --power-from) to estimate the between-seed standard deviation")
    else:
        sd = difference_sd(power_searches)
        if sd.empty:
            fo = power_searches[power_searches["strategy"] == BASELINE]
            seeds = fo["seed"].nunique()
            lines.append(f"  {power_dir} has {seeds} seed(s) with first-order results: the sd over "
                         "seeds needs at least 2" if seeds < 2 else
                         f"  {power_dir} has no strategy paired with first-order to take the sd from")
        for r in sd.itertuples():
            mde = minimum_detectable_difference(r.sd, n, paired=True, power=POWER, alpha=holm_alpha)
            single = minimum_detectable_difference(r.sd, n, paired=True, power=POWER, alpha=ALPHA)
            text = (f"  {short_name(r.eval_dataset)}: sd of the paired differences {r.sd:.2f} points "
                    f"(from {r.seeds} paired seeds × {r.strategies} strategies in {power_dir.name}, itself "
                    f"uncertain with {r.seeds - 1} degrees of freedom); with {n} seeds this grid "
                    f"detects ≥ {mde:.2f} points after Holm (≥ {single:.2f} for a single comparison)")
            if detect is not None:
                need = seeds_needed(detect, r.sd, power=POWER, alpha=holm_alpha, paired=True)
                one = seeds_needed(detect, r.sd, power=POWER, alpha=ALPHA, paired=True)
                text += f"; detecting {detect:g} points needs {need} seeds ({one} for a single comparison)"
            lines.append(text)
    if detect is not None and not power_searches.empty and difference_sd(power_searches).empty:
        lines.append(f"  --detect {detect:g}: cannot say how many seeds without an sd over seeds")
    if detect is not None and power_searches.empty:
        lines.append(f"  --detect {detect:g}: cannot say how many seeds without an earlier experiment")
    return lines


def cost_lines(grid: Grid, specs: list, perf_path: Path | None, cpus: int, gpus: int,
               experiment_dir: Path, searches: pd.DataFrame, power_dir: Path,
               power_searches: pd.DataFrame) -> list[str]:
    """The projected trial and wall time, from earlier searches of this grid (or --power-from's),
    else from the perf harness's step times."""
    lines = ["", "projected cost:"]
    par = slots(grid, cpus, gpus)
    unit = f"{gpus} GPU(s)" if gpus else f"{cpus} CPU(s)"
    search_s: dict[str, float] = {}
    eval_s: dict[str, float] = {}
    source = ""
    timed, timed_in = searches, experiment_dir.name
    if timed.empty and not power_searches.empty:   # --power-from: its times are the next best guide
        timed, timed_in = power_searches, f"{power_dir.name} (--power-from: another experiment)"
    if not timed.empty:
        search_s = timed.groupby("strategy")["search_wall_s"].mean().to_dict()
        eval_s = timed.groupby("eval_dataset")["eval_wall_s"].mean().to_dict()
        device = "; ".join(sorted(set(timed["search_device"])))
        source = f"measured in {timed_in} on {device}"
    elif perf_path is not None and not (perf := read_results(perf_path, "perf")).empty:
        s, e, notes = perf_projection(grid, perf)
        search_s, eval_s = s, e
        source = "from " + "; ".join(notes)
        if not search_s and not eval_s:
            lines.append(f"  {'; '.join(notes)}: cannot project")
            return lines
    if not search_s and not eval_s:
        lines.append(f"  no earlier experiment and no perf results ({program('benchmark/perf.py')}): "
                     "cannot project")
        return lines
    total, left, n_left, unknown = 0.0, 0.0, 0, set()
    store = ResultStore(experiment_dir)
    for spec in specs:
        cost = search_s.get(spec.strategy, 0.0)
        if spec.strategy not in search_s:
            unknown.add(spec.strategy)
        for d in spec.eval_datasets:
            if d in eval_s:
                cost += eval_s[d] * spec.repeats(d)
            else:
                unknown.add(f"evaluation on {short_name(d)}")
        total += cost
        if not store.has_part(spec.result_table, spec.trial_id):
            left, n_left = left + cost, n_left + 1
    if grid.profile.ground_truth:
        unknown.add("the ground-truth trials")
    least = "at least " if unknown else ""
    lines.append(f"  {least}{_hours(total)} of trial time in all; {least or 'about '}{_hours(total / par)} "
                 f"of wall time with {par} trial(s) at a time on {unit} ({source})")
    if n_left < len(specs):
        lines.append(f"  {len(specs) - n_left} of the {len(specs)} trials have results in "
                     f"{experiment_dir}: the {n_left} left take {least or 'about '}{_hours(left)} of "
                     f"trial time, {_hours(left / par)} of wall time")
    for s in grid.strategies:
        if s in search_s:
            lines.append(f"    {s:22s} search {search_s[s]:8.0f} s")
    for d, sec in eval_s.items():
        lines.append(f"    evaluation on {short_name(d):13s} {sec:8.0f} s each")
    if unknown:
        lines.append(f"  not in the source, so not counted: {', '.join(sorted(unknown))}")
    return lines


def table_spread(spec) -> tuple[str, float, int] | None:
    """(name, sd of the cells' means in points, cells) of the spec's table on its search dataset,
    or None where it has fewer than 3 cells there."""
    table = CellTable(spec.table_path) if spec.table_path else None
    if table is None or not table.exists():
        return None
    means = table.means(spec.search_dataset)
    return (table.name, 100 * float(means.std(ddof=1)), len(means)) if len(means) >= 3 else None


COLLAPSE_DIFFERENCE = 0.3   # issue 32: the collapse-rate difference that matters (30 points)


def collapse_power(n: int, family: int) -> list[str]:
    """What n searches per strategy tell apart in the share of searches that collapse (a found cell
    of parameter-free operations only), for two strategies with independent searches, around 50%
    (the hardest shares to tell apart)."""
    one = proportion_detectable_difference(n)
    holm = proportion_detectable_difference(n, alpha=ALPHA / max(1, family))

    def points(d: float) -> str:
        return "nothing" if math.isnan(d) else f"≥ {100 * d:.0f} points"

    need = proportion_seeds_needed(COLLAPSE_DIFFERENCE)
    need_holm = proportion_seeds_needed(COLLAPSE_DIFFERENCE, alpha=ALPHA / max(1, family))
    holm_text = f" ({points(holm)} after Holm over {family})" if family else ""
    need_text = f" ({need_holm} after Holm)" if family else ""
    return [f"  collapse (a found cell of parameter-free operations only): with {n} searches per "
            f"strategy, two collapse shares around 50% differ detectably by {points(one)}"
            f"{holm_text}; {100 * COLLAPSE_DIFFERENCE:.0f} points need {need} searches per "
            f"strategy{need_text} (two proportions, arcsine approximation)"]


def fill_plan(grid: Grid, cpus: int, tables_root: Path | None = None) -> str:
    """The plan of a grid that fills a table of cells: what it trains, what the table holds, and
    the cost of the rest at the table's own median CPU-seconds per training."""
    p = grid.profile
    specs = grid.trials(tables_root=tables_root)
    cells = fill_cells(p)
    table = CellTable(specs[0].table_path)
    space = get_space(p.space)
    lines = [f"grid {grid.name} (profile {p.name}, the {p.space} space): fills the table of cells "
             f"{table.root}", ""]
    for d in grid.search_datasets:
        want = specs[0].repeats(d)
        kind = "listed" if p.fill == "found" else p.fill   # (--fill-from's or --fill-cells' list)
        lines.append(f"  {len(cells):,} cells ({kind}) on {short_name(d)}, {want} training(s) each "
                     f"(seeds 0, 1000, …) = {len(cells) * want:,} trainings, in {len(specs):,} trials of "
                     f"{p.fill_chunk} cells")
        lines.append(f"  each: {space.describe_training(p.train)}; on {train_images(grid, d) or '?'} "
                     "training images" + (f" at {p.image_size} px" if p.image_size else ""))
        every = table.rows() if table.exists() else pd.DataFrame()
        rows = every[every["dataset"] == d] if not every.empty else every
        have = 0
        if not rows.empty:
            counts = rows.groupby(table.unit)["train_seed"].nunique()
            forms = [Cell.parse(c).canonical() if table.unit == "canonical" else c for c in cells]
            have = int(sum(min(int(counts.get(f, 0)), want) for f in forms))
        left = len(cells) * want - have
        lines.append(f"  the table holds {have:,} of them; {left:,} to train")
        if every.empty:
            lines.append("  cost: no training of this table yet to time (benchmark/nb201_throughput.py "
                         "measures one)")
            continue
        # (a dataset the table has no training on yet: the cost of its trainings on the others)
        timed = rows if not rows.empty else every
        per = float(timed["train_cpu_s"].mean())
        n = slots(grid, cpus, 0)
        others = ", ".join(sorted(map(short_name, set(timed.dataset))))
        of = (f"mean of the table's {len(timed):,}" if not rows.empty else
              f"mean of the table's {len(timed):,} on {others}; none on {short_name(d)} yet")
        lines.append(f"  cost: {per:.1f} CPU-seconds a training ({of}): "
                     f"{_hours(left * per)} of CPU for the rest, about {_hours(left * per / n)} of wall "
                     f"time on {n} slot(s)")
    return "\n".join(lines)
