"""The interface of a search space: what the search loop and the benchmark may ask of one.

A space is one `SearchSpace` subclass in `nas.spaces.SPACES` plus its supernet class, which
implements the `Supernet` protocol. The search loop and the benchmark know a space only through
these (the DARTS-only tools, the perf harness, the fidelity tool and the report's cell views, are
DARTS by design):

- the supernet keeps its weights and its α apart (`named_weight_parameters`, `arch_parameters`,
  `named_alphas`), reports α as probabilities (`softmax_alphas`) and as tidy rows for the results
  tables (`alpha_rows`: one row per (group, row, column) of each α tensor), derives the discrete
  architecture (`genotype`), lists the finite candidates α chooses among where the space has such
  a list (`candidates`, the dense-DAG space's blocks), may change itself between epochs
  (`end_epoch`, which returns True when its α were replaced), gives the α that select exactly the
  derived architecture (`discrete_alphas`, one-hot after the softmax; None if it cannot) and
  describes the derived architecture by numbers (`architecture_stats`, for the collapse
  diagnostics of `nas/diagnostics.py`);
- the space parses an architecture from its one-line text form (`parse`; `str(architecture)` and
  `architecture.to_dict()` are the two written forms), trains one from scratch and tests it
  (`train_and_test`, with the space's `TrainConfig`), names the architectures that anchor a
  ground truth besides the candidates (`references`, e.g. the chain and the complete DAG) and
  describes an architecture by numbers (`properties`, e.g. depth and fan-in).

Adding a space: one module with the config, the supernet and the `SearchSpace` subclass, and one
line in `nas.spaces.SPACES` (or `nas.spaces.register_space` from a package of one's own, see
`nas.plugins`). Its `TrainConfig` is a frozen dataclass with at least the fields of `TrainConfig`
here (`seed`, `epochs`: the benchmark sets each repeat's seed and a grid's epochs); registration
refuses a space without them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn

from nas.data import ImageData


@runtime_checkable
class Architecture(Protocol):
    """A discrete architecture; `str()` gives the one-line form its space's `parse` reads back."""

    def to_dict(self) -> dict: ...


@runtime_checkable
class Supernet(Protocol):
    """What the search loop, the strategies and the benchmark use of a supernet."""

    space: ClassVar[str]
    config: Any

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def named_weight_parameters(self) -> Iterable[tuple[str, nn.Parameter]]: ...

    def arch_parameters(self) -> list[nn.Parameter]: ...

    def named_alphas(self) -> dict[str, nn.Parameter]: ...

    def softmax_alphas(self) -> dict[str, torch.Tensor]: ...

    def alpha_rows(self) -> list[dict]: ...

    def genotype(self) -> Architecture: ...

    def candidates(self) -> list[Architecture]: ...

    def end_epoch(self, epoch: int) -> bool: ...

    def discrete_alphas(self) -> list[torch.Tensor] | None: ...

    def architecture_stats(self) -> dict[str, float]: ...


@runtime_checkable
class TrainConfig(Protocol):
    """What the benchmark sets on every space's training config (a frozen dataclass with more
    fields): the training's seed (each repeat's its own) and its epochs (a grid's --eval-epochs)."""

    seed: int
    epochs: int


TRAIN_CONFIG_FIELDS = ("seed", "epochs")


def tidy_alphas(name: str, probs: torch.Tensor, rows: list[str], columns: list[str]) -> list[dict]:
    """The rows {'cell', 'edge', 'op', 'weight'} of one α tensor's probabilities [rows, columns]
    (the results tables' alphas columns; a 1-D tensor is one column)."""
    probs = probs.reshape(len(rows), len(columns)).tolist()
    return [{"cell": name, "edge": r, "op": c, "weight": w}
            for r, row in zip(rows, probs) for c, w in zip(columns, row)]


class SearchSpace(ABC):
    """One search space: its configs, its supernet and its discrete architectures."""

    name: ClassVar[str]
    Config: ClassVar[type]           # the supernet's shape (a frozen dataclass)
    TrainConfig: ClassVar[type[TrainConfig]]   # how an architecture is trained from scratch
    # Options of Config that a benchmark sets from the search's seed (the dense-DAG space's DAGs).
    seeded_options: ClassVar[tuple[str, ...]] = ()
    # Whether `build` needs the image side (densely connected layers flatten the image).
    needs_image_size: ClassVar[bool] = False
    # Whether the supernet chooses among a short list of candidates (`Supernet.candidates`) that
    # can each be trained: then a benchmark can train them all as a ground truth.
    finite: ClassVar[bool] = False

    @abstractmethod
    def build(self, config: Any, in_channels: int, num_classes: int, image_size: int) -> Supernet:
        """The supernet for images of `in_channels` × `image_size`² and `num_classes` classes."""

    @abstractmethod
    def parse(self, text: str) -> Architecture:
        """The architecture of its one-line text form; ValueError (one sentence) otherwise."""

    @abstractmethod
    def train_and_test(self, arch: Architecture, data: ImageData, space_config: Any,
                       config: Any, device: torch.device, resume: dict | None = None,
                       on_checkpoint: Callable[[dict], None] | None = None) -> dict:
        """Train `arch` from scratch on data's training set and test it: a dict with test_acc,
        test_loss, train_acc, params, train_time_s and history (per epoch: epoch, train_loss,
        train_acc, lr, epoch_time_s). After every epoch `on_checkpoint` (if given) receives a
        state that, passed back as `resume`, goes on from the next epoch to the same result."""

    def counting_supernet(self, config: Any, in_channels: int, num_classes: int,
                          image_size: int) -> nn.Module:
        """The supernet as `nas.memory` counts it on the meta device: `build`'s by default."""
        return self.build(config, in_channels, num_classes, image_size)

    def largest_network(self, config: Any, in_channels: int, num_classes: int) -> nn.Module | None:
        """The network of the space's largest architecture as `train_and_test` builds it under the
        training config `config` (built on the meta device to check that it fits, `nas.memory`);
        None where the space does not say."""
        return None

    def smallest_network(self, config: Any, in_channels: int, num_classes: int) -> nn.Module | None:
        """The network `train_and_test` builds under `config` whose layers output the least on a
        batch (`nas.memory` counts it as the floor of a training's activations); None where the
        space does not say."""
        return None

    def caveats(self, config: Any) -> list[str]:
        """What a user should know of the supernet `config` before searching it (printed as
        warnings): none by default."""
        return []

    def references(self, space_config: Any) -> dict[str, Architecture]:
        """Architectures that anchor the ground truth beside the candidates, by role."""
        return {}

    def cells(self, config: Any) -> list[Architecture]:
        """Every distinct architecture of the space (one per computation), for a table of all of
        them; ValueError for a space too large to list."""
        raise ValueError(f"the {self.name} space does not list its architectures")

    def properties(self, arch: Architecture) -> dict[str, float]:
        """Numbers that describe an architecture (for the ground truth's correlations)."""
        return {}

    def describe(self, config: Any) -> str:
        """The supernet's config in a few words (the plan prints it): every field by default."""
        return ", ".join(f"{k} {v}" for k, v in asdict(config).items())

    def describe_training(self, config: Any) -> str:
        """The training config in a few words: every field but the seed by default."""
        return ", ".join(f"{k} {v}" for k, v in asdict(config).items() if k != "seed")
