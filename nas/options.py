"""Frozen-dataclass configs built from user-given values, refusing unknown option names."""

from __future__ import annotations

import json
from dataclasses import fields


def build_config(cls: type, owner: str, values: dict):
    """`cls(**values)`, or ValueError naming the unknown options of `owner` and the valid ones.

    (No `**kwargs` that silently swallow a misspelt option.)
    """
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - valid)
    if unknown:
        raise ValueError(f"{owner} has no option(s) {', '.join(unknown)}; "
                         f"valid options are {', '.join(sorted(valid))}")
    return cls(**values)


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
