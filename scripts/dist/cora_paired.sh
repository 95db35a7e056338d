#!/usr/bin/env bash
# Issue 14: Cora GCN (Planetoid split, the recipe, seeds 0-9) in one process,
# then data-parallel over 2 MPI ranks without compression, with top-k 1 %
# and with 1-bit, all with error feedback; paired differences by seed.
# Needs a build with --features mpi. Usage: scripts/dist/cora_paired.sh [BIN] [OUT]
set -euo pipefail
BIN=${1:-target/release/autoglm}
OUT=${2:-bench_results/dist}
DATA=${AUTOGLM_DATA:-../shared/datasets}
mkdir -p "$OUT"
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2)
T=(train --data-dir "$DATA" --dataset cora --model gcn --runs 10 --quiet)
"$BIN" "${T[@]}" --out "$OUT/cora_one.json"
"${MPI[@]}" "$BIN" "${T[@]}" --distributed --out "$OUT/cora_np2.json"
"${MPI[@]}" "$BIN" "${T[@]}" --distributed --compress topk:0.01 --out "$OUT/cora_np2_topk.json"
"${MPI[@]}" "$BIN" "${T[@]}" --distributed --compress onebit --out "$OUT/cora_np2_onebit.json"
for f in np2 np2_topk np2_onebit; do
  echo "== $f - one process"
  python3 scripts/paired.py "$OUT/cora_$f.json" "$OUT/cora_one.json"
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["comm"]; print("bytes sent %d, dense %d, ratio %.1fx, per step %.0f" % (c["bytes_sent"], c["bytes_dense"], c["ratio"], c["bytes_per_step"]))' "$OUT/cora_$f.json"
done
