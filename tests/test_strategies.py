import copy

import pytest
import torch
import torch.nn.functional as F

from nas.spaces import make_supernet, space_config
from nas.strategies import SEARCHING, STRATEGIES, get_strategy, make_strategy, strategy_config
from nas.strategies.base import cosine_lr

SMALL = {"channels": 4, "layers": 3, "nodes": 2, "multiplier": 2}
# Fewer terms than the defaults keep the implicit strategies quick; the maths is the same.
FAST = {"implicit-neumann": {"neumann_k": 2}, "implicit-cg": {"cg_k": 2}}


@pytest.fixture
def net():
    torch.manual_seed(0)
    return make_supernet("darts", space_config("darts", **SMALL), 1, 10)


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
    s = make_strategy(name, net, **FAST.get(name, {}))
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


@pytest.mark.parametrize("name", list(SEARCHING))
def test_step_moves_alpha_against_the_hypergradient_and_trains_weights(name, net, batches):
    s = make_strategy(name, net, alpha_lr=1e-2, alpha_weight_decay=0.0, **FAST.get(name, {}))
    g = s.hypergradient(*batches)
    a0 = [a.detach().clone() for a in net.arch_parameters()]
    w0 = [p.detach().clone() for p in net.weight_parameters()]
    metrics = s.step(*batches)
    # Adam's first step moves every coordinate by lr·sign(gradient)
    for a, before, grad in zip(net.arch_parameters(), a0, g):
        moved = (a.detach() - before)[grad.abs() > 1e-4]
        assert torch.allclose(moved, -1e-2 * grad.sign()[grad.abs() > 1e-4], rtol=1e-3)
    assert any(not torch.equal(p, q) for p, q in zip(net.weight_parameters(), w0))
    # the four losses and accuracies, the norm of the hypergradient that moved α, and a strategy's
    # own metrics (what its solver or response did)
    own = {"implicit-cg": {"cg_iterations", "cg_negative_curvature", "cg_damping"},
           "implicit-neumann": {"neumann_growth"},
           "hyperdarts-linear": {"response_change"}, "hyperdarts-mlp": {"response_change"}}
    assert set(metrics) == {"train_loss", "train_acc", "val_loss", "val_acc", "hypergrad_norm",
                            *own.get(name, ())}
    assert all(v.dim() == 0 for v in metrics.values())
    norm = torch.sqrt(sum((x.double() ** 2).sum() for x in g))
    assert float(metrics["hypergrad_norm"]) == pytest.approx(float(norm), rel=1e-4)


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
    probe = make_supernet("darts", space_config("darts", **SMALL), 1, 10)
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


def _cosine(a, b):
    fa, fb = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
    return float(F.cosine_similarity(fa, fb, dim=0))


def test_finite_differences_agree_with_double_backward(net, batches):
    # In float64 and with a small radius. At DARTS's radius (ε = 0.01/‖d‖) the central
    # difference on a ReLU network also measures the kinks it crosses (ReLU, max-pool), and
    # on this small supernet agrees only roughly; `python -m studies fidelity` measures that.
    net = net.double()
    batches = [(x.double(), y) for x, y in batches]
    fd = make_strategy("second-order", net, xi=0.1, fd_radius=1e-6)
    exact = make_strategy("second-order-exact", net, xi=0.1)
    g_fd, g_exact = fd.hypergradient(*batches), exact.hypergradient(*batches)
    assert _cosine(g_fd, g_exact) > 0.99
    # …and the correction is real: both differ from first-order by far more than from each other
    g_first = make_strategy("first-order", net).hypergradient(*batches)
    diff = sum(float((a - b).norm()) for a, b in zip(g_exact, g_first))
    err = sum(float((a - b).norm()) for a, b in zip(g_exact, g_fd))
    assert err < 0.1 * diff


def test_the_finite_difference_divides_by_two_epsilon():
    # On the smooth toy the DARTS radius is accurate: (g⁺ − g⁻)/(2ε), not (g⁺ − g⁻)/2·ε.
    from nas.toy import TRAIN_BATCH, VAL_BATCH, ToyProblem

    g = make_strategy("second-order", ToyProblem(), xi=0.5, fd_radius=0.01, w_momentum=0.0,
                      w_weight_decay=0.0).hypergradient(TRAIN_BATCH, VAL_BATCH)
    assert float(g[0]) == pytest.approx(2.0, abs=1e-6)


