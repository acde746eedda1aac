"""The batched DARTS cell (nas/spaces/darts_batched.py) computes the plain cell's function: the same
outputs and gradients for the same weights and α, to float64 rounding, on every configuration the
supernet takes; its depthwise convolution's hand-written backward (and double backward) equals
autograd's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nas.spaces.darts import DartsSpaceConfig, DartsSupernet, SearchCell
from nas.spaces.darts_batched import (
    _BatchNorm,
    _BatchNormInputGrad,
    _Depthwise,
    depthwise_many,
    pointwise_grouped,
)
from nas.speed import Speed


def _pass(net, x, batched: bool, monkeypatch):
    """Output, gradient and a Hessian-vector product (through the double backward, as exact
    second-order DARTS and the implicit strategies take them) of every parameter and α."""
    monkeypatch.setattr(SearchCell, "batched", batched)
    names, params = zip(*net.named_parameters())
    y = net(x)
    grads = torch.autograd.grad(y.square().sum() + y.sum(), params, create_graph=True)
    g = torch.Generator().manual_seed(1)
    vs = [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in params]
    hvp = torch.autograd.grad(sum((a * v).sum() for a, v in zip(grads, vs)), params,
                              allow_unused=True)
    return y.detach(), {n: (a.detach(), h) for n, a, h in zip(names, grads, hvp)}


@pytest.mark.parametrize("options, side", [
    ({"channels": 8, "layers": 5}, 16),
    ({"channels": 8, "layers": 5}, 15),                            # odd sizes: FactorizedReduce pads
    ({"channels": 8, "layers": 3, "partial_channels": 4}, 16),     # PC-DARTS
    ({"channels": 4, "layers": 3, "nodes": 2, "multiplier": 2}, 12),
    ({"channels": 8, "layers": 3,                                   # ops the batched pass runs
      "primitives": ("none", "conv_7x1_1x7", "sep_conv_7x7", "skip_connect", "avg_pool_3x3")}, 16),
    ({"channels": 6, "layers": 3, "primitives": ("max_pool_3x3", "skip_connect")}, 12),  # no conv
    ({"channels": 4, "layers": 3, "primitives": ("dil_conv_3x3", "sep_conv_3x3", "skip_connect")},
     12),                                   # a dilated convolution before the separable one
    # two separable ones after a dilated one: their stage-2 pieces are gathered (one piece alone
    # would hide a wrong stacking axis)
    ({"channels": 4, "layers": 3,
      "primitives": ("dil_conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "skip_connect")}, 10),
    ({"channels": 8, "layers": 3, "partial_channels": 2}, 12),     # PC-DARTS with K = 2
])
@pytest.mark.parametrize("recompute", ["separable", "all", "none"])
def test_the_batched_cell_equals_the_plain_one(options, side, recompute, monkeypatch):
    monkeypatch.setattr(SearchCell, "recompute", recompute)
    torch.manual_seed(0)
    net = DartsSupernet(DartsSpaceConfig(**options), 3, 10).double()
    with torch.no_grad():   # α away from uniform, so that a wrong mixing weight shows
        for a in net.arch_parameters():
            a.normal_()
    x = torch.randn(3, 3, side, side, dtype=torch.double)
    y0, g0 = _pass(net, x, False, monkeypatch)
    y1, g1 = _pass(net, x, True, monkeypatch)
    assert torch.allclose(y0, y1, rtol=1e-10, atol=1e-12)
    assert g0.keys() == g1.keys()
    assert {"alpha_normal", "alpha_reduce"} <= g0.keys()
    for name in g0:
        (a0, h0), (a1, h1) = g0[name], g1[name]
        assert torch.allclose(a0, a1, rtol=1e-9, atol=1e-12), name
        if h0 is None or h1 is None:
            assert h0 is None or not h0.any(), name
            assert h1 is None or not h1.any(), name
        else:
            assert torch.allclose(h0, h1, rtol=1e-8, atol=1e-10), name


def test_the_batched_cell_keeps_less_for_the_backward_when_it_recomputes(monkeypatch):
    """What one forward keeps for its backward (distinct storages): the batched cell with the
    depthwise outputs recomputed keeps less than with them kept, which keeps less than the plain
    cell (BatchNorms keep their outputs, the stage-2 ReLU lives in its convolution)."""
    from benchmark.perf import saved_bytes

    torch.manual_seed(0)
    net = DartsSupernet(DartsSpaceConfig(channels=8, layers=3), 3, 10)
    x = torch.randn(4, 3, 16, 16)
    kept = {}
    for name, batched, recompute in (("plain", False, "none"), ("none", True, "none"),
                                     ("separable", True, "separable"), ("all", True, "all")):
        monkeypatch.setattr(SearchCell, "batched", batched)
        monkeypatch.setattr(SearchCell, "recompute", recompute)
        kept[name] = saved_bytes(lambda: net(x))
    assert kept["none"] < 0.7 * kept["plain"]
    assert kept["separable"] < 0.9 * kept["none"]
    assert kept["all"] < 0.7 * kept["separable"]
    monkeypatch.setattr(SearchCell, "recompute", "separable")
    with net.for_double_backward():          # every cell recomputes everything, then back
        assert saved_bytes(lambda: net(x)) == kept["all"]
        with net.for_double_backward():
            pass
        assert all(c.recompute == "all" for c in net.cells)
    assert all(c.recompute == "separable" for c in net.cells)
    assert saved_bytes(lambda: net(x)) == kept["separable"]
    Speed(keep_activations=True).model(net)   # the switch: keep everything, double backward too
    assert saved_bytes(lambda: net(x)) == kept["none"]
    with net.for_double_backward():
        assert saved_bytes(lambda: net(x)) == kept["none"]


def test_a_double_backward_graph_does_not_keep_what_it_recomputes(monkeypatch):
    """With recompute "all", the graph of a create_graph backward does not keep the depthwise
    outputs either (saved-tensor hooks): it keeps less than with them kept, and the Hessian-vector
    product through it is the same."""
    from benchmark.perf import saved_bytes

    torch.manual_seed(0)
    net = DartsSupernet(DartsSpaceConfig(channels=8, layers=3), 3, 10).double()
    x = torch.randn(4, 3, 16, 16, dtype=torch.double)
    params = list(net.parameters())
    v = [torch.randn_like(p) for p in params]
    kept, hvps = {}, {}
    for recompute in ("none", "all"):
        monkeypatch.setattr(SearchCell, "recompute", recompute)
        loss = net(x).square().sum()
        grads = []

        def backward(loss=loss, grads=grads):
            grads.extend(torch.autograd.grad(loss, params, create_graph=True))

        kept[recompute] = saved_bytes(backward)
        hvps[recompute] = torch.autograd.grad(sum((g * u).sum() for g, u in zip(grads, v)),
                                              params)
    assert kept["all"] < 0.85 * kept["none"]
    for a, b in zip(hvps["none"], hvps["all"]):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("recompute", ["none", "separable", "all"])
def test_the_batched_cell_runs_under_bf16_autocast(recompute, monkeypatch):
    """amp: forward under CPU bf16 autocast, backward and double backward outside it (as the
    strategies run them); the gradients stay close to fp32's."""
    monkeypatch.setattr(SearchCell, "recompute", recompute)
    torch.manual_seed(0)
    net = DartsSupernet(DartsSpaceConfig(channels=4, layers=3), 3, 10)
    x = torch.randn(4, 3, 12, 12)
    params = list(net.parameters())
    out = {}
    for amp in (False, True):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            y = net(x)
        grads = torch.autograd.grad(y.float().square().mean(), params, create_graph=True)
        hvp = torch.autograd.grad(sum(g.sum() for g in grads), params, allow_unused=True)
        assert all(g.dtype == torch.float32 for g in grads)
        out[amp] = torch.cat([g.flatten() for g in grads])
        assert all(h is None or torch.isfinite(h).all() for h in hvp)
    assert torch.nn.functional.cosine_similarity(out[False], out[True], dim=0) > 0.98


