"""Ship a snapshot of a table of cells that a grid is filling: fold its trainings into its
cells.parquet, copy that and its table.json over the shipped copy in results/examples/tables/, and
print the figures its README states (a session's machine keeps nothing that is not committed, so
the fill goes on from the shipped copy the next time: resultstore/cells.py `start_from_shipped`).

    python results/examples/tables/snapshot.py nb201-c8-n3-e2 [--live results/tables/nb201-c8-n3-e2]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
from scipy import stats

from nas.spaces import space_config
from nas.spaces.nb201_cell import Cell
from resultstore.cells import CellTable, fill_order, uniform_sample

HERE = Path(__file__).resolve().parent


def sd_interval(table: CellTable, dataset: str) -> tuple[float, float, float, int]:
    """The pooled sd between a cell's trainings, in points, with its 95% χ² interval and its df."""
    rows = table.rows()
    by = rows[rows["dataset"] == dataset].groupby(table.unit)["test_acc"]
    n, var = by.count(), by.var(ddof=1)
    df = int((n[n >= 2] - 1).sum())
    if df == 0:
        return float("nan"), float("nan"), float("nan"), 0
    ss = float(((n - 1) * var)[n >= 2].sum())
    sd = np.sqrt(ss / df)
    lo, hi = np.sqrt(ss / stats.chi2.ppf(0.975, df)), np.sqrt(ss / stats.chi2.ppf(0.025, df))
    return 100 * sd, 100 * lo, 100 * hi, df


def space_of(table: CellTable, space: str):
    """The space's config at the cells' node count (a table of NAS-Bench-201's 3-node cells is
    ranked among the 3-node space's cells, not the 4-node one's)."""
    if space != "nb201":
        return space_config(space)
    nodes = {Cell.parse(a).nodes for a in table.rows()["arch"].unique()}
    if len(nodes) != 1:
        raise SystemExit(f"the table's cells have {sorted(nodes)} nodes: one count expected")
    return space_config(space, nodes=nodes.pop())


def summary(table: CellTable) -> list[str]:
    protocol = table.protocol() or {}
    order = fill_order(protocol["space"], space_of(table, protocol["space"]))
    rows = table.rows()
    lines = []
    for dataset in table.datasets():
        d = rows[rows["dataset"] == dataset]
        c = table.noise_ceiling(dataset)
        sample, kind = uniform_sample(table, dataset, order)
        sd, lo, hi, df = sd_interval(table, dataset)
        lines += [f"{dataset}: {c['cells']} cells, {len(d)} trainings, {c['twice']} cells trained "
                  f"at least twice",
                  f"  ranked among ({kind}): {len(sample)} cells; best {100 * sample.max():.2f}%, "
                  f"median {100 * sample.median():.2f}%, worst {100 * sample.min():.2f}%",
                  f"  sd between trainings {sd:.2f} points [{lo:.2f}, {hi:.2f}] ({df} df), split-half "
                  f"ρ {c['split_half_rho']:.2f}, pairs apart beyond noise {c['separable_pairs']:.0%}",
                  f"  train CPU-s a training: mean {d['train_cpu_s'].mean():.1f}, median "
                  f"{d['train_cpu_s'].median():.1f}; wall mean {d['train_wall_s'].mean():.1f}, median "
                  f"{d['train_wall_s'].median():.1f}; the whole space ({len(order)} cells × 2): "
                  f"{len(order) * 2 * d['train_cpu_s'].mean() / 3600:.1f} core-hours at that mean"]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="the table's name (a folder of results/examples/tables)")
    ap.add_argument("--live", help="the table being filled (default results/tables/NAME)")
    args = ap.parse_args()
    live = Path(args.live or Path("results/tables") / args.name)
    if not (live / "table.json").is_file():
        ap.error(f"{live} holds no table (table.json); give the filling table's folder with --live")
    table = CellTable(live)
    folded = table.compact()
    dest = HERE / args.name
    dest.mkdir(exist_ok=True)
    for name in ("cells.parquet", "table.json"):
        shutil.copy2(live / name, dest / name)
    print(f"folded {folded} trainings into {live / 'cells.parquet'}; copied it and table.json to "
          f"{dest} ({(dest / 'cells.parquet').stat().st_size / 1000:.0f} kB)")
    print("\n".join(summary(CellTable(dest))))


if __name__ == "__main__":
    main()
