"""Cell drawings in the spirit of the DARTS figures, with matplotlib only (no graphviz), and the
strategies' colours shared by every figure of the project.

Inputs c_{k-2}, c_{k-1} on the left (drawn as mathtext, $c_{k-2}$), intermediate nodes 0..n-1
in the middle, the output c_{k} on the right; each edge carries its operation's name. Edges bend
away from the nodes they would cross, and every operation label is placed along its edge where it
overlaps no other label and no node (checked on the rendered text, not guessed).

    python analysis/plotting.py --genotype runs/s0 --out runs/s0/cell   # <out>_{normal,reduce}.{png,pdf}
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":   # run as a script: python analysis/plotting.py --genotype ...
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nas.genotype import NAMED_GENOTYPES, Genotype, GenotypeError, resolve_genotype
from nas.ops import PRIMITIVES
from nas.options import Parser
from nas.strategies import STRATEGIES

_COLORS = {"input": "#a6d96a", "node": "#abd9e9", "output": "#fee08b"}
NODE_LABELS = {0: r"$c_{k-2}$", 1: r"$c_{k-1}$", "out": r"$c_{k}$"}

# matplotlib's tab10 without its grey, which is kept for `random` (no search), then darker extras.
_STRATEGY_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                    "#bcbd22", "#17becf", "#1b3a5f", "#7f4f24", "#6a994e")
RANDOM_COLOR = "#949494"
# One colour per operation (matplotlib's Dark2, dark enough for text), so that an edge and its
# label read as one even where edges cross.
_OP_COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666", "#e6ab02")


def op_color(op: str) -> str:
    ops = [p for p in PRIMITIVES if p != "none"]
    return _OP_COLORS[ops.index(op) % len(_OP_COLORS)] if op in ops else "#444444"


def strategy_colors(names=()) -> dict[str, str]:
    """One fixed colour per strategy, the same in every figure and every experiment: the registry's
    order (nas.strategies.STRATEGIES) picks the colours, then any other name in sorted order;
    `random` (a random genotype, no search) is grey."""
    order = [s for s in STRATEGIES if s != "random"]
    order += sorted(set(names) - set(order) - {"random"})
    colors = {s: _STRATEGY_COLORS[i % len(_STRATEGY_COLORS)] for i, s in enumerate(order)}
    colors["random"] = RANDOM_COLOR
    return colors


def _bezier(p0, p1, rad: float, t):
    """Points of matplotlib's arc3 connection (a quadratic Bézier) at parameters t (equal aspect)."""
    (x0, y0), (x1, y1) = p0, p1
    cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
    t = np.asarray(t, float)
    return ((1 - t) ** 2 * x0 + 2 * t * (1 - t) * cx + t**2 * x1,
            (1 - t) ** 2 * y0 + 2 * t * (1 - t) * cy + t**2 * y1)


def _inside(boxes, x, y, margin: float = 0.0) -> np.ndarray:
    """How many of the points (x, y) fall inside each box (x0, y0, x1, y1), grown by `margin`."""
    return np.array([np.sum((x > b[0] - margin) & (x < b[2] + margin) & (y > b[1] - margin)
                            & (y < b[3] + margin)) for b in boxes])