@pytest.mark.parametrize("affine, running", [(True, False), (False, True), (True, True)])
def test_operations_whose_batch_norms_have_parameters_or_statistics_equal_the_plain_cell(
        affine, running, monkeypatch):
    """The batched pass normalises without affine parameters or running statistics; an operation
    whose BatchNorm has either (a hand-built cell) is computed edge by edge instead, so the two
    cells still agree: outputs, gradients and the running statistics they leave."""
    torch.manual_seed(0)
    net = DartsSupernet(DartsSpaceConfig(channels=4, layers=3), 3, 10).double()
    gen = torch.Generator().manual_seed(2)
    for cell in net.cells:
        for edge in cell.edges:
            for op in edge.ops:
                for parent in op.modules():
                    for name, child in list(parent.named_children()):
                        if isinstance(child, torch.nn.BatchNorm2d):
                            bn = torch.nn.BatchNorm2d(child.num_features, affine=affine,
                                                      track_running_stats=running).double()
                            if affine:
                                with torch.no_grad():
                                    bn.weight.copy_(1 + torch.randn(bn.weight.shape, generator=gen))
                                    bn.bias.copy_(torch.randn(bn.bias.shape, generator=gen))
                            setattr(parent, name, bn)
    for e in (e for c in net.cells for e in c.edges):
        e.__dict__.pop("_batched_kinds", None)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(3, 3, 12, 12, dtype=torch.double)
    y0, g0 = _pass(net, x, False, monkeypatch)
    after_plain = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(start)
    y1, g1 = _pass(net, x, True, monkeypatch)
    assert torch.allclose(y0, y1, rtol=1e-10, atol=1e-12)
    for name in g0:
        assert torch.allclose(g0[name][0], g1[name][0], rtol=1e-9, atol=1e-12), name
    for k, v in net.state_dict().items():
        assert torch.allclose(v.double(), after_plain[k].double()), k


