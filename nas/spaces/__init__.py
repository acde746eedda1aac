"""Search spaces: a registry from name to (config class, supernet class)."""

from __future__ import annotations

from torch import nn

from nas.options import build_config
from nas.spaces.darts import DartsSpaceConfig, DartsSupernet
from nas.spaces.dense_dag import DenseDagConfig, DenseDagSupernet

SPACES: dict[str, tuple[type, type[nn.Module]]] = {
    "darts": (DartsSpaceConfig, DartsSupernet),
    "dense-dag": (DenseDagConfig, DenseDagSupernet),
}


def space_config(space: str, **values) -> object:
    """The config of `space` with `values` set; unknown names raise ValueError listing the valid ones."""
    if space not in SPACES:
        raise ValueError(f"unknown search space {space!r}; valid spaces are {', '.join(SPACES)}")
    return build_config(SPACES[space][0], f"the {space} space", values)


def make_supernet(space: str, config: object, in_channels: int, num_classes: int,
                  image_size: int | None = None) -> nn.Module:
    """Build the supernet of `space` for images with `in_channels` channels (and side
    `image_size`, which spaces of densely connected layers need)."""
    if space not in SPACES:
        raise ValueError(f"unknown search space {space!r}; valid spaces are {', '.join(SPACES)}")
    cls = SPACES[space][1]
    if getattr(cls, "needs_image_size", False):
        if image_size is None:
            raise ValueError(f"the {space} space needs the image size")
        return cls(config, in_channels=in_channels, num_classes=num_classes, image_size=image_size)
    return cls(config, in_channels=in_channels, num_classes=num_classes)
