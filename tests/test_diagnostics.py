"""Collapse diagnostics (nas/diagnostics.py): each number checked against a direct computation, and
a search with diagnostics takes exactly the steps of one without."""

import math

import pytest
import torch

from nas.diagnostics import (
    alpha_entropy,
    collapse_diagnostics,
    discretisation_gap,
    dominant_eigenvalue,
    largest_eigenvalue,
)
from nas.search import Search, SearchConfig
from nas.spaces import make_supernet, space_config
from nas.strategies import make_strategy

TINY = {"channels": 4, "layers": 3, "nodes": 2, "multiplier": 2}


@pytest.fixture
def setup():
    torch.manual_seed(0)
    net = make_supernet("darts", space_config("darts", **TINY, alpha_init_std=0.5), 1, 10)
    batch = (torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,)))
    return net, make_strategy("first-order", net), batch


def test_the_eigenvalue_matches_eigvalsh_of_the_alpha_hessian(setup):
    net, s, batch = setup
    shapes = [a.shape for a in net.arch_parameters()]
    sizes = [math.prod(sh) for sh in shapes]

    def loss_of(flat):
        parts = [p.reshape(sh) for p, sh in zip(flat.split(sizes), shapes)]
        return s.loss(batch, alphas=parts, precise=True)[0]

    flat = torch.cat([a.detach().reshape(-1) for a in net.arch_parameters()])
    h = torch.autograd.functional.hessian(loss_of, flat)
    eig = torch.linalg.eigvalsh(h.double())
    dominant = float(eig[eig.abs().argmax()])
    estimate = dominant_eigenvalue(s, batch, iterations=120)
    assert estimate == pytest.approx(dominant, rel=1e-3)
    assert largest_eigenvalue(s, batch, iterations=120) == pytest.approx(float(eig.max()), rel=1e-3)


def test_the_largest_eigenvalue_is_the_algebraic_one_where_the_dominant_is_negative(monkeypatch):
    """RobustDARTS tracks λ_max: where the eigenvalue of largest magnitude is negative, the
    shifted power iteration finds the largest one."""
    import nas.diagnostics as d

    h = torch.diag(torch.tensor([-5.0, 1.0, 2.0, -0.5], dtype=torch.float64))
    like = [torch.zeros(4, dtype=torch.float64)]
    monkeypatch.setattr(d, "_alpha_hessian_product", lambda strategy, batch: (lambda v: [h @ v[0]], like))
    assert d.dominant_eigenvalue(None, None, 200) == pytest.approx(-5.0, rel=1e-6)
    assert d.largest_eigenvalue(None, None, 200) == pytest.approx(2.0, rel=1e-4)


def test_entropy_is_log_ops_at_uniform_and_zero_at_one_hot():
    uniform = {"normal": torch.full((5, 8), 1 / 8)}
    assert alpha_entropy(uniform) == pytest.approx(math.log(8))
    one_hot = {"blocks": torch.tensor([0.0, 1.0, 0.0])}
    assert alpha_entropy(one_hot) == pytest.approx(0.0, abs=1e-12)


def test_discrete_alphas_select_exactly_the_derived_cells(setup):
    net, s, batch = setup
    ops = list(net.config.primitives)
    g = net.genotype()
    for alpha, gene in zip(net.discrete_alphas(), (g.normal, g.reduce)):
        w = torch.softmax(alpha, -1)
        assert torch.equal(w.sum(-1), torch.ones(len(w))) and set(w.unique().tolist()) == {0.0, 1.0}
        chosen = {(0 if k < 2 else 2) + j: op for k, (op, j) in enumerate(gene)}   # 2 nodes: offsets 0, 2
        for edge in range(len(w)):
            assert ops[int(w[edge].argmax())] == chosen.get(edge, "none")
    gap = discretisation_gap(s, batch)
    assert -100.0 <= gap <= 100.0
    free = net.architecture_stats()
    assert free["param_free_normal"] == sum(op in ("skip_connect", "max_pool_3x3", "avg_pool_3x3")
                                            for op, _ in g.normal)


