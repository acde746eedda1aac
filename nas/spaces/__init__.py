"""Search spaces: the registry from name to `SearchSpace` (see nas/spaces/base.py for the interface)."""

from __future__ import annotations

import dataclasses

from nas.options import build_config
from nas.plugins import load_plugins
from nas.spaces.base import TRAIN_CONFIG_FIELDS, Architecture, SearchSpace, Supernet, TrainConfig
from nas.spaces.darts import DartsSpace
from nas.spaces.dense_dag import DenseDagSpace
from nas.spaces.nb201 import NB201Space

SPACES: dict[str, SearchSpace] = {}


def register_space(space: SearchSpace) -> SearchSpace:
    """Add `space` (an instance) to SPACES under its name; ValueError in one sentence for what is
    not a space, a name taken by another space, or configs the benchmark cannot set (`Config` and
    `TrainConfig` frozen dataclasses, `TrainConfig` with `seed` and `epochs`: base.TrainConfig)."""
    if not isinstance(space, SearchSpace):
        raise ValueError(f"{space!r} is not a SearchSpace (nas.spaces.base) instance")
    name = getattr(space, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"the space {type(space).__name__} has no name")
    if name in SPACES and type(SPACES[name]) is not type(space):
        raise ValueError(f"a space named {name!r} is already registered ({type(SPACES[name]).__name__})")
    for kind in ("Config", "TrainConfig"):
        config = getattr(space, kind, None)
        if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
            raise ValueError(f"the {name} space's {kind} is not a dataclass")
    missing = [f for f in TRAIN_CONFIG_FIELDS
               if f not in {x.name for x in dataclasses.fields(space.TrainConfig)}]
    if missing:
        raise ValueError(f"the {name} space's TrainConfig ({space.TrainConfig.__name__}) lacks "
                         f"{' and '.join(missing)}: the benchmark sets every training's seed and epochs")
    SPACES[name] = space
    return space


for _space in (DartsSpace(), DenseDagSpace(), NB201Space()):
    register_space(_space)
# then the strategies and spaces of installed packages and of $HYPERDARTS_PLUGINS (nas/plugins.py)
_READY = True
load_plugins()


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


__all__ = ["SPACES", "Architecture", "SearchSpace", "Supernet", "TrainConfig", "get_space",
           "make_supernet", "register_space", "space_config", "train_config"]
