import json

import pytest
import torch

from studies.cli import main
from studies.fidelity import FidelityConfig, measure_fidelity

TINY = {"channels": 4, "layers": 3, "nodes": 2, "multiplier": 2}


def test_a_strategy_configured_as_the_reference_matches_it(tiny_digits):
    """With a damping that makes H + δI positive definite, implicit-cg run to convergence and the
    MINRES reference solve the same system: the same hypergradient."""
    cfg = FidelityConfig(strategies=("first-order", "implicit-cg", "hyperdarts-linear"),
                         space_options=TINY, batch_size=16, warmup_steps=2, pretrain_steps=5,
                         reference_k=300, reference_damping=50.0, reference_tol=1e-6,
                         unrolled_steps=2, eigen_iterations=0, hyper_steps=2, repeats=1,
                         options={"implicit-cg": {"cg_k": 60, "cg_damping": 50.0,
                                                  "cg_damping_rule": "fixed"}})
    result = measure_fidelity(cfg, tiny_digits)
    rows = {r["strategy"]: r for r in result["rows"]}
    assert rows["implicit-cg"]["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert rows["implicit-cg"]["relative_error"] < 1e-4
    assert rows["first-order"]["cosine"] < 0.9999
    ref = result["reference"]
    # (the products are float32: the recomputed residual cannot fall much below 1e-7)
    assert ref["solver"] == "minres" and ref["stop"] == "converged" and ref["residual"] <= 1e-6
    assert ref["unrolled_steps"] == 2 and ref["unrolled_norm"] > 0
    assert all(r["time_s"] > 0 and -1 <= r["cosine_unrolled"] <= 1 for r in result["rows"])
    assert rows["implicit-cg"]["passes"] == 5 + 2 * 60
    assert rows["implicit-cg"]["options"] == {"cg_damping": 50.0, "cg_k": 60, "cg_tol": 0.0,
                                              "hvp": "exact", "fd_radius": 0.01,
                                              "cg_damping_rule": "fixed", "cg_spectrum_steps": 20,
                                              "cg_spectrum_every": 32}


def test_minres_refines_on_the_true_residual_of_an_inexact_operator():
    """Products with rounding noise (as float32 Hessian-vector products have) make MINRES's own
    residual estimate optimistic; the solve restarts on the recomputed residual until it is below
    tol, and reports the true one."""
    from studies.fidelity import minres_solve

    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(40, 40, dtype=torch.float64))
    a = q @ torch.diag(torch.linspace(0.05, 5.0, 40, dtype=torch.float64)) @ q.T
    v = [torch.randn(40, dtype=torch.float64)]
    info = {}
    x = minres_solve(lambda u: [(a @ u[0]).float().double()], v, 0.0, 400, 1e-6, info=info)
    true = float(torch.linalg.vector_norm(a @ x[0] - v[0]) / torch.linalg.vector_norm(v[0]))
    assert info["stop"] == "converged" and info["residual"] <= 1e-6
    assert true == pytest.approx(info["residual"], rel=0.05, abs=1e-7)


def test_minres_solves_an_indefinite_system_that_cg_cannot():
    from nas.strategies.implicit_cg import cg_solve
    from studies.fidelity import minres_solve

    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    h = q @ torch.diag(torch.tensor([-3.0, -0.5, 0.7, 1.0, 2.0, 5.0], dtype=torch.float64)) @ q.T
    v = [torch.randn(6, dtype=torch.float64)]
    info = {}
    x = minres_solve(lambda u: [h @ u[0]], v, 0.0, 50, 1e-12, info=info)
    assert torch.allclose(x[0], torch.linalg.solve(h, v[0]), atol=1e-8)
    assert info["stop"] == "converged" and info["residual"] < 1e-10 and info["iterations"] <= 8
    cg_info = {}
    cg_solve(lambda u: [h @ u[0]], v, 0.0, 50, info=cg_info)
    assert cg_info["stop"] == "negative curvature" or cg_info["residual"] > 1e-6


