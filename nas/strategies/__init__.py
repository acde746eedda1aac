"""The registry of hypergradient strategies: name → class (see STRATEGIES.md)."""

from __future__ import annotations

from torch import nn

from nas.options import build_config
from nas.strategies.base import Strategy, StrategyConfig
from nas.strategies.first_order import FirstOrder
from nas.strategies.first_order_smoothed import FirstOrderSmoothed
from nas.strategies.hyperdarts import HyperDartsLinear, HyperDartsMLP
from nas.strategies.implicit_cg import ImplicitCG
from nas.strategies.implicit_neumann import ImplicitNeumann
from nas.strategies.one_level import OneLevel
from nas.strategies.random_sample import RandomSample
from nas.strategies.second_order import SecondOrder
from nas.strategies.second_order_exact import SecondOrderExact

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (
    OneLevel, FirstOrder, SecondOrder, SecondOrderExact, ImplicitNeumann, ImplicitCG,
    HyperDartsLinear, HyperDartsMLP, FirstOrderSmoothed, RandomSample)}
# The strategies that estimate a hypergradient and move α (all but the random baseline): the
# toy problem, the fidelity tool and the step-time benchmark run these.
SEARCHING: tuple[str, ...] = tuple(n for n, cls in STRATEGIES.items() if cls.searches)


def get_strategy(name: str) -> type[Strategy]:
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; valid strategies are {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def strategy_config(name: str, **values) -> StrategyConfig:
    """The config of strategy `name` with `values` set; an unknown option raises ValueError."""
    return build_config(get_strategy(name).Config, f"strategy {name}", values)


def make_strategy(name: str, supernet: nn.Module, **values) -> Strategy:
    return get_strategy(name)(supernet, strategy_config(name, **values))


__all__ = ["SEARCHING", "STRATEGIES", "Strategy", "StrategyConfig", "get_strategy", "make_strategy",
           "strategy_config"]
