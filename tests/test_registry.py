"""Every registered strategy, and a ninth one added by one class and one registry line, is accepted
by every tool built on the library: the grid, the perf harness, the tuner, the toy and the fidelity
tool; every space, and a fourth one added by one class and one `register_space` call, is searched
by every strategy and declared by a grid. Nothing outside the class may need to know its name, and
registration refuses what the benchmark could not run (a training config without a seed)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import ClassVar

import pytest
import torch

from nas.spaces import SPACES, Supernet, TrainConfig, register_space
from nas.spaces.nb201 import NB201Space
from nas.strategies import STRATEGIES, get_strategy, register_strategy, strategy_config
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
    from nas.toy import ToyRun, run_toy
    from studies.toy import default_runs

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
    strategy_config("first-order", w_lr=1e-9, w_lr_min=0.0)
    assert message(strategy_config, "first-order", w_lr=1e-9) == "w_lr_min (0.001) cannot exceed w_lr (1e-09)"
    for name in ("w_lr", "alpha_lr"):
        strategy_config("first-order", **{name: 1e-9, "w_lr_min": 0.0})
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


class TwinSpace(NB201Space):
    """A fourth space as a newcomer would add one: a subclass of an existing one (NAS-Bench-201's,
    here under another name) and one registration."""

    name = "nb201-twin"


@pytest.fixture
def fourth():
    """The one registration: `register_space` (what an installed package's entry point does)."""
    register_space(TwinSpace())
    yield TwinSpace.name
    SPACES.pop(TwinSpace.name)


# The smallest supernet of each space (every registered space: a new one must add its line).
TINY_SPACES = {"darts": {"channels": 4, "layers": 3, "nodes": 2, "multiplier": 2},
               "dense-dag": {"blocks": 3, "layers": 3, "width": 8},
               "nb201": {"channels": 4, "cells_per_stage": 1},
               "nb201-twin": {"channels": 4, "cells_per_stage": 1}}


def test_every_space_has_a_tiny_supernet_here(fourth):
    assert set(TINY_SPACES) == set(SPACES)


@pytest.mark.parametrize("space", sorted(TINY_SPACES))
@pytest.mark.parametrize("name", ALL)
def test_every_strategy_searches_every_space(name, space, request, tiny_digits):
    """One epoch of every strategy (the baselines included) on every space, unchanged: α moves
    (where it searches), the derived architecture parses back, and the space describes it."""
    from nas.search import Search, SearchConfig
    from nas.spaces import get_space

    name = _name(name, request)
    if space == TwinSpace.name:
        request.getfixturevalue("fourth")
    search = Search(SearchConfig.of(space=space, strategy=name, dataset="digits", epochs=1,
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


def test_a_grid_declares_the_fourth_space_and_its_supernet_is_a_supernet(fourth, tiny_digits):
    from benchmark.grids import NB201_SMOKE, Grid
    from nas.spaces import make_supernet, space_config

    profile = dataclasses.replace(NB201_SMOKE, name="twin", space=fourth, table=None, on_miss="error",
                                  lookup_epochs=False)
    trials = Grid("twin", ("first-order",), ("digits",), (0,), profile).trials()
    assert [(t.strategy, t.profile.space) for t in trials] == [("first-order", fourth)]
    for space, options in TINY_SPACES.items():
        net = make_supernet(space, space_config(space, **options), 1, 10, image_size=8)
        assert isinstance(net, Supernet)


@pytest.mark.parametrize("space", sorted(SPACES))
def test_every_spaces_training_config_has_the_declared_fields(space):
    config = SPACES[space].TrainConfig()
    assert isinstance(config, TrainConfig) and dataclasses.is_dataclass(config)


def test_registration_refuses_what_the_benchmark_cannot_run():
    @dataclass(frozen=True)
    class NoSeed:
        epochs: int = 1

    class Seedless(NB201Space):
        name = "seedless"
        TrainConfig = NoSeed

    with pytest.raises(ValueError, match=r"TrainConfig \(NoSeed\) lacks seed"):
        register_space(Seedless())
    with pytest.raises(ValueError, match="already registered"):
        register_space(type("Other", (NB201Space,), {"name": "darts"})())

    class Typo(ScaledFirstOrder):
        name = "typo"
        tunable: ClassVar[dict] = {"alpha_lrr": Range(0.1, 1.0)}

    with pytest.raises(ValueError, match="options its Config lacks: alpha_lrr"):
        register_strategy(Typo)
    with pytest.raises(ValueError, match="not a Strategy"):
        register_strategy(object)
    assert "seedless" not in SPACES and "typo" not in STRATEGIES
