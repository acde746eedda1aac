"""Whether each search ran as its strategy's name says, read from what its epochs recorded.

A strategy can stop being itself without failing: an implicit strategy whose Neumann series
grows computes an amplified eigenvector instead of H⁻¹v; a CG that meets negative curvature after
one product is nearly a one-step solve; α frozen by a few huge hypergradients (Adam's second
moment) leaves the derived cell at its initial draw; a hypernetwork whose response stays zero is
first-order DARTS. Such a search must be flagged beside its accuracy, not compared as if it had
run as configured. The rules, per search (from the `epochs` table's search rows, nas/search.py):

- **α did not move**: its median `alpha_change` over the epochs after the first (mean
  |Δ log softmax α| per epoch) is below a fifth of the median of every searching strategy's
  searches on the same dataset, or zero;
- **hypergradient spikes**: in some epoch the largest hypergradient norm exceeds 10× the epoch's
  mean (a few steps then dominate Adam's second moment);
- **CG cut short** (implicit-cg): it used fewer than 80% of its `cg_k` products on average;
- **Neumann series grew** (implicit-neumann): the median over epochs of its mean growth (last
  term / first) is above 1;
- **no learned response** (hyperDARTS): the response moved the weights by less than 1e-4 (relative)
  in the last epoch.

Results written before these metrics were recorded have none: their searches read "not recorded".
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis.tables import Table, strategy_order
from nas.strategies import strategy_config
from resultstore.experiment import Experiment
from resultstore.schema import TRIAL_KEY, short_name

STALLED = 0.2          # α change below this share of the dataset's median: "did not move"
SPIKE = 10.0           # an epoch's largest hypergradient over its mean
CG_SHARE = 0.8         # products used over cg_k
FLAT_RESPONSE = 1e-4   # relative weight change of hyperDARTS's response


def _options(exp: Experiment) -> dict[tuple, dict]:
    """Each search's strategy options (the trials table's JSON), by TRIAL_KEY."""
    t = exp.trials
    if "strategy_options" not in t:
        return {}
    out = {}
    for key, text in t.drop_duplicates(TRIAL_KEY).set_index(TRIAL_KEY)["strategy_options"].items():
        try:
            out[key] = json.loads(text) if isinstance(text, str) and text else {}
        except ValueError:
            out[key] = {}
    return out


def _cg_k(options: dict) -> float:
    """implicit-cg's K as the search ran it: its recorded option, else the strategy's default."""
    try:
        return float(strategy_config("implicit-cg", **options).cg_k)
    except (TypeError, ValueError):   # options of another version: the default's K
        return float(strategy_config("implicit-cg").cg_k)


def search_health(exp: Experiment) -> pd.DataFrame:
    """One row per search that recorded epochs: its α change, hypergradient, solver and response
    numbers, and `flags` (a list of short phrases; empty: ran as configured; None: the metrics
    were not recorded)."""
    e = exp.epochs
    if e.empty or "phase" not in e:
        return pd.DataFrame()
    e = e[e["phase"] == "search"]
    if e.empty:
        return pd.DataFrame()
    options = _options(exp)
    rows = []
    for key, g in e.sort_values("epoch").groupby(TRIAL_KEY, sort=False):
        strategy = key[0]
        row = dict(zip(TRIAL_KEY, key))
        col = lambda name, g=g: (g[name].astype(float) if name in g  # noqa: E731
                                 else pd.Series(np.nan, index=g.index))
        change = col("alpha_change")
        later = change[g["epoch"] >= 1] if (g["epoch"] >= 1).any() else change
        row["alpha_change"] = float(later.median()) if later.notna().any() else np.nan
        mean, peak = col("hypergrad_norm"), col("hypergrad_norm_max")
        row["hypergrad_norm"] = float(mean.median()) if mean.notna().any() else np.nan
        row["hypergrad_spike"] = float((peak / mean).max()) if peak.notna().any() else np.nan
        used = col("cg_iterations")
        row["cg_products"] = float(used.mean()) if used.notna().any() else np.nan
        row["cg_k"] = _cg_k(options.get(key, {})) if strategy == "implicit-cg" else np.nan
        neg = col("cg_negative_curvature")
        row["cg_negative_curvature"] = float(neg.mean()) if neg.notna().any() else np.nan
        damping = col("cg_damping")   # (recorded since the spectrum rule; else the options' δ)
        row["cg_damping_min"] = float(damping.min()) if damping.notna().any() else np.nan
        row["cg_damping_max"] = float(damping.max()) if damping.notna().any() else np.nan
        growth = col("neumann_growth")
        row["neumann_growth"] = float(growth.median()) if growth.notna().any() else np.nan
        response = col("response_change")
        row["response_change"] = float(response.iloc[-1]) if response.notna().any() else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    searching = out[out["strategy"] != "random"]
    typical = searching.groupby("search_dataset")["alpha_change"].median()
    out["flags"] = [_flags(r, typical.get(r["search_dataset"], np.nan)) for _, r in out.iterrows()]
    out["unchecked"] = [_unchecked(r) for _, r in out.iterrows()]
    return out


def _flags(r: pd.Series, typical: float) -> list[str] | None:
    if r["strategy"] == "random":
        return []
    if np.isnan(r["alpha_change"]) and np.isnan(r["hypergrad_norm"]):
        return None
    flags = []
    if not np.isnan(r["alpha_change"]) and (
            r["alpha_change"] == 0 or (not np.isnan(typical) and r["alpha_change"] < STALLED * typical)):
        flags.append(f"α did not move ({r['alpha_change']:.3g} per epoch; the median search "
                     f"on this dataset {typical:.3g})")
    if not np.isnan(r["hypergrad_spike"]) and r["hypergrad_spike"] > SPIKE:
        flags.append(f"hypergradient spikes (largest {r['hypergrad_spike']:.0f}× its epoch's mean)")
    if r["strategy"] == "implicit-cg" and not np.isnan(r["cg_products"]) \
            and r["cg_products"] < CG_SHARE * r["cg_k"]:
        neg = r["cg_negative_curvature"]
        flags.append(f"CG cut short ({r['cg_products']:.1f} of {r['cg_k']:g} products"
                     + ("" if np.isnan(neg) else f"; negative curvature on {100 * neg:.0f}% of steps")
                     + ")")
    if not np.isnan(r["neumann_growth"]) and r["neumann_growth"] > 1:
        flags.append(f"Neumann series grew ({r['neumann_growth']:.2g}× from first to last term)")
    if r["strategy"].startswith("hyperdarts") and not np.isnan(r["response_change"]) \
            and r["response_change"] < FLAT_RESPONSE:
        flags.append("no learned response (the hypernetwork's weights do not depend on α)")
    return flags


def _unchecked(r: pd.Series) -> list[str]:
    """What a rule needs and this search's files do not hold (results written before the metric
    was recorded): the rule could not check it, so "yes" would claim more than the files show."""
    s = r["strategy"]
    missing = []
    if s == "implicit-cg" and np.isnan(r["cg_products"]):
        missing.append("its CG's products")
    if s == "implicit-neumann" and np.isnan(r["neumann_growth"]):
        missing.append("its series' growth")
    if s.startswith("hyperdarts") and np.isnan(r["response_change"]):
        missing.append("its response")
    return missing


NOT_SEARCHED = "— (drawn, not searched)"


def flag_text(flags: list[str] | None, unchecked: list[str] | None = None) -> str:
    if flags is None:
        return "not recorded"
    if flags:
        return "; ".join(flags)
    return f"yes, as far as recorded (not recorded: {', '.join(unchecked)})" if unchecked else "yes"


def strategy_flags(health: pd.DataFrame) -> dict[tuple[str, str], str]:
    """{(search dataset, strategy): 'yes' or what went wrong, with how many of its searches}."""
    out = {}
    if health.empty:
        return out
    for (sd, strategy), g in health.groupby(["search_dataset", "strategy"], sort=False):
        n = len(g)
        if strategy == "random":
            out[(sd, strategy)] = NOT_SEARCHED
            continue
        if g["flags"].map(lambda f: f is None).all():
            out[(sd, strategy)] = "not recorded"
            continue
        kinds: dict[str, int] = {}
        for flags in g["flags"]:
            for f in flags or []:
                kind = f.split(" (")[0]
                kinds[kind] = kinds.get(kind, 0) + 1
        unchecked = sorted({u for us in g["unchecked"] for u in us})
        out[(sd, strategy)] = ("no: " + "; ".join(f"{k} ({c} of {n})" for k, c in kinds.items()) if kinds
                               else flag_text([], unchecked))
    return out


def health_table(exp: Experiment) -> Table | None:
    h = search_health(exp)
    if h.empty:
        return None
    blocks = []
    order = {s: i for i, s in enumerate(strategy_order(h["strategy"]))}
    h = h.sort_values(["search_dataset", "strategy", "seed"],
                      key=lambda c: c.map(order) if c.name == "strategy" else c)
    for sd, g in h.groupby("search_dataset", sort=False):
        frame = pd.DataFrame({
            "strategy": g["strategy"], "seed": g["seed"],
            "α change per epoch": g["alpha_change"].map(lambda v: "—" if np.isnan(v) else f"{v:.3g}"),
            "‖hypergradient‖": g["hypergrad_norm"].map(lambda v: "—" if np.isnan(v) else f"{v:.3g}"),
            "solver": [_solver(r) for _, r in g.iterrows()],
            "ran as configured": [NOT_SEARCHED if s == "random" else flag_text(f, u)
                                  for s, f, u in zip(g["strategy"], g["flags"], g["unchecked"])]})
        blocks.append((f"Searched on {short_name(sd)}", frame))
    note = ("α change per epoch: mean |Δ log softmax(α)| over α's entries from one epoch's end to the "
            "next, the median over the epochs after the first. ‖hypergradient‖: the median over epochs "
            "of the mean norm of the hypergradient that moved α. Solver: implicit-cg's products used "
            "per step (of cg_k), the range of its epochs' mean damping δ (where recorded) and its share "
            "of steps stopped by negative curvature; implicit-neumann's "
            "series growth (its last term's norm over its first's; above 1 the series grew); "
            "hyperDARTS's response (relative change of the weights at the φ-step's perturbation of α). "
            "The rules of 'ran as configured' are in analysis/health.py; a search that did not is not "
            "what its strategy's name says, and its accuracy is not that strategy's.")
    return Table("health", "Did each search run as configured?", blocks, h.assign(
        flags=[flag_text(f, u) for f, u in zip(h["flags"], h["unchecked"])]).drop(columns="unchecked"), note)


def _solver(r: pd.Series) -> str:
    if not np.isnan(r["cg_products"]):
        neg = r["cg_negative_curvature"]
        lo, hi = r.get("cg_damping_min", np.nan), r.get("cg_damping_max", np.nan)
        damping = ("" if np.isnan(lo) else f", δ {lo:.3g}" if lo == hi else f", δ {lo:.3g}–{hi:.3g}")
        return (f"CG {r['cg_products']:.1f} of {r['cg_k']:g}" + damping
                + ("" if np.isnan(neg) else f", stopped by negative curvature on {100 * neg:.0f}%"))
    if not np.isnan(r["neumann_growth"]):
        return f"Neumann growth {r['neumann_growth']:.2g}"
    if not np.isnan(r["response_change"]):
        return f"response {r['response_change']:.2g}"
    return "—"