def test_the_unrolled_step_includes_momentum_and_weight_decay(net, batches):
    from nas.strategies.unrolled import virtual_step

    s = make_strategy("second-order", net, w_weight_decay=0.1, w_grad_clip=0.0)
    s.step(*batches)  # creates the momentum buffers
    w_before = [w.detach().clone() for w in s.weights]
    unrolled = virtual_step(s, batches[0], xi=0.05)
    s.new_epoch(0)
    for group in s.w_optimizer.param_groups:
        group["lr"] = 0.05
    s.weight_step(batches[0])  # the real SGD step from the same point
    for w, u in zip(s.weights, unrolled):
        assert torch.allclose(w.detach(), u, atol=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(w_before, unrolled))


@pytest.mark.parametrize("name", ["hyperdarts-linear", "hyperdarts-mlp"])
def test_hyperdarts_first_hypergradient_is_first_order(name, net, batches):
    g_first = make_strategy("first-order", net).hypergradient(*batches)
    g_hyper = make_strategy(name, net).hypergradient(*batches)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_first, g_hyper))


@pytest.mark.parametrize("name", ["hyperdarts-linear", "hyperdarts-mlp"])
def test_hyperdarts_trains_its_heads_and_alpha_then_sees_through_them(name, net, batches):
    s = make_strategy(name, net)
    head = s.hyper.A if name.endswith("linear") else s.hyper.V
    before = head.detach().clone()
    for _ in range(3):
        s.step(*batches)
    assert not torch.equal(head, before)
    # Once the head is non-zero, α's gradient flows through the hypernetwork too.
    g_hyper = s.hypergradient(*batches)
    g_first = make_strategy("first-order", net)
    w_at_alpha = s.current_weights()
    direct = torch.autograd.grad(
        F.cross_entropy(torch.func.functional_call(
            net, dict(zip(g_first.weight_names, w_at_alpha)), (batches[1][0],)), batches[1][1]),
        net.arch_parameters(), allow_unused=True, materialize_grads=True)
    assert not all(torch.allclose(a, b, atol=1e-7) for a, b in zip(g_hyper, direct))


def test_hypernetwork_head_sizes_follow_the_design():
    from nas.strategies.hypernet import HyperNet

    full = make_supernet("darts", space_config("darts"), 3, 10)
    weights = list(full.weight_parameters())
    n_alpha = sum(a.numel() for a in full.arch_parameters())
    linear = HyperNet(weights, n_alpha, "linear")
    assert n_alpha == 224 and linear.A.shape == (linear.total_channels, 224)
    assert 50_000 < linear.total_channels < 60_000  # Σ C_out ≈ 55k (STRATEGIES.md)
    mlp = HyperNet(weights, n_alpha, "mlp")
    assert mlp.U.shape == (112, 224) and mlp.V.shape == (mlp.total_channels, 112)


def test_cg_with_no_iterations_is_first_order(net, batches):
    g_first = make_strategy("first-order", net).hypergradient(*batches)
    g_cg0 = make_strategy("implicit-cg", net, cg_k=0).hypergradient(*batches)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_first, g_cg0))


def test_implicit_solvers_agree_where_both_converge(net, batches):
    # With a damping that makes H + δI positive definite, Neumann on (H + δI) and CG solve
    # the same system; compare them through the solvers on a small explicit matrix.
    from nas.strategies.implicit_cg import cg_solve
    from nas.strategies.implicit_neumann import neumann_solve

    torch.manual_seed(0)
    m = torch.randn(6, 6, dtype=torch.float64)
    h = m @ m.T / 6 + 0.5 * torch.eye(6, dtype=torch.float64)
    v = [torch.randn(6, dtype=torch.float64)]

    def hvp(u):
        return [h @ u[0]]

    exact = torch.linalg.solve(h, v[0])
    eta = 1.0 / float(torch.linalg.eigvalsh(h).max())
    assert torch.allclose(neumann_solve(hvp, v, eta, 400)[0], exact, atol=1e-6)
    assert torch.allclose(cg_solve(hvp, v, 0.0, 6)[0], exact, atol=1e-8)
    damped = torch.linalg.solve(h + 0.3 * torch.eye(6, dtype=torch.float64), v[0])
    assert torch.allclose(cg_solve(hvp, v, 0.3, 6)[0], damped, atol=1e-8)


