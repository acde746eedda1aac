"""Frozen-dataclass configs built from user-given values, refusing unknown option names."""

from __future__ import annotations

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
