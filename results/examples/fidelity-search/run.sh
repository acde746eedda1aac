#!/usr/bin/env bash
# Hypergradient fidelity in the cpu grid's own regime: points of real first-order searches on the
# cpu profile's supernet (CIFAR-10 at 16x16, 5 cells of 4 channels, batch 32, alpha lr 0.02),
# WITHOUT fitting the weights to one batch (--pretrain-steps 0), after 0, 48 and 96 steps (the
# start, middle and end of the grid's 3-epoch search), on three seeds (supernet, split and batches
# differ). implicit-cg's default row is its spectrum rule; the variants are fixed dampings.
# Each point's rows are written as it finishes. About 8 min per point on one shared core.
# Usage, from the project root: bash results/examples/fidelity-search/run.sh [SEED ...]
set -euo pipefail
out=results/examples/fidelity-search
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2)
for seed in "${seeds[@]}"; do
  OMP_NUM_THREADS=1 python -m studies fidelity --dataset imagefolder:~/.cache/cifar10-jpeg \
    --image-size 16 --train-subset 2048 --channels 4 --layers 5 --batch-size 32 --alpha-lr 0.02 \
    --pretrain-steps 0 --points 0 48 96 --repeats 1 --seed "$seed" \
    --variant implicit-cg cg_damping_rule=fixed cg_damping=1 \
    --variant implicit-cg cg_damping_rule=fixed cg_damping=3 \
    --variant implicit-cg cg_damping_rule=fixed cg_damping=10 \
    --variant implicit-cg cg_damping_rule=fixed cg_damping=30 \
    --variant implicit-cg cg_damping_rule=fixed cg_damping=10 cg_k=20 \
    --variant implicit-neumann neumann_k=20 --out "$out"
done
