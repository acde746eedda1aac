"""Every registered strategy, and a ninth one added by one class and one registry line, is accepted
by every tool built on the library: the grid, the perf harness, the tuner, the toy and the fidelity
tool. Nothing outside the strategy's class may need to know its name."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

import pytest
import torch

from nas.strategies import STRATEGIES, get_strategy, strategy_config
from nas.strategies.base import Range, Strategy, StrategyConfig, grad


@dataclass(frozen=True)
class ScaledConfig(StrategyConfig):
    scale: float = 1.0      # the α-gradient is multiplied by this


class ScaledFirstOrder(Strategy):
    """A ninth strategy as a newcomer would write it: first-order DARTS with a scaled α-gradient."""

    name = "scaled-first-order"
    Config = ScaledConfig
    tunable = {**Strategy.tunable, "scale": Range(0.5, 2.0)}
    toy_options = {"scale": 1.0}

    def alpha_gradient(self, train_batch, val_batch):
        val_loss, val_acc = self.val_loss(val_batch)
        return [self.config.scale * g for g in grad(val_loss, self.alphas)], val_loss, val_acc


@pytest.fixture
def ninth(monkeypatch):
    """The one registry line: the new class in STRATEGIES."""
    monkeypatch.setitem(STRATEGIES, ScaledFirstOrder.name, ScaledFirstOrder)
    return ScaledFirstOrder.name


ALL = [*STRATEGIES, "ninth"]


def _name(name: str, request) -> str:
    return request.getfixturevalue("ninth") if name == "ninth" else name


@pytest.mark.parametrize("name", ALL)
def test_a_strategy_describes_itself_consistently(name, request):
    cls = get_strategy(_name(name, request))
    valid = {f.name for f in fields(cls.Config)}
    assert set(cls.tunable) <= valid and set(cls.toy_options) <= valid
    assert cls.toy_sweep is None or cls.toy_sweep in valid
    for option, r in cls.tunable.items():       # both ends of each range are valid configs
        for value in (r.low, r.high):
            strategy_config(cls.name, **{option: int(value) if r.integer else value})
    passes = cls.passes(cls.Config())
    assert (passes >= 1) if cls.searches else passes == 0
    assert bool(cls.tunable) == cls.searches    # what does not search has nothing to tune


@pytest.mark.parametrize("name", ALL)
def test_the_grid_and_the_tuner_accept_every_strategy(name, request):
    pytest.importorskip("ray")
    from benchmark.grids import SMOKE, Grid
    from benchmark.tuning import search_space

    name = _name(name, request)
    trials = Grid("g", (name,), ("digits",), (0, 1), SMOKE).trials()
    assert [t.strategy for t in trials] == [name, name]
    space = search_space(name)
    assert set(space) == set(get_strategy(name).tunable)
    for option, dist in space.items():
        r = get_strategy(name).tunable[option]
        for _ in range(20):
            v = dist.sample()
            assert r.low <= v <= r.high and (isinstance(v, int) if r.integer else True)


@pytest.mark.parametrize("name", ALL)
def test_the_perf_harness_times_every_searching_strategy(name, request):
    from benchmark import perf

    name = _name(name, request)
    cls = get_strategy(name)
    if not cls.searches:
        pytest.skip("the random baseline takes no step: nothing to time")
    row = perf.measure(name, batch=2, layers=3, channels=4, image_size=8, steps=1, warmup=0,
                       device="cpu", threads=None, hvp="finite-difference")
    assert row["expected_passes"] == cls.passes(strategy_config(name, **perf.perf_options(
        name, "finite-difference")))
    assert row["step_s"] > 0 and math.isfinite(row["overhead"])


@pytest.mark.parametrize("name", ALL)
def test_the_toy_runs_every_searching_strategy_with_its_own_options(name, request):
    from studies.toy import ToyRun, default_runs, run_toy

    name = _name(name, request)
    cls = get_strategy(name)
    if not cls.searches:
        pytest.skip("the random baseline does not search")
    runs = default_runs([name], xis=(0.0, 0.5), max_iter=30)
    assert runs and all(r.strategy == name for r in runs)
    assert all(cls.toy_options.items() <= r.options.items() for r in runs)
    assert len(runs) == (2 if cls.toy_sweep else 1)
    record = run_toy(dataclasses.replace(runs[-1], max_iter=30))
    assert record["iterations"] >= 1 and math.isfinite(record["alpha"])
    assert isinstance(runs[0], ToyRun)


@pytest.mark.parametrize("name", ALL)
def test_the_fidelity_tool_compares_every_searching_strategy(name, request, tiny_digits):
    from studies.fidelity import FidelityConfig, measure_fidelity

    name = _name(name, request)
    if not get_strategy(name).searches:
        pytest.skip("the random baseline estimates no hypergradient")
    cfg = FidelityConfig(strategies=(name,), space_options={"channels": 4, "layers": 3, "nodes": 2,
                                                            "multiplier": 2},
                         batch_size=8, warmup_steps=1, pretrain_steps=1, reference_k=2,
                         unrolled_steps=1, eigen_iterations=0, reference_damping=0.0, hyper_steps=1,
                         repeats=1)
    (row,) = measure_fidelity(cfg, tiny_digits)["rows"]
    assert row["strategy"] == name and -1.0 <= row["cosine"] <= 1.0


def test_the_ninth_strategy_is_really_used(ninth):
    """Guard against the checks above passing on a strategy nobody instantiates."""
    net = torch.nn.Linear(1, 1)
    net.named_weight_parameters = lambda: [("weight", net.weight)]
    net.arch_parameters = lambda: [net.bias]
    s = get_strategy(ninth)(net, ScaledConfig(scale=2.0))
    x, y = torch.ones(3, 1), torch.zeros(3, 1)
    net.objective = lambda out, yy: ((out - yy).pow(2).mean(), torch.zeros(()))
    s.objective = net.objective
    g = s.hypergradient((x, y), (x, y))[0]
    expected = 2.0 * 2 * (net(x) - y).mean().detach()
    assert torch.allclose(g, expected.reshape(g.shape))


def test_every_bad_strategy_option_gets_its_whole_message_at_its_boundary():
    def message(make, *args, **kwargs):
        with pytest.raises((ValueError, TypeError)) as e:
            make(*args, **kwargs)
        return str(e.value)

    names = ", ".join(STRATEGIES)
    assert message(get_strategy, "darts") == f"unknown strategy 'darts'; valid strategies are {names}"
    assert names.startswith("one-level, first-order, second-order")
    strategy_config("first-order", epochs=1)
    assert message(strategy_config, "first-order", epochs=0) == "epochs must be at least 1, got 0"
    for name in ("w_lr", "alpha_lr"):
        strategy_config("first-order", **{name: 1e-9})
        assert message(strategy_config, "first-order", **{name: 0.0}) == f"{name} must be positive, got 0.0"
    strategy_config("first-order", alpha_optimizer="sgd")
    assert message(strategy_config, "first-order", alpha_optimizer="SGD") == (
        "alpha_optimizer must be adam or sgd, got 'SGD'")
    for name in ("first-order-smoothed", "hyperdarts-linear"):
        strategy_config(name, sigma=0.0)
        assert message(strategy_config, name, sigma=-0.1) == "sigma must not be negative, got -0.1"
    for name in ("implicit-neumann", "implicit-cg"):
        strategy_config(name, hvp="finite-difference")
        assert message(strategy_config, name, hvp="fd") == (
            "hvp must be one of exact, finite-difference, got 'fd'")
        assert message(strategy_config, name, fd_radius=0.0) == "fd_radius must be positive, got 0.0"
    strategy_config("implicit-neumann", neumann_k=0)
    assert message(strategy_config, "implicit-neumann", neumann_k=-1) == (
        "neumann_k must be at least 0, got -1")
    strategy_config("implicit-cg", cg_k=0, cg_damping=0.0, cg_tol=0.0)
    for name in ("cg_k", "cg_damping", "cg_tol"):
        assert message(strategy_config, "implicit-cg", **{name: -1}) == (
            "cg_k, cg_damping and cg_tol must not be negative")
    Range(0.0, 1.0)
    Range(1e-3, 1.0, log=True)
    assert message(Range, 1.0, 1.0) == "a range needs low < high, got [1.0, 1.0]"
    assert message(Range, 0.0, 1.0, log=True) == "a log-uniform range needs low > 0, got 0.0"
    model = torch.nn.Linear(2, 2)
    model.named_weight_parameters = model.named_parameters
    model.arch_parameters = lambda: []
    assert message(get_strategy("second-order"), model, strategy_config("first-order")) == (
        "second-order takes a SecondOrderConfig, got StrategyConfig")


def test_a_hypernetwork_refuses_an_unknown_head_and_a_model_it_cannot_modulate():
    from nas.strategies.hypernet import HyperNet

    HyperNet([torch.zeros(3, 2)], 4, head="mlp")
    with pytest.raises(ValueError) as e:
        HyperNet([torch.zeros(3, 2)], 4, head="conv")
    assert str(e.value) == "head must be linear or mlp, got 'conv'"
    with pytest.raises(ValueError) as e:
        HyperNet([torch.zeros(3)], 4)
    assert str(e.value) == "the model has no weight with an output-channel dimension to modulate"


# The smallest supernet of each space (every registered space: a new one must add its line).
TINY_SPACES = {"darts": {"channels": 4, "layers": 3, "nodes": 2, "multiplier": 2},
               "dense-dag": {"blocks": 3, "layers": 3, "width": 8},
               "nb201": {"channels": 4, "cells_per_stage": 1}}


def test_every_space_has_a_tiny_supernet_here():
    from nas.spaces import SPACES

    assert set(TINY_SPACES) == set(SPACES)


@pytest.mark.parametrize("space", sorted(TINY_SPACES))
@pytest.mark.parametrize("name", ALL)
def test_every_strategy_searches_every_space(name, space, request, tiny_digits):
    """One epoch of every strategy (the baselines included) on every space, unchanged: α moves
    (where it searches), the derived architecture parses back, and the space describes it."""
    from nas.search import Search, SearchConfig
    from nas.spaces import get_space

    name = _name(name, request)
    search = Search(SearchConfig(space=space, strategy=name, dataset="digits", epochs=1,
                                 batch_size=64, seed=0, space_options=TINY_SPACES[space],
                                 strategy_options={"alpha_lr": 0.03}, diagnostics_every=1),
                    tiny_digits, "cpu")
    before = {k: v.clone() for k, v in search.supernet.softmax_alphas().items()}
    record = search.run_epoch()
    assert search.done
    arch = get_space(space).parse(record["genotype"])
    assert str(arch) == record["genotype"] == str(search.genotype())
    assert math.isfinite(record["discretisation_gap"])
    moved = any(not torch.equal(before[k], v) for k, v in search.supernet.softmax_alphas().items())
    assert moved == get_strategy(name).searches