def test_cg_stops_at_negative_curvature_and_reports_the_products_it_used():
    from nas.strategies.implicit_cg import cg_solve

    products = []

    def hvp(u):
        products.append(1)
        return [h @ u[0]]

    h = torch.diag(torch.tensor([-1.0, 2.0], dtype=torch.float64))
    info = {}
    x = cg_solve(hvp, [torch.tensor([1.0, 0.0], dtype=torch.float64)], 0.0, 5, info=info)
    assert torch.equal(x[0], torch.zeros(2, dtype=torch.float64))  # first direction: pᵀHp < 0
    assert info["stop"] == "negative curvature" and info["iterations"] == len(products) == 1
    # An indefinite 3×3 system whose first direction has positive curvature: one step, then stop.
    h = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, -3.0]], dtype=torch.float64)
    products.clear()
    info = {}
    x = cg_solve(hvp, [torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)], 0.0, 10, info=info)
    assert info == {"iterations": 2, "stop": "negative curvature", "residual": info["residual"]}
    assert len(products) == 2 and torch.count_nonzero(x[0]) > 0
    # Positive definite: converges to tolerance and says so, with its residual.
    h = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    info = {}
    cg_solve(hvp, [torch.ones(3, dtype=torch.float64)], 0.0, 10, tol=1e-10, info=info)
    assert info["stop"] == "converged" and info["iterations"] == 3 and info["residual"] <= 1e-10


def test_implicit_cg_records_its_iterations_per_step(net, batches):
    from nas.strategies import make_strategy

    s = make_strategy("implicit-cg", net, cg_k=3, cg_damping=0.0)
    metrics = s.step(*batches)
    assert 1 <= float(metrics["cg_iterations"]) <= 3
    # with a tolerance it stops once converged: a loose one after the first product
    s = make_strategy("implicit-cg", net, cg_k=10, cg_damping=100.0, cg_tol=0.9)
    metrics = s.step(*batches)
    assert float(metrics["cg_iterations"]) == 1 and s.solve_info["stop"] == "converged"


