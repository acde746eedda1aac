"""The nb201 space behind the SearchSpace interface: its supernet, its derivation rules, its
numbers of a cell and its training from scratch."""

from __future__ import annotations

import pytest
import torch

from nas.spaces import get_space, make_supernet, space_config, train_config
from nas.spaces.nb201 import cell_stats, collapsed_by_computation
from nas.spaces.nb201_cell import OPS, Cell
from nas.spaces.nb201_net import NB201Network

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def tiny(**options):
    return make_supernet("nb201", space_config("nb201", channels=4, cells_per_stage=1, **options), 1, 10)


def test_the_supernet_shares_one_alpha_over_six_edges_and_five_operations():
    net = tiny()
    (alpha,) = net.arch_parameters()
    assert alpha.shape == (6, 5) and net.named_alphas() == {"cell": alpha}
    assert not any(p is alpha for _, p in net.named_weight_parameters())
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    rows = net.alpha_rows()
    assert len(rows) == 30 and {r["edge"] for r in rows} == {"0->1", "0->2", "1->2", "0->3", "1->3", "2->3"}
    assert {r["op"] for r in rows} == set(OPS)
    assert sum(r["weight"] for r in rows if r["edge"] == "0->1") == pytest.approx(1.0)
    # a 3-node cell: 3 edges; the parameter counts grow with channels and cells per stage
    assert tiny(nodes=3).alpha.shape == (3, 5)
    wide = make_supernet("nb201", space_config("nb201", channels=8, cells_per_stage=2), 1, 10)
    count = lambda net: sum(p.numel() for p in net.weight_parameters())  # noqa: E731
    assert count(wide) > count(tiny())


def test_the_derivation_ranks_none_by_default_and_drops_it_on_request():
    published, own = tiny(), tiny(derive="no-none")
    with torch.no_grad():
        for net in (published, own):
            net.alpha.zero_()
            net.alpha[:, OPS.index("none")] = 2.0            # none leads on every edge
            net.alpha[:, OPS.index("nor_conv_3x3")] = 1.0     # then a convolution
            net.alpha[5, OPS.index("skip_connect")] = 1.5     # but a skip on the last edge
    assert published.genotype() == Cell(("none",) * 6)
    assert own.genotype() == Cell(("nor_conv_3x3",) * 5 + ("skip_connect",))
    assert cell_stats(published.genotype())["zero_output"] == 1.0
    # the α that select the derived cell exactly: one-hot after the softmax
    (a,) = own.discrete_alphas()
    probs = torch.softmax(a, -1)
    assert [OPS[i] for i in probs.argmax(1)] == list(own.genotype().ops)
    assert probs.max(1).values.min() > 0.999


def test_a_cell_is_described_by_its_parameter_free_edges_and_collapse():
    assert cell_stats(Cell.parse(ALL_SKIP)) == {"param_free_cell": 6.0, "convolutions": 0.0,
                                                "zero_output": 0.0, "collapsed": 1.0}
    best = cell_stats(Cell.parse(BEST))
    assert best["param_free_cell"] == 1.0 and best["convolutions"] == 5.0 and best["collapsed"] == 0.0
    space = get_space("nb201")
    refs = space.references(space_config("nb201"))
    assert set(refs) == {"all-skip_connect", "all-nor_conv_1x1", "all-nor_conv_3x3", "all-avg_pool_3x3"}
    assert str(refs["all-skip_connect"]) == ALL_SKIP


def test_a_collapse_by_computation_counts_dead_convolutions_as_absent():
    dead_ends = "|skip_connect~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
    of_a_zero = "|none~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    for text in (dead_ends, of_a_zero):   # the output is the input (and a constant): not a collapse
        assert collapsed_by_computation(Cell.parse(text))   # by its edges, one by its computation
        assert cell_stats(Cell.parse(text))["collapsed"] == 0.0
    assert collapsed_by_computation(Cell.parse(ALL_SKIP)) and not collapsed_by_computation(Cell.parse(BEST))
    cut_off = "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"   # every edge free, output zero
    assert cell_stats(Cell.parse(cut_off))["collapsed"] == 1.0
    assert not collapsed_by_computation(Cell.parse(cut_off))


def test_bad_options_and_strings_are_named_in_one_sentence():
    with pytest.raises(ValueError, match="derive must be one of all, no-none"):
        space_config("nb201", derive="argmax")
    with pytest.raises(ValueError, match="distinct ones of"):
        space_config("nb201", ops=("nor_conv_5x5",))
    with pytest.raises(ValueError, match="needs an operation other than none"):
        space_config("nb201", ops=("none",), derive="no-none")
    with pytest.raises(ValueError, match="nodes must be at least 2"):
        space_config("nb201", nodes=1)
    with pytest.raises(ValueError, match="unknown operation 'conv'"):
        get_space("nb201").parse("|conv~0|")
    assert str(get_space("nb201").parse(BEST)) == BEST


def test_a_cell_trains_from_scratch_and_resumes_to_the_same_result(tiny_digits, through_a_file):
    cfg = train_config("nb201", channels=4, cells_per_stage=1, epochs=2, batch_size=64, seed=3)
    space = get_space("nb201")
    cell = space.parse(BEST)
    whole = space.train_and_test(cell, tiny_digits, space_config("nb201"), cfg, torch.device("cpu"))
    states = []
    space.train_and_test(cell, tiny_digits, space_config("nb201"),
                         train_config("nb201", channels=4, cells_per_stage=1, epochs=2, batch_size=64,
                                      seed=3),
                         torch.device("cpu"), on_checkpoint=states.append)
    resumed = space.train_and_test(cell, tiny_digits, space_config("nb201"), cfg, torch.device("cpu"),
                                   resume=through_a_file(states[0]))
    assert resumed["test_acc"] == whole["test_acc"]
    assert resumed["test_loss"] == pytest.approx(whole["test_loss"])
    assert [h["epoch"] for h in whole["history"]] == [0, 1] and whole["train_acc"] > 0.1
    assert whole["params"] == sum(p.numel() for p in NB201Network(cell, 4, 1, 10, 1).parameters())
    with pytest.raises(ValueError, match="another configuration"):
        space.train_and_test(cell, tiny_digits, space_config("nb201"),
                             train_config("nb201", channels=4, cells_per_stage=1, epochs=3),
                             torch.device("cpu"),
                             resume=states[0])
