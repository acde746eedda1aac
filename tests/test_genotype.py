import json

import pytest
import torch

from nas.genotype import (
    DARTS_V1,
    DARTS_V2,
    Genotype,
    GenotypeError,
    derive_genotype,
    parse_genotype,
    resolve_genotype,
)
from nas.ops import PRIMITIVES

OPS = PRIMITIVES
NONE = OPS.index("none")


def _alpha_with(choices: dict[int, tuple[int, float]], steps: int = 4) -> torch.Tensor:
    """α of zeros with alpha[edge, op] = value for each edge in `choices`."""
    a = torch.zeros(sum(i + 2 for i in range(steps)), len(OPS))
    for edge, (op, value) in choices.items():
        a[edge, op] = value
    return a


def test_derive_picks_the_two_strongest_edges_and_their_best_ops():
    # node 0 has edges 0, 1; node 1 has edges 2, 3, 4; node 2: 5..8; node 3: 9..13
    a = _alpha_with({0: (4, 3.0), 1: (1, 2.0), 2: (5, 1.0), 3: (6, 4.0), 4: (7, 2.5),
                     5: (3, 1.0), 8: (2, 2.0), 7: (4, 3.0), 13: (6, 5.0), 9: (7, 1.0)})
    g = derive_genotype(a, a, OPS, steps=4, multiplier=4)
    assert g.normal[:2] == (("sep_conv_3x3", 0), ("max_pool_3x3", 1))
    assert g.normal[2:4] == (("dil_conv_3x3", 1), ("dil_conv_5x5", 2))
    assert g.normal[4:6] == (("sep_conv_3x3", 2), ("avg_pool_3x3", 3))
    assert g.normal[6:8] == (("dil_conv_3x3", 4), ("dil_conv_5x5", 0))
    assert g.normal_concat == (2, 3, 4, 5)


def test_none_is_never_chosen_even_when_it_dominates():
    a = torch.zeros(14, len(OPS))
    a[:, NONE] = 10.0
    a[1, OPS.index("sep_conv_5x5")] = 1.0
    g = derive_genotype(a, a, OPS, 4, 4)
    assert all(op != "none" for op, _ in g.normal + g.reduce)
    assert ("sep_conv_5x5", 1) in g.normal[:2]


def test_edges_of_a_node_come_from_distinct_predecessors():
    g = derive_genotype(torch.randn(14, len(OPS)), torch.randn(14, len(OPS)), OPS, 4, 4)
    for gene in (g.normal, g.reduce):
        for i in range(4):
            assert gene[2 * i][1] != gene[2 * i + 1][1]


def test_edges_are_ranked_after_the_softmax_within_each_edge_not_by_raw_alpha():
    # Node 1 (edges 2, 3, 4 from inputs 0, 1, 2). Input 0 has the largest raw α, but its
    # probability is split between two equal ops; ranked by softmax, inputs 1 and 2 win.
    a = torch.zeros(14, len(OPS))
    a[2, OPS.index("sep_conv_3x3")] = 3.0
    a[2, OPS.index("sep_conv_5x5")] = 3.0
    a[3, OPS.index("max_pool_3x3")] = 2.9
    a[4, OPS.index("avg_pool_3x3")] = 2.0
    probs = torch.softmax(a, -1)
    assert probs[2].max() < probs[4].max() < probs[3].max()  # the premise
    g = derive_genotype(a, a, OPS, 4, 4)
    assert g.normal[2:4] == (("max_pool_3x3", 1), ("avg_pool_3x3", 2))


def test_json_and_text_round_trip():
    for g in (DARTS_V1, DARTS_V2):
        assert Genotype.from_json(g.to_json()) == g
        assert parse_genotype(str(g)) == g
        assert parse_genotype(g.to_json()) == g


def test_darts_text_with_range_concat_parses():
    text = str(DARTS_V2).replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    assert parse_genotype(text) == DARTS_V2


@pytest.mark.parametrize("text, match", [
    ("Genotype(normal=[('sep_conv_3x3', 0)", "not of the form"),
    ("Genotype(normal=[('conv_9x9', 0), ('sep_conv_3x3', 1)], normal_concat=[2], "
     "reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], reduce_concat=[2])", "'conv_9x9'"),
    ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 2)], normal_concat=[2], "
     "reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], reduce_concat=[2])", "input 2"),
    ("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2], "
     "reduce=[('sep_conv_3x3', 0)], reduce_concat=[2])", "two inputs per node"),
    ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[7], "
     "reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], reduce_concat=[2])", "normal_concat"),
    ("Genotype(normal=[('none', 0), ('sep_conv_3x3', 1)], normal_concat=[2], "
     "reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], reduce_concat=[2])", "'none'"),
    ("os.system('true')", "one call Genotype"),
    ('{"normal": []}', "lacks the field"),
])
def test_malformed_genotypes_raise_one_clear_error(text, match):
    with pytest.raises(GenotypeError, match=match):
        parse_genotype(text)


