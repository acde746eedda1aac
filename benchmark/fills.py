"""What a grid that fills its table of cells trains (`Profile.fill`), in the order its trials take
the cells."""

from __future__ import annotations

import numpy as np

from nas.spaces import get_space
from nas.spaces.nb201_cell import NB201_BEST
from resultstore.cells import fill_order

PILOT_RANDOM = 16    # the pilot's cells drawn at random among the distinct ones (issue 32)


def fill_cells(profile) -> list[str]:
    """The cells a fill profile trains into its table, in the order its trials take them: `all`
    (one per distinct computation of the profile's space, `SearchSpace.cells`, in a random order,
    seed 0, so that a table filled part of the way holds a uniform sample of them), `pilot` (the
    uniform cells of each operation but `none` and, in the 4-node space, NAS-Bench-201's best
    CIFAR-10 cell, then PILOT_RANDOM distinct cells drawn at random, seed 0) or `random:N` (N
    distinct cells drawn at random, seed 0). ValueError in one sentence for another value or a
    space that does not list its cells."""
    space = get_space(profile.space)
    cells = [str(c) for c in space.cells(profile.search_space)]
    rng = np.random.default_rng(0)
    fill = profile.fill
    if fill == "all":   # in a seeded random order: the cells filled so far are a uniform sample
        return fill_order(profile.space, profile.search_space)
    if fill == "pilot":
        named = [str(c) for c in space.references(profile.search_space).values()]
        if NB201_BEST in cells:
            named.append(NB201_BEST)
        rest = [c for c in cells if c not in set(named)]
        return named + [rest[i] for i in sorted(rng.choice(len(rest), PILOT_RANDOM, replace=False))]
    if fill.startswith("random:") and fill[7:].isdigit() and 0 < int(fill[7:]) <= len(cells):
        return [cells[i] for i in sorted(rng.choice(len(cells), int(fill[7:]), replace=False))]
    raise ValueError(f"fill is all, pilot or random:N (N from 1 to {len(cells)}), not {fill!r}")