def test_the_node_states_stay_in_the_autocast_dtype(monkeypatch):
    """Under bf16 autocast the batched cell's output is bf16, as the plain cell's is (a float32
    mixing weight would promote every node state to float32: twice the memory)."""
    torch.manual_seed(0)
    net = DartsSupernet(DartsSpaceConfig(channels=4, layers=3), 3, 10)
    cell = net.cells[0]
    s = torch.randn(2, cell.preprocess1.op[1].in_channels, 8, 8)
    w = torch.softmax(net.alpha_normal, dim=-1)
    dtypes = {}
    for batched in (False, True):
        monkeypatch.setattr(SearchCell, "batched", batched)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            dtypes[batched] = cell(s, s, w).dtype
    assert dtypes == {False: torch.bfloat16, True: torch.bfloat16}


def test_the_batched_cell_is_used_and_can_be_switched_off(monkeypatch):
    import nas.spaces.darts_batched as batched

    calls = []
    real = batched.edges_forward
    monkeypatch.setattr(batched, "edges_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    net = DartsSupernet(DartsSpaceConfig(channels=4, layers=3, nodes=2, multiplier=2), 3, 10)
    net(torch.randn(2, 3, 8, 8))
    assert len(calls) == 3 * 3     # per cell, one call per state that edges read (2 inputs + 1 node)
    monkeypatch.setattr(SearchCell, "batched", False)
    net(torch.randn(2, 3, 8, 8))
    assert len(calls) == 9


@pytest.mark.parametrize("k, dilation, stride, multiplier, relu", [
    (5, 1, 1, 1, False), (3, 2, 1, 1, False), (5, 2, 1, 3, False), (3, 2, 2, 2, False),
    (5, 1, 2, 1, False), (3, 1, 1, 4, False), (5, 1, 1, 1, True), (3, 2, 2, 2, True)])
def test_the_depthwise_backward_and_double_backward_equal_autograds(k, dilation, stride, multiplier,
                                                                     relu):
    torch.manual_seed(0)
    c, side = 3, 7
    x = torch.randn(2, c, side, side, dtype=torch.double, requires_grad=True)
    w = torch.randn(c * multiplier, 1, k, k, dtype=torch.double, requires_grad=True)
    pad = dilation * (k - 1) // 2

    def mine(x, w):
        return _Depthwise.apply(x, w, (stride, pad, dilation), relu)

    def theirs(x, w):
        return F.conv2d(F.relu(x) if relu else x, w, None, stride, pad, dilation, groups=c)

    assert torch.allclose(mine(x, w), theirs(x, w))
    gy = torch.randn_like(theirs(x, w))
    for f in (mine, theirs):   # the same gradients …
        gx, gw = torch.autograd.grad(f(x, w), (x, w), gy, create_graph=True)
        # … and the same second derivatives (a Hessian-vector product through the backward)
        hx, hw = torch.autograd.grad((gx.square().sum() + gw.square().sum()), (x, w))
        if f is mine:
            first = (gx, gw, hx, hw)
    for a, b in zip(first, (gx, gw, hx, hw)):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(mine, (x, w))
    assert torch.autograd.gradgradcheck(mine, (x, w))


def test_the_batch_norm_that_keeps_its_output_has_batch_norms_derivatives():
    """`_BatchNorm` keeps y and invstd instead of x: its output, gradient (both the fused kernel
    and the differentiable form taken under create_graph) and second derivatives are
    F.batch_norm's."""
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5, dtype=torch.double, requires_grad=True)
    gy, v = torch.randn_like(x), torch.randn_like(x)

    def mine(x):
        return _BatchNorm.apply(x, 1e-5)[0]

    def theirs(x):
        return F.batch_norm(x, None, None, training=True, eps=1e-5)

    out = []
    for f in (mine, theirs):
        y = f(x)
        (plain,) = torch.autograd.grad(y, x, gy, retain_graph=True)   # no graph: the fused kernel
        (g,) = torch.autograd.grad(y.pow(3), x, gy, create_graph=True)
        (h,) = torch.autograd.grad(g, x, v)
        out.append((y, plain, g, h))
    for a, b in zip(*out):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(mine, (x,))
    assert torch.autograd.gradgradcheck(mine, (x,))


