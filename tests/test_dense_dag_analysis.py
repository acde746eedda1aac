"""The dense-DAG report's tables on made-up results whose answers are known."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from analysis import dense_dag as dd
from resultstore.experiment import Experiment

DAGS = ["DAG(layers=3, edges=[(0, 1), (1, 2)])", "DAG(layers=3, edges=[(0, 1), (0, 2), (1, 2)])",
        "DAG(layers=3, edges=[(0, 2), (0, 1)])", "DAG(layers=3, edges=[(0, 1), (1, 2), (0, 2)])"]
# distinct edge sets: DAGS[0] = chain; DAGS[1] = complete; DAGS[2] lacks (1, 2); DAGS[3] = DAGS[1]'s set
CANDIDATES = DAGS[:3]


def _gt(accs_by_repeat: dict[str, list[float]], seeds=(0,), dataset="digits", extra=()):
    rows = []
    for seed in seeds:
        for arch, accs in accs_by_repeat.items():
            for r, a in enumerate(accs):
                rows.append({"experiment": "x", "strategy": "ground-truth", "search_dataset": dataset,
                             "seed": seed, "profile": "p", "eval_dataset": dataset, "repeat": r,
                             "architecture": arch, "test_acc": a, "roles": "candidate"})
    for arch, role, acc in extra:
        for seed in seeds:
            rows.append({"experiment": "x", "strategy": "ground-truth", "search_dataset": dataset,
                         "seed": seed, "profile": "p", "eval_dataset": dataset, "repeat": 0,
                         "architecture": arch, "test_acc": acc, "roles": role})
    from nas.spaces import get_space

    space = get_space("dense-dag")   # the property columns the ground truth stores
    return pd.DataFrame([{**r, **space.properties(space.parse(r["architecture"]))} for r in rows])


def _exp(gt, trials=None, alphas=None):
    empty = pd.DataFrame()
    return Experiment(root=None, trials=trials if trials is not None else pd.DataFrame({"status": []}),
                      epochs=empty, alphas=alphas if alphas is not None else empty,
                      ground_truth=gt, space="dense-dag")


def test_expected_best_of_k_is_the_mean_best_over_every_subset():
    rng = np.random.default_rng(0)
    accs = rng.normal(90, 2, 7)
    for k in range(1, 8):
        brute = np.mean([max(c) for c in itertools.combinations(accs, k)])
        assert dd.expected_best_of(accs, k) == pytest.approx(brute, rel=1e-12)
    assert dd.expected_best_of(accs, 1) == pytest.approx(accs.mean())
    assert math.isnan(dd.expected_best_of(accs, 8))


def test_the_noise_ceiling_is_the_split_half_tau_of_the_ground_truth():
    assert dd._halves([0, 1, 2, 3]) == [([0, 1], [2, 3]), ([0, 2], [1, 3]), ([0, 3], [1, 2])]
    # every training ranks the candidates alike: τ = 1
    same = _gt({CANDIDATES[0]: [0.90] * 4, CANDIDATES[1]: [0.95] * 4, CANDIDATES[2]: [0.92] * 4})
    (row,) = dd.noise_ceiling(_exp(same)).to_dict("records")
    assert row["split_half_tau"] == pytest.approx(1.0) and row["ceiling_tau"] == pytest.approx(1.0)
    # with an odd number of repeats every one is left out in turn
    assert len(dd._halves([0, 1, 2])) == 3 and len(dd._halves([0, 1, 2, 3, 4])) == 15
    # repeats 0, 1 rank them one way, 2, 3 the other: the split {0,1}|{2,3} gives τ = −1, the
    # two others average both ways into the same half means (τ = 1): the mean over splits is 1/3
    flip = _gt({CANDIDATES[0]: [0.90, 0.90, 0.95, 0.95], CANDIDATES[1]: [0.95, 0.95, 0.90, 0.90],
                CANDIDATES[2]: [0.92, 0.92, 0.92, 0.92]})
    (row,) = dd.noise_ceiling(_exp(flip)).to_dict("records")
    assert row["splits"] == 3 and row["split_half_tau"] == pytest.approx(1 / 3)


def test_the_references_are_left_out_of_the_property_correlations():
    """Among the candidates more edges do worse (ρ = −1); a poor chain and a strong complete DAG
    pooled in would turn ρ(edges) positive."""
    four = {"DAG(layers=4, edges=[(0, 1), (0, 2), (2, 3)])": [0.96],
            "DAG(layers=4, edges=[(0, 1), (1, 2), (2, 3), (0, 3)])": [0.95],
            "DAG(layers=4, edges=[(0, 1), (1, 2), (2, 3), (0, 2), (0, 3)])": [0.94],
            "DAG(layers=4, edges=[(0, 1), (1, 2), (2, 3), (0, 2), (0, 3), (1, 3)])": [0.93]}
    gt = _gt(four, extra=[("DAG(layers=4, edges=[(0, 1), (1, 2), (2, 3)])", "chain", 0.10),
                          ("DAG(layers=4, edges=[(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)])",
                           "complete", 0.99)])
    table = dd.properties_table(_exp(gt))
    edges = table.numbers.set_index("property").loc["edges"]
    assert edges["dags"] == 4 and edges["rho"] == pytest.approx(-1.0)


def test_stability_counts_the_same_block_found_on_every_seed():
    seeds = [0, 1, 2]
    trials = pd.DataFrame([{"experiment": "x", "strategy": s, "search_dataset": "digits", "seed": seed,
                            "profile": "p", "eval_dataset": "digits", "repeat": 0, "status": "finished",
                            "test_acc": 0.9,
                            "genotype": CANDIDATES[1] if s == "steady" else CANDIDATES[seed]}
                           for s in ("steady", "fickle") for seed in seeds])
    alphas = pd.DataFrame([{"experiment": "x", "strategy": s, "search_dataset": "digits", "seed": seed,
                            "profile": "p", "epoch": 1, "cell": "blocks", "edge": f"block{b}", "op": a,
                            "weight": 1 / 3}
                           for s in ("steady", "fickle") for seed in seeds
                           for b, a in enumerate(CANDIDATES)])
    table = dd.stability_table(_exp(pd.DataFrame(), trials, alphas))
    n = table.numbers.set_index("strategy")
    assert n.loc["steady", "distinct"] == 1 and n.loc["steady", "modal_share"] == 1.0
    assert n.loc["steady", "distance"] == 0.0 and bool(n.loc["steady", "shared"])
    # chain vs complete: 1 edge; chain vs (0,1),(0,2): 2; complete vs it: 1 → mean 4/3
    assert n.loc["fickle", "distinct"] == 3 and n.loc["fickle", "distance"] == pytest.approx(4 / 3)
    title, frame = table.blocks[0]
    assert "same 3 candidates" in title and frame.strategy.iloc[-1] == "uniform choice"


def test_the_ranking_across_datasets_is_compared_per_seed():
    a = _gt({CANDIDATES[0]: [0.90], CANDIDATES[1]: [0.95], CANDIDATES[2]: [0.92]}, seeds=(0, 1))
    b = _gt({CANDIDATES[0]: [0.80], CANDIDATES[1]: [0.85], CANDIDATES[2]: [0.82]}, seeds=(0, 1),
            dataset="fashion-mnist")
    table = dd.datasets_table(_exp(pd.concat([a, b])))
    (row,) = table.numbers.to_dict("records")
    assert row["seeds"] == 2 and row["tau"] == pytest.approx(1.0)


def test_the_collapse_table_reads_each_diagnostic_as_a_sequence_over_the_epochs():
    from analysis.tables import collapse_table

    rows = [{"experiment": "x", "strategy": "first-order", "search_dataset": "digits", "seed": seed,
             "profile": "p", "phase": "search", "eval_dataset": "", "repeat": 0, "epoch": ep,
             "param_free_normal": [0.0, 2.0, 6.0][ep] + seed, "param_free_reduce": 1.0,
             "largest_eigenvalue": [0.1, 0.5, 0.9][ep], "alpha_entropy": 2.0,
             "discretisation_gap": 10.0}
            for seed in (0, 2) for ep in range(3)]
    exp = Experiment(root=None, trials=pd.DataFrame({"status": []}), epochs=pd.DataFrame(rows),
                     alphas=pd.DataFrame())
    table = collapse_table(exp)
    (_, frame), = table.blocks
    row = frame.iloc[0]
    assert row["searches"] == 2 and row["epochs"] == "1 → 2 → 3"
    assert row["parameter-free ops, normal"] == "1.0 → 3.0 → 7.0"       # the mean over the 2 seeds
    assert row["largest eigenvalue of ∇²_α L_val"] == "0.100 → 0.500 → 0.900"


def test_a_uniform_choice_has_the_modal_share_of_the_exact_enumeration():
    """Five searches each picking one of the same 8 distinct blocks: the most frequent one's
    expected share by enumerating all 8⁵ outcomes, against the Monte Carlo estimate."""
    from collections import Counter

    exact = np.mean([max(Counter(o).values()) for o in itertools.product(range(8), repeat=5)]) / 5
    assert dd.expected_modal_share([list("abcdefgh")] * 5) == pytest.approx(exact, abs=0.01)
    assert exact == pytest.approx(0.386, abs=0.001)


def test_the_ceiling_follows_spearman_brown_from_the_split_half_tau():
    half = 0.4
    r = math.sin(math.pi * half / 2)
    reliability = 2 * r / (1 + r)
    assert dd._r_to_tau(math.sqrt(reliability)) > half     # the full mean replicates better
    assert dd._r_to_tau(dd._tau_to_r(0.3)) == pytest.approx(0.3)


def test_the_ground_truth_tests_whether_its_candidates_differ_before_they_are_ranked():
    """scipy's one-way ANOVA over each seed's candidates (their trainings): a large p where the
    candidates are one distribution, a small one where one stands apart."""
    from scipy import stats

    rng = np.random.default_rng(0)
    alike = {a: list(0.9 + 0.01 * rng.standard_normal(4)) for a in CANDIDATES}
    apart = {**alike, CANDIDATES[2]: [x + 0.05 for x in alike[CANDIDATES[2]]]}
    rows = dd.noise_ceiling(_exp(pd.concat([_gt(alike, seeds=(0,)), _gt(apart, seeds=(1,))])))
    p = rows.set_index("seed")["anova_p"]
    assert p[0] == pytest.approx(stats.f_oneway(*alike.values()).pvalue) and p[0] > 0.05
    assert p[1] == pytest.approx(stats.f_oneway(*apart.values()).pvalue) and p[1] < 0.001


def test_the_choice_figure_draws_chosen_minus_mean_candidate_and_the_noise_ceiling(tmp_path, monkeypatch):
    """Left: each search's chosen − mean candidate and the strategy's mean; the dashed line the
    best candidate's and the dotted line noise alone's (means over seeds); right: τ per search,
    and the ceiling's mean as a line; the title carries each seed's ANOVA p."""
    from analysis import figures

    scores = pd.DataFrame({"strategy": ["first-order"] * 2 + ["random"] * 2, "search_dataset": "digits",
                           "seed": [0, 1, 0, 1], "chosen": [91.0, 90.0, 89.0, 90.5],
                           "best": [92.0, 91.0, 92.0, 91.0], "mean_candidate": [90.0, 89.5, 90.0, 89.5],
                           "regret": 0.0, "kendall_tau": [0.5, 0.3, -0.1, 0.2], "chain": 88.0,
                           "complete": 89.0})
    ceiling = pd.DataFrame({"search_dataset": "digits", "seed": [0, 1], "eval_dataset": "digits",
                            "anova_p": [0.04, 0.5], "blocks": 8, "repeats": 4, "split_half_tau": 0.3,
                            "reliability": 0.6, "ceiling_tau": [0.4, 0.6], "splits": 3})
    monkeypatch.setattr(dd, "search_scores", lambda exp: scores)
    monkeypatch.setattr(dd, "noise_ceiling", lambda exp: ceiling)
    monkeypatch.setattr(dd, "noise_gains", lambda exp: pd.DataFrame(
        {"search_dataset": "digits", "seed": [0, 1], "gain": 1.0, "noise": [0.2, 0.4], "p": 0.5}))
    saved = []
    monkeypatch.setattr(figures, "_save", lambda fig, prefix: saved.append(fig) or [prefix])
    assert figures.dense_dag_choice(None, tmp_path / "choice")
    left, right = saved[0].axes[:2]
    points = np.concatenate([c.get_offsets() for c in left.collections if hasattr(c, "get_sizes")])
    assert sorted(points[:, 1]) == pytest.approx(sorted([1.0, 0.5, 0.75, -1.0, 1.0, 0.0]))
    assert any(l.get_linestyle() == "--" and l.get_ydata()[0] == pytest.approx(1.75) for l in left.lines)
    assert any(l.get_linestyle() == ":" and l.get_ydata()[0] == pytest.approx(0.3) for l in left.lines)
    assert any(l.get_linestyle() == "--" and l.get_ydata()[0] == pytest.approx(0.5, abs=0.02)
               for l in right.lines)   # the ceiling's mean τ on Fisher's z scale
    assert "0.04, 0.5" in right.get_title() and "n = 2" in left.get_title()
    monkeypatch.setattr(dd, "search_scores", lambda exp: pd.DataFrame())
    assert figures.dense_dag_choice(None, tmp_path / "none") == []


def test_the_winners_curse_is_the_best_of_k_gain_of_permuted_trainings():
    """Alike candidates: the best's gain over the mean block is about what permuted trainings give
    (p large); one candidate apart: far more (p at its floor, 1/(1 + permutations)); one training
    each: permuting only reorders the means, so noise alone gives the whole gain (p = 1)."""
    rng = np.random.default_rng(0)
    alike = [90 + rng.standard_normal(4) for _ in range(8)]
    gain, noise, p = dd.winners_curse(alike, [1] * 8, permutations=400)
    means = np.array([x.mean() for x in alike])
    assert gain == pytest.approx(means.max() - means.mean())
    assert p > 0.05 and 0.3 < noise / gain < 3
    apart = [*alike[:7], alike[7] + 5.0]
    gain, noise, p = dd.winners_curse(apart, [1] * 8, permutations=400)
    assert p == pytest.approx(1 / 401) and gain > 2 * noise
    once = [np.array([v]) for v in (90.0, 91.0, 93.0)]
    gain, noise, p = dd.winners_curse(once, [1, 1, 1], permutations=50)
    assert p == 1.0 and noise == pytest.approx(gain)
    gain, _, _ = dd.winners_curse(once, [2, 1, 1], permutations=1)
    assert gain == pytest.approx(93.0 - (2 * 90.0 + 91.0 + 93.0) / 4)   # blocks weight the mean