def test_the_spectrum_rule_damps_by_twice_the_hessians_negative_end_and_holds_it_between_estimates(
        net, batches):
    """δ = max(cg_damping, 2·|λ_min|, λ_max/100) of a Lanczos estimate of the step's training
    Hessian, on the first step and every `cg_spectrum_every` steps, held in between; it survives a
    checkpoint; the fixed rule never changes δ."""
    from nas.spectrum import auto_damping, lanczos_extremes
    from nas.strategies import make_strategy
    from nas.strategies.implicit import dot

    s = make_strategy("implicit-cg", net, cg_k=3, cg_damping=1e-3, cg_damping_rule="spectrum",
                      cg_spectrum_steps=12, cg_spectrum_every=3)
    # the training Hessian at the start, estimated as the strategy will (same seed, same steps)
    train = batches[0]
    loss, _ = s.loss(train)
    g_w = torch.autograd.grad(loss, s.weights, create_graph=True)

    def hvp(u):
        return [h.detach() for h in torch.autograd.grad(dot(g_w, u), s.weights, retain_graph=True)]

    est = lanczos_extremes(hvp, [w.detach() for w in s.weights], 12, seed=0)
    assert est["min"] < 0 < est["max"]   # indefinite at a random initialisation
    want = max(1e-3, auto_damping(est["min"], est["max"]))
    deltas = []
    for _ in range(4):
        metrics = s.step(*batches)
        deltas.append(float(metrics["cg_damping"]))
    assert deltas[0] == pytest.approx(want, rel=1e-3) and want >= 2 * -est["min"]
    assert deltas[0] == deltas[1] == deltas[2] and deltas[3] != deltas[0]   # re-estimated at step 3
    assert s.solve_info["spectrum_products"] == 12
    state = copy.deepcopy(s.state_dict())
    other = make_strategy("implicit-cg", copy.deepcopy(net), cg_damping_rule="spectrum")
    other.load_state_dict(state)
    assert (other.damping, other.steps_taken) == (s.damping, 4)
    fixed = make_strategy("implicit-cg", net, cg_k=2, cg_damping=0.5, cg_damping_rule="fixed")
    assert [float(fixed.step(*batches)["cg_damping"]) for _ in range(2)] == [0.5, 0.5]
    cls = get_strategy("implicit-cg")
    assert cls.passes(strategy_config("implicit-cg", cg_k=5, cg_damping_rule="spectrum",
                                      cg_spectrum_steps=20, cg_spectrum_every=40)) == 5 + 2 * 5.5
    with pytest.raises(ValueError, match="cg_damping_rule must be one of fixed, spectrum"):
        strategy_config("implicit-cg", cg_damping_rule="auto")


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_searches_from_the_command_line(name, tmp_path, capsys):
    from nas.cli import main

    extra = [f"--set={k}={v}" for k, v in FAST.get(name, {}).items()]
    code = main(["search", "--strategy", name, "--dataset", "digits", "--epochs", "1",
                 "--channels", "4", "--layers", "3", "--nodes", "2", "--batch-size", "256",
                 "--device", "cpu", "--out", str(tmp_path), *extra])
    assert code == 0
    assert capsys.readouterr().out.startswith("Genotype(")
    assert (tmp_path / "genotype.json").is_file()


@pytest.mark.parametrize("name", ["implicit-cg", "implicit-neumann"])
def test_finite_difference_hessian_products_agree_with_double_backward(name, net, batches):
    # float64 and a small radius, as for second-order above: the products and the mixed term by
    # differences of gradients give the hypergradient of the double-backward products.
    net = net.double()
    batches = [(x.double(), y) for x, y in batches]
    opts = {"implicit-cg": {"cg_k": 3}, "implicit-neumann": {"neumann_k": 3}}[name]
    exact = make_strategy(name, net, **opts).hypergradient(*batches)
    fd = make_strategy(name, net, hvp="finite-difference", fd_radius=1e-6, **opts).hypergradient(*batches)
    first = make_strategy("first-order", net).hypergradient(*batches)
    diff = sum(float((a - b).norm()) for a, b in zip(exact, first))
    err = sum(float((a - b).norm()) for a, b in zip(exact, fd))
    assert diff > 0 and err < 0.01 * diff


def test_hvp_mode_is_checked():
    with pytest.raises(ValueError, match="hvp must be one of exact, finite-difference"):
        strategy_config("implicit-cg", hvp="fd")


def _steps(name, speed, batches, n=2):
    from nas.speed import Speed

    torch.manual_seed(0)
    net = make_supernet("darts", space_config("darts", **SMALL), 3, 10)   # RGB: the stem's 3×3 conv
    s = make_strategy(name, net, **FAST.get(name, {}))
    s.speed = Speed(**speed)
    s.speed.model(net)
    stem = net.stem[0].weight                       # [C, 3, 3, 3]: its layout tells the formats apart
    assert stem.is_contiguous(memory_format=torch.channels_last) == s.speed.channels_last
    batches = [(x.repeat(1, 3, 1, 1), y) for x, y in batches]
    for _ in range(n):
        s.step(*batches)
    return [a.detach().clone() for a in s.alphas], [w.detach().clone() for w in s.weights]


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_channels_last_changes_no_result(name, batches):
    # The memory format reorders the arithmetic only: two steps agree to fp32 rounding.
    # second-order's central difference divides a difference of two gradients by 2ε (ε ≈ 0.01/‖d‖),
    # which amplifies the rounding of the reordered arithmetic, and Adam's first steps move each α
    # by about lr·sign(g), so a coordinate with a near-zero hypergradient can move differently:
    # measured up to 4.5e-5 (Adam's lr is 3e-4) on this project's CPU; the weights agree to 1e-4.
    # implicit-cg's CG stops at a tolerance or on negative curvature, after a power iteration sets
    # its damping: rounding can change where it stops, and α then moves differently by as much:
    # measured 8.5e-6 on another of this project's machines (Xeon with AVX-512, 2026-12-06), where
    # second-order agreed to 5e-9 and every other strategy to 2e-9.
    alpha_atol = 1e-4 if name in ("second-order", "implicit-cg") else 1e-6
    a0, w0 = _steps(name, {}, batches)
    a1, w1 = _steps(name, {"channels_last": True}, batches)
    for x, y in zip(a0, a1):
        assert torch.allclose(x, y, rtol=1e-4, atol=alpha_atol)
    for x, y in zip(w0, w1):
        assert torch.allclose(x, y, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["first-order", "second-order-exact", "implicit-neumann"])
