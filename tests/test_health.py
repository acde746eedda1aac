"""analysis/health.py: a search that did not run as its strategy's name says is flagged, in words,
beside its accuracy, and not compared."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis.health import health_table, search_health, strategy_flags
from analysis.tables import COMPARISON_FIELDS, comparison_frame
from resultstore.experiment import Experiment


def _epochs(strategy, seed, changes, **metrics):
    """Search rows of one search: `changes` its α change per epoch, `metrics` per-epoch lists."""
    rows = []
    for e, c in enumerate(changes):
        row = {"strategy": strategy, "search_dataset": "d", "seed": seed, "phase": "search",
               "epoch": e, "alpha_change": c, "hypergrad_norm": 1.0, "hypergrad_norm_max": 2.0}
        row.update({k: v[e] for k, v in metrics.items()})
        rows.append(row)
    return rows


def _experiment(rows, options=None) -> Experiment:
    keys = {(r["strategy"], r["seed"]) for r in rows}
    trials = pd.DataFrame([{"strategy": s, "search_dataset": "d", "seed": seed, "status": "finished",
                            "strategy_options": json.dumps((options or {}).get(s, {}))}
                           for s, seed in sorted(keys)])
    return Experiment(None, trials, pd.DataFrame(rows), pd.DataFrame())


def test_each_rule_flags_its_search_and_only_it():
    rows = (_epochs("first-order", 0, [0.1, 0.08, 0.09])
            + _epochs("second-order", 0, [0.1, 0.1, 0.07])
            + _epochs("implicit-neumann", 0, [0.05, 0.002, 0.001], neumann_growth=[40.0, 3.0, 2.5])
            + _epochs("implicit-cg", 0, [0.1, 0.09, 0.08], cg_iterations=[2.0, 2.5, 2.0],
                      cg_negative_curvature=[1.0, 0.5, 1.0])
            + _epochs("hyperdarts-mlp", 0, [0.1, 0.1, 0.1], response_change=[0.0, 0.0, 0.0])
            + _epochs("one-level", 0, [0.1, 0.1, 0.1], hypergrad_norm_max=[2.0, 25.0, 2.0])
            + _epochs("hyperdarts-linear", 0, [0.1, 0.1, 0.1], response_change=[0.0, 0.01, 0.02])
            + _epochs("random", 0, [0.0]))
    h = search_health(_experiment(rows, {"implicit-cg": {"cg_k": 4}})).set_index("strategy")
    flags = h["flags"].to_dict()
    assert flags["first-order"] == flags["second-order"] == flags["random"] == []
    assert flags["hyperdarts-linear"] == []
    assert [f.split(" (")[0] for f in flags["implicit-neumann"]] == ["α did not move",
                                                                    "Neumann series grew"]
    assert h.loc["implicit-neumann", "alpha_change"] == 0.0015   # the median after the first epoch
    assert h.loc["implicit-neumann", "neumann_growth"] == 3.0
    # 2.17 of its 4 products: below 80%
    assert flags["implicit-cg"] == ["CG cut short (2.2 of 4 products; negative curvature on 83% of steps)"]
    assert flags["hyperdarts-mlp"] == ["no learned response (the hypernetwork's weights do not "
                                       "depend on α)"]
    assert flags["one-level"] == ["hypergradient spikes (largest 25× its epoch's mean)"]


def test_a_cg_that_uses_its_products_and_a_converging_series_are_not_flagged():
    rows = (_epochs("first-order", 0, [0.1, 0.1])
            + _epochs("implicit-cg", 0, [0.1, 0.1], cg_iterations=[5.0, 4.5])
            + _epochs("implicit-neumann", 0, [0.1, 0.1], neumann_growth=[0.9, 0.99]))
    flags = search_health(_experiment(rows)).set_index("strategy")["flags"].to_dict()
    assert flags == {"first-order": [], "implicit-cg": [], "implicit-neumann": []}


def test_the_report_names_per_strategy_what_went_wrong_and_does_not_compare_it():
    rows = (_epochs("first-order", 0, [0.1, 0.1]) + _epochs("first-order", 1, [0.1, 0.1])
            + _epochs("implicit-neumann", 0, [0.1, 0.0]) + _epochs("implicit-neumann", 1, [0.1, 0.1]))
    exp = _experiment(rows)
    ran = strategy_flags(search_health(exp))
    assert ran == {("d", "first-order"): "yes", ("d", "implicit-neumann"): "no: α did not move (1 of 2)"}
    fam = pd.DataFrame({"strategy": ["implicit-neumann"], "search_dataset": ["d"],
                        **{f"vs_first_order_{c}": [v] for c, v in dict(
                            test="paired", n=2, diff=1.0, diff_lo=-1.0, diff_hi=3.0, p=0.5,
                            p_holm=0.5, mde=9.0, mde_holm=9.0, verdict="not detectable").items()}})
    for b in ("random", "first_order_smoothed"):
        for c in COMPARISON_FIELDS:
            fam[f"vs_{b}_{c}"] = ""
    frame = comparison_frame(fam, ran)
    assert frame["verdict"].tolist() == ["not compared: implicit-neumann did not run as configured"]
    table = health_table(exp)
    shown = table.blocks[0][1].set_index(["strategy", "seed"])["ran as configured"]
    assert shown[("implicit-neumann", 0)].startswith("α did not move")
    assert shown[("first-order", 1)] == "yes"


def test_a_search_whose_solver_was_not_recorded_is_yes_only_as_far_as_recorded_and_still_compared():
    """Results written before a solver's metric existed: α's rule can pass, the solver's cannot be
    checked, and the report says so instead of a plain "yes"; "not recorded" is not "no"."""
    rows = (_epochs("first-order", 0, [0.1, 0.08, 0.09])
            + _epochs("implicit-cg", 0, [0.1, 0.09, 0.08])                  # no cg_iterations
            + _epochs("implicit-neumann", 0, [0.1, 0.09, 0.08])             # no neumann_growth
            + _epochs("implicit-cg", 1, [0.1, 0.09, 0.08], cg_iterations=[5.0, 5.0, 5.0]))
    h = search_health(_experiment(rows))
    ran = strategy_flags(h)
    assert ran[("d", "implicit-cg")] == "yes, as far as recorded (not recorded: its CG's products)"
    assert ran[("d", "implicit-neumann")] == "yes, as far as recorded (not recorded: its series' growth)"
    assert ran[("d", "first-order")] == "yes"
    shown = health_table(_experiment(rows)).blocks[0][1].set_index(["strategy", "seed"])["ran as configured"]
    assert shown[("implicit-cg", 0)].startswith("yes, as far as recorded")
    assert shown[("implicit-cg", 1)] == "yes"
    fam = pd.DataFrame([{"strategy": "implicit-cg", "search_dataset": "d",
                         **{f"vs_first_order_{c}": v for c, v in zip(
                             COMPARISON_FIELDS, (1.0, -1.0, 3.0, 3, "paired", 0.5, 1.0, 9.0, 12.0,
                                                 "not detectable"))},
                         **{f"vs_{b}_{c}": "" if c == "test" else np.nan
                            for b in ("random", "first_order_smoothed") for c in COMPARISON_FIELDS}}])
    verdicts = comparison_frame(fam, {**ran, ("d", "first-order"): "not recorded"})["verdict"]
    assert not verdicts.str.startswith("not compared").any()
