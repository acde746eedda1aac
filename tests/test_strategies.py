import copy

import pytest
import torch
import torch.nn.functional as F

from nas.spaces import make_supernet, space_config
from nas.strategies import STRATEGIES, get_strategy, make_strategy, strategy_config
from nas.strategies.base import cosine_lr


@pytest.fixture
def net():
    torch.manual_seed(0)
    return make_supernet("darts", space_config("darts", channels=4, layers=3), 1, 10)


@pytest.fixture
def batches():
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g))
            for _ in range(2)]


def _state(net, strategy):
    return (copy.deepcopy(net.state_dict()), copy.deepcopy(strategy.state_dict()))


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_hypergradient_changes_no_state(name, net, batches):
    s = make_strategy(name, net)
    s.step(*batches)  # give the optimisers some state
    before = _state(net, s)
    g = s.hypergradient(*batches)
    assert [t.shape for t in g] == [a.shape for a in net.arch_parameters()]
    assert all(torch.isfinite(t).all() for t in g)
    assert _same(before, _state(net, s))


def test_first_order_hypergradient_is_the_partial_of_the_validation_loss(net, batches):
    s = make_strategy("first-order", net)
    g = s.hypergradient(*batches)
    x, y = batches[1]
    expected = torch.autograd.grad(F.cross_entropy(net(x), y), net.arch_parameters())
    assert all(torch.allclose(a, b) for a, b in zip(g, expected))


def test_one_level_hypergradient_is_the_partial_of_the_joint_loss(net, batches):
    s = make_strategy("one-level", net)
    g = s.hypergradient(*batches)
    x = torch.cat([batches[0][0], batches[1][0]])
    y = torch.cat([batches[0][1], batches[1][1]])
    expected = torch.autograd.grad(F.cross_entropy(net(x), y), net.arch_parameters())
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(g, expected))


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_step_moves_alpha_against_the_hypergradient_and_trains_weights(name, net, batches):
    s = make_strategy(name, net, alpha_lr=1e-2, alpha_weight_decay=0.0)
    g = s.hypergradient(*batches)
    a0 = [a.detach().clone() for a in net.arch_parameters()]
    w0 = [p.detach().clone() for p in net.weight_parameters()]
    metrics = s.step(*batches)
    # Adam's first step moves every coordinate by lr·sign(gradient)
    for a, before, grad in zip(net.arch_parameters(), a0, g):
        moved = (a.detach() - before)[grad.abs() > 1e-4]
        assert torch.allclose(moved, -1e-2 * grad.sign()[grad.abs() > 1e-4], rtol=1e-3)
    assert any(not torch.equal(p, q) for p, q in zip(net.weight_parameters(), w0))
    assert set(metrics) == {"train_loss", "train_acc", "val_loss", "val_acc"}
    assert all(v.dim() == 0 for v in metrics.values())


def test_first_order_weight_step_is_sgd_on_the_training_loss_only(net, batches):
    s = make_strategy("first-order", net, w_momentum=0.0, w_weight_decay=0.0, w_grad_clip=0.0,
                      alpha_lr=1e-9)
    x, y = batches[0]
    alphas = [a.detach().clone() for a in net.arch_parameters()]
    w0 = [p.detach().clone() for p in net.weight_parameters()]
    s.step(*batches)
    # The tiny α step barely moves α; recompute the expected SGD step at the new α.
    with torch.no_grad():
        for a, new in zip(net.arch_parameters(), alphas):
            assert torch.allclose(a, new, atol=1e-8)
    probe = make_supernet("darts", space_config("darts", channels=4, layers=3), 1, 10)
    probe.load_state_dict(net.state_dict())
    with torch.no_grad():
        for p, q in zip(probe.weight_parameters(), w0):
            p.copy_(q)
    grads = torch.autograd.grad(F.cross_entropy(probe(x), y), probe.weight_parameters())
    for p, q, gr in zip(net.weight_parameters(), w0, grads):
        assert torch.allclose(p, q - 0.025 * gr, atol=1e-6)


def test_learning_rate_follows_the_cosine_schedule(net):
    s = make_strategy("first-order", net, epochs=10)
    s.new_epoch(0)
    assert s.w_lr == pytest.approx(0.025)
    s.new_epoch(5)
    assert s.w_lr == pytest.approx((0.025 + 0.001) / 2)
    assert cosine_lr(10, 10, 0.025, 0.001) == pytest.approx(0.001)


def test_registry_and_config_errors_name_the_valid_choices():
    with pytest.raises(ValueError, match="valid strategies are one-level, first-order"):
        get_strategy("third-order")
    with pytest.raises(ValueError, match="no option.*alpha_lrr.*valid options"):
        strategy_config("first-order", alpha_lrr=1e-3)
    with pytest.raises(ValueError, match="w_lr must be positive"):
        strategy_config("first-order", w_lr=0.0)
