"""What a collapse costs at this protocol, by the paths it keeps (issue 32: is DARTS's collapse a
large effect here, and which collapse?).

A cell whose output depends on its input only through parameter-free operations
(`nas.spaces.nb201.collapsed_by_computation`) computes a sum over its paths from the input to the
output: k paths of skips alone add k copies of the input, and a path through a pooling adds a
pooled copy. For every such computation in the table (CIFAR-10, the mean of its trainings), this
prints its skip-only and pooled paths and its accuracy, grouped by those two counts, with its
percentile among every cell of the table; then every search of the shipped grid whose cell is such
a computation, by either collapse count (`collapsed`: every edge parameter-free, pre-declared;
`by computation`: a convolution on no path from input to output counting as absent, after the
fact).

  python results/examples/nb201-cpu/collapse_paths.py [EXAMPLE] [TABLE]

(defaults: this folder, and the table snapshot in results/examples/tables/nb201-c8-n3-e2)
"""

import sys
from pathlib import Path

import pandas as pd

from nas.spaces.nb201 import cell_stats, collapsed_by_computation
from nas.spaces.nb201_cell import Cell
from resultstore.cells import CellTable
from resultstore.experiment import load_experiment


def paths(cell: Cell) -> tuple[int, int]:
    """(paths of skips only, paths through a pooling) from the input to the output, over the
    edges that are not `none`."""
    into: dict[int, list[tuple[int, str]]] = {}
    for j, i, op in cell.edges():
        if op != "none":
            into.setdefault(j, []).append((i, op))

    def walk(node: int, pooled: bool) -> list[bool]:
        if node == 0:
            return [pooled]
        return [p for i, op in into.get(node, []) for p in walk(i, pooled or op == "avg_pool_3x3")]

    ends = walk(cell.nodes - 1, False)
    return sum(not p for p in ends), sum(ends)


here = Path(__file__).resolve().parent
example = Path(sys.argv[1]) if len(sys.argv) > 1 else here
table = CellTable(Path(sys.argv[2]) if len(sys.argv) > 2
                  else here.parent / "tables" / "nb201-c8-n3-e2")
exp = load_experiment(example)
dataset = exp.trials.search_dataset.iloc[0]
rows = table.rows()
rows = rows[rows.dataset == dataset]
cells = rows.groupby("canonical").agg(acc=("test_acc", "mean"), trainings=("test_acc", "size"),
                                      arch=("arch", "first"))
cells["acc"] *= 100
cells["percentile"] = 100 * cells.acc.rank(pct=True)
free = cells[[collapsed_by_computation(Cell.parse(a)) for a in cells.arch]].copy()
free[["skip_paths", "pooled_paths"]] = [paths(Cell.parse(a)) for a in free.arch]
print(f"table {table.root.name} on {dataset}: {len(cells):,} cells, median {cells.acc.median():.2f}%, "
      f"best {cells.acc.max():.2f}%; {len(free)} of them collapsed by computation\n")
groups = free.groupby(["skip_paths", "pooled_paths"]).agg(
    cells=("acc", "size"), acc=("acc", "mean"), lo=("acc", "min"), hi=("acc", "max"),
    percentile=("percentile", "mean"))
print("collapsed computations by their paths (accuracy %: mean, min-max over the cells; the mean "
      "percentile among the table's cells):")
print(groups.round(2).to_string(), "\n")

found = exp.found
scored = exp.trials[(exp.trials.eval_dataset == dataset) & exp.trials.test_acc.notna()]
acc = 100 * scored.groupby(["strategy", "seed"]).test_acc.mean()
out = []
for r in found[found.search_dataset == dataset].itertuples(index=False):
    cell = Cell.parse(r.genotype)
    by_edges, by_computation = bool(cell_stats(cell)["collapsed"]), collapsed_by_computation(cell)
    if by_edges or by_computation:
        k, q = paths(cell) if by_computation else (float("nan"), float("nan"))
        out.append({"strategy": r.strategy, "seed": r.seed, "collapsed": by_edges,
                    "by computation": by_computation, "skip_paths": k, "pooled_paths": q,
                    "acc": acc.get((r.strategy, r.seed), float("nan")), "cell": r.genotype})
frame = pd.DataFrame(out).sort_values(["strategy", "seed"])
print(f"searches of {example.name} whose cell collapsed by either count ({len(frame)} of "
      f"{len(found)}; acc: looked-up accuracy, %):")
print(frame.round(2).to_string(index=False))