def test_toy_command_prints_one_json_object_per_run(capsys):
    assert main(["toy", "--strategies", "first-order", "second-order", "--xi", "0.5",
                 "--max-iter", "50", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in lines] == ["first-order", "second-order ξ=0.5"]
    assert lines[1]["first_hypergradient"] == pytest.approx(2.0)
    assert "trajectory" not in lines[0]


def test_toy_and_fidelity_reject_unknown_strategies(capsys):
    assert main(["toy", "--strategies", "zeroth-order"]) == 2
    assert main(["fidelity", "--strategies", "zeroth-order"]) == 2
    assert "valid strategies are" in capsys.readouterr().err


def test_fidelity_leaves_the_supernet_as_it_found_the_point(tiny_digits, monkeypatch):
    import studies.fidelity as fid

    seen = {}
    real = fid.make_strategy

    def spy(name, net, **kw):
        seen.setdefault("states", []).append({k: v.clone() for k, v in net.state_dict().items()})
        return real(name, net, **kw)

    monkeypatch.setattr(fid, "make_strategy", spy)
    cfg = FidelityConfig(strategies=("hyperdarts-mlp", "first-order"), space_options=TINY,
                         batch_size=16, warmup_steps=1, pretrain_steps=2, reference_k=2,
                         hyper_steps=3, repeats=1, eigen_iterations=0, reference_damping=0.0,
                         unrolled_steps=1)
    measure_fidelity(cfg, tiny_digits)
    # states[0], [1]: warm-up and probe; [2], [3]: each strategy starts from the same point
    a, b = seen["states"][2], seen["states"][3]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_toy_out_writes_its_table_where_the_report_reads_it(tmp_path, capsys):
    from resultstore.store import ResultStore

    assert main(["toy", "--strategies", "first-order", "implicit-neumann", "--max-iter", "40",
                 "--set", "neumann_k=3", "--out", str(tmp_path)]) == 0
    toy = ResultStore(tmp_path).read("toy")
    assert list(toy.label) == ["first-order", "implicit-neumann"]
    options = json.loads(toy.set_index("label").loc["implicit-neumann", "options"])
    assert options == {"neumann_eta": 0.25, "neumann_k": 3}      # its toy_options, then --set
    assert len(toy.trajectory.iloc[0]) == toy.iterations.iloc[0] + 1
    assert main(["toy", "--strategies", "first-order", "--set", "sigma=0.3"]) == 2
    assert "no strategy of this run has the option 'sigma'" in capsys.readouterr().err


@pytest.mark.parametrize("momentum, steps", [(0.0, 1), (0.0, 7), (0.9, 5)])
def test_the_unrolled_reference_equals_a_hand_written_unroll_on_the_toy(momentum, steps):
    """L_train = w² − 2αw + α², L_val = αw − 2α + 1; SGD with momentum μ and lr η, by hand:
    g = 2w − 2α, b ← μb + g, w ← w − ηb, carrying dw/dα and db/dα along."""
    from nas.strategies import make_strategy
    from nas.toy import TRAIN_BATCH, VAL_BATCH, ToyProblem
    from studies.fidelity import unrolled_hypergradient

    alpha, w0, lr = 0.7, -1.3, 0.1
    toy = ToyProblem(alpha, w0)
    s = make_strategy("first-order", toy, epochs=1, w_lr=lr, w_lr_min=lr, w_momentum=momentum,
                      w_weight_decay=0.0, w_grad_clip=0.0, alpha_optimizer="sgd", alpha_lr=lr)
    got = float(unrolled_hypergradient(s, [TRAIN_BATCH] * steps, VAL_BATCH)[0])
    w, dw, b, db = w0, 0.0, None, 0.0
    for _ in range(steps):
        g, dg = 2 * w - 2 * alpha, 2 * dw - 2
        b, db = (g, dg) if b is None else (momentum * b + g, momentum * db + dg)
        w, dw = w - lr * b, dw - lr * db
    assert got == pytest.approx(w + alpha * dw - 2, rel=1e-12, abs=1e-12)
    if momentum == 0.0:   # and the closed form 1 − (1 − 2η)^T of dw_T/dα
        assert dw == pytest.approx(1 - (1 - 2 * lr) ** steps)


def test_the_unrolled_reference_of_one_step_is_second_order_exact(tiny_digits):
    """One unrolled step without clipping is second-order DARTS with ξ = lr, exactly."""
    from nas.spaces import make_supernet, space_config
    from nas.strategies import make_strategy
    from studies.fidelity import unrolled_hypergradient

    torch.manual_seed(0)
    net = make_supernet("darts", space_config("darts", **TINY, alpha_init_std=0.3), 1, 10)
    x, y = tiny_digits.train_x[:16].float() / 16, tiny_digits.train_y[:16]
    train, val = (x[:8], y[:8]), (x[8:], y[8:])
    s = make_strategy("second-order-exact", net, w_grad_clip=0.0, w_momentum=0.0)
    ref = unrolled_hypergradient(s, [train], val)
    exact = s.hypergradient(train, val)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in zip(ref, exact))


