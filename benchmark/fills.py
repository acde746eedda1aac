"""What a grid that fills its table of cells trains (`Profile.fill`), in the order its trials take
the cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nas.spaces import get_space
from nas.spaces.nb201_cell import NB201_BEST
from resultstore.cells import canonical_form, fill_order
from resultstore.experiment import ReportError, load_experiment

PILOT_RANDOM = 16    # the pilot's cells drawn at random among the distinct ones (issue 32)


def fill_cells(profile) -> list[str]:
    """The cells a fill profile trains into its table, in the order its trials take them: `all`
    (one per distinct computation of the profile's space, `SearchSpace.cells`, in a random order,
    seed 0, so that a table filled part of the way holds a uniform sample of them), `pilot` (the
    uniform cells of each operation but `none` and, in the 4-node space, NAS-Bench-201's best
    CIFAR-10 cell, then PILOT_RANDOM distinct cells drawn at random, seed 0), `random:N` (N
    distinct cells drawn at random, seed 0) or `found` (the profile's `fill_list`: the cells that
    experiments' searches found, `found_cells`). ValueError in one sentence for another value or a
    space that does not list its cells."""
    space = get_space(profile.space)
    if profile.fill == "found":
        for text in profile.fill_list:
            space.parse(text)    # (a cell of another space fails here, in one sentence)
        return list(profile.fill_list)
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
    raise ValueError(f"fill is all, pilot, random:N (N from 1 to {len(cells)}) or found, not {fill!r}")


def found_cells(profile, table_path: str | None, experiments: list[Path]) -> list[str]:
    """The cells that the searches of `experiments` (result folders) found, one string per distinct
    computation (the first found), sorted: what `--fill-from` trains into the fill profile's
    table, whose folder is `table_path`. ValueError in one sentence for a profile that fills no
    table, an experiment of another space or table, or none with a found cell."""
    if profile.fill is None:
        raise ValueError(f"--fill-from goes with a grid that fills a table of cells (profile "
                         f"{profile.name} fills none): nb201-table, say")
    space = get_space(profile.space)
    cells: dict[str, str] = {}
    for root in experiments:
        try:
            exp = load_experiment(root)
        except ReportError as e:
            raise ValueError(str(e)) from None
        if exp.space != profile.space:
            raise ValueError(f"{root} searched the {exp.space} space; this grid fills a table of "
                             f"the {profile.space} space")
        if exp.table_path and table_path and Path(exp.table_path).name != Path(table_path).name:
            raise ValueError(f"{root} looked its cells up in the table {Path(exp.table_path).name}; "
                             f"this grid fills {Path(table_path).name} (--table names another)")
        for text in exp.found.genotype:
            cell = space.parse(text)
            cells.setdefault(canonical_form(cell), str(cell))
    if not cells:
        raise ValueError(f"{', '.join(map(str, experiments))} hold no search that found a cell yet")
    return sorted(cells.values())
