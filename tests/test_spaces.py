import pytest
import torch

from nas.genotype import Genotype
from nas.spaces import make_supernet, space_config


@pytest.fixture
def small():
    return make_supernet("darts", space_config("darts", channels=4, layers=3), 1, 10)


def test_darts_search_supernet_has_the_published_size():
    # 1.93M weights (DARTS search network; NASLib asserts 1.930618 MB for it), 2 × 14 × 8 α
    net = make_supernet("darts", space_config("darts"), 3, 10)
    assert sum(p.numel() for p in net.weight_parameters()) == 1_930_618
    assert [tuple(a.shape) for a in net.arch_parameters()] == [(14, 8), (14, 8)]


def test_weights_and_alphas_are_disjoint_and_complete(small):
    w = {id(p) for p in small.weight_parameters()}
    a = {id(p) for p in small.arch_parameters()}
    assert not w & a
    assert w | a == {id(p) for p in small.parameters()}


def test_forward_shape_and_alpha_override(small):
    x = torch.randn(3, 1, 8, 8)
    y = small(x)
    assert y.shape == (3, 10)
    other = tuple(torch.randn_like(a) * 3 for a in small.arch_parameters())
    assert not torch.allclose(small(x, other), y)
    assert torch.allclose(small(x), y)  # batch statistics only: no state between passes


def test_forward_leaves_no_buffers_to_mutate(small):
    assert list(small.buffers()) == []


def test_reductions_sit_at_one_and_two_thirds():
    net = make_supernet("darts", space_config("darts", channels=4, layers=8), 3, 10)
    assert [i for i, c in enumerate(net.cells) if c.reduction] == [2, 5]


def test_genotype_follows_alpha(small):
    with torch.no_grad():
        small.alpha_normal.zero_()
        small.alpha_normal[:, 4] = 5.0  # sep_conv_3x3 everywhere
    g = small.genotype()
    assert isinstance(g, Genotype)
    assert {op for op, _ in g.normal} == {"sep_conv_3x3"}


def test_custom_operation_set_and_nodes():
    cfg = space_config("darts", channels=4, layers=3, nodes=3, multiplier=3,
                       primitives=("none", "skip_connect", "sep_conv_3x3"))
    net = make_supernet("darts", cfg, 3, 5)
    assert tuple(net.alpha_normal.shape) == (2 + 3 + 4, 3)
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 5)
    assert len(net.genotype().normal) == 6


def test_bad_space_options_are_named():
    with pytest.raises(ValueError, match="no option.*cells"):
        space_config("darts", cells=8)
    with pytest.raises(ValueError, match="unknown search space"):
        space_config("nasbench")


def test_partial_channels_bypass_and_shuffle_the_rest():
    from nas.spaces.darts import MixedOp

    op = MixedOp(4, 1, ("none", "skip_connect", "sep_conv_3x3"), partial_channels=2)
    x = torch.randn(2, 4, 6, 6)
    out = op(x, torch.tensor([0.0, 1.0, 0.0]))       # only the skip connection on channels 0, 1
    # [op0 op1 rest2 rest3] shuffled in 2 groups → [op0 rest2 op1 rest3]
    assert torch.allclose(out[:, 0], x[:, 0]) and torch.allclose(out[:, 2], x[:, 1])
    assert torch.equal(out[:, 1], x[:, 2]) and torch.equal(out[:, 3], x[:, 3])
    reduce = MixedOp(4, 2, ("max_pool_3x3", "skip_connect"), partial_channels=2)
    assert reduce(torch.randn(2, 4, 7, 7), torch.tensor([0.5, 0.5])).shape == (2, 4, 4, 4)


