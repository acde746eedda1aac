"""Search spaces: the registry from name to `SearchSpace` (see nas/spaces/base.py for the interface)."""

from __future__ import annotations

from nas.options import build_config
from nas.spaces.base import Architecture, SearchSpace, Supernet
from nas.spaces.darts import DartsSpace
from nas.spaces.dense_dag import DenseDagSpace
from nas.spaces.nb201 import NB201Space

SPACES: dict[str, SearchSpace] = {s.name: s for s in (DartsSpace(), DenseDagSpace(), NB201Space())}


def get_space(space: str) -> SearchSpace:
    if space not in SPACES:
        raise ValueError(f"unknown search space {space!r}; valid spaces are {', '.join(SPACES)}")
    return SPACES[space]


def space_config(space: str, **values) -> object:
    """The config of `space` with `values` set; unknown names raise ValueError listing the valid ones."""
    return build_config(get_space(space).Config, f"the {space} space", values)


def train_config(space: str, **values) -> object:
    """The config of training an architecture of `space` from scratch, with `values` set."""
    return build_config(get_space(space).TrainConfig, f"training in the {space} space", values)


def make_supernet(space: str, config: object, in_channels: int, num_classes: int,
                  image_size: int | None = None) -> Supernet:
    """Build the supernet of `space` for images with `in_channels` channels and side `image_size`
    (which spaces of densely connected layers need)."""
    s = get_space(space)
    if image_size is None:
        if s.needs_image_size:
            raise ValueError(f"the {space} space needs the image size")
        image_size = 32     # (unused by the spaces that do not need it)
    return s.build(config, in_channels, num_classes, image_size)


__all__ = ["SPACES", "Architecture", "SearchSpace", "Supernet", "get_space", "make_supernet",
           "space_config", "train_config"]
