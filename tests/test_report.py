"""analysis/report.py on a synthetic experiment folder whose numbers are known."""

import html
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis import report as report_module
from analysis.tables import accuracy_numbers, accuracy_table, transfer_numbers
from nas.genotype import DARTS_V1, DARTS_V2
from resultstore.experiment import ReportError, load_experiment

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ("first-order", "second-order", "hyperdarts-mlp")
SEEDS = (0, 1, 2)
OPS = ("none", "skip_connect", "sep_conv_3x3")
EDGES = ("0->2", "1->2", "0->3")


def _key(strategy, seed):
    return {"experiment": "synth", "strategy": strategy, "search_dataset": "cifar10", "seed": seed,
            "profile": "cpu"}


def _trial_id(strategy, seed):
    return f"{strategy}__cifar10__s{seed}"


def make_experiment(root: Path, skip=(), diverge=(), declare_extra=False, repeats=None,
                    strategies=STRATEGIES, skip_repeats=()) -> dict:
    """Parts for every (strategy, seed) but those in `skip`; returns the accuracies written.

    repeats=None trains each found cell once (the accuracies keyed (strategy, seed, ds)); repeats=r
    trains it r times (keys (strategy, seed, ds, repeat), a per-search offset plus training noise),
    but for the (strategy, seed, repeat) in `skip_repeats`, and declares r repeats in grid.json."""
    rng = np.random.default_rng(0)
    accs = {}
    for si, strategy in enumerate(strategies):
        for seed in SEEDS:
            if (strategy, seed) in skip:
                continue
            key, tid = _key(strategy, seed), _trial_id(strategy, seed)
            common = {"strategy_options": "{}", "torch_version": "2.x", "nas_version": "0.1.0",
                      "git_commit": "abc", "finished_at": "2026-01-01T00:00:00+00:00"}
            if (strategy, seed) in diverge:
                trials = [{**key, "eval_dataset": "", "repeat": 0, "status": "diverged",
                           "reason": "loss is nan", **common}]
            else:
                trials = []
                for ds, base in (("cifar10", 90.0), ("cifar100", 65.0)):
                    search = base + 2 * si + rng.normal(0, 0.5)
                    for r in range(repeats or 1):
                        if (strategy, seed, r) in skip_repeats:
                            continue
                        acc = (search + (rng.normal(0, 0.3) if repeats else 0.0)) / 100
                        accs[(strategy, seed, ds, r) if repeats else (strategy, seed, ds)] = acc
                        extra = {"repeat": r, "eval_seed": 1000 * r + seed}
                        trials.append({**key, "eval_dataset": ds, "status": "finished", "reason": "",
                                       "genotype": str(DARTS_V2 if si % 2 else DARTS_V1), "test_acc": acc,
                                       "test_loss": 0.3, "params": 3.3e6 + si * 1e5,
                                       "search_wall_s": 3600.0 * (1 + si) + seed, "search_cpu_s": 3500.0,
                                       "search_device": "NVIDIA H100", "eval_wall_s": 7200.0,
                                       "eval_cpu_s": 7000.0,
                                       "eval_device": "NVIDIA H100", **extra, **common})
            epochs = [{**key, "phase": "search", "eval_dataset": "", "repeat": 0, "epoch": e,
                       "train_loss": 1.0,
                       "train_acc": 0.3 + 0.1 * e, "val_acc": 0.25 + 0.1 * e, "val_loss": 1.1, "lr": 0.025,
                       "time_s": 10.0} for e in range(3)]
            alphas = []
            for e in range(3):
                for cell in ("normal", "reduce"):
                    for edge in EDGES:
                        w = rng.dirichlet(np.ones(len(OPS)))
                        alphas += [{**key, "epoch": e, "cell": cell, "edge": edge, "op": op,
                                    "weight": float(x)} for op, x in zip(OPS, w)]
            for table, rows in (("trials", trials), ("epochs", epochs), ("alphas", alphas)):
                (root / "parts" / table).mkdir(parents=True, exist_ok=True)
                pd.DataFrame(rows).to_parquet(root / "parts" / table / f"{tid}.parquet")
    evals = {"eval_datasets": ["cifar10", "cifar100"],
             "repeats": {"cifar10": repeats or 1, "cifar100": repeats or 1}}
    declared = [{**_key(s, seed), "trial_id": _trial_id(s, seed), **evals}
                for s in strategies for seed in SEEDS]
    if declare_extra:
        declared.append({**_key("implicit-cg", 0), "trial_id": "implicit-cg__cifar10__s0", **evals})
    profile = {"name": "cpu", "eval_repeats": repeats or 1, "transfer_repeats": repeats or 1}
    (root / "grid.json").write_text(json.dumps({"grid": "synth", "profile": profile, "trials": declared}))
    # A tiny toy table and a fidelity measurement, written as their commands write them.
    from nas.toy import ToyRun, run_toy
    from resultstore.store import ResultStore
    from studies.cli import fidelity_rows, toy_rows

    toy = [run_toy(ToyRun(s, 0.05, 1e-3, 200, (2.0, -2.0), {}, 0), trajectory=True)
           for s in ("first-order", "one-level")]
    store = ResultStore(root)
    store.write_part("toy", "toy", toy_rows(toy))
    fidelity = json.loads((ROOT / "results" / "examples" / "fidelity.json").read_text())
    store.write_part("fidelity", "f", fidelity_rows(fidelity, "2026-01-01T00:00:00+00:00"))
    return accs


@pytest.fixture
def synth(tmp_path):
    root = tmp_path / "synth"
    return root, make_experiment(root)


