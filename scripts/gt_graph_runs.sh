#!/usr/bin/env bash
# The graph transformer's graph-classification runs (issue 10): ENZYMES and
# PROTEINS with the shipped Errica folds, one 10-fold cross-validation per
# seed, next to GIN's runs with the same [train] and seeds (paired by fold).
# Two jobs side by side, one core each. Results: OUT (default bench_results/gt).
#
#   scripts/gt_graph_runs.sh [DATA_DIR] [OUT] [SEEDS...]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$here/../shared/datasets}"
out="${2:-$here/bench_results/gt}"
shift 2 || true
seeds=("${@:-0}")
mkdir -p "$out"
cd "$here"
bin=./target/release/autoglm
run() { # name args...
  local name=$1
  shift
  RAYON_NUM_THREADS=1 "$bin" train --quiet --data-dir "$data" --out "$out/$name.json" "$@" > "$out/$name.log" 2>&1
  echo "$name: $(grep -E 'accuracy' "$out/$name.log" | tail -n 1)"
}
for s in "${seeds[@]}"; do
  run "enzymes_gt_s$s" --config configs/gt_enzymes_errica.toml --dataset ENZYMES --seed "$s" &
  run "proteins_gt_s$s" --config configs/gt_proteins_errica.toml --dataset PROTEINS --seed "$s"
  wait
  run "enzymes_gin_s$s" --task graph --model gin --dataset ENZYMES --config scripts/graph_runs/enzymes_errica.toml --seed "$s" &
  run "proteins_gin_s$s" --task graph --model gin --dataset PROTEINS --config scripts/graph_runs/errica.toml --seed "$s"
  wait
done