def test_resolve_by_name_file_folder_and_text(tmp_path):
    assert resolve_genotype("DARTS_V2") is DARTS_V2
    assert resolve_genotype("darts_v1") is DARTS_V1
    (tmp_path / "genotype.json").write_text(json.dumps(DARTS_V1.to_dict()))
    assert resolve_genotype(str(tmp_path / "genotype.json")) == DARTS_V1
    assert resolve_genotype(str(tmp_path)) == DARTS_V1
    (tmp_path / "g.txt").write_text(str(DARTS_V2))
    assert resolve_genotype(str(tmp_path / "g.txt")) == DARTS_V2
    assert resolve_genotype(str(DARTS_V2)) == DARTS_V2
    with pytest.raises(GenotypeError, match="neither a known genotype name"):
        resolve_genotype("DARTS_V3")
    (tmp_path / "bad.txt").write_text("Genotype(")
    with pytest.raises(GenotypeError, match="bad.txt"):
        resolve_genotype(str(tmp_path / "bad.txt"))


NAMES = "DARTS_V1, DARTS_V2, DARTS"   # the published genotypes resolve_genotype knows


@pytest.mark.parametrize("text, message", [
    ("Genotype(normal=[", "the genotype text is not of the form Genotype(normal=[...], "
     "normal_concat=[...], reduce=[...], reduce_concat=[...])"),
    ('{"normal": [}', "the genotype is not valid JSON (Expecting value at line 1)"),
    ("[1, 2]", "the genotype text must be one call Genotype(normal=..., normal_concat=..., "
     "reduce=..., reduce_concat=...) with keyword arguments"),
    ('{"normal": [], "reduce": []}', "the genotype lacks the field(s) normal_concat, reduce_concat"),
    ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=range(2, x), "
     "reduce=[], reduce_concat=[2])", "the genotype's 'normal_concat' is not a literal list"),
    ("Genotype(normal=f(), normal_concat=[2], reduce=[], reduce_concat=[2])",
     "the genotype's 'normal' is not a literal list"),
    # another call with the same keywords, or the right call with a positional argument
    ("Cell(normal=[], normal_concat=[2], reduce=[], reduce_concat=[2])",
     "the genotype text must be one call Genotype(normal=..., normal_concat=..., "
     "reduce=..., reduce_concat=...) with keyword arguments"),
    ("Genotype([], normal=[], normal_concat=[2], reduce=[], reduce_concat=[2])",
     "the genotype text must be one call Genotype(normal=..., normal_concat=..., "
     "reduce=..., reduce_concat=...) with keyword arguments"),
    (str(DARTS_V2)[:-1] + ", depth=3, colour='red')", "the genotype text has unknown field(s) colour, depth"),
])
def test_each_malformed_genotype_gets_its_whole_message(text, message):
    # the whole sentence: what a user reads is the behaviour here
    with pytest.raises(GenotypeError) as e:
        parse_genotype(text)
    assert str(e.value) == message


def test_a_json_genotype_that_is_no_object_says_what_it_got():
    with pytest.raises(GenotypeError) as e:
        Genotype.from_dict([1, 2])
    assert str(e.value) == "a genotype must be a JSON object, got list"


def test_resolve_reads_text_with_leading_blanks_and_json_and_names_what_it_knows(tmp_path):
    assert resolve_genotype("\n  " + str(DARTS_V2)) == DARTS_V2
    assert resolve_genotype("  " + json.dumps(DARTS_V1.to_dict())) == DARTS_V1
    with pytest.raises(GenotypeError) as e:
        resolve_genotype("DARTS_V3")
    assert str(e.value) == (f"'DARTS_V3' is neither a known genotype name ({NAMES}), nor an "
                            "existing file, nor a Genotype(...) or JSON text")


# ---------------------------------------------------------------- cell drawings (nas/plot.py)

# Every node fed by both inputs: eight edges leave c_{k-2} and c_{k-1} towards one column.
FAN_IN = Genotype(normal=[("sep_conv_3x3", 0), ("dil_conv_5x5", 1)] * 4, normal_concat=[2, 3, 4, 5],
                  reduce=[("max_pool_3x3", 0), ("skip_connect", 1), ("sep_conv_5x5", 2), ("avg_pool_3x3", 1),
                          ("dil_conv_3x3", 3), ("sep_conv_3x3", 2), ("skip_connect", 4), ("max_pool_3x3", 3)],
                  reduce_concat=[2, 3, 4, 5])