def test_accuracy_numbers_equal_what_pandas_computes_from_the_parquet(synth):
    root, _ = synth
    exp = load_experiment(root)
    num = accuracy_numbers(exp)
    t = pd.concat([pd.read_parquet(p) for p in (root / "parts" / "trials").glob("*.parquet")])
    t["acc"] = 100 * t["test_acc"]
    for r in num.itertuples():
        g = t[(t.strategy == r.strategy) & (t.eval_dataset == r.eval_dataset)]["acc"]
        assert r.n == len(g) == 3
        assert r.acc_mean == pytest.approx(g.mean()) and r.acc_std == pytest.approx(g.std(ddof=1))
        assert (r.acc_ci_lo, r.acc_ci_hi) == pytest.approx(
            stats.t.interval(0.95, len(g) - 1, loc=g.mean(), scale=stats.sem(g)))
        assert r.repeats_min == r.repeats_max == 1 and np.isnan(r.sd_train)   # old files: one training
        base = t[(t.strategy == "first-order") & (t.eval_dataset == r.eval_dataset)].set_index("seed")["acc"]
        mine = t[(t.strategy == r.strategy) & (t.eval_dataset == r.eval_dataset)].set_index("seed")["acc"]
        if r.strategy != "first-order":
            res = stats.ttest_rel(mine.sort_index(), base.sort_index())      # paired by seed
            assert r.vs_first_order_test == "paired" and r.vs_first_order_n == 3
            assert r.vs_first_order_p == pytest.approx(res.pvalue)
            assert (r.vs_first_order_diff_lo, r.vs_first_order_diff_hi) == pytest.approx(
                tuple(res.confidence_interval()))
    # Holm over the four comparisons: two strategies on each of the two evaluation datasets
    fam = num[num.strategy != "first-order"]
    assert len(fam) == 4
    assert list(fam.vs_first_order_p_holm) == pytest.approx(
        multipletests(fam.vs_first_order_p, method="holm")[1])
    assert num.vs_random_test.eq("").all() and num.vs_random_diff.isna().all()   # no random here
    row = num[(num.strategy == "hyperdarts-mlp") & (num.eval_dataset == "cifar10")].iloc[0]
    assert row.search_hours == pytest.approx((3 * 3600 * 3 + 0 + 1 + 2) / 3 / 3600)
    assert row.params_m == pytest.approx(3.5) and row.search_cost_unit == "GPU-hours"
    assert list(num.strategy.unique()) == list(STRATEGIES)   # the registry's order


def test_repeats_are_averaged_per_search_and_split_into_search_and_training_noise(tmp_path):
    root = tmp_path / "rep"
    strategies = ("first-order", "random", "hyperdarts-mlp")
    accs = make_experiment(root, repeats=3, strategies=strategies, skip_repeats={("random", 2, 2)})
    exp = load_experiment(root)
    s = exp.searches.set_index(["strategy", "seed", "eval_dataset"])
    assert len(s) == 3 * 3 * 2 and s.loc[("random", 2, "cifar10"), "repeats"] == 2
    assert s.loc[("hyperdarts-mlp", 1, "cifar10"), "acc"] == pytest.approx(
        np.mean([100 * accs[("hyperdarts-mlp", 1, "cifar10", r)] for r in range(3)]))
    assert "random__cifar10__s2: cifar10 repeat 2" in exp.missing()
    num = accuracy_numbers(exp).set_index(["strategy", "eval_dataset"])
    r = num.loc[("hyperdarts-mlp", "cifar10")]
    assert r.n == 3 and r.repeats_min == r.repeats_max == 3 and r.sd_train > 0
    means = [s.loc[("hyperdarts-mlp", seed, "cifar10"), "acc"] - s.loc[("random", seed, "cifar10"), "acc"]
             for seed in SEEDS]
    assert r.vs_random_test == "paired" and r.vs_random_diff == pytest.approx(np.mean(means))
    rand = num.loc[("random", "cifar10")]
    assert (rand.repeats_min, rand.repeats_max) == (2, 3)
    assert num.loc[("random", "cifar10"), "vs_first_order_test"] == ""     # first-order − random instead
    assert num.loc[("first-order", "cifar10"), "vs_random_test"] == "paired"
    # trainings per search, one number where every evaluation dataset has the same
    measured = dict(accuracy_table(exp, None).blocks)["Measured: searched on cifar10"].set_index("strategy")
    assert measured.loc["random", "repeats"] == "2–3" and measured.loc["first-order", "repeats"] == "3"
    text = report_module.report(root, toy=False, log=lambda *a: None).read_text()
    assert "*Search noise and training noise (searched on cifar10)*" in text
    assert "| first-order | random | 3 |" in text and "| random | first-order |" not in text
    assert "**Incomplete:** 2 declared" in text and "random__cifar10__s2: cifar100 repeat 2" in text


def test_transfer_numbers_pair_the_seeds(synth):
    root, accs = synth
    num = transfer_numbers(load_experiment(root))
    assert set(num.transfer_dataset) == {"cifar100"} and len(num) == 3
    r = num[num.strategy == "second-order"].iloc[0]
    assert r.transfer_acc_mean == pytest.approx(np.mean([100 * accs[("second-order", s, "cifar100")]
                                                         for s in SEEDS]))
    assert r.search_rank == 2 and r.transfer_rank == 2   # synthetic accuracies rise with the index
    x = [100 * accs[("second-order", s, "cifar100")] for s in SEEDS]
    assert (r.transfer_acc_ci_lo, r.transfer_acc_ci_hi) == pytest.approx(
        stats.t.interval(0.95, 2, loc=np.mean(x), scale=stats.sem(x)))