def test_keeping_every_activation_changes_no_result(name, batches):
    # keep_activations keeps the depthwise outputs that the cells otherwise compute again in the
    # backward (and, for the exact products, in the double backward): the same arithmetic
    a0, w0 = _steps(name, {}, batches)
    a1, w1 = _steps(name, {"keep_activations": True}, batches)
    for x, y in zip(a0 + w0, a1 + w1):
        assert torch.allclose(x, y, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["first-order", "second-order", "hyperdarts-linear"])
def test_mixed_precision_steps_stay_close_and_keep_alpha_in_fp32(name, batches):
    # bf16 autocast rounds the activations (8-bit mantissa), so the steps differ, but only by
    # rounding: α moves the same way, and α and the weights stay fp32.
    a0, _ = _steps(name, {}, batches)
    a1, w1 = _steps(name, {"amp": True}, batches)
    assert all(t.dtype == torch.float32 for t in a1 + w1)
    assert not all(torch.equal(x, y) for x, y in zip(a0, a1))   # autocast did run in bf16
    moved0 = torch.cat([a.flatten() for a in a0])
    moved1 = torch.cat([a.flatten() for a in a1])
    assert float(F.cosine_similarity(moved0, moved1, dim=0)) > 0.95


@pytest.mark.parametrize("speed", ["channels_last", "keep_activations", "amp"])
def test_under_each_speed_switch_the_hypergradients_and_weight_step_are_the_reference_ones(speed, batches):
    """Against the formulas written out with autograd on an fp32 copy of the network (not against
    the strategy without the switch): first-order's ∂L_val/∂α, one-level's ∂L_joint/∂α, and
    first-order's weight step, SGD on the training loss."""
    from nas.speed import Speed

    torch.manual_seed(0)
    rgb = [(x.repeat(1, 3, 1, 1), y) for x, y in batches]   # RGB: the stem's layout can change
    (xt, yt), (xv, yv) = rgb
    for name in ("first-order", "one-level"):
        torch.manual_seed(0)
        net = make_supernet("darts", space_config("darts", **SMALL), 3, 10)
        ref = copy.deepcopy(net)
        if name == "first-order":
            want = torch.autograd.grad(F.cross_entropy(ref(xv), yv), ref.arch_parameters())
        else:
            want = torch.autograd.grad(F.cross_entropy(ref(torch.cat([xt, xv])), torch.cat([yt, yv])),
                                       ref.arch_parameters())
        s = make_strategy(name, net, w_momentum=0.0, w_weight_decay=0.0, w_grad_clip=0.0,
                          alpha_lr=1e-9)
        s.speed = Speed(**{speed: True})
        s.speed.model(net)
        got = s.hypergradient(*rgb)
        flat_got, flat_want = torch.cat([g.flatten() for g in got]), torch.cat([g.flatten() for g in want])
        if speed == "amp":   # bf16 activations: measured 0.12 and 0.09 apart (relative), cosine 0.99
            assert float(F.cosine_similarity(flat_got, flat_want, dim=0)) > 0.95
            assert float((flat_got - flat_want).norm() / flat_want.norm()) < 0.3
        else:
            assert torch.allclose(flat_got, flat_want, rtol=1e-4, atol=1e-6), name
    # first-order's weight step (α barely moves at this α lr): w − lr·∂L_train/∂w at the reference
    w0 = [p.detach().clone() for p in ref.weight_parameters()]
    grads = torch.autograd.grad(F.cross_entropy(ref(xt), yt), ref.weight_parameters())
    torch.manual_seed(0)
    net = make_supernet("darts", space_config("darts", **SMALL), 3, 10)
    s = make_strategy("first-order", net, w_momentum=0.0, w_weight_decay=0.0, w_grad_clip=0.0,
                      alpha_lr=1e-9)
    s.speed = Speed(**{speed: True})
    s.speed.model(net)
    s.step(*rgb)
    moved = torch.cat([(p.detach() - q).flatten() for p, q in zip(net.weight_parameters(), w0)])
    want = torch.cat([(-0.025 * g).flatten() for g in grads])
    if speed == "amp":   # the direction and the size of the step (a wrong lr would show)
        assert float(F.cosine_similarity(moved, want, dim=0)) > 0.95
        assert float((moved - want).norm() / want.norm()) < 0.25
    else:
        assert torch.allclose(moved, want, atol=1e-6)


