"""The toy study's table (beside the course project's reproduction) and figure (DARTS's Figure 2:
trajectories over the contours of L_val), from the records `nas.toy.run_toy` returns."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib.colors import to_hex, to_rgb
from matplotlib.lines import Line2D

from analysis.plotting import new_figure, strategy_colors
from nas.toy import XI_STRATEGIES, l_val

# The course project's reproduction of this figure (the hyperDARTS poster's; ../shared/docs/STRATEGIES.md,
# "The toy bilevel problem"): second-order DARTS over ξ (ξ = 0 is first-order), plain gradient descent,
# lr 0.01 for both variables, α-step first, start (2, −2), stop when |Δα| and |Δw| < 1e-4 or at 10,000
# iterations. Its iterations to stop; its time per iteration is not stated in any source here.
COURSE_SETTINGS = {"lr": 0.01, "tol": 1e-4, "max_iter": 10_000, "start": (2.0, -2.0)}
COURSE_ITERATIONS = {0.0: 659, 0.3: 411, 0.5: 296, 0.7: 335}
COURSE_TIME = "not stated"
TABLE_NOTE = ("course: the course project's reproduction (hyperDARTS poster) of second-order DARTS over ξ "
              "(ξ = 0 is first-order) with the same settings (lr 0.01, α-step first, start (2, −2), "
              "tol 1e-4, cap 10,000); its time per iteration is not stated in any source here. "
              "'—': no course-project number for this run (another strategy, or other settings).")


def course_iterations(record: dict) -> int | None:
    """The course project's iterations for the run of `record`: first-order, or second-order(-exact)
    at one of its ξ, with its settings (COURSE_SETTINGS); None for any other run."""
    same = (record["lr"] == COURSE_SETTINGS["lr"] and record["tol"] == COURSE_SETTINGS["tol"]
            and record["max_iter"] == COURSE_SETTINGS["max_iter"]
            and tuple(map(float, record["start"])) == COURSE_SETTINGS["start"])
    if not same:
        return None
    if record["strategy"] == "first-order":
        xi = 0.0
    elif record["strategy"] in XI_STRATEGIES and "xi" in record.get("options", {}):
        xi = float(record["options"]["xi"])
    else:
        return None
    return COURSE_ITERATIONS.get(xi)


def table_header() -> str:
    """The header of the toy table (`python -m studies toy`): the measured run, then the course project's."""
    return (f"{'strategy':<28}{'iterations':>11}{'alpha':>9}{'w':>9}{'first g':>9}{'µs/iter':>9}"
            f"{'course it.':>12}{'course µs/iter':>16}{'same it.':>10}")


def table_row(record: dict) -> str:
    """One run of the toy table: measured iterations, end point, first hypergradient, time per
    iteration, then the course project's iterations and time for the same run and whether the
    iterations match ('—' where the course project has no such run)."""
    course = course_iterations(record)
    if course is None:
        theirs, time_, same = "—", "—", "—"
    else:
        diff = record["iterations"] - course
        theirs, time_, same = str(course), COURSE_TIME, "yes" if diff == 0 else f"no ({diff:+d})"
    stop = "" if record["converged"] else " (cap)"
    return (f"{record['label']:<28}{record['iterations']:>11}{record['alpha']:>9.4f}{record['w']:>9.4f}"
            f"{record['first_hypergradient']:>9.3f}{record['time_per_iter_s'] * 1e6:>9.0f}"
            f"{theirs:>12}{time_:>16}{same:>10}{stop}")


def table_footer(width: int = 110) -> str:
    """The note under the toy table on the course project's columns, wrapped at `width`."""
    return textwrap.fill(TABLE_NOTE, width, break_on_hyphens=False)


def format_table(records: list[dict]) -> str:
    """The whole toy table: header, one row per run, and the note on the course project's columns."""
    return "\n".join([table_header(), *map(table_row, records), table_footer()])


def _run_key(record: dict) -> str:
    """What a run is, for its colour and legend entry: second-order at ξ = 0 is first-order."""
    if record["strategy"] in XI_STRATEGIES and not record.get("options", {}).get("xi"):
        return "first-order"
    return record["label"]


def run_colors(records: list[dict]) -> dict[str, str]:
    """One colour per run key, the same in every panel: the project's strategy colours
    (`analysis.plotting.strategy_colors`, the report's), second-order's ξ sweep in shades of its colour,
    light (small ξ) to dark (large ξ)."""
    base = strategy_colors([r["strategy"] for r in records])
    colors = {}
    for name in XI_STRATEGIES:
        xis = sorted({r["options"]["xi"] for r in records
                      if r["strategy"] == name and r.get("options", {}).get("xi")})
        for k, xi in enumerate(xis):
            f = 0.45 - 0.9 * k / max(1, len(xis) - 1) if len(xis) > 1 else 0.0   # + lighter, − darker
            c = [x + (1 - x) * f if f > 0 else x * (1 + f) for x in to_rgb(base[name])]
            colors.update({_run_key(r): to_hex(c) for r in records
                           if r["strategy"] == name and r.get("options", {}).get("xi") == xi})
    for r in records:
        colors.setdefault(_run_key(r), base.get("first-order" if _run_key(r) == "first-order"
                                                else r["strategy"], "#444444"))
    return colors


