"""Does the supernet's accuracy track the found cell's? The tuner's choice of objective (issue 32).

For every search of the shipped nb201-cpu grid (the searching strategies; the random cell does not
search): the supernet's search-validation accuracy at the last epoch (`val_acc`, what a tuning
chose by before) against the found cell's looked-up CIFAR-10 accuracy (the outcome), and the found
cell's training accuracy in its first training of the table (seed 0) against its test accuracy in
its other (seed 1000): the objective a tuning now chooses by on a grid with a table, scored without
the luck of the training it is read from. Spearman's ρ across the searches with a 95% bootstrap
interval (analysis/stats.py `bootstrap_spearman`, resampling searches), and per strategy the mean
supernet accuracy and looked-up accuracy and on how many seeds each strategy's supernet was the
most accurate; the same correlations within each strategy, and over the distinct cells found.

  python results/examples/nb201-cpu/supernet_vs_cell.py [EXAMPLE] [TABLE]

(defaults: this folder, and the table snapshot in results/examples/tables/nb201-c8-n3-e2)
"""

import sys
from pathlib import Path

import pandas as pd

from analysis.stats import bootstrap_spearman
from resultstore.cells import CellTable
from resultstore.experiment import load_experiment

here = Path(__file__).resolve().parent
example = Path(sys.argv[1]) if len(sys.argv) > 1 else here
table = CellTable(Path(sys.argv[2]) if len(sys.argv) > 2
                  else here.parent / "tables" / "nb201-c8-n3-e2")
exp = load_experiment(example)
search = exp.epochs[(exp.epochs.phase == "search") & (exp.epochs.strategy != "random")]
last = search.sort_values("epoch").groupby(["strategy", "seed"]).tail(1).copy()
last["val_acc"] = pd.to_numeric(last.val_acc)
last["lookup_acc"] = pd.to_numeric(last.lookup_acc)
rows = table.rows()
rows = rows[rows.dataset == exp.trials.search_dataset.iloc[0]]
first = rows[rows.train_seed == 0].groupby("canonical").train_acc.mean()
other = rows[rows.train_seed == 1000].groupby("canonical").test_acc.mean()
found = (exp.trials[exp.trials.eval_dataset == exp.trials.search_dataset]
         .drop_duplicates(["strategy", "seed"]).set_index(["strategy", "seed"]).canonical)
last = last.join(found, on=["strategy", "seed"])
last["cell_train_first"] = last.canonical.map(first)
last["cell_test_other"] = last.canonical.map(other)
print(f"{len(last)} searches ({', '.join(f'{s} {n}' for s, n in last.groupby('strategy').size().items())}); "
      f"table {table.name}, {rows.canonical.nunique()} cells on the search dataset")


def rho(x: str, y: str, frame: pd.DataFrame, unit: str = "searches") -> str:
    d = frame.dropna(subset=[x, y])
    r, lo, hi = bootstrap_spearman(d[x].astype(float), d[y].astype(float))
    return f"Spearman ρ {r:+.2f} [{lo:+.2f}, {hi:+.2f}] over {len(d)} {unit}"


print("supernet search-validation accuracy (last epoch) vs the found cell's looked-up accuracy:",
      rho("val_acc", "lookup_acc", last))
for strategy, group in last.groupby("strategy"):   # (what a tuning compares: within a strategy)
    print(f"  within {strategy}: {rho('val_acc', 'lookup_acc', group)}")
print("the found cell's training accuracy (table training seed 0) vs its test accuracy (seed 1000):",
      rho("cell_train_first", "cell_test_other", last))
cells = last.drop_duplicates("canonical")
print(f"  over the distinct cells found: {rho('cell_train_first', 'cell_test_other', cells, 'cells')}")
wide = last.pivot(index="seed", columns="strategy", values="val_acc").dropna()
most = wide.idxmax(axis=1).value_counts()
means = last.groupby("strategy")[["val_acc", "lookup_acc"]].mean().mul(100).round(2)
means["seeds with the most accurate supernet"] = most.reindex(means.index).fillna(0).astype(int)
print(f"per strategy (means in % over its searches; the count over the {len(wide)} seeds every "
      "strategy searched):")
print(means.to_string())
