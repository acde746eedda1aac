#!/usr/bin/env bash
# The nb201-cpu grid's runs, in the order of this folder's README ("What is left"), one after the
# other: each command resumes where it stopped (its finished trials are not run again), so after an
# interruption the same script goes on. NUM_CPUS trials at a time (default 2); arguments are passed
# to every run (e.g. --results FOLDER, or --plan to print what each would run and cost).
# Usage, from the project root: bash results/examples/nb201-cpu/run.sh [ARG ...]
set -euo pipefail
cpus=${NUM_CPUS:-2}
run() {
  echo "== python benchmark/run.py --grid nb201-cpu $*"
  python benchmark/run.py --grid nb201-cpu --num-cpus "$cpus" "$@"
}
# 1. the poster's four strategies at DARTS's settings, 40 seeds (the analysis fixed in the README)
run --strategies first-order hyperdarts-mlp first-order-smoothed random --seeds $(seq 0 39) "$@"
# 2. the other strategies at DARTS's settings, at the seeds their cost allows
run --strategies one-level hyperdarts-linear second-order second-order-exact --seeds $(seq 0 9) "$@"
run --strategies implicit-neumann implicit-cg --seeds $(seq 0 4) "$@"
# 3. each strategy at its own tuned options (results/examples/tuned/nb201-cpu), an experiment of its own
run --tuned results/examples/tuned/nb201-cpu --experiment nb201-cpu-tuned \
  --strategies first-order hyperdarts-mlp first-order-smoothed random --seeds $(seq 0 19) "$@"