def test_finite_differences_run_in_fp32_under_mixed_precision(net, batches):
    from nas.speed import Speed
    from nas.strategies.second_order import finite_difference_mixed

    s = make_strategy("second-order", net)
    direction = [torch.randn_like(w) for w in s.weights]
    plain = finite_difference_mixed(s, batches[0], direction, 0.01)
    s.speed = Speed(amp=True)
    with s.speed.autocast("cpu"):   # even inside an outer autocast
        mixed = finite_difference_mixed(s, batches[0], direction, 0.01)
    for a, b in zip(plain, mixed):
        assert torch.equal(a, b)


def test_speed_options_are_checked():
    from nas.speed import Speed

    assert Speed.from_names(["amp", "channels-last"]) == Speed(amp=True, channels_last=True)
    assert Speed.from_names(Speed(compile=True).names()) == Speed(compile=True)
    with pytest.raises(ValueError, match="unknown speed option 'fp16'; valid options are amp"):
        Speed.from_names(["fp16"])


def test_an_implicit_step_counts_five_passes_and_each_hessian_product():
    # (implicit-cg with a fixed δ: the spectrum rule's Lanczos products are counted in
    # test_the_spectrum_rule_damps_…)
    for name, k, extra in (("implicit-neumann", "neumann_k", {}),
                           ("implicit-cg", "cg_k", {"cg_damping_rule": "fixed"})):
        cls = get_strategy(name)
        assert cls.passes(strategy_config(name, **{k: 3}, **extra)) == 5 + 2 * 3            # double backward
        assert cls.passes(strategy_config(name, **{k: 3}, **extra, hvp="finite-difference")) == 5 + 3
        assert cls.passes(strategy_config(name, **{k: 0})) == 5


@pytest.mark.parametrize("name", ["implicit-neumann", "implicit-cg"])
def test_finite_difference_hessian_products_run_in_fp32_under_mixed_precision(name, net, batches):
    from nas.speed import Speed
    from nas.strategies.implicit import implicit_gradient

    s = make_strategy(name, net, hvp="finite-difference")
    u = [torch.randn_like(w) for w in s.weights]
    products = []

    def solve(hvp, v):
        products.append(hvp(u))
        return [torch.zeros_like(t) for t in v]

    implicit_gradient(s, batches[0], batches[1], solve)
    s.speed = Speed(amp=True)   # the strategy's own autocast
    implicit_gradient(s, batches[0], batches[1], solve)
    with torch.autocast("cpu", dtype=torch.bfloat16):   # and inside an outer one (no step does
        implicit_gradient(s, batches[0], batches[1], solve)   # that yet): ∇_w L at w too in fp32
    assert len(products) == 3
    for other in products[1:]:
        assert all(torch.equal(a, b) for a, b in zip(products[0], other))