def test_extreme_eigenvalues_match_eigvalsh_on_an_indefinite_matrix():
    from nas.spectrum import extreme_eigenvalues

    torch.manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64))
    eig = torch.tensor([-4.0, -1.0, -0.2, 0.1, 0.5, 1.0, 2.0, 9.0], dtype=torch.float64)
    h = q @ torch.diag(eig) @ q.T
    lo, hi = extreme_eigenvalues(lambda u: [h @ u[0]], [torch.zeros(8, dtype=torch.float64)], 500)
    assert lo == pytest.approx(-4.0, rel=1e-6) and hi == pytest.approx(9.0, rel=1e-6)


def test_fidelity_reports_the_training_hessians_spectrum(tiny_digits):
    cfg = FidelityConfig(strategies=("first-order",), space_options=TINY, batch_size=16,
                         warmup_steps=1, pretrain_steps=2, reference_k=3, unrolled_steps=1,
                         eigen_iterations=5, hyper_steps=0, repeats=1)
    result = measure_fidelity(cfg, tiny_digits)
    h, ref = result["hessian"], result["reference"]
    assert h["min"] <= h["max"] and h["damping_needed"] == max(0.0, -h["min"])
    # CG where the automatic damping provably exceeds |λ_min| (θ_min minus its error bound: 5
    # Lanczos steps leave it loose), MINRES otherwise
    assert ref["damping"] == max(2 * h["damping_needed"], h["max"] / 100)
    assert ref["solver"] == ("cg" if ref["damping"] > -(h["min"] - h["min_bound"]) else "minres")
    assert h["eta_times_max"] == pytest.approx(h["neumann_eta"] * h["max"])


def test_fidelity_at_several_points_of_a_search_lands_in_one_table_and_one_figure(tmp_path, capsys):
    from analysis import figures
    from resultstore.store import ResultStore

    args = ["fidelity", "--strategies", "first-order", "second-order", "--channels", "4", "--layers", "3",
            "--batch-size", "16", "--pretrain-steps", "2", "--reference-k", "3", "--unrolled-steps", "1",
            "--eigen-iterations", "0", "--reference-damping", "0", "--hyper-steps", "0",
            "--points", "0", "2", "--device", "cpu", "--variant", "second-order", "xi=0.5",
            "--out", str(tmp_path)]
    assert main(args) == 0
    rows = ResultStore(tmp_path).read("fidelity")
    assert sorted(zip(rows.search_step, rows.strategy, rows.variant)) == [
        (0, "first-order", False), (0, "second-order", False), (0, "second-order", True),
        (2, "first-order", False), (2, "second-order", False), (2, "second-order", True)]
    assert set(rows.passes) == {2.0, 5.0}
    from analysis.report import fidelity_table

    table = fidelity_table(rows)
    (h0, f0), (h2, _) = table.blocks
    assert h0.startswith("After 0 first-order search steps") and "true relative residual" in h2
    assert list(f0.strategy) == ["first-order", "second-order", "second-order [xi=0.5]"]
    assert len(table.numbers) == 6
    rows = rows[~rows.variant]
    paths = figures.fidelity_vs_cost(rows, tmp_path / "fc")
    assert paths and all(p.stat().st_size > 1000 for p in paths)
    assert figures.fidelity_bars(rows, tmp_path / "fb")
