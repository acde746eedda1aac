#!/usr/bin/env bash
# Rebuild the shipped reports from their shipped result parts with today's analysis code, keeping
# the figures each example ships (results/examples/ship_report.py links only those).
# Usage, from the project root: bash results/examples/regenerate.sh [EXAMPLE ...]
set -euo pipefail
export MPLBACKEND=Agg
work=$(mktemp -d)
# the tables of cells the examples looked their cells up in (the report finds them beside them); an
# example with a table/ folder of its own is pinned to that snapshot (its prose was read from it)
[ -d results/examples/tables ] && cp -r results/examples/tables "$work/tables"
declare -A keep=(
  [cpu]="accuracy differences noise transfer search_curves cost toy collapse"
  [cpu-collapse]="collapse search_curves fidelity fidelity_cost"
  [cpu-collapse-v2]="collapse search_curves"
  [cpu-cg-spectrum]="collapse search_curves"
  [dense-dag]="accuracy dense_dag_choice noise collapse cost search_curves"
  [dense-dag-conv]="accuracy dense_dag_choice noise collapse cost search_curves"
  [dense-dag-k16-l6]="accuracy dense_dag_choice noise collapse cost search_curves"
  [dense-dag-stability]="accuracy dense_dag_choice noise collapse cost search_curves"
  [nb201-smoke]="lookup_curves collapse accuracy"
  [nb201-reduced]="search_curves"
  [nb201-pilot]="cell_table"
  [nb201-pilot-n3e2]="cell_table"
  [nb201-pilot-n3e3]="cell_table"
  [nb201-pilot-n5]="cell_table"
  [nb201-cpu-pilot]="lookup_curves accuracy"
  [nb201-cpu]="lookup_curves accuracy differences collapse"
  [nb201-cpu-tuned]="lookup_curves accuracy differences collapse"
  [nb201-cpu-rng-defect]="lookup_curves accuracy differences collapse"
  [nb201-cpu-tuned-rng-defect]="lookup_curves accuracy differences collapse"
)
# the report's own options for an example (its command line in the shipped report says the same)
declare -A options=(
  [nb201-cpu]="--strategies first-order hyperdarts-mlp first-order-smoothed random"
  [nb201-cpu-tuned]="--strategies first-order hyperdarts-mlp first-order-smoothed random"
  [nb201-cpu-rng-defect]="--strategies first-order hyperdarts-mlp first-order-smoothed random"
  [nb201-cpu-tuned-rng-defect]="--strategies first-order hyperdarts-mlp first-order-smoothed random"
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${!keep[@]}")
for name in "${names[@]}"; do
  src=results/examples/$name
  if [ ! -d "$src/parts" ]; then   # (an example named on the command line must have them)
    [ $# -eq 0 ] || { echo "$src has no result parts (parts/)" >&2; exit 1; }
    echo "skipped $src: no result parts yet"
    continue
  fi
  here=$work
  if [ -d "$src/table" ]; then   # an example pinned to the table snapshot its prose was read from
    here=$work/pinned-$name
    mkdir -p "$here" && cp -r "$src/table" "$here/tables"
  fi
  mkdir -p "$here/$name"
  cp -r "$src/parts" "$src/grid.json" "$here/$name/"
  toy=--no-toy
  if [ "$name" = cpu ]; then   # the cpu example carries the toy table beside the grid
    python -m studies toy --out "$here/$name" > /dev/null
    toy=
  fi
  opts=${options[$name]:-}
  # shellcheck disable=SC2086
  python analysis/report.py "$here/$name" $toy $opts > /dev/null 2>&1
  # shellcheck disable=SC2086
  python results/examples/ship_report.py "$here/$name/report" "$src" \
    "python analysis/report.py $name${toy:+ $toy}${opts:+ $opts}" ${keep[$name]}
  echo "regenerated $src"
done
rm -rf "$work"
