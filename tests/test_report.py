"""analysis/report.py on a synthetic experiment folder whose numbers are known."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import report as report_module
from analysis.load import ReportError, load_experiment
from analysis.tables import accuracy_numbers, transfer_numbers
from nas.genotype import DARTS_V1, DARTS_V2

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


def make_experiment(root: Path, skip=(), diverge=(), declare_extra=False) -> dict:
    """Parts for every (strategy, seed) but those in `skip`; returns the accuracies written."""
    rng = np.random.default_rng(0)
    accs = {}
    for si, strategy in enumerate(STRATEGIES):
        for seed in SEEDS:
            if (strategy, seed) in skip:
                continue
            key, tid = _key(strategy, seed), _trial_id(strategy, seed)
            common = {"strategy_options": "{}", "torch_version": "2.x", "nas_version": "0.1.0",
                      "git_commit": "abc", "finished_at": "2026-01-01T00:00:00+00:00"}
            if (strategy, seed) in diverge:
                trials = [{**key, "eval_dataset": "", "status": "diverged", "reason": "loss is nan",
                           **common}]
            else:
                trials = []
                for ds, base in (("cifar10", 90.0), ("cifar100", 65.0)):
                    acc = (base + 2 * si + rng.normal(0, 0.5)) / 100
                    accs[(strategy, seed, ds)] = acc
                    trials.append({**key, "eval_dataset": ds, "status": "finished", "reason": "",
                                   "genotype": str(DARTS_V2 if si % 2 else DARTS_V1), "test_acc": acc,
                                   "test_loss": 0.3, "params": 3.3e6 + si * 1e5,
                                   "search_wall_s": 3600.0 * (1 + si) + seed, "search_device": "NVIDIA H100",
                                   "eval_wall_s": 7200.0, "eval_device": "NVIDIA H100", **common})
            epochs = [{**key, "phase": "search", "eval_dataset": "", "epoch": e, "train_loss": 1.0,
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
    declared = [{**_key(s, seed), "trial_id": _trial_id(s, seed), "eval_datasets": ["cifar10", "cifar100"]}
                for s in STRATEGIES for seed in SEEDS]
    if declare_extra:
        declared.append({**_key("implicit-cg", 0), "trial_id": "implicit-cg__cifar10__s0",
                         "eval_datasets": ["cifar10", "cifar100"]})
    (root / "grid.json").write_text(json.dumps({"grid": "synth", "trials": declared}))
    # A tiny toy record set (so the report does not run the toy) and a fidelity measurement.
    from nas.toy import ToyRun, run_toy

    toy = [run_toy(ToyRun(s, 0.05, 1e-3, 200, (2.0, -2.0), {}, 0), trajectory=True)
           for s in ("first-order", "one-level")]
    (root / "toy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in toy))
    shutil.copy(ROOT / "results" / "examples" / "fidelity.json", root / "fidelity.json")
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
        base = t[(t.strategy == "first-order") & (t.eval_dataset == r.eval_dataset)]["acc"]
        if r.strategy != "first-order":
            assert r.p_welch_vs_first_order == pytest.approx(
                stats.ttest_ind(g, base, equal_var=False).pvalue)
    row = num[(num.strategy == "hyperdarts-mlp") & (num.eval_dataset == "cifar10")].iloc[0]
    assert row.search_hours == pytest.approx((3 * 3600 * 3 + 0 + 1 + 2) / 3 / 3600)
    assert row.params_m == pytest.approx(3.5) and row.search_cost_unit == "GPU-hours"
    assert list(num.strategy.unique()) == list(STRATEGIES)   # the registry's order


def test_transfer_numbers_pair_the_seeds(synth):
    root, accs = synth
    num = transfer_numbers(load_experiment(root))
    assert set(num.transfer_dataset) == {"cifar100"} and len(num) == 3
    r = num[num.strategy == "second-order"].iloc[0]
    assert r.transfer_acc_mean == pytest.approx(np.mean([100 * accs[("second-order", s, "cifar100")]
                                                         for s in SEEDS]))
    assert r.search_rank == 2 and r.transfer_rank == 2   # synthetic accuracies rise with the index


def test_report_writes_every_table_and_figure(synth):
    root, accs = synth
    md = report_module.report(root, log=lambda *a: None)
    out = root / "report"
    for name in ("accuracy", "transfer"):
        for ext in ("md", "tex", "csv"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0
    figs = ["accuracy", "transfer", "search_curves", "cost", "alpha_edge", "toy", "fidelity",
            *[f"alphas_{s}" for s in STRATEGIES],
            *[f"cell_{s}_{k}" for s in STRATEGIES for k in ("normal", "reduce")]]
    for f in figs:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{f}.{ext}").stat().st_size > 1000, f
    text = md.read_text()
    for f in figs:
        assert f"figures/{f}.png" in text
    mean = np.mean([100 * accs[("first-order", s, "cifar10")] for s in SEEDS])
    std = np.std([100 * accs[("first-order", s, "cifar10")] for s in SEEDS], ddof=1)
    assert f"| first-order | 3 | {mean:.2f} ± {std:.2f} |" in text
    assert "Published (not measured here" in text and "DARTS (second order)" in text
    assert (out / "report.html").read_text().count("<img") == len(figs)
    csv = pd.read_csv(out / "tables" / "accuracy.csv")
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


def test_the_dense_dag_study_report_draws_its_figures(tmp_path, monkeypatch, tiny_digits):
    import nas.study as study
    from analysis import study_report

    monkeypatch.setattr(study, "load_dataset", lambda name, root=None: tiny_digits)
    cfg = study.StudyConfig(strategies=("first-order", "one-level"), seeds=(0, 1), sizes=((4, 4),),
                            width=8, search_epochs=1, standalone_epochs=1)
    study.run_study(cfg, tmp_path / "study", log=lambda line: None)
    assert study_report.main([str(tmp_path / "study"), "--out", str(tmp_path / "out")]) == 0
    for f in ("dags", "properties", "strategies"):
        assert (tmp_path / "out" / f"{f}.png").stat().st_size > 1000
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "## digits" in summary and "### 4. Which strategy ranks the blocks best" in summary
    assert study_report.main([str(tmp_path / "nothing"), "--out", str(tmp_path / "o2")]) == 2


def test_the_report_adds_perf_measurements_latest_first(tmp_path):
    root = tmp_path / "p"
    make_experiment(root)
    base = {"kind": "search", "batch": 16, "layers": 5, "channels": 8, "image_size": 32, "speed": "",
            "hvp": "", "device": "cpu (x86_64, 2 threads)", "peak_mem_bytes": 2**30, "steps": 2,
            "images_per_s": np.nan}
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