@pytest.mark.parametrize("genotype", [DARTS_V2, DARTS_V1, FAN_IN], ids=["v2", "v1", "fan-in"])
def test_cell_drawing_renders_node_labels_and_overlaps_no_text(genotype, tmp_path):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from analysis.plotting import draw_cell, op_color, plot_genotype

    cells = ((genotype.normal, genotype.normal_concat), (genotype.reduce, genotype.reduce_concat))
    for gene, concat in cells:
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92)
        draw_cell(gene, concat, "cell", ax)
        fig.canvas.draw()
        texts = [t for t in ax.texts if t.get_text()]
        names = [t.get_text() for t in texts]
        # Inputs and output as mathtext (rendered c with a subscript), never raw TeX.
        assert {r"$c_{k-2}$", r"$c_{k-1}$", r"$c_{k}$"} <= set(names)
        assert not [n for n in names if "_{" in n and not n.startswith("$")]
        ops = [t for t in texts if t.get_text() in {op for op, _ in gene}]
        assert len(ops) == len(gene)                                  # one label per edge
        assert all(t.get_color() == op_color(t.get_text()) for t in ops)
        boxes = [t.get_window_extent() for t in texts]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert not boxes[i].overlaps(boxes[j]), (names[i], names[j])
        plt.close(fig)
    paths = plot_genotype(genotype, tmp_path / "cell")
    assert [p.name for p in paths] == [f"cell_{k}.{e}" for k in ("normal", "reduce") for e in ("png", "pdf")]


def test_strategy_colours_are_fixed_whatever_the_experiment_holds():
    from analysis.plotting import RANDOM_COLOR, strategy_colors
    from nas.strategies import STRATEGIES

    everyone = strategy_colors(list(STRATEGIES))
    assert strategy_colors(["hyperdarts-mlp"])["hyperdarts-mlp"] == everyone["hyperdarts-mlp"]
    assert everyone["random"] == RANDOM_COLOR
    searching = [s for s in STRATEGIES if s != "random"]
    assert len({everyone[s] for s in searching}) == len(searching)   # all different


def test_a_genotype_built_from_bad_parts_names_the_field_and_the_part():
    good = DARTS_V2.to_dict()

    def message(**parts):
        with pytest.raises(GenotypeError) as e:
            Genotype(**{**good, **parts})
        return str(e.value)

    assert message(reduce_concat=[2, "3"]) == "the genotype's 'reduce_concat' must be a list of node indices"
    assert message(normal_concat=3) == "the genotype's 'normal_concat' must be a list of node indices"
    assert message(reduce=[("skip_connect", 0, 1)]) == (
        "the genotype's 'reduce' holds ('skip_connect', 0, 1), which is not an (operation, input) pair")
    assert message(normal="skip_connect") == (
        "the genotype's 'normal' must be a list of (operation, input) pairs")


def test_alpha_of_the_wrong_shape_is_refused_with_both_shapes():
    prims = ("none", "skip_connect", "sep_conv_3x3")
    with pytest.raises(ValueError) as e:
        derive_genotype(torch.zeros(14, 3), torch.zeros(13, 3), prims, steps=4, multiplier=4)
    assert str(e.value) == "α has shape (13, 3), expected (14, 3)"


def test_an_invalid_genotype_gets_the_whole_message_at_each_boundary():
    good = DARTS_V2.to_dict()   # 4 nodes: inputs of node k are 0..k-1, concat among 2..5

    def message(**parts):
        with pytest.raises(GenotypeError) as e:
            Genotype(**{**good, **parts})
        return str(e.value)

    valid = ("avg_pool_3x3, max_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, sep_conv_7x7, "
             "dil_conv_3x3, dil_conv_5x5, conv_7x1_1x7")   # every operation nas.ops defines
    assert message(normal=[("conv_9x9", 0), *good["normal"][1:]]) == (
        f"the genotype's 'normal' uses the unknown operation 'conv_9x9'; valid: {valid}")
    assert message(normal=[("none", 0), *good["normal"][1:]]) == (
        f"the genotype's 'normal' uses the unknown operation 'none'; valid: {valid}")
    last = good["reduce"][:-1]
    Genotype(**{**good, "reduce": [*last, ("skip_connect", 4)]})          # node 5 reads 0..4
    assert message(reduce=[*last, ("skip_connect", 5)]) == (
        "the genotype's 'reduce' feeds node 5 from input 5, but only inputs 0..4 exist there")
    assert message(reduce=good["reduce"][:-1]) == (
        "the genotype's 'reduce' must list two inputs per node, got 7 pair(s)")
    assert message(reduce=good["reduce"][:-2]) == (
        "the genotype's normal and reduction cells have different node counts")
    Genotype(**{**good, "normal_concat": [2, 5]})
    for concat in ([2, 6], [1, 2], [2, 2], []):
        assert message(normal_concat=concat) == (
            f"the genotype's 'normal_concat' is {concat}, but must list distinct intermediate nodes "
            "among 2..5")