def test_report_writes_every_table_and_figure(synth):
    root, accs = synth
    md = report_module.report(root, log=lambda *a: None)
    out = root / "report"
    for name in ("accuracy", "transfer"):
        for ext in ("md", "tex", "csv"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0
    figs = ["accuracy", "differences", "transfer", "search_curves", "cost", "alpha_edge", "toy", "fidelity",
            "fidelity_cost", *[f"alphas_{s}" for s in STRATEGIES],
            *[f"cell_{s}_{k}" for s in STRATEGIES for k in ("normal", "reduce")]]
    for f in figs:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{f}.{ext}").stat().st_size > 1000, f
    text = md.read_text()
    for f in figs:
        assert f"figures/{f}.png" in text
    mean = np.mean([100 * accs[("first-order", s, "cifar10")] for s in SEEDS])
    std = np.std([100 * accs[("first-order", s, "cifar10")] for s in SEEDS], ddof=1)
    lo, hi = stats.t.interval(0.95, 2, loc=mean, scale=std / np.sqrt(3))
    assert f"| first-order | 3 | 1 | {mean:.2f} [{lo:.2f}, {hi:.2f}] |" in text
    assert "| hyperdarts-mlp | first-order | 3 | +" in text and "p_Holm" in text
    csv = pd.read_csv(out / "tables" / "accuracy.csv")
    for ds in ("cifar10", "cifar100"):      # the sentence on what the grid detects: the CSV's numbers
        fam = csv[csv.eval_dataset == ds]
        holm = pd.concat([fam[c] for c in fam.columns if c.endswith("_mde_holm")]).dropna()
        sentence = next(line for line in text.splitlines() if line.startswith(f"On {ds}"))
        assert f"≥ {holm.min():.2f}–{holm.max():.2f} points with 80% power after Holm's" in sentence
        assert "n = 3 searches per strategy" in sentence and sentence in html.unescape(
            (out / "report.html").read_text())
    assert "(Welch)" not in text.split("## Test accuracy")[1].split("Files:")[0]   # seeds are paired
    assert "Published (not measured here" in text and "DARTS (second order)" in text
    assert (out / "report.html").read_text().count("<img") == len(figs)
    assert csv[(csv.strategy == "first-order") & (csv.eval_dataset == "cifar10")].acc_mean.iloc[0] == \
        pytest.approx(mean)


def test_a_partial_grid_names_what_is_missing_and_what_diverged(tmp_path):
    root = tmp_path / "partial"
    make_experiment(root, skip={("second-order", 2)}, diverge={("hyperdarts-mlp", 1)}, declare_extra=True)
    text = report_module.report(root, toy=False, log=lambda *a: None).read_text()
    assert "second-order__cifar10__s2" in text and "implicit-cg__cifar10__s0" in text
    assert "hyperdarts-mlp__cifar10__s1" not in text.split("**Incomplete:**")[1].split("\n")[0]
    assert "**Diverged:** hyperdarts-mlp on cifar10, seed 1: loss is nan" in text
    assert "| hyperdarts-mlp | 2 |" in text    # the two seeds that finished


def test_an_empty_or_absent_folder_ends_in_one_sentence(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="holds no results yet"):
        load_experiment(tmp_path / "empty")
    assert report_module.main([str(tmp_path / "empty")]) == 2
    assert report_module.main(["nothing-here", "--results", str(tmp_path)]) == 2
    assert report_module.main(["--results", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("report: ") for line in err)
    assert "no experiment 'nothing-here'" in err[1]


def test_a_cut_short_part_or_grid_json_ends_in_one_sentence_naming_the_file(tmp_path, capsys):
    exp = tmp_path / "exp"
    make_experiment(exp)
    part = sorted((exp / "parts" / "epochs").glob("*.parquet"))[0]
    good = part.read_bytes()
    part.write_bytes(good[: len(good) // 2])
    assert report_module.main([str(exp), "--no-toy"]) == 2
    part.write_bytes(b"")
    assert report_module.main([str(exp), "--no-toy"]) == 2
    part.write_bytes(good)
    manifest = (exp / "grid.json").read_text()
    (exp / "grid.json").write_text(manifest[:40])
    assert report_module.main([str(exp), "--no-toy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("report: ") for line in err)
    assert all(str(part) in line and "not a readable parquet file" in line for line in err[:2])
    # (an epochs part: its trial counts as finished until its trials part goes too)
    assert f"delete it and parts/trials/{part.name}" in err[0]
    assert str(exp / "grid.json") in err[2] and "is not valid JSON" in err[2]
    (exp / "grid.json").write_text(manifest)          # repaired, the report runs
    assert report_module.main([str(exp), "--no-toy"]) == 0


def test_the_report_adds_perf_measurements_latest_first(tmp_path):
    root = tmp_path / "p"
    make_experiment(root)
    base = {"kind": "search", "batch": 16, "layers": 5, "channels": 8, "image_size": 32, "speed": "",
            "hvp": "", "partial_channels": 1, "device": "cpu (x86_64, 2 threads)",
            "peak_mem_bytes": 2**30, "steps": 2, "images_per_s": np.nan}
    rows = [dict(base, strategy="first-order", step_s=9.0, pass_s=3.0, expected_passes=2.0,
                 measured_at="2026-01-01T00:00:00"),
            dict(base, strategy="first-order", step_s=6.0, pass_s=3.0, expected_passes=2.0,
                 measured_at="2026-01-02T00:00:00"),   # measured again: this one counts
            dict(base, strategy="implicit-cg", hvp="finite-difference", step_s=33.0, pass_s=3.0,
                 expected_passes=10.0, measured_at="2026-01-01T00:00:00"),
            dict(base, kind="eval", strategy="eval-trainer", step_s=0.5, pass_s=np.nan,
                 expected_passes=np.nan, images_per_s=32.0, measured_at="2026-01-01T00:00:00")]
    df = pd.DataFrame(rows)
    df["step_over_pass"] = df.step_s / df.pass_s
    df["overhead"] = df.step_over_pass / df.expected_passes
    df.to_parquet(tmp_path / "perf.parquet")
    text = report_module.report(root, toy=False, log=lambda *a: None,
                                perf=tmp_path / "perf.parquet").read_text()
    assert "## Speed and memory" in text
    assert "| first-order | 5 × 8, 16 | — | 6.000 | 3.000 | 2.00 | 2 | 1.00 | 1024 |" in text
    assert "implicit-cg (fd hvp)" in text and "| 1.10 |" in text
    assert "| eval-trainer | 5 × 8, 16 | — | 0.500 | 32.0 | 1024 |" in text
    assert (root / "report" / "figures" / "perf.png").stat().st_size > 1000


# ---------------------------------------------------------------- figures (analysis/figures.py)


def _suptitle(fig) -> str:
    """A figure's suptitle (Figure.get_suptitle arrived in matplotlib 3.8; the floor is 3.7)."""
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


def _capture_figures(monkeypatch):
    """Keep every figure analysis.figures saves (they are closed, but stay inspectable)."""
    from analysis import figures

    saved, save = [], figures._save
    monkeypatch.setattr(figures, "_save", lambda fig, prefix: saved.append(fig) or save(fig, prefix))
    return saved


def _errorbars(ax):
    """The ErrorbarContainers of an Axes that draw a whisker (x or y)."""
    from matplotlib.container import ErrorbarContainer

    return [c for c in ax.containers if isinstance(c, ErrorbarContainer) and (c.has_xerr or c.has_yerr)]


def test_figure_with_one_search_per_strategy_draws_no_whiskers_and_says_n_1(tmp_path, monkeypatch):
    from analysis import figures

    root = tmp_path / "n1"
    make_experiment(root, skip={(s, seed) for s in STRATEGIES for seed in SEEDS[1:]})
    exp = load_experiment(root)
    saved = _capture_figures(monkeypatch)
    out = tmp_path / "figs"
    assert figures.accuracy_bars(exp, None, out / "accuracy")
    assert figures.transfer_scatter(exp, None, out / "transfer")
    assert figures.search_curves(exp, out / "curves")
    assert figures.cost_vs_accuracy(exp, out / "cost")
    assert figures.alpha_over_epochs(exp, out / "edge")
    assert len(saved) == 5
    for fig in saved:
        assert all(not _errorbars(ax) for ax in fig.axes), fig
        assert all(not ax.collections or not any(c.__class__.__name__ == "FillBetweenPolyCollection"
                                                 for c in ax.collections) for ax in fig.axes)
        titles = " ".join([_suptitle(fig)] + [ax.get_title() for ax in fig.axes])
        assert "n = 1, no interval" in titles, titles
    assert "n = 1, no interval" in figures.n_caption(exp)


def test_figure_accuracy_whiskers_are_t_intervals_over_searches_on_an_axis_from_0(tmp_path, monkeypatch):
    from analysis import figures

    root = tmp_path / "rep"
    accs = make_experiment(root, repeats=2)
    exp = load_experiment(root)
    saved = _capture_figures(monkeypatch)
    figures.accuracy_bars(exp, None, tmp_path / "accuracy")
    fig = saved[0]
    measured = [ax for ax in fig.axes if ax.get_title().startswith("measured")]
    assert len(measured) == 2                                  # cifar10 and cifar100, one row each
    for ax in measured:
        assert ax.get_ylim()[0] == 0
        assert "n = 3 searches per strategy (2 trainings each" in ax.get_title()
        assert "95% CI of the mean over searches" in ax.get_title()
    ax = next(ax for ax in measured if "cifar10\n" in ax.get_title())
    labels = [t.get_text() for t in ax.get_xticklabels()]
    i = labels.index("first-order, n=3")
    searches = [100 * np.mean([accs[("first-order", s, "cifar10", r)] for r in range(2)]) for s in SEEDS]
    lo, hi = stats.t.interval(0.95, 2, loc=np.mean(searches), scale=stats.sem(searches))
    (bar,) = [c for c in _errorbars(ax) if np.isclose(c.lines[2][0].get_segments()[0][0][0], i)]
    (_, y0), (_, y1) = bar.lines[2][0].get_segments()[0]
    assert (y0, y1) == pytest.approx((lo, hi))
    # Each search a dot at the mean of its repeats, each repeat a faint dot.
    from matplotlib.collections import PathCollection

    dots = np.concatenate([c.get_offsets() for c in ax.collections
                           if isinstance(c, PathCollection) and c.get_offsets().shape[0] == 3])
    assert sorted(dots[np.abs(dots[:, 0] - i) < 0.3][:, 1]) == pytest.approx(sorted(searches))


def test_figure_published_numbers_get_their_own_panel_unless_the_protocol_matches(tmp_path, monkeypatch):
    from analysis import figures
    from analysis.tables import load_reference

    root = tmp_path / "pub"
    make_experiment(root)
    exp = load_experiment(root)
    ref = load_reference(ROOT / "analysis" / "reference.csv", space="darts")
    published = set(ref.method)
    for with_protocol in (False, True):
        if with_protocol:   # the column another table may carry; the cpu profile is not the protocol
            ref = ref.assign(protocol="darts-full: CIFAR-10 32x32, 600 epochs")
        saved = _capture_figures(monkeypatch)
        figures.accuracy_bars(exp, ref, tmp_path / "accuracy")
        figures.transfer_scatter(exp, ref, tmp_path / "transfer")
        acc, transfer = saved[-2:]
        measured = [ax for ax in acc.axes if ax.get_title().startswith("measured")]
        apart = [ax for ax in acc.axes if ax.get_title().startswith("published")]
        assert measured and apart
        for ax in measured:
            ticks = {t.get_text().split(",")[0] for t in ax.get_xticklabels()}
            assert not ticks & published and not any("published" in t for t in ticks)
        for ax in apart:
            t = ax.get_title()
            assert ("full DARTS protocol" in t or "course-project reduced protocol" in t) \
                and "not comparable" in t
            assert {t.get_text() for t in ax.get_xticklabels()} <= published
            assert ax.get_ylim()[0] == 0
        labels = {t.get_text() for t in transfer.legends[0].get_texts()}
        assert not any("(published)" in t for t in labels)
    # A published row measured with the experiment's own protocol does share its axes.
    mixed = ref.assign(protocol=["course-reduced: 16x16"] + [""] * (len(ref) - 1))
    same, apart = figures.split_reference(mixed, "cifar10", "course-reduced: 16x16, 3 epochs")
    assert list(same.method) == [ref.method.iloc[0]] and figures.FULL_DARTS in apart
    assert figures.split_reference(ref.drop(columns="protocol"), "cifar10", "x")[0].empty


def test_figure_alpha_heatmap_is_diverging_around_uniform_with_its_range_printed(tmp_path, monkeypatch):
    from matplotlib.colors import TwoSlopeNorm

    from analysis import figures
    from nas.ops import PRIMITIVES
    from resultstore.experiment import Experiment

    rng = np.random.default_rng(0)
    rows = []
    for seed in (0, 1):
        for cell in ("normal", "reduce"):
            for edge in EDGES:
                w = rng.dirichlet(np.full(len(PRIMITIVES), 50.0))
                rows += [{**_key("first-order", seed), "epoch": 0, "cell": cell, "edge": edge, "op": op,
                          "weight": float(x)} for op, x in zip(PRIMITIVES, w)]
    alphas = pd.DataFrame(rows)
    exp = Experiment(tmp_path, pd.DataFrame(), pd.DataFrame(), alphas)
    saved = _capture_figures(monkeypatch)
    assert figures.alpha_heatmaps(exp, "first-order", tmp_path / "alphas")
    fig = saved[0]
    cells = [ax for ax in fig.axes if ax.get_title().endswith(" cell")]
    meshes = [c for ax in cells for c in ax.collections if isinstance(c.norm, TwoSlopeNorm)]
    assert len(meshes) == 2 and meshes[0].norm is meshes[1].norm      # one scale for both cells
    norm = meshes[0].norm
    dev = alphas.groupby(["cell", "edge", "op"]).weight.mean().sub(0.125).abs().max()
    assert norm.vcenter == 0.125
    assert (norm.vmin, norm.vmax) == pytest.approx((0.125 - dev, 0.125 + dev))
    title = _suptitle(fig)
    assert "softmax(α) − 1/8 in [−" in title and "n = 2 searches" in title


def test_figure_search_curves_leave_out_random_and_draw_lines(tmp_path, monkeypatch):
    from analysis import figures

    root = tmp_path / "curves"
    make_experiment(root, strategies=("first-order", "random"))
    exp = load_experiment(root)
    saved = _capture_figures(monkeypatch)
    assert figures.search_curves(exp, tmp_path / "curves")
    fig = saved[0]
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if line.get_label() in ("first-order", "random")]
        assert [line.get_label() for line in lines] == ["first-order"]
        assert len(lines[0].get_xdata()) == 3 and lines[0].get_linewidth() > 0
        assert lines[0].get_marker() == "o"
        assert ax.get_ylim()[0] == 0 and len(_errorbars(ax)) == 1
    assert "random: no search, no curve" in _suptitle(fig)
    # In the accuracy figure random is a grey reference bar and band, first in the panel.
    figures.accuracy_bars(exp, None, tmp_path / "accuracy")
    ax = next(ax for ax in saved[-1].axes if ax.get_title().startswith("measured"))
    assert ax.get_xticklabels()[0].get_text() == "random (no search), n=3"
    grey = pytest.approx((0.58, 0.58, 0.58), abs=0.01)
    assert any(p.__class__.__name__ == "Rectangle" and p.get_facecolor()[:3] == grey for p in ax.patches)


def test_toy_figure_gives_a_run_one_colour_in_every_panel_and_keeps_legends_off_the_axes(tmp_path,
                                                                                         monkeypatch):
    from matplotlib.colors import to_hex

    import analysis.toy
    from analysis.toy import plot_trajectories, run_colors
    from nas.toy import ToyRun, run_toy

    records = [run_toy(ToyRun(n, max_iter=150, options=o), trajectory=True)
               for n, o in (("second-order", {"xi": 0.0}), ("second-order", {"xi": 0.5}),
                            ("first-order", {}), ("one-level", {}))]
    made = []
    real = analysis.toy.new_figure

    def keep(*a, **k):
        made.append(real(*a, **k))
        return made[-1]

    monkeypatch.setattr(analysis.toy, "new_figure", keep)
    plot_trajectories(records, tmp_path / "toy")
    fig = made[0][0]
    colors = run_colors(records)
    assert colors["first-order"] != colors["second-order ξ=0.5"] != colors["one-level"]

    def drawn(ax):
        return {to_hex(line.get_color()) for line in ax.get_lines()} & set(colors.values())

    a, b, c = fig.axes
    assert drawn(a) == {colors["first-order"], colors["second-order ξ=0.5"]}   # ξ = 0 is first-order
    assert drawn(b) == {colors["first-order"], colors["one-level"]}
    assert drawn(c) == drawn(a) | drawn(b)
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1


def test_missing_counts_the_repeats_grid_json_declares_per_dataset(tmp_path):
    from resultstore.experiment import Experiment

    rows = [{"strategy": "first-order", "search_dataset": "c10", "seed": 0, "eval_dataset": e,
             "repeat": r, "status": "finished", "test_acc": 0.5}
            for e, r in (("c10", 0), ("c10", 1), ("fmnist", 0))]
    declared = [{"strategy": "first-order", "search_dataset": "c10", "seed": 0, "trial_id": "t",
                 "eval_datasets": ["c10", "fmnist"], "repeats": {"c10": 2, "fmnist": 1}}]
    exp = Experiment(tmp_path, pd.DataFrame(rows), pd.DataFrame(), pd.DataFrame(), declared)
    assert exp.missing() == []
    exp.declared[0]["repeats"] = {"c10": 2, "fmnist": 2}
    assert exp.missing() == ["t: fmnist repeat 1"]


def test_noise_figure_draws_the_tables_sds_and_nothing_without_repeats(tmp_path, monkeypatch):
    from analysis import figures
    from analysis.tables import accuracy_numbers, strategy_order

    root = tmp_path / "rep"
    make_experiment(root, repeats=3)
    exp = load_experiment(root)
    figs = []
    monkeypatch.setattr(figures, "_save", lambda fig, prefix: figs.append(fig) or [prefix])
    assert figures.noise_bars(exp, tmp_path / "noise") == [tmp_path / "noise"]
    num = accuracy_numbers(exp)
    first = next(iter(dict.fromkeys(num["eval_dataset"])))
    g = num[num.eval_dataset == first].set_index("strategy")
    g = g.loc[strategy_order(g.index)]
    from matplotlib.container import BarContainer, ErrorbarContainer

    ax = figs[0].axes[0]
    search, train = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [b.get_height() for b in search] == pytest.approx(list(g["sd_search"]))
    assert [b.get_height() for b in train] == pytest.approx(list(g["sd_train"]))
    # each bar's whisker spans its χ² interval from the table
    whiskers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    for w, col in ((whiskers[0], "sd_search"), (whiskers[1], "sd_train")):
        segments = w.lines[2][0].get_segments()
        ok = g[f"{col}_lo"].notna().to_numpy()
        assert [s[0][1] for s in segments] == pytest.approx(list(g[f"{col}_lo"][ok]))
        assert [s[1][1] for s in segments] == pytest.approx(list(g[f"{col}_hi"][ok]))
    assert "95% χ² intervals" in ax.get_title() and "n = 3" in ax.get_title()
    one = tmp_path / "one"
    make_experiment(one)                                 # a single training per cell
    assert figures.noise_bars(load_experiment(one), tmp_path / "none") == []


def test_drawing_never_changes_the_users_matplotlib_backend(tmp_path):
    """The figures and the cell drawings build their own canvases: a user's backend stays."""
    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "import analysis.figures, analysis.report\n"
        "from analysis.plotting import plot_genotype\n"
        "from nas.genotype import NAMED_GENOTYPES\n"
        f"plot_genotype(NAMED_GENOTYPES['DARTS_V2'], {str(tmp_path / 'c')!r}, ('png',))\n"
        "print(matplotlib.get_backend())\n")
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "svg" and (tmp_path / "c_normal.png").stat().st_size > 1000


def test_the_collapse_figure_draws_one_panel_per_recorded_diagnostic(tmp_path, monkeypatch):
    from analysis import figures
    from resultstore.experiment import Experiment

    rows = [{"experiment": "e", "strategy": s, "search_dataset": "d", "seed": seed, "profile": "p",
             "phase": "search", "eval_dataset": "", "repeat": 0, "epoch": ep, "train_acc": 0.5,
             "val_acc": 0.5, "lr": 0.1, "time_s": 1.0, "alpha_entropy": 2.0 - 0.1 * ep + 0.01 * seed,
             "largest_eigenvalue": 0.3 * (ep + 1), "diagnostics_s": 0.5,
             "cg_iterations": 3.0 if s == "implicit-cg" else None}
            for s in ("first-order", "implicit-cg") for seed in (0, 1) for ep in (0, 1)]
    exp = Experiment(tmp_path, pd.DataFrame(), pd.DataFrame(rows), pd.DataFrame())
    saved = []
    real = figures._save
    monkeypatch.setattr(figures, "_save", lambda fig, prefix: (saved.append(fig), real(fig, prefix))[1])
    paths = figures.collapse_curves(exp, tmp_path / "collapse")
    assert paths and all(p.stat().st_size > 1000 for p in paths)
    titles = [ax.get_title() for ax in saved[0].axes if ax.get_visible()]
    assert titles == [figures.DIAGNOSTIC_LABELS[c] for c in
                      ("alpha_entropy", "largest_eigenvalue", "cg_iterations")]   # not the *_s cost
    assert figures.collapse_curves(Experiment(tmp_path, pd.DataFrame(), pd.DataFrame(rows).drop(
        columns=["alpha_entropy", "largest_eigenvalue", "cg_iterations", "diagnostics_s"]),
        pd.DataFrame()), tmp_path / "none") == []


def test_a_search_only_experiment_counts_its_searches_genotypes(tmp_path):
    """Search-only trials ("searched") have genotypes but no accuracy: the movement table compares
    them all the same."""
    from analysis.tables import movement_numbers
    from resultstore.experiment import Experiment

    g1 = "Genotype(normal=[('skip_connect', 0), ('sep_conv_3x3', 1)], normal_concat=[2], " \
         "reduce=[('max_pool_3x3', 0), ('sep_conv_3x3', 1)], reduce_concat=[2])"
    g2 = g1.replace("('skip_connect', 0)", "('dil_conv_3x3', 0)")
    key = {"search_dataset": "digits", "eval_dataset": "", "repeat": 0, "status": "searched"}
    trials = pd.DataFrame([{**key, "strategy": s, "seed": seed, "genotype": g}
                           for s, seed, g in (("first-order", 0, g1), ("one-level", 0, g2),
                                              ("one-level", 1, g2))])
    alphas = pd.DataFrame([{"strategy": s, "search_dataset": "digits", "seed": seed, "epoch": 0,
                            "cell": "normal", "edge": "0->2", "op": op, "weight": w}
                           for s, seed in (("first-order", 0), ("one-level", 0), ("one-level", 1))
                           for op, w in (("a", 0.75), ("b", 0.25))])
    exp = Experiment(tmp_path, trials, pd.DataFrame(), alphas)
    out = movement_numbers(exp).set_index("strategy")
    assert out.loc["one-level", "distinct"] == 1 and out.loc["first-order", "distinct"] == 1
    # g2 lacks one of g1's four genes: one-level differs from first-order's cell by 25% (seed 0)
    assert out.loc["one-level", "vs_first_order"] == pytest.approx(0.25)
    assert out.loc["one-level", "vs_first_order_n"] == 1


def test_costs_are_cpu_time_on_a_cpu_and_device_time_on_a_gpu():
    """Wall time on shared cores is not a cost: on a CPU the report counts the process's CPU time,
    and says which it counts; a CPU row without CPU time (not recorded) says 'CPU wall-hours'."""
    from analysis.tables import cost_hours

    f = pd.DataFrame({"search_wall_s": [7200.0, 3600.0, 1800.0],
                      "search_cpu_s": [3600.0, np.nan, 99.0],
                      "search_device": ["cpu (x86_64, 2 threads)", "cpu (x86_64, 2 threads)",
                                        "NVIDIA H100"]})
    hours, unit = cost_hours(f, "search")
    assert hours.tolist() == [1.0, 1.0, 0.5]
    assert unit.tolist() == ["CPU-hours", "CPU wall-hours", "GPU-hours"]


def test_the_collapse_figure_draws_what_a_uniform_alpha_gives():
    """The entropy of a uniform α over the edge's operations, and the parameter-free operations
    expected of a uniformly drawn genotype: genes × 3 parameter-free of the 7 non-none operations."""
    import math

    from analysis.figures import uniform_references
    from nas.genotype import NAMED_GENOTYPES
    from nas.ops import PRIMITIVES
    from resultstore.experiment import Experiment

    alphas = pd.DataFrame([{"strategy": "first-order", "search_dataset": "d", "seed": 0, "epoch": 0,
                            "cell": "normal", "edge": "0->2", "op": op, "weight": 1 / 8}
                           for op in PRIMITIVES])
    trials = pd.DataFrame({"genotype": [str(NAMED_GENOTYPES["DARTS_V2"])]})
    ref = uniform_references(Experiment(None, trials, pd.DataFrame(), alphas))
    assert ref["alpha_entropy"][0] == pytest.approx(math.log(8))
    assert ref["param_free_normal"][0] == pytest.approx(8 * 3 / 7)
    assert ref["param_free_reduce"][0] == pytest.approx(8 * 3 / 7)


def test_the_differences_figure_draws_the_tables_differences_intervals_and_detectable_band(tmp_path,
                                                                                       monkeypatch):
    """Per comparison of the accuracy table: the mean difference at its line, its 95% CI as the
    whisker, a band of ± the MDE after Holm, and a strategy flagged by the health check hollow."""
    from matplotlib.patches import Rectangle

    from analysis import figures
    from analysis.tables import slug

    root = tmp_path / "rep"
    make_experiment(root)
    exp = load_experiment(root)
    saved = _capture_figures(monkeypatch)
    flagged = {("cifar10", "second-order"): "no: α stalled (1 of 3)"}   # (search dataset, strategy)
    assert figures.paired_differences(exp, tmp_path / "diff", flagged)
    fig = saved[0]
    num = accuracy_numbers(exp)
    checked = 0
    for ax in fig.axes:
        title = ax.get_title()
        if "evaluated on" not in title:
            continue
        e = title.split("evaluated on ")[1].split(":")[0]
        base = title.split("strategy − ")[1]
        labels = [t.get_text() for t in ax.get_yticklabels()]
        bands = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_facecolor()[:3] != (1, 1, 1)
                 and p.get_width() > 0 and p.get_height() < 1]
        for y, label in enumerate(labels):
            if not label:
                continue
            name = label.split(" − ")[0].split(" (flagged)")[0].split(",")[0]
            against = label.split(" − ")[1].split(",")[0].split(" (")[0] if " − " in label else base
            r = num[(num.eval_dataset == e) & (num.strategy == name)].iloc[0]
            diff, mde = r[f"vs_{slug(against)}_diff"], r[f"vs_{slug(against)}_mde_holm"]
            dots = [c for c in ax.collections if hasattr(c, "get_sizes") and len(c.get_offsets()) == 1
                    and c.get_offsets()[0][1] == pytest.approx(y) and c.get_sizes()[0] > 20]
            assert dots and dots[0].get_offsets()[0][0] == pytest.approx(diff), label
            hollow = tuple(dots[0].get_facecolor()[0][:3]) == (1.0, 1.0, 1.0)
            assert hollow == ("(flagged)" in label) == (name == "second-order"), label
            band = [p for p in bands if p.get_y() == pytest.approx(y - 0.32)]
            assert band and band[0].get_width() == pytest.approx(2 * mde), label
            checked += 1
    from analysis.tables import BASELINES

    assert checked == sum(int((num[f"vs_{slug(b)}_test"] != "").sum()) for b in BASELINES) >= 4


def test_the_transfer_figure_fits_its_axes_and_prints_the_tables_rho(tmp_path, monkeypatch):
    from analysis import figures

    root = tmp_path / "rep"
    make_experiment(root)
    exp = load_experiment(root)
    saved = _capture_figures(monkeypatch)
    assert figures.transfer_scatter(exp, None, tmp_path / "transfer")
    ax = saved[0].axes[0]
    num = transfer_numbers(exp)
    rho, lo, hi = num.iloc[0][["means_rho", "means_rho_ci_lo", "means_rho_ci_hi"]]   # the table's
    assert rho == pytest.approx(stats.spearmanr(num.search_acc_mean, num.transfer_acc_mean).statistic)
    assert -1 <= lo <= rho <= hi <= 1
    texts = " ".join(t.get_text() for t in ax.texts)
    assert f"= {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]" in texts
    s = exp.searches
    assert ax.get_xlim()[0] > 0 and ax.get_xlim()[0] <= s[s.eval_dataset == "cifar10"].acc.min()
    assert ax.get_ylim()[1] >= s[s.eval_dataset == "cifar100"].acc.max()


def test_a_folder_of_studies_alone_gets_their_report_with_seeds_pooled(tmp_path):
    """`python -m studies fidelity --out FOLDER` on several seeds, nothing else in FOLDER: the
    report has the fidelity table with n = the seeds and each row's mean and t interval over
    them; a rerun of a seed replaces its rows rather than adding to them."""
    from resultstore.store import ResultStore
    from studies.cli import fidelity_rows

    root = tmp_path / "fid"
    store = ResultStore(root)
    base = json.loads((ROOT / "results" / "examples" / "fidelity.json").read_text())
    cosines = {}
    for seed, stamp in ((0, "2026-01-01T00:00:00+00:00"), (1, "2026-01-01T01:00:00+00:00"),
                        (2, "2026-01-01T02:00:00+00:00"), (2, "2026-01-01T03:00:00+00:00")):
        result = json.loads(json.dumps(base))
        result["point"]["seed"] = seed
        for r in result["rows"]:
            r["cosine"] = 0.5 + 0.1 * seed + (0.05 if stamp.endswith("03:00:00+00:00") else 0.0)
        cosines[seed] = result["rows"][0]["cosine"]   # the last measurement of each seed counts
        store.write_part("fidelity", f"s{seed}-{stamp[11:13]}", fidelity_rows(result, stamp))
    md = report_module.report(root, log=lambda *a: None, toy=False)
    text = md.read_text()
    assert "No grid trials" in text and "n = 3 seeds" in text
    v = list(cosines.values())
    mean, z = np.mean(v), np.arctanh(v)   # the interval of a cosine: on Fisher's z scale
    lo, hi = np.tanh(stats.t.interval(0.95, 2, loc=z.mean(), scale=np.std(z, ddof=1) / np.sqrt(3)))
    first = base["rows"][0]["strategy"]
    assert f"| {first} | 3 |" in text and f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]" in text


def test_a_report_of_some_strategies_compares_those_alone_and_names_the_rest(tmp_path):
    """--strategies: a comparison declared among some of an experiment's strategies; its Holm family
    is theirs alone (first-order and hyperdarts-mlp: 2 comparisons on each of 2 datasets, not the
    3 strategies' 4 each), and the page names what it leaves out. A name the experiment lacks is
    refused in one sentence."""
    from resultstore.experiment import only_strategies

    root = tmp_path / "synth"
    make_experiment(root, strategies=("first-order", "second-order", "hyperdarts-mlp", "random"))
    exp = load_experiment(root)
    some = only_strategies(exp, ["first-order", "hyperdarts-mlp", "random"])
    assert set(some.trials.strategy) == set(some.epochs.strategy) == set(some.alphas.strategy) == {
        "first-order", "hyperdarts-mlp", "random"}
    assert some.left_out == ("second-order",) and not some.missing()
    assert all(d["strategy"] != "second-order" for d in some.declared)
    assert set(accuracy_numbers(some).strategy) == {"first-order", "hyperdarts-mlp", "random"}
    text = report_module.report(root, toy=False, log=lambda *a: None,
                                strategies=["first-order", "hyperdarts-mlp", "random"]).read_text()
    assert ("**Some strategies only** (`--strategies`): first-order, hyperdarts-mlp, random; the "
            "experiment's second-order are left out of every table, figure and Holm family.") in text
    # hyperdarts-mlp − first-order and − random, first-order − random: 3 a dataset, 6 in all
    assert "over the 6 comparisons" in text and "over the 10 comparisons" not in text
    assert "| second-order | 3 | 1 |" not in text
    full = report_module.report(root, out=tmp_path / "all", toy=False, log=lambda *a: None).read_text()
    assert "over the 10 comparisons" in full and "| second-order | 3 | 1 |" in full
    assert "Some strategies only" not in full
    with pytest.raises(ReportError, match="--strategies names implicit-cg, of which .* holds no "
                                          "rows; it holds first-order, hyperdarts-mlp, random, "
                                          "second-order"):
        only_strategies(exp, ["first-order", "implicit-cg"])


def test_an_unfinished_grid_names_its_first_missing_trials_and_counts_the_rest(tmp_path, monkeypatch):
    root = tmp_path / "synth"
    make_experiment(root, skip={(s, seed) for s in STRATEGIES for seed in SEEDS} - {("first-order", 0)})
    monkeypatch.setattr(report_module, "MISSING_SHOWN", 3)
    line = report_module.status_lines(load_experiment(root))[0]
    assert line.startswith("**Incomplete:** 8 declared trial(s)")
    assert line.count("__cifar10__s") == 3 and line.endswith(", and 5 more (grid.json declares them).")
