"""The one written form of a trial: its spec (Ray's trial config, the tuner's samples), the grid's
manifest (grid.json) and its state (checkpoints: Ray's and `<results>/checkpoints/<id>.pt`).

Each carries `format`. A spec or a grid.json of another format is refused in one sentence (a
grid.json without one is this version's first: the key came with the codec, the form did not
change; Ray's saved specs of such a run are not resumed, `benchmark/run.py`); a trial state of
another format is not resumed (the trial starts again, and says so). This project keeps no readers
of its older files but one migration, `benchmark/run.py`'s `migrate_trial_ids`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from benchmark.grids import TrialSpec, profile_from_dict
from benchmark.trial_state import TrialState
from resultstore.schema import read_manifest

FORMAT = 1


class FormatError(ValueError):
    """A written spec or manifest of another format than this version's."""


def check_format(d: dict, what: str) -> None:
    written = d.get("format")
    if written != FORMAT:
        raise FormatError(f"the {what} is of format {written or 'none (an older version)'}; this "
                          f"version reads format {FORMAT}: run it again with this version, or "
                          "with the version that wrote it")


def encode_spec(spec: TrialSpec) -> dict:
    """The JSON form of a trial's spec: what it was built from (the rest is derived again)."""
    return {"format": FORMAT, "experiment": spec.experiment, "strategy": spec.strategy,
            "search_dataset": spec.search_dataset, "seed": spec.seed,
            "profile": spec.profile.to_dict(), "eval_datasets": list(spec.eval_datasets),
            "strategy_options": dict(spec.strategy_options), "data_root": spec.data_root,
            "kind": spec.kind, "table_path": spec.table_path}


def decode_spec(d: dict) -> TrialSpec:
    """The spec of an `encode_spec` form; FormatError for another format."""
    check_format(d, "trial's spec")
    d = {k: v for k, v in d.items() if k != "format"}
    return TrialSpec(**{**d, "profile": profile_from_dict(d["profile"]),
                        "eval_datasets": tuple(d["eval_datasets"])})


def encode_state(state: TrialState) -> dict:
    """A trial state as its checkpoints hold it (torch.save of this dict; a shallow copy: the
    search's tensors are saved as they are, not copied first)."""
    return {"format": FORMAT, **{f.name: getattr(state, f.name) for f in dataclasses.fields(state)}}


def decode_state(d: dict | None, where: str = "a checkpoint") -> TrialState | None:
    """The state of an `encode_state` form; None (start the trial again, with a line on stderr
    that says so) for another format, or for no checkpoint."""
    if d is None:
        return None
    if d.get("format") != FORMAT:
        print(f"warning: {where} holds a trial state of another format ({d.get('format')}); "
              "the trial starts again", file=sys.stderr)
        return None
    return TrialState(**{k: v for k, v in d.items() if k != "format"})


# what to do about a grid.json that cannot be read, where the benchmark needs it
GRID_JSON_HINT = ("restore it from a copy (the rows in parts/ are intact), or give this run another "
                  "--experiment")


def encode_manifest(grid, trials: list[dict], table_path: str | None = None) -> dict:
    """grid.json: the grid's name, profile and strategy options, and its declared `trials`."""
    manifest = {"format": FORMAT, "grid": grid.name, "profile": grid.profile.to_dict(),
                "strategy_options": grid.strategy_options, "trials": trials}
    if table_path:   # where the report finds the table of cells the trials looked their cells up in
        manifest["table_path"] = table_path
    return manifest


def manifest_format(root: str | Path) -> int | None:
    """The format of `root`/grid.json; None without one, or without the key."""
    manifest = read_manifest(root, GRID_JSON_HINT)
    return manifest.get("format") if manifest is not None else None


def manifest_matches(root: str | Path, grid, specs=()) -> bool | None:
    """Whether `root`/grid.json declares `grid`'s profile and strategy options and, for the trials
    of `specs` it lists, the same evaluation datasets; None without one; FormatError for a
    grid.json of another format (one without the key reads as format 1)."""
    old = read_manifest(root, GRID_JSON_HINT)
    if old is None:
        return None
    if old.get("format", FORMAT) != FORMAT:
        raise FormatError(f"{Path(root) / 'grid.json'} is of format {old.get('format')}, written by "
                          f"another version of this project (this one writes format {FORMAT}); give "
                          "this run another --experiment")
    new = json.loads(json.dumps({"profile": grid.profile.to_dict(),
                                 "strategy_options": grid.strategy_options}))
    try:   # (a field added to Profile since: its default)
        old_profile = profile_from_dict(old.get("profile") or {}).to_dict()
    except (ValueError, TypeError):
        old_profile = None
    evals = {t["trial_id"]: t.get("eval_datasets") for t in old.get("trials", [])}
    return (old_profile == new["profile"] and old.get("strategy_options") == new["strategy_options"]
            and all(evals.get(s.trial_id, list(s.eval_datasets)) == list(s.eval_datasets) for s in specs))
