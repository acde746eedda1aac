"""Search spaces: a registry from name to (config class, supernet class)."""

from __future__ import annotations

from torch import nn

from nas.options import build_config
from nas.spaces.darts import DartsSpaceConfig, DartsSupernet

SPACES: dict[str, tuple[type, type[nn.Module]]] = {
    "darts": (DartsSpaceConfig, DartsSupernet),
}


def space_config(space: str, **values) -> object:
    """The config of `space` with `values` set; unknown names raise ValueError listing the valid ones."""
    if space not in SPACES:
        raise ValueError(f"unknown search space {space!r}; valid spaces are {', '.join(SPACES)}")
    return build_config(SPACES[space][0], f"the {space} space", values)


def make_supernet(space: str, config: object, in_channels: int, num_classes: int) -> nn.Module:
    """Build the supernet of `space` for images with `in_channels` channels."""
    if space not in SPACES:
        raise ValueError(f"unknown search space {space!r}; valid spaces are {', '.join(SPACES)}")
    return SPACES[space][1](config, in_channels=in_channels, num_classes=num_classes)
