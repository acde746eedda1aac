import pytest
import torch

from analysis.toy import plot_trajectories
from nas.strategies import SEARCHING, make_strategy
from nas.toy import TRAIN_BATCH, VAL_BATCH, ToyProblem, ToyRun, run_toy
from studies.toy import default_runs

GD = {"w_lr": 0.01, "w_lr_min": 0.01, "w_momentum": 0.0, "w_weight_decay": 0.0,
      "w_grad_clip": 0.0, "alpha_optimizer": "sgd", "alpha_lr": 0.01, "alpha_weight_decay": 0.0}


def hypergradient(name: str, **options) -> float:
    torch.manual_seed(0)
    s = make_strategy(name, ToyProblem(2.0, -2.0), **GD, **options)
    return float(s.hypergradient(TRAIN_BATCH, VAL_BATCH)[0])


def test_first_order_at_the_start_is_w_minus_2():
    assert hypergradient("first-order") == pytest.approx(-4.0)


def test_one_level_is_the_partial_of_the_mean_of_both_losses():
    # ∂_α (L_train + L_val)/2 = ((−2w + 2α) + (w − 2))/2 = 2 at (2, −2)
    assert hypergradient("one-level") == pytest.approx(2.0)


@pytest.mark.parametrize("name", ["second-order", "second-order-exact"])
@pytest.mark.parametrize("xi", [0.0, 0.3, 0.5, 0.7])
def test_second_order_is_minus_4_plus_12_xi(name, xi):
    assert hypergradient(name, xi=xi) == pytest.approx(-4 + 12 * xi, abs=1e-6)


@pytest.mark.parametrize("eta, k", [(0.1, 0), (0.1, 3), (0.25, 5), (0.4, 10)])
def test_neumann_matches_its_closed_form(eta, k):
    expected = (-2 - 2) + 2 * (1 - (1 - 2 * eta) ** (k + 1))
    assert hypergradient("implicit-neumann", neumann_eta=eta, neumann_k=k) == pytest.approx(expected)


def test_neumann_converges_to_the_implicit_hypergradient():
    assert hypergradient("implicit-neumann", neumann_eta=0.25, neumann_k=60) == pytest.approx(-2.0)


@pytest.mark.parametrize("damping", [0.0, 0.5, 2.0])
def test_cg_solves_the_damped_system(damping):
    # (H + δ)x = ∂_w L_val = α with H = 2, then g = (w − 2) + 2x
    expected = -4 + 2 * 2 / (2 + damping)
    assert hypergradient("implicit-cg", cg_damping=damping, cg_k=3,
                         cg_damping_rule="fixed") == pytest.approx(expected)


@pytest.mark.parametrize("name", ["hyperdarts-linear", "hyperdarts-mlp"])
def test_hypernetwork_starts_as_first_order(name):
    assert hypergradient(name) == pytest.approx(-4.0)


def test_a_fitted_linear_hypernetwork_gives_the_exact_hypergradient():
    s = make_strategy("hyperdarts-linear", ToyProblem(2.0, -2.0), **GD)
    with torch.no_grad():  # w_φ(α) = W⁰ + (Aα + a)·Wʰ = α: (c, d) = (1, 0)
        s.weights[0].fill_(0.0)
        s.hyper.hyper_weights[0].fill_(1.0)
        s.hyper.A.fill_(1.0)
        s.hyper.a.fill_(0.0)
    assert float(s.hypergradient(TRAIN_BATCH, VAL_BATCH)[0]) == pytest.approx(2.0)
    assert float(s.current_weights()[0]) == pytest.approx(2.0)


@pytest.mark.parametrize("name, options, alpha, w, tol", [
    ("first-order", {}, 2.0, 2.0, 0.01),
    ("second-order", {"xi": 0.3}, 2 / 1.6, 2 / 1.6, 0.01),
    ("second-order", {"xi": 0.5}, 1.0, 1.0, 0.01),
    ("second-order-exact", {"xi": 0.7}, 2 / 2.4, 2 / 2.4, 0.01),
    ("implicit-cg", {"cg_damping": 0.0}, 1.0, 1.0, 0.01),
    ("implicit-neumann", {"neumann_eta": 0.25, "neumann_k": 5}, 2 / (2 - 0.5**6),
     2 / (2 - 0.5**6), 0.01),
    ("one-level", {}, 4 / 3, 2 / 3, 0.01),
    # hyperDARTS is noisy (σ-perturbed φ-steps): the reproduction's stopping rule, looser check
    ("hyperdarts-linear", {}, 1.0, 1.0, 0.05),
    ("hyperdarts-mlp", {}, 1.0, 1.0, 0.05),
])
def test_fixed_points(name, options, alpha, w, tol):
    noisy = name.startswith("hyperdarts")
    r = run_toy(ToyRun(name, tol=1e-4 if noisy else 1e-7, max_iter=4000 if noisy else 20_000,
                       options=options))
    assert r["alpha"] == pytest.approx(alpha, abs=tol)
    assert r["w"] == pytest.approx(w, abs=tol)


def test_without_perturbation_the_hypernetwork_does_not_find_the_slope():
    # σ = 0: fitting w_φ(α) at α alone cannot identify dw*/dα, so the run stalls away from (1, 1)
    r = run_toy(ToyRun("hyperdarts-linear", tol=1e-7, max_iter=5000, options={"sigma": 0.0}))
    assert abs(r["alpha"] - 1.0) > 0.2


def test_default_runs_cover_every_strategy_and_xi():
    runs = default_runs(options={"neumann_k": 3, "sigma": 0.1})
    names = {r.strategy for r in runs}
    assert names == set(SEARCHING)
    assert sorted(r.options["xi"] for r in runs if r.strategy == "second-order") == [0, 0.3, 0.5, 0.7]
    assert all("sigma" not in r.options for r in runs
               if not r.strategy.startswith("hyperdarts") and r.strategy != "first-order-smoothed")


def test_records_and_plot(tmp_path):
    records = [run_toy(ToyRun(n, max_iter=300, options=o), trajectory=True)
               for n, o in (("second-order", {"xi": 0.5}), ("first-order", {}))]
    r = records[0]
    assert r["trajectory"][0] == [2.0, -2.0] and len(r["trajectory"]) == r["iterations"] + 1
    assert r["time_per_iter_s"] > 0 and r["first_hypergradient"] == pytest.approx(2.0)
    paths = plot_trajectories(records, tmp_path / "toy")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 10_000 for p in paths)
