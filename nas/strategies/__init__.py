"""The registry of hypergradient strategies: name → class (see STRATEGIES.md)."""

from __future__ import annotations

import dataclasses

from torch import nn

from nas.options import build_config
from nas.plugins import load_plugins
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

STRATEGIES: dict[str, type[Strategy]] = {}
# The strategies that estimate a hypergradient and move α (all but the random baseline): the
# toy problem, the fidelity tool and the step-time benchmark run these. (A tuple, rebuilt by
# `register_strategy`: import the module, `nas.strategies.SEARCHING`, to see a later one.)
SEARCHING: tuple[str, ...] = ()


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Add the strategy class `cls` to STRATEGIES under its name (usable as a class decorator);
    ValueError in one sentence for what is not a Strategy subclass, a name taken by another class,
    or a Config, tunable options or toy options that do not fit (each option a field of its
    Config, a StrategyConfig dataclass)."""
    global SEARCHING
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValueError(f"{cls!r} is not a Strategy (nas.strategies.base) subclass")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"the strategy {cls.__name__} has no name")
    if name in STRATEGIES and STRATEGIES[name] is not cls:
        raise ValueError(f"a strategy named {name!r} is already registered ({STRATEGIES[name].__name__})")
    if not (dataclasses.is_dataclass(cls.Config) and issubclass(cls.Config, StrategyConfig)):
        raise ValueError(f"the {name} strategy's Config is not a StrategyConfig dataclass")
    valid = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = sorted((set(cls.tunable) | set(cls.toy_options) | {cls.toy_sweep or "alpha_lr"}) - valid)
    if unknown:
        raise ValueError(f"the {name} strategy names options its Config lacks: {', '.join(unknown)}")
    STRATEGIES[name] = cls
    SEARCHING = tuple(n for n, c in STRATEGIES.items() if c.searches)
    return cls


for _cls in (OneLevel, FirstOrder, SecondOrder, SecondOrderExact, ImplicitNeumann, ImplicitCG,
             HyperDartsLinear, HyperDartsMLP, FirstOrderSmoothed, RandomSample):
    register_strategy(_cls)
# then the strategies and spaces of installed packages and of $HYPERDARTS_PLUGINS (nas/plugins.py)
_READY = True
load_plugins()


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
           "register_strategy", "strategy_config"]
