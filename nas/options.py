"""Frozen-dataclass configs built from user-given values, refusing unknown option names and
values of the wrong type."""

from __future__ import annotations

import json
import types
import typing
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
