"""Frozen-dataclass configs built from user-given values, refusing unknown option names, values of
the wrong type and values out of range; the command lines' types for counts and positive numbers."""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import fields

_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a text"}


def _check_type(hint, owner: str, key: str, value) -> object:
    """value as the field `key` declares it (its type `hint`; an int where a float is declared, a
    whole float where an int is), or ValueError in one sentence; fields of other types pass."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) or \
        typing.get_origin(hint) is typing.Union else (hint,)
    if value is None and type(None) in args:
        return value
    kinds = [a for a in args if a in _KINDS]
    if not kinds or len(kinds) != len([a for a in args if a is not type(None)]):
        return value                          # tuples, dicts, …: the config's own checks
    for kind in kinds:
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if kind is str and isinstance(value, str):
            return value
    wanted = " or ".join(_KINDS[k] for k in kinds) + (" or null" if type(None) in args else "")
    raise ValueError(f"{owner}'s option {key} must be {wanted}, got {value!r}")


def build_config(cls: type, owner: str, values: dict):
    """`cls(**values)`, or ValueError naming the unknown options of `owner` and the valid ones.

    (No `**kwargs` that silently swallow a misspelt option.)
    """
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - valid)
    if unknown:
        raise ValueError(f"{owner} has no option(s) {', '.join(unknown)}; "
                         f"valid options are {', '.join(sorted(valid))}")
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):            # annotations that do not resolve: unchecked
        hints = {}
    return cls(**{k: _check_type(hints.get(k), owner, k, v) for k, v in values.items()})


def parse_option(text: str) -> tuple[str, object]:
    """'KEY=VALUE' from a command line (`--set`): VALUE as JSON where it parses (numbers, booleans,
    lists), else as text; dashes in KEY become underscores. ValueError without '='."""
    if "=" not in text:
        raise ValueError(f"an option is given as KEY=VALUE, not {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.replace("-", "_"), value


def check_ranges(config, *, at_least_one: tuple = (), positive: tuple = (), non_negative: tuple = (),
                 fraction: tuple = ()) -> None:
    """ValueError in one sentence for the first field of `config` out of its range: whole numbers
    of at least 1, positive numbers, numbers of at least 0, and fractions in [0, 1) (momenta,
    Adam's betas, drop probabilities). Fields that are None pass (a default chosen later)."""
    rules = ((at_least_one, lambda v: v >= 1, "at least 1"), (positive, lambda v: v > 0, "positive"),
             (non_negative, lambda v: v >= 0, "at least 0"),
             (fraction, lambda v: 0 <= v < 1, "in [0, 1)"))
    for names, ok, wanted in rules:
        for name in names:
            value = getattr(config, name)
            if value is not None and not ok(value):
                raise ValueError(f"{name} must be {wanted}, got {value}")


def count(minimum: int = 1) -> Callable[[str], int]:
    """An argparse `type`: a whole number of at least `minimum` (argparse answers anything else
    with one sentence naming the flag, exit status 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def positive(text: str) -> float:
    """An argparse `type`: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


class Parser(argparse.ArgumentParser):
    """An argparse parser that refuses a bad command line in one line (the error and where help is),
    not the whole usage block above it; exit status 2 as argparse's."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# this project's commands: their console scripts, and the scripts of a checkout
SCRIPTS = {"hyperdarts-grid": "benchmark/run.py", "hyperdarts-report": "analysis/report.py",
           "hyperdarts-perf": "benchmark/perf.py"}


def program(script: str) -> str:
    """How the command `script` (benchmark/run.py, …) is called where this one runs, for usage
    lines and hints: its console script where this process was started as one (hyperdarts-grid),
    else `python SCRIPT`."""
    if os.path.basename(sys.argv[0] or "").startswith("hyperdarts-"):
        return next(name for name, path in SCRIPTS.items() if path == script)
    return f"python {script}"
