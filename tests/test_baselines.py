"""The random baseline and the control for hyperDARTS (first-order with hyperDARTS's α noise)."""

import collections
import itertools

import pytest
import torch
from scipy import stats

from nas.search import Search, SearchConfig
from nas.spaces import make_supernet, space_config
from nas.strategies import SEARCHING, STRATEGIES, make_strategy

SMALL = {"channels": 4, "layers": 3, "nodes": 2, "multiplier": 2}


def _random_genotype(seed, data, options=SMALL):
    cfg = SearchConfig.of(strategy="random", epochs=3, batch_size=64, seed=seed, space_options=options)
    search = Search(cfg, data)
    before = [a.detach().clone() for a in search.supernet.arch_parameters()]
    while not search.done:
        search.run_epoch()
    assert all(torch.equal(a, b) for a, b in zip(before, search.supernet.arch_parameters()))
    return search.genotype(), search.history


def test_the_random_baseline_is_reproducible_by_seed_and_takes_no_step(tiny_digits):
    g0, history = _random_genotype(0, tiny_digits)
    assert len(history) == 1 and history[0]["steps"] == 0     # one record, however many epochs
    assert str(_random_genotype(0, tiny_digits)[0]) == str(g0)
    others = {str(_random_genotype(s, tiny_digits)[0]) for s in range(1, 6)}
    assert len(others - {str(g0)}) >= 4


def test_the_random_baseline_samples_valid_genotypes_uniformly():
    # 4-node cells: node i picks 2 distinct inputs out of i + 2 and one of the 7 non-none operations
    # for each. Over many seeds every (node, input pair) and every operation must be about equally
    # frequent (chi-square tests), and each genotype valid (Genotype validates itself).
    options = {"channels": 2, "layers": 3, "nodes": 4, "multiplier": 4}
    pairs, ops = collections.Counter(), collections.Counter()
    n = 400
    net = make_supernet("darts", space_config("darts", **options), 1, 10)
    for seed in range(n):
        torch.manual_seed(seed)   # the search seeds torch; the baseline draws α from that seed
        make_strategy("random", net)
        g = net.genotype()
        assert g.steps == 4
        for node in range(4):
            (op_a, a), (op_b, b) = g.normal[2 * node: 2 * node + 2]
            assert a != b and max(a, b) < node + 2
            pairs[(node, min(a, b), max(a, b))] += 1
            ops[op_a] += 1
            ops[op_b] += 1
    assert "none" not in ops and len(ops) == 7
    assert stats.chisquare(list(ops.values())).pvalue > 0.001
    assert pairs[(0, 0, 1)] == n          # the first node has one pair of inputs
    for node in range(1, 4):
        counts = [pairs[(node, a, b)] for a, b in itertools.combinations(range(node + 2), 2)]
        assert stats.chisquare(counts).pvalue > 0.001, (node, counts)


def test_the_random_baseline_is_not_a_searching_strategy():
    assert "random" in STRATEGIES and "random" not in SEARCHING
    assert "first-order-smoothed" in SEARCHING


@pytest.fixture
def batches():
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g))
            for _ in range(2)]


def _after_steps(name, batches, steps=3, **options):
    torch.manual_seed(0)
    net = make_supernet("darts", space_config("darts", **SMALL), 1, 10)
    s = make_strategy(name, net, **options)
    for _ in range(steps):
        s.step(*batches)
    return [t.detach().clone() for t in [*s.alphas, *s.weights]]


def test_the_noise_control_equals_first_order_at_sigma_zero(batches):
    plain = _after_steps("first-order", batches)
    control = _after_steps("first-order-smoothed", batches, sigma=0.0)
    assert all(torch.equal(a, b) for a, b in zip(plain, control))


def test_the_noise_control_trains_the_weights_at_noisy_alpha(batches):
    plain = _after_steps("first-order", batches)
    noisy = _after_steps("first-order-smoothed", batches, sigma=0.5)
    k = 2   # α_normal, α_reduce
    assert not all(torch.equal(a, b) for a, b in zip(plain[k:], noisy[k:]))   # other weight steps
    # the α-step is first-order's at the current (w, α): its hypergradient is ∂_α L_val
    torch.manual_seed(0)
    net = make_supernet("darts", space_config("darts", **SMALL), 1, 10)
    g_fo = make_strategy("first-order", net).hypergradient(*batches)
    g_sm = make_strategy("first-order-smoothed", net).hypergradient(*batches)
    assert all(torch.equal(a, b) for a, b in zip(g_fo, g_sm))


def test_the_noise_control_refuses_a_negative_sigma():
    from nas.strategies import strategy_config

    with pytest.raises(ValueError, match="sigma must not be negative"):
        strategy_config("first-order-smoothed", sigma=-0.1)


def test_the_noise_control_steps_the_weights_at_alpha_plus_sigma_epsilon(batches):
    # one weight step with σ = 0.5 is plain SGD on L_train(w, α + σε), ε the draw hyperDARTS makes
    import torch.nn.functional as F
    from torch.func import functional_call

    torch.manual_seed(0)
    net = make_supernet("darts", space_config("darts", **SMALL), 1, 10)
    s = make_strategy("first-order-smoothed", net, sigma=0.5, w_momentum=0.0, w_weight_decay=0.0,
                      w_grad_clip=0.0)
    w0 = {n: p.detach().clone() for n, p in zip(s.weight_names, s.weights)}
    alphas = [a.detach().clone() for a in s.alphas]
    torch.manual_seed(123)
    s.weight_step(batches[0])
    torch.manual_seed(123)
    noisy = {n: a + 0.5 * torch.randn_like(a) for n, a in zip(s.alpha_names, alphas)}
    params = {n: w.clone().requires_grad_(True) for n, w in w0.items()}
    x, y = batches[0]
    loss = F.cross_entropy(functional_call(net, {**params, **noisy}, (x,)), y)
    grads = torch.autograd.grad(loss, list(params.values()))
    for (n, w), g in zip(w0.items(), grads):
        assert torch.allclose(dict(zip(s.weight_names, s.weights))[n], w - 0.025 * g, atol=1e-6)
