"""Search spaces: a registry from name to (config class, supernet class)."""

from __future__ import annotations

from dataclasses import fields

from torch import nn

from nas.spaces.darts import DartsSpaceConfig, DartsSupernet

SPACES: dict[str, tuple[type, type[nn.Module]]] = {
    "darts": (DartsSpaceConfig, DartsSupernet),
}


def space_config(space: str, **values) -> object:
    """The config of `space` with `values` set; unknown names raise ValueError listing the valid ones."""
    if space not in SPACES:
        raise ValueError(f"unknown search space {space!r}; valid spaces are {', '.join(SPACES)}")
    cls = SPACES[space][0]
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - valid)
    if unknown:
        raise ValueError(f"the {space} space has no option(s) {', '.join(unknown)}; "
                         f"valid options are {', '.join(sorted(valid))}")
    return cls(**values)


def make_supernet(space: str, config: object, in_channels: int, num_classes: int) -> nn.Module:
    """Build the supernet of `space` for images with `in_channels` channels."""
    if space not in SPACES:
        raise ValueError(f"unknown search space {space!r}; valid spaces are {', '.join(SPACES)}")
    return SPACES[space][1](config, in_channels=in_channels, num_classes=num_classes)
