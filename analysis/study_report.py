"""Figures and tables of the dense-DAG study (`python -m nas study dense-dag --out FOLDER`).

    python analysis/study_report.py runs/study-digits runs/study-fashion --out results/examples/dense-dag

Reads each folder's dags.jsonl and searches.jsonl and writes, under --out:
summary.md (the four questions' tables per dataset, from nas.study.summarize),
dags.png/pdf (the best candidate, the most often found DAG, the chain and the
complete DAG of the largest space, per dataset), properties.png/pdf (standalone
accuracy against each DAG property, per dataset, with Spearman's ρ) and
strategies.png/pdf (Kendall τ and regret per strategy and dataset).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.patches import Arc  # noqa: E402
from scipy import stats  # noqa: E402

from analysis.figures import PAPER, _save  # noqa: E402
from analysis.load import ReportError  # noqa: E402
from analysis.tables import strategy_order  # noqa: E402
from nas.spaces.dense_dag import parse_dag  # noqa: E402
from nas.study import PROPERTIES, summarize  # noqa: E402


def load_study(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = Path(folder)
    rows = {}
    for name in ("dags", "searches"):
        path = folder / f"{name}.jsonl"
        if not path.is_file():
            raise ReportError(f"{folder} holds no {name}.jsonl; run `python -m nas study dense-dag "
                              f"--out {folder}` first")
        rows[name] = pd.DataFrame([json.loads(x) for x in path.read_text().splitlines() if x.strip()])
    return rows["dags"], rows["searches"]


def draw_dag(ax, text: str, title: str) -> None:
    """Vertices left to right; each edge an arc above them, higher for longer skips."""
    arch = parse_dag(text)
    n = arch.layers
    for i, j in arch.edges:
        if j == i + 1:
            ax.annotate("", (j - 0.12, 0), (i + 0.12, 0), arrowprops={"arrowstyle": "->", "lw": 0.8})
        else:
            ax.add_patch(Arc(((i + j) / 2, 0), j - i, 0.5 * (j - i), theta1=0, theta2=180, lw=0.8))
    ax.scatter(range(n), [0] * n, s=90, color="white", edgecolor="black", zorder=3)
    for v in range(n):
        ax.text(v, 0, str(v), ha="center", va="center", fontsize=6, zorder=4)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(-0.4, 0.3 * (n - 1) + 0.2)
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def dag_figure(studies: dict[str, tuple[pd.DataFrame, pd.DataFrame]], prefix: Path) -> list[Path]:
    with plt.rc_context(PAPER):
        fig, axes = plt.subplots(len(studies), 4, figsize=(7.0, 1.5 * len(studies) + 0.3), squeeze=False)
        for row, (name, (dags, searches)) in zip(axes, studies.items()):
            k, l = max(zip(searches.k, searches.l), key=lambda t: (t[1], t[0]))
            s = searches[(searches.k == k) & (searches.l == l)]
            d = dags[dags.l == l]
            best = d.sort_values("test_acc").iloc[-1]
            found = s.found.value_counts().index[0]
            found_acc = d[d.dag == found].test_acc.mean()
            chain = d[d.role == "chain"].iloc[0]
            complete = d[d.role == "complete"].iloc[0]
            draw_dag(row[0], best.dag, f"{name}: best candidate ({best.test_acc:.3f})")
            draw_dag(row[1], found, f"found most often, k={k} ({found_acc:.3f})")
            draw_dag(row[2], chain.dag, f"chain ({chain.test_acc:.3f})")
            draw_dag(row[3], complete.dag, f"complete ({complete.test_acc:.3f})")
        fig.tight_layout()
        return _save(fig, prefix)


def properties_figure(studies, prefix: Path) -> list[Path]:
    frames = [d.assign(dataset=name) for name, (d, _) in studies.items()]
    d = pd.concat(frames, ignore_index=True).drop_duplicates(["dataset", "seed", "dag"])
    d["accuracy"] = 100 * d["test_acc"]
    with plt.rc_context(PAPER):
        fig, axes = plt.subplots(len(studies), len(PROPERTIES), figsize=(7.0, 1.6 * len(studies) + 0.4),
                                 squeeze=False, sharex="col")
        for r, (row, name) in enumerate(zip(axes, studies)):
            g = d[d.dataset == name]
            for ax, p in zip(row, PROPERTIES):
                jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(g))
                ax.scatter(g[p] + jitter, g["accuracy"], s=5, alpha=0.5, color="C0")
                if g[p].nunique() > 1:
                    rho = stats.spearmanr(g[p], g["accuracy"]).statistic
                    ax.set_title(f"ρ = {rho:.2f}", fontsize=7)
                ax.set_xlabel(p.replace("_", " ") if r == len(axes) - 1 else "")
                ax.set_ylabel(f"{name}\naccuracy (%)" if ax is row[0] else "")
                ax.grid(lw=0.3)
        fig.suptitle("standalone test accuracy against DAG properties (one point per trained DAG)",
                     fontsize=8)
        fig.tight_layout()
        return _save(fig, prefix)


def strategies_figure(studies, prefix: Path) -> list[Path]:
    s = pd.concat([x.assign(dataset=name) for name, (_, x) in studies.items()], ignore_index=True)
    s["regret"] = 100 * s["regret"]
    order = strategy_order(s.strategy.unique())
    with plt.rc_context(PAPER):
        fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.8), sharey=True)
        for ax, col, label in ((axes[0], "kendall_tau", "Kendall τ, final α vs standalone accuracy"),
                               (axes[1], "regret", "regret (best − chosen accuracy, points)")):
            sns.barplot(data=s, y="strategy", x=col, hue="dataset", order=order, ax=ax, errorbar="sd",
                        capsize=0.1, err_kws={"linewidth": 0.8}, palette="colorblind")
            ax.set_xlabel(label)
            ax.grid(axis="x", lw=0.3)
            if ax is axes[1]:
                ax.get_legend().remove()
            else:
                sns.move_legend(ax, "lower center", bbox_to_anchor=(1.0, 1.0), ncol=len(studies),
                                frameon=False, title=None)
        fig.tight_layout()
        return _save(fig, prefix)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Figures and tables of dense-DAG study folders.")
    p.add_argument("folders", nargs="+", help="output folders of `python -m nas study dense-dag`")
    p.add_argument("--out", required=True, help="where to write summary.md and the figures")
    args = p.parse_args(argv)
    try:
        studies = {}
        for f in args.folders:
            dags, searches = load_study(f)
            name = str(dags.dataset.iloc[0])
            studies[name] = (dags, searches)
    except ReportError as e:
        print(f"study_report: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for name, (dags, searches) in studies.items():
        rows = {"dags": dags.to_dict("records"), "searches": searches.to_dict("records")}
        parts.append(f"## {name}\n\n{len(searches)} searches, {len(dags)} DAGs trained standalone.\n\n"
                     + summarize(rows))
    (out / "summary.md").write_text("# dense-DAG study\n\n" + "\n".join(parts))
    written = [*dag_figure(studies, out / "dags"), *properties_figure(studies, out / "properties"),
               *strategies_figure(studies, out / "strategies")]
    print(f"wrote {out / 'summary.md'} and {len(written)} figure files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