def _overlap(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def _data_box(text, ax, renderer, pad_pt: float) -> tuple[float, float, float, float]:
    """A text's extent in data coordinates, grown by pad_pt points on every side (its box's pad:
    the box patch itself is only laid out when the figure is drawn)."""
    ext = text.get_window_extent(renderer)
    pad = pad_pt * ax.figure.dpi / 72
    (x0, y0), (x1, y1) = ax.transData.inverted().transform([[ext.x0 - pad, ext.y0 - pad],
                                                            [ext.x1 + pad, ext.y1 + pad]])
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def draw_cell(gene, concat, title: str, ax) -> None:
    """Draw one cell (a list of (op, input) pairs, two per node) on a matplotlib Axes.
    (Long: one drawing top to bottom, its nodes, edges and labels in order; split, one picture's
    decisions would scatter.)"""
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
        # A node alone in its column stands alternately above and below the middle, so that a chain
        # of nodes zigzags and an edge that skips a node does not run through it.
        shift = 0.9 * (1 if r % 2 else -1) if len(keys) == 1 and r > 0 else 0.0
        for m, key in enumerate(keys):
            pos[key] = (2.6 * r, gap * ((len(keys) - 1) / 2 - m) + shift)
    step = 2.6 if len(columns) > 2 else 3.6   # few columns: longer edges, room for the labels
    pos = {key: (x / 2.6 * step, y) for key, (x, y) in pos.items()}
    out_x = step * (max(columns) + 1)
    pos["out"] = (out_x, 0.0)
    labels = {**NODE_LABELS, **{i + 2: str(i) for i in range(n_nodes)}}
    ys = [y for _, y in pos.values()]
    y_lo, y_hi = min(ys) - 1.0, max(ys) + 1.0
    ax.set_xlim(-1.0, out_x + 1.0)
    ax.set_ylim(y_lo, y_hi)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.axis("off")
    ax.apply_aspect()   # the final position, so that data and display coordinates agree below

    kinds = {0: "input", 1: "input", "out": "output", **{i + 2: "node" for i in range(n_nodes)}}
    node_text = {}
    for key, kind in kinds.items():
        x, y = pos[key]
        node_text[key] = ax.text(x, y, labels[key], ha="center", va="center", fontsize=10, zorder=4,
                                 bbox={"boxstyle": "round,pad=0.4", "fc": _COLORS[kind], "ec": "black",
                                       "lw": 0.8})
    renderer = ax.figure.canvas.get_renderer()
    node_box = {key: _data_box(t, ax, renderer, 0.4 * 10) for key, t in node_text.items()}

    # Every edge (operation edges, then the concatenation into c_k) with the bend that keeps it off
    # the other nodes and apart from the edges drawn before it, preferring a gentle bend.
    edges = [(j, k // 2 + 2, op) for k, (op, j) in enumerate(gene)] + [(c, "out", None) for c in concat]
    ts = np.linspace(0.08, 0.92, 60)
    chosen, curves = [], []
    for k, (src, dst, op) in enumerate(edges):
        others = [b for key, b in node_box.items() if key not in (src, dst)]
        preferred = (0.18 if k % 2 else -0.18) if op is not None else 0.0
        best = None
        for rad in (preferred, -preferred, 0.0, 0.3, -0.3, 0.45, -0.45, 0.6, -0.6):
            x, y = _bezier(pos[src], pos[dst], rad, ts)
            hits = int(_inside(others, x, y, margin=0.15).sum()) if others else 0
            hits += int(np.sum((y < y_lo + 0.2) | (y > y_hi - 0.2)))   # off the drawing
            # Points running along an earlier edge (closer than 0.12), away from a shared end.
            along = 0
            for (s2, d2), (x2, y2) in curves:
                d = np.hypot(x[:, None] - x2[None, :], y[:, None] - y2[None, :]).min(axis=1)
                near_end = np.zeros_like(x, bool)
                for shared in {src, dst} & {s2, d2}:
                    near_end |= np.hypot(x - pos[shared][0], y - pos[shared][1]) < 0.9
                # A crossing brings a few points close; a run of many is an edge along another.
                along += max(0, int(np.sum((d < 0.12) & ~near_end)) - 5)
            cost = 10 * hits + 0.5 * along + 3 * abs(rad - preferred)
            if best is None or cost < best[0]:
                best = (cost, rad)
        rad = best[1]
        chosen.append(rad)
        curves.append(((src, dst), _bezier(pos[src], pos[dst], rad, ts)))
        style = ({"color": op_color(op), "lw": 1.1, "shrinkA": 14, "shrinkB": 14} if op is not None else
                 {"color": "#999999", "lw": 0.8, "ls": "--", "shrinkA": 12, "shrinkB": 14})
        ax.annotate("", xy=pos[dst], xytext=pos[src], zorder=1,
                    arrowprops={"arrowstyle": "-|>", "connectionstyle": f"arc3,rad={rad}", **style})

    # Operation labels, in their edge's colour, along the edge: where the rendered label overlaps
    # no node and no label placed before it, covers the fewest other edges, and is nearest the
    # middle of its edge.
    # The nodes count with a margin, which keeps labels off the arrowheads.
    head = ts > 0.8   # the samples by the arrowheads: a label there hides where an edge ends
    placed = [_data_box(t, ax, renderer, 0.4 * 10 + 6) for t in node_text.values()]
    for i, ((src, dst, op), rad) in enumerate(zip(edges, chosen)):
        if op is None:
            continue
        text = ax.text(0, 0, op, ha="center", va="center", fontsize=7, zorder=3, color=op_color(op),
                       bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9})
        best = None
        own = curves[i][1]
        for t in np.linspace(0.22, 0.78, 15):
            x, y = _bezier(pos[src], pos[dst], rad, t)
            # On the edge, or just beside it (where the edge is too short to carry its label).
            for dy, extra in ((0.0, 0.0), (0.22, 1.0), (-0.22, 1.0)):
                text.set_position((float(x), float(y) + dy))
                box = _data_box(text, ax, renderer, 0.15 * 7 + 1)
                area = sum(_overlap(box, b) for b in placed)
                covered = sum(_inside([box], xy[0][head], xy[1][head])[0] * 10
                              + _inside([box], *xy)[0] for j, (_, xy) in enumerate(curves) if j != i)
                hidden = _inside([box], *own)[0] / len(own)   # of its own edge
                cost = 1000 * area + covered + 4 * abs(t - 0.5) + extra + 20 * max(0.0, hidden - 0.45)
                if best is None or cost < best[0]:
                    best = (cost, (float(x), float(y) + dy), box)
        text.set_position(best[1])
        placed.append(best[2])


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize=None, layout=None, **subplots_kw):
    """A figure and its axes built without pyplot: the figure gets its own Agg canvas (for files and
    measuring text), so no global backend is chosen or changed, and nothing needs closing (the
    figure is freed with its last reference)."""
    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **subplots_kw)


