#!/usr/bin/env bash
# The smoke grid killed with kill -9 (driver, Ray and trials: the whole process group) in the middle
# of an evaluation, then the same command again. From the project root:
#   bash results/examples/resume/kill9.sh /tmp/kill-demo
set -u
R=${1:-/tmp/kill-demo}; rm -rf "$R"; mkdir -p "$R"
CMD=(python benchmark/run.py --results "$R")
count() {   # result parts per table, and the trials table's rows once it exists
  for t in trials epochs alphas; do
    printf '%s parts: %s  ' "$t" "$(find "$R/smoke/parts/$t" -name '*.parquet' 2>/dev/null | wc -l)"; done
  printf 'own checkpoints: %s\n' "$(find "$R/smoke/checkpoints" -name '*.pt' 2>/dev/null | wc -l)"
}
echo "== $(date +%T) ${CMD[*]}"
: > "$R/first.log"
setsid "${CMD[@]}" > "$R/first.log" 2>&1 &
pgid=$!
until grep -q "eval digits #1/2  epoch 2/3" "$R/first.log"; do
  sleep 0.2; kill -0 $pgid 2>/dev/null || { echo "the run ended first"; exit 1; }; done
kill -9 -- -$pgid; sleep 2
echo "== $(date +%T) killed with kill -9; the evaluation lines before it:"; grep " eval " "$R/first.log"
count
echo "== $(date +%T) ${CMD[*]} (again)"
"${CMD[@]}" > "$R/second.log" 2>&1; echo "exit $?"
echo "-- what the rerun says about the trials that were in an evaluation:"
grep -E "resuming" "$R/second.log"
for who in $(grep -oE "\] [a-z-]+ digits s0  eval" "$R/first.log" | awk '{print $2}' | sort -u); do
  grep -E "\] $who digits s0  (eval|done)" "$R/second.log" | head -4; done
count
python - "$R/smoke" <<'PY'
import sys, pandas as pd
root = sys.argv[1]
t = pd.read_parquet(f"{root}/trials.parquet"); e = pd.read_parquet(f"{root}/epochs.parquet")
keys = ["strategy", "seed", "eval_dataset", "repeat"]
print(f"trials rows {len(t)} ({t.strategy.nunique()} strategies), duplicate keys {t.duplicated(keys).sum()}, "
      f"status {dict(t.status.value_counts())}")
ev = e[e.phase == "eval"]
print(f"eval epoch rows {len(ev)}, duplicates {ev.duplicated(keys + ['epoch']).sum()}, "
      f"per training {sorted(set(ev.groupby(keys).size()))}")
PY