def test_partial_channels_shrink_the_supernet_and_keep_its_interface():
    full = make_supernet("darts", space_config("darts", channels=8, layers=3), 3, 10)
    pc = make_supernet("darts", space_config("darts", channels=8, layers=3, partial_channels=4), 3, 10)
    n = [sum(p.numel() for p in m.weight_parameters()) for m in (full, pc)]
    assert n[1] < 0.5 * n[0]
    assert pc(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    assert [a.shape for a in pc.arch_parameters()] == [a.shape for a in full.arch_parameters()]
    with pytest.raises(ValueError, match="partial_channels must be a positive divisor of channels"):
        space_config("darts", channels=8, partial_channels=3)


def test_every_bad_space_option_gets_its_whole_message_at_its_boundary():
    from nas.options import parse_option
    from nas.spaces import get_space, train_config

    def message(make, *args, **kwargs):
        with pytest.raises(ValueError) as e:
            make(*args, **kwargs)
        return str(e.value)

    assert message(get_space, "nb101") == (
        "unknown search space 'nb101'; valid spaces are darts, dense-dag, nb201")
    assert message(make_supernet, "dense-dag", space_config("dense-dag"), 1, 10) == (
        "the dense-dag space needs the image size")
    for name in ("channels", "layers", "nodes", "multiplier", "stem_multiplier"):
        assert message(space_config, "darts", **{name: 0}) == f"{name} must be at least 1, got 0"
    space_config("darts", nodes=1, multiplier=1, channels=2, layers=1, stem_multiplier=1)
    assert message(space_config, "darts", nodes=3, multiplier=4) == "multiplier (4) cannot exceed nodes (3)"
    assert message(space_config, "darts", channels=15) == (
        "channels must be even (reductions halve them), got 15")
    space_config("darts", channels=12, partial_channels=12)
    for k in (0, 5):
        assert message(space_config, "darts", channels=12, partial_channels=k) == (
            f"partial_channels must be a positive divisor of channels (12), got {k}")
    valid = ("none, avg_pool_3x3, max_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, sep_conv_7x7, "
             "dil_conv_3x3, dil_conv_5x5, conv_7x1_1x7")
    assert message(space_config, "darts", primitives=("none", "conv_9x9", "conv_1x1")) == (
        f"unknown operation(s) 'conv_9x9', 'conv_1x1'; valid operations are {valid}")
    assert message(space_config, "darts", primitives=("skip_connect", "skip_connect")) == (
        "the operation set ['skip_connect', 'skip_connect'] lists an operation twice")
    assert message(space_config, "darts", primitives=("none",)) == (
        "the operation set needs at least one operation besides 'none'")
    # the options' own checks: unknown names, types, KEY=VALUE
    assert message(space_config, "darts", cells=3, depth=2) == (
        "the darts space has no option(s) cells, depth; valid options are alpha_init_std, channels, "
        "layers, multiplier, nodes, partial_channels, primitives, stem_multiplier")
    assert message(train_config, "darts", colour=1).startswith(
        "training in the darts space has no option(s) colour; valid options are ")
    assert message(space_config, "darts", channels="16") == (
        "the darts space's option channels must be an integer, got '16'")
    assert message(space_config, "darts", channels=16.5) == (
        "the darts space's option channels must be an integer, got 16.5")
    assert space_config("darts", channels=16.0).channels == 16
    assert message(parse_option, "channels") == "an option is given as KEY=VALUE, not 'channels'"


def test_discrete_alphas_are_one_hot_on_the_derived_cell_and_none_elsewhere():
    torch.manual_seed(0)
    net = make_supernet("darts", space_config("darts", channels=4, layers=3), 3, 10)
    with torch.no_grad():
        for a in net.arch_parameters():
            a.normal_()
    ops = list(net.config.primitives)
    g = net.genotype()
    offsets = [sum(k + 2 for k in range(i)) for i in range(4)]        # node i's first edge
    for alpha, gene in zip(net.discrete_alphas(), (g.normal, g.reduce)):
        w = torch.softmax(alpha, -1)
        assert set(w.unique().tolist()) == {0.0, 1.0}
        chosen = {offsets[k // 2] + j: op for k, (op, j) in enumerate(gene)}
        assert len(chosen) == 8
        assert [ops[int(row.argmax())] for row in w] == [chosen.get(e, "none") for e in range(14)]
    plain = make_supernet("darts", space_config("darts", channels=4, layers=3,
                                                primitives=("skip_connect", "sep_conv_3x3")), 3, 10)
    assert plain.discrete_alphas() is None      # without `none`, no edge can be switched off