def plot_genotype(genotype: Genotype, out_prefix: str | Path,
                  formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write <prefix>_normal.<fmt> and <prefix>_reduce.<fmt>; returns the paths written."""
    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, gene, concat in (("normal", genotype.normal, genotype.normal_concat),
                               ("reduce", genotype.reduce, genotype.reduce_concat)):
        fig, ax = new_figure(figsize=(7.5, 4.2))
        # A fixed layout before drawing: the labels are placed in the final coordinates.
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92)
        draw_cell(gene, concat, f"{'normal' if kind == 'normal' else 'reduction'} cell", ax)
        for fmt in formats:
            path = out_prefix.with_name(f"{out_prefix.name}_{kind}.{fmt}")
            fig.savefig(path, dpi=150, bbox_inches="tight", pad_inches=0.1)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Draw a genotype's normal and reduction cells from the command line."""

    p = Parser(prog="python analysis/plotting.py",
               description="Draw the normal and the reduction cell of a genotype as "
                           "<out>_normal.{png,pdf} and <out>_reduce.{png,pdf}.")
    p.add_argument("--genotype", required=True,
                   help=f"a name ({', '.join(NAMED_GENOTYPES)}), a file, a search folder or text")
    p.add_argument("--out", default="cell", help="output prefix (default: cell)")
    p.add_argument("--formats", nargs="+", default=["png", "pdf"], help="(default: png pdf)")
    args = p.parse_args(argv)
    try:
        genotype = resolve_genotype(args.genotype)
    except GenotypeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in plot_genotype(genotype, args.out, tuple(args.formats)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
