"""NAS-Bench-201's cell as an architecture (Dong & Zhou, ICLR 2020): its string form, its
enumeration and its canonical form. The space's supernet and network build on it (issue 31).

A cell of n nodes: node 0 is the cell's input, node j (1 ≤ j < n) sums one operation of every
earlier node, and node n − 1 is the output; 4 nodes have 6 edges, 5 operations give 5⁶ = 15,625
cells. NAS-Bench-201 writes a cell node by node, each node's inputs in order:

    |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|

`Cell.parse` reads exactly that form and `str(cell)` writes it back character for character.

`Cell.canonical()` names the computation a cell performs, so that a table stores one row per
distinct computation and every string maps to it. The rule is NAS-Bench-201's own
(`to_unique_str(consider_zero=True)` in its code): each node is the sorted sum of its terms, a
`none` edge or an input that is identically zero contributes the zero term `#`, `skip_connect`
passes its input's expression through unchanged, and any other operation wraps it, `(x)@op`.
Skips and sorting identify cells that reach the same terms by other routes (a convolution of
the input taken directly or after a skip to node 1), and zeros propagate through `none`; it gives
6,466 distinct computations among the 15,625 cells, the count the benchmark's authors publish
(tested). The rule is kept exactly, quirks included, because the
published count is what lets a table built here be read beside NAS-Bench-201's: a zero term stays
in its sum (`#+0` is not `0`); a node whose terms are all zero is written `#+#`, which is not
recognised as zero downstream, so the all-zero output has two names (`#+#+#` and `#+#+#+#`: 6,465
computations if they were merged); an operation of a zero input counts as zero, although a
convolution's BatchNorm turns zero into its shift; a node's sum stays nested inside the next
node's (so two intermediate nodes that could be swapped are not identified: the sum's terms are
sorted only within each node); and `(x)@op + (x)@op` is not folded into one term. `is_zero`
answers whether a cell's output is cut off from its input (by paths, not by the rule).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
ZERO = "#"
# NAS-Bench-201's best cell on CIFAR-10 (its 200-epoch table; the cell whose parameter count
# tests/golden/nb201_params.json pins)
NB201_BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


class CellError(ValueError):
    """A string that is not a cell of the space, said in one sentence."""


def edge_count(nodes: int) -> int:
    return nodes * (nodes - 1) // 2


@dataclass(frozen=True)
class Cell:
    """`ops[k]` is the operation of the k-th edge in NAS-Bench-201's order: node 1's input 0, node
    2's inputs 0 and 1, node 3's inputs 0, 1 and 2, and so on."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if not any(edge_count(n) == len(self.ops) for n in range(2, len(self.ops) + 3)):
            raise CellError(f"a cell has 1, 3, 6, 10, … edges (one per pair of nodes), not {len(self.ops)}")

    @property
    def nodes(self) -> int:
        n = 2
        while edge_count(n) < len(self.ops):
            n += 1
        return n

    def edges(self) -> list[tuple[int, int, str]]:
        """(to, from, op) per edge, in NAS-Bench-201's order."""
        pairs = [(j, i) for j in range(1, self.nodes) for i in range(j)]
        return [(j, i, op) for (j, i), op in zip(pairs, self.ops)]

    def __str__(self) -> str:
        groups: dict[int, list[str]] = {}
        for j, i, op in self.edges():
            groups.setdefault(j, []).append(f"{op}~{i}")
        return "+".join("|" + "|".join(groups[j]) + "|" for j in sorted(groups))

    @classmethod
    def parse(cls, text: str, ops: tuple[str, ...] = OPS) -> Cell:
        """The cell `text` writes (NAS-Bench-201's form); CellError if it is not one."""
        parts = str(text).strip().split("+")
        found: list[str] = []
        for j, part in enumerate(parts, start=1):
            if not (part.startswith("|") and part.endswith("|")) or len(part) < 2:
                raise CellError(f"node {j} of {text!r} must be written |op~input|…|, got {part!r}")
            terms = part[1:-1].split("|")
            if len(terms) != j:
                raise CellError(f"node {j} of {text!r} must take all {j} earlier nodes, it takes "
                                f"{len(terms)}")
            for i, term in enumerate(terms):
                op, sep, source = term.partition("~")
                if not sep or source != str(i):
                    raise CellError(f"node {j} of {text!r} must list its inputs as ~0, ~1, … in order, "
                                    f"got {term!r}")
                if op not in ops:
                    raise CellError(f"unknown operation {op!r} in {text!r}; the space's operations are "
                                    f"{', '.join(ops)}")
                found.append(op)
        return cls(tuple(found))

    def canonical(self) -> str:
        """The computation's name under NAS-Bench-201's rule (module docstring): equal for cells
        the rule identifies (not for every pair that computes the same: the docstring says which
        it misses); `is_zero`, not this name, tells a cell whose output is zero."""
        node = {0: "0"}
        for j in range(1, self.nodes):
            terms = []
            for to, i, op in self.edges():
                if to != j:
                    continue
                if op == "none" or node[i] == ZERO:
                    terms.append(ZERO)
                elif op == "skip_connect":
                    terms.append(node[i])
                else:
                    terms.append(f"({node[i]})@{op}")
            node[j] = "+".join(sorted(terms))
        return node[self.nodes - 1]

    def is_zero(self) -> bool:
        """Whether no path of non-`none` edges leads from the input to the output: the output then
        ignores the input whatever the weights (it is zero, or a constant where a convolution's
        BatchNorm adds its shift to a zero node), and the network predicts one class for every
        image (10% on CIFAR-10). Not read off `canonical()`: its rule misses the zero of a
        node whose terms are all zero, and names 87 such cells `(#+#)@op` and the like."""
        reach = {0}
        for j, i, op in self.edges():   # (edges into a node come after those into earlier ones)
            if op != "none" and i in reach:
                reach.add(j)
        return self.nodes - 1 not in reach

    def live_ops(self) -> list[str]:
        """The operations of the edges on a path of non-`none` edges from the input to the output,
        in NAS-Bench-201's edge order: those through which the output depends on the input. An
        edge from a node the input does not reach (a zero input: a convolution of it adds an
        input-independent term, from its BatchNorm's shift) or into a node that does not reach the
        output (its result is never used) is left out; a cell whose output is cut off (`is_zero`)
        has none."""
        reach = {0}
        for j, i, op in self.edges():
            if op != "none" and i in reach:
                reach.add(j)
        feeds = {self.nodes - 1}
        for j, i, op in reversed(self.edges()):   # (edges out of a node come after those into it)
            if op != "none" and j in feeds:
                feeds.add(i)
        return [op for j, i, op in self.edges() if op != "none" and i in reach and j in feeds]

    def to_dict(self) -> dict:
        return {"arch": str(self), "canonical": self.canonical()}


def all_cells(nodes: int = 4, ops: tuple[str, ...] = OPS) -> Iterator[Cell]:
    """Every cell of the space, in NAS-Bench-201's index order (the last edge varies fastest)."""
    for combo in itertools.product(ops, repeat=edge_count(nodes)):
        yield Cell(combo)


def distinct_cells(nodes: int = 4, ops: tuple[str, ...] = OPS) -> list[Cell]:
    """One cell per distinct computation (canonical form) of the space: the first of its strings in
    NAS-Bench-201's index order (6,466 of the 4-node, 5-operation space's 15,625)."""
    seen: dict[str, Cell] = {}
    for cell in all_cells(nodes, ops):
        seen.setdefault(cell.canonical(), cell)
    return list(seen.values())
