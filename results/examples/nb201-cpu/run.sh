#!/usr/bin/env bash
# The nb201-cpu grid's runs, in the order of this folder's README ("What is left"), one after the
# other: each grid and each tuning resumes where it stopped (finished trials and samples are not
# run again), so after an interruption the same script goes on. NUM_CPUS trials at a time (default 2), results in RESULTS (default
# results); arguments are passed to every run (e.g. --plan: what each would run and cost).
# STEPS (default "1 2 3") picks the steps: the steps are experiments of their own, so two cores can
# run `STEPS="1 2"` and `STEPS=3` side by side.
# Usage, from the project root: bash results/examples/nb201-cpu/run.sh [ARG ...]
set -euo pipefail
cpus=${NUM_CPUS:-2}
results=${RESULTS:-results}
steps=" ${STEPS:-1 2 3} "
for s in $steps; do
  [[ $s == [123] ]] || { echo "STEPS takes the steps 1, 2 and 3, not $s" >&2; exit 2; }
done
run() {
  echo "== python benchmark/run.py --grid nb201-cpu $*"
  python benchmark/run.py --grid nb201-cpu --num-cpus "$cpus" --results "$results" "$@"
}
# 1. the poster's four strategies at DARTS's settings, 40 seeds (the analysis fixed in the README)
[[ $steps == *" 1 "* ]] && run --strategies first-order hyperdarts-mlp first-order-smoothed random --seeds $(seq 0 39) "$@"
# 2. the other strategies at DARTS's settings, at the seeds their cost allows
if [[ $steps == *" 2 "* ]]; then
  run --strategies one-level hyperdarts-linear second-order second-order-exact --seeds $(seq 0 9) "$@"
  run --strategies implicit-neumann implicit-cg --seeds $(seq 0 4) "$@"
fi
[[ $steps == *" 3 "* ]] || exit 0
# 3. each strategy's own options tuned on seed 100 (a seed the comparison does not use), by the
#    found cells' training accuracy in the table, then the grid at them, an experiment of its own
for strategy in first-order hyperdarts-mlp first-order-smoothed; do
  # (done: its options written by this grid's objective, the cell's training accuracy)
  grep -qs '"cell_train_acc"' "$results/tuned/nb201-cpu/$strategy.json" && [[ " $* " != *" --plan "* ]] && continue
  run --tune "$strategy" --seeds 100 --samples 8 "$@"
done
run --tuned "$results/tuned/nb201-cpu" --experiment nb201-cpu-tuned \
  --strategies first-order hyperdarts-mlp first-order-smoothed random --seeds $(seq 20 39) "$@"