@pytest.mark.parametrize("hvp", ["exact", "finite-difference"])
@pytest.mark.parametrize("name", ["implicit-neumann", "implicit-cg"])
def test_an_implicit_hypergradient_is_zero_for_an_alpha_the_supernet_does_not_use(name, hvp, batches):
    torch.manual_seed(0)
    two = make_supernet("darts", space_config("darts", **{**SMALL, "layers": 2}), 1, 10)  # reductions only
    s = make_strategy(name, two, hvp=hvp, **FAST[name])
    g, _, _ = s.alpha_gradient(*batches)
    assert len(g) == 2 and torch.count_nonzero(g[0]) == 0 and torch.count_nonzero(g[1]) > 0


def test_cg_stops_when_the_residual_reaches_the_tolerance_exactly():
    from nas.strategies.implicit_cg import cg_solve

    h = torch.diag(torch.tensor([1.0, 3.0], dtype=torch.float64))
    info = {}
    # one step from x = 0 leaves r = (½, −½): ‖r‖ = ½‖v‖ exactly, which meets tol = ½
    x = cg_solve(lambda u: [h @ u[0]], [torch.ones(2, dtype=torch.float64)], 0.0, 5, tol=0.5, info=info)
    assert info == {"iterations": 1, "stop": "converged", "residual": 0.5}
    assert x[0].tolist() == [0.5, 0.5]


def test_cg_names_an_exact_solution_converged_at_zero_tolerance():
    """H = 2I: the first step solves (H + 0·I)x = v exactly. With tol = 0 that is 'converged' after
    one product, not a second product of the zero direction read as 'negative curvature'; v = 0
    needs none."""
    from nas.strategies.implicit_cg import cg_solve

    products = []

    def hvp(u):
        products.append(u)
        return [2.0 * u[0]]

    info = {}
    x = cg_solve(hvp, [torch.tensor([1.0, -3.0], dtype=torch.float64)], 0.0, 5, info=info)
    assert info == {"iterations": 1, "stop": "converged", "residual": 0.0} and len(products) == 1
    assert x[0].tolist() == [0.5, -1.5]
    info = {}
    cg_solve(hvp, [torch.zeros(2, dtype=torch.float64)], 0.0, 5, info=info)
    assert info["iterations"] == 0 and info["stop"] == "converged" and len(products) == 1


def test_the_random_baseline_reports_its_losses_and_moves_nothing(net, batches):
    s = make_strategy("random", net)
    before = _state(net, s)
    metrics = s.step(*batches)
    assert sorted(metrics) == ["train_acc", "train_loss", "val_acc", "val_loss"]
    assert metrics["train_loss"] == s.loss(batches[0])[0] and metrics["val_loss"] == s.loss(batches[1])[0]
    assert _same(before, _state(net, s))


def test_the_smoothed_weight_step_trains_at_alpha_plus_sigma_times_a_normal_draw(net, batches):
    s = make_strategy("first-order-smoothed", net, sigma=0.3)
    seen = []
    loss = s.loss

    def recording(batch, weights=None, alphas=None, precise=False):
        seen.append([a.detach().clone() for a in alphas])
        return loss(batch, weights, alphas, precise)

    s.loss = recording
    torch.manual_seed(5)
    s.weight_step(batches[0])
    torch.manual_seed(5)
    expected = [a.detach() + 0.3 * torch.randn_like(a) for a in s.alphas]
    assert len(seen) == 1 and all(torch.equal(a, b) for a, b in zip(seen[0], expected))


def test_a_model_whose_input_is_not_a_tensor_runs_under_mixed_precision():
    """Strategies take any model with weights and α; its batch's input may be a structure."""
    from nas.speed import Speed

    class Pair(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 3)
            self.alpha = torch.nn.Parameter(torch.zeros(3))

        def named_weight_parameters(self):
            return list(self.lin.named_parameters(prefix="lin"))

        def arch_parameters(self):
            return [self.alpha]

        def forward(self, x):
            return self.lin(x["a"] + x["b"]) + self.alpha

    model = Pair()
    dtypes = []
    model.lin.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    s = make_strategy("first-order", model)
    s.speed = Speed(amp=True)
    x, y = {"a": torch.randn(4, 2), "b": torch.randn(4, 2)}, torch.tensor([0, 1, 2, 0])
    loss, _ = s.loss((x, y))
    assert dtypes == [torch.bfloat16]                   # the CPU's autocast was on
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert torch.allclose(loss, F.cross_entropy(s.supernet(x), y), atol=0.05)   # bf16 within 0.05


