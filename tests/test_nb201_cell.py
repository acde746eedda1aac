"""NAS-Bench-201's cell: its string form read and written back exactly, its enumeration, and its
canonical form against the count its authors publish."""

import re

import pytest

from nas.spaces.nb201_cell import OPS, Cell, CellError, all_cells, distinct_cells

# strings as NAS-Bench-201 writes them (its paper's Figure 1 cell, ResNet-like, all-skip, all-conv)
STRINGS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|",
]


@pytest.mark.parametrize("text", STRINGS)
def test_a_cell_string_is_read_and_written_back_exactly(text):
    cell = Cell.parse(text)
    assert str(cell) == text and Cell.parse(str(cell)) == cell
    assert cell.nodes == text.count("+") + 2 and len(cell.ops) == text.count("~")


def test_the_space_has_5_to_the_6_cells_and_6466_distinct_computations():
    """15,625 cells of 4 nodes, 6,466 of them distinct under NAS-Bench-201's rule (the count its
    authors publish); 3 nodes: 125 cells."""
    cells = list(all_cells())
    assert len(cells) == 15_625 == len(set(cells))
    assert len({c.canonical() for c in cells}) == 6_466
    assert sum(1 for _ in all_cells(3)) == 125
    # one representative per computation, the first string of its form in index order
    reps = distinct_cells()
    assert len(reps) == 6_466 == len({c.canonical() for c in reps})
    assert reps[0] == cells[0]
    first = {}
    for i, c in enumerate(cells):
        first.setdefault(c.canonical(), i)
    assert [cells.index(c) for c in reps[:50]] == sorted(first.values())[:50]
    assert len(distinct_cells(3)) == len({c.canonical() for c in all_cells(3)})
    assert str(cells[0]) == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_the_canonical_form_is_the_published_rule_with_its_limits():
    # the same terms by another route: conv(x) directly, or conv of a skip of x
    direct = Cell.parse("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    routed = Cell.parse("|skip_connect~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|")
    assert direct != routed and direct.canonical() == routed.canonical() == "#+#+(0)@nor_conv_3x3"
    # a skip to the output adds its input: the cell computes x + conv(x), not conv(x)
    both = Cell.parse("|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|skip_connect~1|none~2|")
    assert both.canonical() != direct.canonical()
    # the rule's limit (module docstring): nodes 1 and 2 swapped compute the same, named twice
    a = Cell.parse("|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    b = Cell.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    assert a.canonical() != b.canonical()


def test_a_cell_cut_off_from_its_input_is_zero_by_paths():
    zero = [c for c in all_cells() if c.is_zero()]
    # the output is cut off iff every path from node 0 to node 3 has a none edge
    def cut(c):
        ops = dict(((j, i), op) for j, i, op in c.edges())
        paths = [[(3, 0)], [(1, 0), (3, 1)], [(2, 0), (3, 2)], [(1, 0), (2, 1), (3, 2)]]
        return all(any(ops[e] == "none" for e in p) for p in paths)
    assert [c for c in all_cells() if cut(c)] == zero and len(zero) > 0
    assert Cell.parse("|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|").is_zero()
    assert not Cell.parse(STRINGS[2]).is_zero()


def test_the_live_operations_are_those_on_a_path_from_the_input_to_the_output():
    paths = [[(3, 0)], [(1, 0), (3, 1)], [(2, 0), (3, 2)], [(1, 0), (2, 1), (3, 2)]]
    for c in all_cells():   # every cell, against the four paths of a 4-node cell written out
        ops = {(j, i): op for j, i, op in c.edges()}
        on = {e for p in paths if all(ops[x] != "none" for x in p) for e in p}
        assert c.live_ops() == [op for j, i, op in c.edges() if (j, i) in on]
    # the convolutions of node 1 and 2 end at none edges: the output is the input
    assert Cell.parse(STRINGS[1]).live_ops() == ["skip_connect"]
    assert Cell.parse("|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|").live_ops() == []


@pytest.mark.parametrize("text, words", [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|", "node 2 of '|nor_conv_3x3~0|+|nor_conv_3x3~0|' must take all 2"),
    ("|conv_5x5~0|", "unknown operation 'conv_5x5'"),
    ("|nor_conv_3x3~1|", "must list its inputs as ~0, ~1, … in order"),
    ("nor_conv_3x3~0", "must be written |op~input|…|"),
])
def test_a_malformed_string_is_refused_in_one_sentence(text, words):
    with pytest.raises(CellError, match=re.escape(words)):
        Cell.parse(text)
    assert OPS[0] == "none"


def test_a_cell_built_directly_must_have_one_edge_per_pair_of_nodes():
    assert Cell(("none",) * 3).nodes == 3
    with pytest.raises(CellError, match="1, 3, 6, 10, … edges"):
        Cell(("none",) * 4)
