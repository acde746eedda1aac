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
    experiments' searches found, `cells_found_by`, or that the command line names, `named_cells`).
    ValueError in one sentence for another value or a
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


def cells_found_by(profile, table_path: str | None, experiments: list[Path]) -> list[str]:
    """The cells that the searches of `experiments` (result folders) found, scored or missed, one
    string per distinct computation (the least in sort order, so that the list does not depend on
    the order the result files are read in), sorted: what `--fill-from` trains into the fill
    profile's table, whose folder is `table_path`. ValueError in one sentence for a profile that
    fills no table, an experiment that searched another space or looked its cells up in no table or
    in another, or none with a found cell."""
    if profile.fill is None:
        raise ValueError(f"--fill-from goes with a grid that fills a table of cells (profile "
                         f"{profile.name} fills none): nb201-table, say")
    space = get_space(profile.space)
    cells: dict[str, list[str]] = {}
    for root in experiments:
        exp = _source(root, profile, table_path)
        for text in exp.found.genotype:
            cell = space.parse(text)
            cells.setdefault(canonical_form(cell), []).append(str(cell))
    if not cells:
        raise ValueError(f"no search of {', '.join(map(str, experiments))} has found a cell (scored "
                         "or missed by its table) yet; name an experiment whose searches have")
    return sorted(min(strings) for strings in cells.values())


def named_cells(profile, texts: list[str]) -> list[str]:
    """The cells `--fill-cells` names, as the fill profile's `fill_list`: each parsed in the
    profile's space, one string per distinct computation (the first named), in the order named.
    ValueError in one sentence for a profile that fills no table or a string that is no cell of
    its space."""
    if profile.fill is None:
        raise ValueError(f"--fill-cells goes with a grid that fills a table of cells (profile "
                         f"{profile.name} fills none): nb201-table, say")
    space = get_space(profile.space)
    cells: dict[str, str] = {}
    for text in texts:
        cell = space.parse(text)    # (a cell of another space fails here, in one sentence)
        cells.setdefault(canonical_form(cell), str(cell))
    return list(cells.values())


def _source(root: Path, profile, table_path: str | None):
    """The experiment at `root`, if its searches' cells can be filled into the table at
    `table_path` (see `cells_found_by`)."""
    try:
        exp = load_experiment(root)
    except ReportError as e:
        raise ValueError(str(e)) from None
    table = Path(table_path).name if table_path else None
    if exp.fills_table:
        raise ValueError(f"{root} fills a table and searched nothing; name the experiment whose "
                         "searches found the cells")
    if exp.space != profile.space:
        raise ValueError(f"{root} searched the {exp.space} space; name an experiment of the "
                         f"{profile.space} space, whose table this grid fills")
    if not exp.table_path:
        raise ValueError(f"{root} looked its cells up in no table of cells, so no report can read "
                         "them in one; name an experiment whose searches looked theirs up")
    if Path(exp.table_path).name != table:
        raise ValueError(f"{root} looked its cells up in the table {Path(exp.table_path).name}, not "
                         f"{table}; give --table {Path(exp.table_path).name}")
    return exp