def test_the_batch_norms_create_graph_gradient_keeps_its_result_not_the_incoming_gradient():
    """Under create_graph, `_BatchNorm`'s input gradient dx is one `_BatchNormInputGrad` node that
    keeps dx (kept anyway by a pointwise convolution's weight gradient), y (kept by the forward)
    and numbers per channel, not the incoming gradient dy; its backward (the second derivatives)
    matches finite differences for independent dy, y and invstd."""
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5, dtype=torch.double, requires_grad=True)
    y = _BatchNorm.apply(x, 1e-5)[0]
    dy = torch.randn_like(x, requires_grad=True)   # a gradient that depends on the weights
    kept = {}

    def pack(t):
        kept[t.untyped_storage().data_ptr()] = t
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        (dx,) = torch.autograd.grad(y, x, dy, create_graph=True)
    assert dx.grad_fn is not None
    assert dy.untyped_storage().data_ptr() not in kept
    assert dx.untyped_storage().data_ptr() in kept
    assert [t.numel() for t in kept.values()].count(x.numel()) == 2   # dx and y
    args = (torch.randn(4, 3, 5, 5, dtype=torch.double, requires_grad=True),
            torch.randn(4, 3, 5, 5, dtype=torch.double, requires_grad=True),
            (torch.rand(3, dtype=torch.double) + 0.5).requires_grad_())
    assert torch.autograd.gradcheck(_BatchNormInputGrad.apply, args)


def test_depthwise_many_and_pointwise_grouped_equal_one_convolution_each():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 9, dtype=torch.double)
    convs = [torch.nn.Conv2d(4, 4, k, stride=s, padding=d * (k - 1) // 2, dilation=d, groups=4,
                             bias=False).double()
             for k, d, s in ((3, 1, 1), (5, 1, 1), (3, 2, 1), (5, 2, 1), (3, 1, 1))]
    want = torch.cat([c(x) for c in convs], dim=1)
    for merge in (False, True):
        assert torch.allclose(depthwise_many(x, convs, merge), want, atol=1e-12)
    pws = [torch.nn.Conv2d(4, 4, 1, bias=False).double() for _ in convs]
    want = torch.cat([p(want[:, 4 * g:4 * g + 4]) for g, p in enumerate(pws)], dim=1)
    assert torch.allclose(pointwise_grouped(torch.cat([c(x) for c in convs], 1), pws), want,
                          atol=1e-12)


def test_a_search_epoch_with_the_batched_cell_ends_where_the_plain_one_does(monkeypatch):
    """The smoke grid's first-order search on digits, first epoch (10 steps): α agrees to float
    rounding. (Later epochs drift apart as they do between 1 and 2 threads: that search amplifies
    rounding, tests/test_behaviour.py.)"""
    from benchmark.grids import GRIDS
    from benchmark.trial import load_for_trial
    from nas.search import Search

    (spec,) = [t for t in GRIDS["smoke"].trials() if t.strategy == "first-order" and t.seed == 0]
    data = load_for_trial(spec.search_dataset, spec, search=True)
    alphas = []
    for batched in (False, True):
        monkeypatch.setattr(SearchCell, "batched", batched)
        search = Search(spec.search, data, "cpu")
        start = [a.detach().clone() for a in search.supernet.arch_parameters()]
        search.run_epoch()
        alphas.append([a.detach().clone() for a in search.supernet.arch_parameters()])
    moved = max((a - b).abs().max() for a, b in zip(alphas[0], start))
    assert moved > 1e-2   # α has moved, so agreement is not trivial
    for a, b in zip(*alphas):
        assert torch.allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("strategy, hinted", [("second-order-exact", True), ("implicit-neumann", True),
                                              ("first-order", False), ("second-order", False)])
