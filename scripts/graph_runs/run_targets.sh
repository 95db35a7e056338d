#!/usr/bin/env bash
# The six graph-classification target runs of issue 4 (10-fold CV, GIN-0
# defaults: 5 layers incl. input, hidden 64, batch 32, Adam 0.01 halved every
# 50 epochs, 350 epochs). Logs and JSON results go to OUT (default /tmp/gc).
#
#   scripts/graph_runs/run_targets.sh [DATA_DIR] [OUT]
#
# Each run uses one core (RAYON_NUM_THREADS=1); two run side by side.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
data="${1:-$here/../shared/datasets}"
out="${2:-/tmp/gc}"
cfg="$here/scripts/graph_runs"
mkdir -p "$out"
cd "$here"
cargo build --release -q -p autoglm-cli
bin=./target/release/autoglm
run() { # name dataset [config]
  local name=$1 ds=$2
  shift 2
  RAYON_NUM_THREADS=1 "$bin" train --task graph --dataset "$ds" --model gin --folds 10 --quiet \
    --data-dir "$data" --out "$out/$name.json" "$@" > "$out/$name.log" 2>&1
  echo "$name: $(tail -n 2 "$out/$name.log" | head -n 1)"
}
# Two runs at a time (one core each).
pids=()
wait_slot() { while [ "$(jobs -rp | wc -l)" -ge 2 ]; do sleep 5; done; }
# GIN-paper protocol (MUTAG ships no folds, so the protocol is inferred).
wait_slot; run mutag_gin MUTAG --config "$cfg/gin_protocol_dropout0.toml" & pids+=($!)
# PROTEINS: the best point of the GIN paper's grid (gin_paper_grid.sh)
wait_slot; run proteins_gin PROTEINS --config "$cfg/gin_protocol_proteins_grid_best.toml" & pids+=($!)
wait_slot; run imdb_gin IMDB-BINARY --config "$cfg/gin_protocol.toml" & pids+=($!)
# Errica et al. protocol with the shipped folds.
wait_slot; run proteins_errica PROTEINS --config "$cfg/errica.toml" & pids+=($!)
wait_slot; run enzymes_errica ENZYMES --config "$cfg/enzymes_errica.toml" & pids+=($!)
wait_slot; run imdb_errica IMDB-BINARY --config "$cfg/errica.toml" & pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