def test_the_dense_dag_space_has_its_diagnostics():
    torch.manual_seed(0)
    net = make_supernet("dense-dag", space_config("dense-dag", blocks=4, width=8), 1, 10, 8)
    with torch.no_grad():
        net.alpha.copy_(torch.tensor([0.1, 2.0, -1.0, 0.0]))
    s = make_strategy("first-order", net)
    d = collapse_diagnostics(s, (torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))), eigen_iterations=5)
    assert {"alpha_entropy", "largest_eigenvalue", "discretisation_gap", "depth", "edges"} <= set(d)
    assert int(torch.softmax(net.discrete_alphas()[0], 0).argmax()) == 1


def test_diagnostics_do_not_change_the_search(tiny_digits):
    base = dict(dataset="digits", epochs=2, batch_size=64, seed=3, space_options=TINY,
                strategy="second-order")
    runs = {}
    for every in (0, 1):
        search = Search(SearchConfig.of(**base, diagnostics_every=every, eigen_iterations=3), tiny_digits)
        while not search.done:
            search.run_epoch()
        runs[every] = search
    assert str(runs[0].genotype()) == str(runs[1].genotype())
    assert all(torch.equal(a, b) for a, b in zip(runs[0].supernet.arch_parameters(),
                                                 runs[1].supernet.arch_parameters()))
    assert "largest_eigenvalue" not in runs[0].history[-1]
    assert all("largest_eigenvalue" in r and r["diagnostics_s"] > 0 for r in runs[1].history)


def test_the_hypernetwork_share_splits_hyperdarts_gradient_as_finite_differences_do():
    """The total α-gradient and its direct term, each along a random direction, against central
    differences of the validation loss in float64: the total moves α in the hypernetwork's input
    too, the direct term only in the mixing; at the start (zero heads) the share is 0."""
    from nas.diagnostics import hypernetwork_share

    torch.manual_seed(0)
    net = make_supernet("darts", space_config("darts", **TINY, alpha_init_std=0.5), 1, 10).double()
    s = make_strategy("hyperdarts-mlp", net)
    batch = (torch.randn(8, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (8,)))
    start = hypernetwork_share(s, batch)
    assert start["hypernet_share"] == 0.0 and start["cosine_to_direct"] == pytest.approx(1.0)
    with torch.no_grad():   # a response that depends on α, as one fitted for a while does
        for p in (s.hyper.V, s.hyper.v):
            p.normal_(0, 0.5)
    weights = [w.detach() for w in s.response(s.alphas)]
    u = [torch.randn_like(a) for a in s.alphas]
    eps = 1e-7   # (the loss has kinks, ReLU and max pooling: a wider step crosses some)

    def loss(sign: float, through: bool) -> float:
        moved = [(a + sign * eps * d).detach() for a, d in zip(s.alphas, u)]
        w = s.response(moved) if through else weights
        return float(s.loss(batch, weights=w, alphas=moved)[0])

    total_u = (loss(1, True) - loss(-1, True)) / (2 * eps)
    direct_u = (loss(1, False) - loss(-1, False)) / (2 * eps)
    response = s.response(s.alphas)
    total = torch.autograd.grad(s.loss(batch, weights=response)[0], s.alphas)
    direct = torch.autograd.grad(s.loss(batch, weights=weights)[0], s.alphas)
    assert sum(float((g * d).sum()) for g, d in zip(total, u)) == pytest.approx(total_u, rel=1e-5)
    assert sum(float((g * d).sum()) for g, d in zip(direct, u)) == pytest.approx(direct_u, rel=1e-5)
    share = hypernetwork_share(s, batch)
    norm = math.sqrt(sum(float((g ** 2).sum()) for g in total))
    through = math.sqrt(sum(float(((g - d) ** 2).sum()) for g, d in zip(total, direct)))
    assert share["total_norm"] == pytest.approx(norm, rel=1e-6)     # (global_norm sums in float32)
    assert share["hypernet_share"] == pytest.approx(through / norm, rel=1e-6)
    assert share["hypernet_share"] > 0.0 and share["cosine_to_direct"] < 1.0
    with pytest.raises(ValueError, match="no hypernetwork"):
        hypernetwork_share(make_strategy("first-order", net), batch)
