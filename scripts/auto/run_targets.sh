#!/usr/bin/env bash
# Issue 13 targets: the searches of BENCHMARKS.md, two at a time, each pinned
# to one of this machine's two cores (taskset), so that a TPE search and the
# random search it is compared with run side by side under the same load.
# Usage: scripts/auto/run_targets.sh [BIN] [OUT]   (BIN: target/release/autoglm)
set -euo pipefail
BIN=${1:-target/release/autoglm}
OUT=${2:-bench_results/auto}
DATA=${AUTOGLM_DATA:-../shared/datasets}
mkdir -p "$OUT"
run() { # core name args...
  local core=$1 name=$2; shift 2
  taskset -c "$core" "$BIN" auto --data-dir "$DATA" --jobs 1 --no-store --quiet --out "$OUT/$name" "$@" \
    > "$OUT/$name.log" 2>&1
}
pair() { # "name args" "name args"
  run 0 $1 & local a=$!
  run 1 $2 & local b=$!
  wait $a; wait $b
}
pair "cora_tpe --dataset cora --budget 20m --strategy tpe" \
     "cora_random --dataset cora --budget 20m --strategy random"
pair "cora_link_tpe --dataset cora --task link --budget 20m --strategy tpe" \
     "cora_link_random --dataset cora --task link --budget 20m --strategy random"
pair "proteins_tpe --dataset PROTEINS --budget 30m --strategy tpe" \
     "enzymes_tpe --dataset ENZYMES --budget 30m --strategy tpe"
run 0 imdb_tpe --dataset IMDB-BINARY --budget 30m --strategy tpe
