"""Strategies and search spaces from a package of one's own, without a fork.

A package registers a strategy (a `nas.strategies.base.Strategy` subclass) or a space (a
`nas.spaces.base.SearchSpace` subclass or instance) through an entry point in its pyproject.toml:

    [project.entry-points."hyperdarts_bench.strategies"]
    my-method = "my_package.strategy:MyMethod"
    [project.entry-points."hyperdarts_bench.spaces"]
    my-space = "my_package.space:MySpace"

Once it is installed beside this project, every tool takes it as it takes a built-in one: the
grids (`--strategies my-method`), the tuner, the perf harness, the toy and fidelity studies and
the report, on this machine and on a Ray cluster's workers (which import the same registries).
A module that is not installed can be named instead, comma-separated, in $HYPERDARTS_PLUGINS
(importing it must register what it adds: `nas.strategies.register_strategy`,
`nas.spaces.register_space`); it must be importable there, and on every node of a cluster.
The plugins load once, when both registries (`nas.strategies`, `nas.spaces`) have been imported
(`load_plugins`, which each calls last), so that a plugin may import either, and a name is known
everywhere at once.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import entry_points

GROUPS = {"strategies": "hyperdarts_bench.strategies", "spaces": "hyperdarts_bench.spaces"}
ENV = "HYPERDARTS_PLUGINS"
REGISTRIES = ("nas.strategies", "nas.spaces")
_loaded = False      # True once the plugins are loaded (or loading) in this process


class PluginError(ValueError):
    """A plugin that cannot be loaded, said in one sentence."""


def entry_point_objects(kind: str) -> list[object]:
    """The objects the installed packages' entry points of `kind` ("strategies" or "spaces") name,
    in name order; PluginError naming the entry point where one cannot be loaded."""
    objects = []
    for ep in sorted(entry_points(group=GROUPS[kind]), key=lambda e: e.name):
        try:
            objects.append(ep.load())
        except Exception as e:
            raise PluginError(f"the {kind} entry point {ep.name!r} ({ep.value}, group {GROUPS[kind]}) "
                              f"cannot be loaded: {type(e).__name__}: {e}") from None
    return objects


def import_named_modules() -> None:
    """Import the modules $HYPERDARTS_PLUGINS names (comma-separated); PluginError naming the one
    that cannot be imported."""
    for name in filter(None, (m.strip() for m in os.environ.get(ENV, "").split(","))):
        try:
            importlib.import_module(name)
        except Exception as e:
            raise PluginError(f"${ENV} names {name!r}, which cannot be imported: "
                              f"{type(e).__name__}: {e}") from None


def load_plugins() -> None:
    """Register the installed packages' strategies and spaces and import $HYPERDARTS_PLUGINS's
    modules, once, when both registries are ready (each sets `_READY` and then calls this); a
    registry not imported yet is imported first (its own call then loads them)."""
    global _loaded
    if _loaded:
        return
    for name in REGISTRIES:
        if name not in sys.modules:
            importlib.import_module(name)
            return   # (its own last line loaded the plugins, or will when the other is ready)
    registries = [sys.modules[name] for name in REGISTRIES]
    if not all(getattr(r, "_READY", False) for r in registries):
        return       # (the registry still being imported calls again when it is ready)
    _loaded = True
    strategies, spaces = registries
    for cls in entry_point_objects("strategies"):
        strategies.register_strategy(cls)
    for space in entry_point_objects("spaces"):
        spaces.register_space(space() if isinstance(space, type) else space)
    import_named_modules()