def test_the_strategies_that_differentiate_twice_ask_the_supernet_to_keep_less(strategy, hinted,
                                                                              monkeypatch):
    """Exact Hessian-vector products: their train forward (and second-order-exact's val forward)
    run under `for_double_backward`; the strategies without a double backward do not ask."""
    from nas.strategies import make_strategy

    calls = []
    real = DartsSupernet.for_double_backward
    monkeypatch.setattr(DartsSupernet, "for_double_backward",
                        lambda self: calls.append(1) or real(self))
    torch.manual_seed(0)
    net = DartsSupernet(DartsSpaceConfig(channels=4, layers=3), 3, 10)
    batch = (torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,)))
    make_strategy(strategy, net).step(batch, batch)
    assert bool(calls) == hinted
    assert all(c.recompute == "separable" for c in net.cells)


def test_what_the_batched_cell_cannot_batch_is_refused_with_its_reason():
    from nas.spaces.darts import MixedOp
    from nas.spaces.darts_batched import conv_pointwise, edges_forward

    x = torch.randn(2, 4, 6, 6)
    dw = torch.nn.Conv2d(4, 4, (3, 5), padding=(1, 2), groups=4, bias=False)
    with pytest.raises(ValueError) as e:
        depthwise_many(x, [dw], True)
    assert str(e.value) == f"the batched cell takes square depthwise convolutions, not {dw}"
    square = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
    pw = torch.nn.Conv2d(4, 4, 1, bias=False)
    conv_pointwise(x, [square], [pw], True, grouped=True, relu=True, recompute=True)
    with pytest.raises(ValueError) as e:
        conv_pointwise(x, [square], [pw], True, grouped=False, relu=True, recompute=True)
    assert str(e.value) == "depthwise_many reads a shared input: apply its ReLU once, before"
    a = MixedOp(4, 1, ("skip_connect", "sep_conv_3x3"))
    b = MixedOp(4, 1, ("sep_conv_3x3", "skip_connect"))
    w = torch.full((2, 2), 0.5)
    with pytest.raises(ValueError) as e:
        edges_forward(x, [a, b], w)
    assert str(e.value) == "edges that read the same state hold different operations"
    with pytest.raises(ValueError) as e:
        edges_forward(x, [a, a], w, recompute="some")
    assert str(e.value) == "recompute must be one of none, separable, all, got 'some'"


def test_the_recomputation_in_the_backward_uses_the_forwards_autocast_dtype(monkeypatch):
    """fp16 autocast (CUDA's default dtype; the CPU's is bf16): the depthwise output recomputed in
    the backward must be what the forward computed, in fp16, not the device's default dtype."""
    import nas.spaces.darts_batched as db

    seen = []

    def spying(fn):
        def run(*args, **kwargs):
            z = fn(*args, **kwargs)
            seen.append((torch.is_grad_enabled(), z.dtype))
            return z
        return run

    monkeypatch.setattr(db, "_depthwise_many", spying(db._depthwise_many))
    monkeypatch.setattr(db, "_depthwise_grouped", spying(db._depthwise_grouped))
    monkeypatch.setattr(SearchCell, "recompute", "all")
    torch.manual_seed(0)
    net = DartsSupernet(DartsSpaceConfig(channels=4, layers=3), 3, 10)
    with torch.autocast("cpu", dtype=torch.float16):
        y = net(torch.randn(2, 3, 8, 8))
    y.float().sum().backward()
    assert {grad for grad, _ in seen} == {False, True}          # forwards and recomputations
    assert {dtype for _, dtype in seen} == {torch.float16}


def test_the_batch_norms_second_output_has_the_derivative_of_the_inverse_std():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5, dtype=torch.double, requires_grad=True)
    invstd = _BatchNorm.apply(x, 1e-5)[1]
    w = torch.randn(3, dtype=torch.double)
    got = torch.autograd.grad((invstd * w).sum(), x)[0]
    ref = 1 / torch.sqrt(x.var(dim=(0, 2, 3), unbiased=False) + 1e-5)
    assert torch.allclose(invstd, ref)
    want = torch.autograd.grad((ref * w).sum(), x)[0]
    assert torch.allclose(got, want, rtol=1e-9, atol=1e-12)
