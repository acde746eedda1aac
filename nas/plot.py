"""Cell drawings in the spirit of the DARTS figures, with matplotlib only (no graphviz).

Inputs c_{k-2}, c_{k-1} on the left, intermediate nodes 0..n-1 in the middle,
the output c_{k} on the right; each edge carries its operation's name.
"""

from __future__ import annotations

from pathlib import Path

from nas.genotype import Genotype

_COLORS = {"input": "#a6d96a", "node": "#abd9e9", "output": "#fee08b"}


def draw_cell(gene, concat, title: str, ax) -> None:
    """Draw one cell (a list of (op, input) pairs, two per node) on a matplotlib Axes."""
    n_nodes = len(gene) // 2
    # Rank = longest path from the inputs; nodes of one rank stand in one column.
    rank = {0: 0, 1: 0}
    for i in range(n_nodes):
        rank[i + 2] = 1 + max(rank[j] for _, j in gene[2 * i:2 * i + 2])
    columns: dict[int, list[int]] = {}
    for key in range(n_nodes + 2):
        columns.setdefault(rank[key], []).append(key)
    pos = {}
    height = max(len(keys) for keys in columns.values())
    for r, keys in columns.items():
        # Spread every column over the tallest one's height, so edges fan out.
        gap = 1.8 * max(1, height - 1) / max(1, len(keys) - 1) if len(keys) > 1 else 0.0
        for m, key in enumerate(keys):
            pos[key] = (2.6 * r, gap * ((len(keys) - 1) / 2 - m))
    out_x = 2.6 * (max(columns) + 1)
    pos["out"] = (out_x, 0.0)
    labels = {0: "c_{k-2}", 1: "c_{k-1}", "out": "c_{k}"}
    labels.update({i + 2: str(i) for i in range(n_nodes)})

    def node(key, kind):
        x, y = pos[key]
        ax.text(x, y, labels[key], ha="center", va="center", fontsize=10, zorder=3,
                bbox={"boxstyle": "round,pad=0.4", "fc": _COLORS[kind], "ec": "black", "lw": 0.8})

    for k, (op, j) in enumerate(gene):
        target = k // 2 + 2
        (x0, y0), (x1, y1) = pos[j], pos[target]
        # Edges that jump over nodes bend more, so parallel edges stay apart.
        rad = 0.18 if k % 2 else -0.18
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=1,
                    arrowprops={"arrowstyle": "-|>", "color": "#444444", "lw": 1.0,
                                "shrinkA": 14, "shrinkB": 14,
                                "connectionstyle": f"arc3,rad={rad}"})
        # The label sits on the curve (a quadratic Bézier with matplotlib's arc3 control
        # point), nearer the source for edges from the inputs, so crossing edges' labels part.
        t = 0.36 if j < 2 else 0.5
        cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
        mx = (1 - t) ** 2 * x0 + 2 * t * (1 - t) * cx + t**2 * x1
        my = (1 - t) ** 2 * y0 + 2 * t * (1 - t) * cy + t**2 * y1
        ax.text(mx, my, op, ha="center", va="center", fontsize=7, zorder=2, color="#b2182b",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    def out_rad(x0: float, y0: float) -> float:
        # Bend the concat edges that would otherwise run through a node of a later column.
        if x0 == out_x - 2.6:
            return 0.0
        return 0.2 if y0 <= 0 else -0.2

    for c in concat:
        (x0, y0), (x1, y1) = pos[c], pos["out"]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=1,
                    arrowprops={"arrowstyle": "-|>", "color": "#999999", "lw": 0.8, "ls": "--",
                                "shrinkA": 12, "shrinkB": 14,
                                "connectionstyle": f"arc3,rad={out_rad(x0, y0)}"})
    node(0, "input")
    node(1, "input")
    for i in range(n_nodes):
        node(i + 2, "node")
    node("out", "output")
    ys = [y for _, y in pos.values()]
    ax.set_xlim(-1.0, out_x + 1.0)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 1.0)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.axis("off")


def plot_genotype(genotype: Genotype, out_prefix: str | Path,
                  formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write <prefix>_normal.<fmt> and <prefix>_reduce.<fmt>; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, gene, concat in (("normal", genotype.normal, genotype.normal_concat),
                               ("reduce", genotype.reduce, genotype.reduce_concat)):
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        draw_cell(gene, concat, f"{'normal' if kind == 'normal' else 'reduction'} cell", ax)
        fig.tight_layout()
        for fmt in formats:
            path = out_prefix.with_name(f"{out_prefix.name}_{kind}.{fmt}")
            fig.savefig(path, dpi=150)
            written.append(path)
        plt.close(fig)
    return written
