#!/usr/bin/env bash
# Issue 14, Cora's Planetoid split, seeds 0-9, paired differences by seed:
#  1. full-batch GCN (the recipe) in one process, then over 2 MPI ranks
#     without compression, with top-k 1 % and with 1-bit (error feedback);
#  2. neighbour-sampled GraphSAGE (fanouts 10,10): one process with a batch
#     of 140 seeds (all training nodes, one step per epoch) against 2 ranks
#     of 70 seeds each (the same global batch), the same three exchanges.
# Needs a build with --features mpi. Usage: scripts/dist/cora_paired.sh [BIN] [OUT]
# (PAIRS="sage" runs only the second part.)
set -euo pipefail
BIN=${1:-target/release/autoglm}
OUT=${2:-bench_results/dist}
DATA=${AUTOGLM_DATA:-../shared/datasets}
mkdir -p "$OUT"
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2)
pair() { # name "one-process flags" "per-rank flags"
  local name=$1 one=$2 rank=$3
  local T=(train --data-dir "$DATA" --dataset cora --runs 10 --quiet)
  "$BIN" "${T[@]}" $one --out "$OUT/${name}_one.json"
  "${MPI[@]}" "$BIN" "${T[@]}" $rank --distributed --out "$OUT/${name}_np2.json"
  "${MPI[@]}" "$BIN" "${T[@]}" $rank --distributed --compress topk:0.01 --out "$OUT/${name}_np2_topk.json"
  "${MPI[@]}" "$BIN" "${T[@]}" $rank --distributed --compress onebit --out "$OUT/${name}_np2_onebit.json"
  for f in np2 np2_topk np2_onebit; do
    echo "== $name $f - one process"
    python3 scripts/paired.py "$OUT/${name}_$f.json" "$OUT/${name}_one.json"
    python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["comm"]; print("bytes sent %d, dense %d, ratio %.1fx, per step %.0f" % (c["bytes_sent"], c["bytes_dense"], c["ratio"], c["bytes_per_step"]))' "$OUT/${name}_$f.json"
  done
}
for p in ${PAIRS:-cora sage}; do
  case $p in
    cora) pair cora "--model gcn" "--model gcn" ;;
    sage) pair sage "--model sage --fanouts 10,10 --batch-size 140" "--model sage --fanouts 10,10 --batch-size 70" ;;
  esac
done