def plot_trajectories(records: list[dict], path: str | Path) -> list[Path]:
    """Trajectories over the contours of L_val with the best response w = α (DARTS Figure 2).

    (a) DARTS's ξ sweep (second-order; ξ = 0 is first-order); (b) the other strategies
    (second-order-exact coincides with second-order and is left out); (c) every run's distance to
    the optimum (1, 1) over the iterations. A run has one colour in all three panels (the report's
    strategy colours; the ξ sweep in shades of second-order's), and one legend below the panels
    names each run with its end point and iterations. Writes PNG and PDF next to each other;
    returns both paths.
    (Long: one figure drawn top to bottom, its panels, axes and legend in order; split, one picture's
    decisions would scatter.)
    """
    missing = [r["label"] for r in records if "trajectory" not in r]
    if missing:
        raise ValueError(f"runs without a trajectory cannot be drawn: {', '.join(missing)}")
    # (a) the first strategy that sweeps ξ (second-order; its exact twin coincides and is left out)
    left = [r for r in records if XI_STRATEGIES and r["strategy"] == XI_STRATEGIES[0]]
    right = [r for r in records if r["strategy"] not in XI_STRATEGIES]
    colors = run_colors(records)
    runs = {}   # key -> record, one per key (first-order and second-order at ξ = 0 are one run)
    for r in left + right:
        runs.setdefault(_run_key(r), r)
    pts = np.concatenate([np.asarray(r["trajectory"]) for r in records])
    a_lo, a_hi = min(-0.5, pts[:, 0].min() - 0.3), max(3.0, pts[:, 0].max() + 0.3)
    w_lo, w_hi = min(-2.5, pts[:, 1].min() - 0.3), max(3.0, pts[:, 1].max() + 0.3)
    A, W = np.meshgrid(np.linspace(a_lo, a_hi, 200), np.linspace(w_lo, w_hi, 200))
    start = records[0]["start"]
    fig, axes = new_figure(1, 3, figsize=(14, 5.6), layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1, 0.95]})
    for ax, group, title in ((axes[0], left, "(a) DARTS: unrolling step ξ (second-order)"),
                             (axes[1], right, "(b) the other hypergradient strategies")):
        cs = ax.contour(A, W, l_val(A, W), levels=14, colors="0.6", linewidths=0.5, linestyles="solid")
        ax.clabel(cs, fontsize=6, fmt="%.1f")
        line = np.linspace(a_lo, a_hi, 2)
        ax.plot(line, line, ls="--", color="0.3", lw=0.9)
        for r in group:
            t = np.asarray(r["trajectory"])
            c = colors[_run_key(r)]
            ax.plot(t[:, 0], t[:, 1], color=c, lw=1.4)
            ax.plot(t[-1, 0], t[-1, 1], "o", color=c, mec="black", mew=0.5, ms=5, zorder=4)
        ax.plot(*start, "k*", ms=10, zorder=5)
        ax.plot(1, 1, "*", color="black", mfc="white", mec="black", ms=12, zorder=5)
        ax.set_xlim(a_lo, a_hi)
        ax.set_ylim(w_lo, w_hi)
        ax.set_xlabel("architecture α")
        ax.set_ylabel("weight w")
        ax.set_title(title)
    ax = axes[2]
    for key, r in runs.items():
        t = np.asarray(r["trajectory"])
        dist = np.hypot(t[:, 0] - 1, t[:, 1] - 1)
        ax.plot(np.arange(len(t)), np.maximum(dist, 1e-6), color=colors[key], lw=1.2)
        ax.plot(len(t) - 1, max(dist[-1], 1e-6), "o", color=colors[key], mec="black", mew=0.5, ms=4)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("distance to the optimum, ‖(α, w) − (1, 1)‖")
    ax.set_title("(c) distance to the optimum over the iterations")
    ax.grid(lw=0.3)

    def entry(key: str, r: dict) -> str:
        name = "first-order (= second-order at ξ = 0)" if key == "first-order" and left else key
        end = "" if r["converged"] else ", stopped without converging"
        return f"{name} → ({r['alpha']:.2f}, {r['w']:.2f}) in {r['iterations']} it.{end}"

    handles = [Line2D([], [], color=colors[k], lw=1.6, marker="o", mec="black", mew=0.5, ms=4,
                      label=entry(k, r)) for k, r in runs.items()]
    handles += [Line2D([], [], ls="--", color="0.3", lw=0.9, label="best response w*(α) = α"),
                Line2D([], [], color="0.6", lw=0.5, label="contours of L_val(w, α)"),
                Line2D([], [], ls="", marker="*", color="black", ms=9, label=f"start {tuple(start)}"),
                Line2D([], [], ls="", marker="*", color="black", mfc="white", ms=10,
                       label="optimum (1, 1)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=7.5, frameon=False)
    fig.suptitle("Toy bilevel problem (DARTS, Figure 2): trajectories over the contours of L_val(w, α); "
                 "a run has one colour in every panel (dot: where it stopped)", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in (".png", ".pdf"):
        out = path.with_suffix(suffix)
        fig.savefig(out, dpi=150)
        written.append(out)
    return written
