#!/usr/bin/env bash
# Ship the nb201-cpu grid's state at the end of a session (a session's machine keeps nothing that is
# not committed; the next one goes on from what is shipped, this folder's README says how): the
# finished trials' result parts and grid.json of each experiment that has them (nb201-cpu, and
# nb201-cpu-tuned once it has run), the tunings' options, then the table's snapshot (after them, so that it holds every
# cell those trials trained), then each shipped report regenerated with today's analysis code and
# collapse-paths.txt (collapse_paths.py) and answer.md (answer.py) written again. A
# running grid may go on meanwhile: only finished trials have parts.
# Usage, from the project root: bash results/examples/nb201-cpu/ship.sh [RESULTS] (default results)
set -euo pipefail
results=${1:-results}
shipped=()
for name in nb201-cpu nb201-cpu-tuned; do
  live=$results/$name
  [ -d "$live/parts" ] || continue
  [ -d results/examples/$name ] || { echo "results/examples/$name has no README yet: not shipped"; continue; }
  rm -rf "results/examples/$name/parts"
  cp -r "$live/parts" "$live/grid.json" "results/examples/$name/"
  python - "results/examples/$name" <<'PY'
import sys
from pathlib import Path

import pandas as pd

parts = sorted(Path(sys.argv[1], "parts").glob("*/*.parquet"))
for f in parts:
    pd.read_parquet(f)
print(f"{sys.argv[1]}: {len(list(Path(sys.argv[1], 'parts', 'trials').glob('*.parquet')))} trials, "
      f"{len(parts)} parts, all readable")
PY
  shipped+=("$name")
done
# the tunings that have written their options by this grid's objective, the cell's training
# accuracy in the table (results/examples/tuned/nb201-cpu/README.md; one by another is not shipped)
for f in "$results"/tuned/nb201-cpu/*.json; do
  [ -f "$f" ] || continue
  if ! grep -q '"cell_train_acc"' "$f"; then
    echo "not shipped: $f chose by another objective than the cell's training accuracy"
    continue
  fi
  cp "$f" results/examples/tuned/nb201-cpu/ && echo "shipped $f"
  # (a tuning's samples are written where it ran; a machine restored from the shipped options has none)
  if [ -f "${f%.json}-samples.csv" ]; then
    cp "${f%.json}-samples.csv" results/examples/tuned/nb201-cpu/ && echo "shipped its samples"
  fi
done
python results/examples/tables/snapshot.py nb201-c8-n3-e2 --live "$results/tables/nb201-c8-n3-e2"
[ ${#shipped[@]} -eq 0 ] || bash results/examples/regenerate.sh "${shipped[@]}"
# what a collapse costs, by the paths it keeps, from the shipped trials and the new snapshot
# and the issue's questions answered in one table, from the regenerated report
if [ -d results/examples/nb201-cpu/parts ]; then
  python results/examples/nb201-cpu/collapse_paths.py > results/examples/nb201-cpu/collapse-paths.txt
  python results/examples/nb201-cpu/answer.py > results/examples/nb201-cpu/answer.md
fi
if [ -d results/examples/nb201-cpu-tuned/parts ]; then
  python results/examples/nb201-cpu/answer.py results/examples/nb201-cpu-tuned \
    > results/examples/nb201-cpu-tuned/answer.md
fi