def test_the_optimisers_take_every_setting_of_the_config(net):
    s = make_strategy("first-order", net, alpha_lr=0.002, alpha_beta1=0.4, alpha_beta2=0.9,
                      alpha_weight_decay=0.01, w_lr=0.05, w_momentum=0.8, w_weight_decay=0.002)
    a, w = s.alpha_optimizer.param_groups[0], s.w_optimizer.param_groups[0]
    assert isinstance(s.alpha_optimizer, torch.optim.Adam) and isinstance(s.w_optimizer, torch.optim.SGD)
    assert (a["lr"], a["betas"], a["weight_decay"]) == (0.002, (0.4, 0.9), 0.01)
    assert (w["lr"], w["momentum"], w["weight_decay"]) == (0.05, 0.8, 0.002)
    s = make_strategy("first-order", net, alpha_optimizer="sgd", alpha_lr=0.1, alpha_weight_decay=0.5)
    a = s.alpha_optimizer.param_groups[0]
    assert type(s.alpha_optimizer) is torch.optim.SGD and (a["lr"], a["weight_decay"]) == (0.1, 0.5)
    assert a["momentum"] == 0


def test_a_fresh_strategy_is_at_epoch_zero_and_its_state_says_so(net):
    s = make_strategy("first-order", net, w_lr=0.05, epochs=4)
    assert s.state_dict()["epoch"] == 0 and s.w_lr == 0.05
    other = make_strategy("first-order", net, w_lr=0.05, epochs=4)
    other.new_epoch(3)
    other.load_state_dict(s.state_dict())
    assert other.w_lr == 0.05


@pytest.mark.parametrize("name", ["implicit-neumann", "implicit-cg"])
def test_finite_difference_implicit_steps_run_on_a_model_with_one_weight(name):
    """The toy problem has a single weight tensor (Strategy takes any model with weights and α)."""
    from nas.toy import TRAIN_BATCH, VAL_BATCH, ToyProblem

    s = make_strategy(name, ToyProblem(), hvp="finite-difference", **STRATEGIES[name].toy_options)
    exact = make_strategy(name, ToyProblem(), **STRATEGIES[name].toy_options)
    g, _, _ = s.alpha_gradient(TRAIN_BATCH, VAL_BATCH)
    want, _, _ = exact.alpha_gradient(TRAIN_BATCH, VAL_BATCH)
    assert len(g) == 1 and torch.allclose(g[0], want[0], rtol=1e-4)


@pytest.mark.parametrize("name", ["implicit-neumann", "implicit-cg"])
def test_an_exact_implicit_hypergradient_ignores_a_weight_the_loss_does_not_use(name):
    class Net(torch.nn.Module):
        def __init__(self, spare: bool):
            super().__init__()
            torch.manual_seed(0)
            self.lin = torch.nn.Linear(3, 4)
            self.alpha = torch.nn.Parameter(torch.randn(4))
            self.spare = torch.nn.Linear(2, 2) if spare else None     # never in the forward

        def named_weight_parameters(self):
            return [(n, p) for n, p in self.named_parameters() if n != "alpha"]

        def arch_parameters(self):
            return [self.alpha]

        def forward(self, x):
            return torch.tanh(self.lin(x)) * self.alpha

    g = torch.Generator().manual_seed(2)
    batch = (torch.randn(8, 3, generator=g), torch.randint(0, 4, (8,), generator=g))
    got, _, _ = make_strategy(name, Net(True), **FAST[name]).alpha_gradient(batch, batch)
    want, _, _ = make_strategy(name, Net(False), **FAST[name]).alpha_gradient(batch, batch)
    assert torch.allclose(got[0], want[0], rtol=1e-5, atol=1e-7) and torch.count_nonzero(want[0]) > 0
