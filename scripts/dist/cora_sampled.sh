#!/usr/bin/env bash
# Issue 14: neighbour-sampled GraphSAGE on Cora (fanouts 10,10), seeds 0-9:
# one process with a batch of 140 seeds (all training nodes, one step per
# epoch) against 2 MPI ranks of 70 seeds each (the same global batch), without
# compression, with top-k 1 % and with 1-bit; paired differences by seed.
# Needs a build with --features mpi. Usage: scripts/dist/cora_sampled.sh [BIN] [OUT]
set -euo pipefail
BIN=${1:-target/release/autoglm}
OUT=${2:-bench_results/dist}
DATA=${AUTOGLM_DATA:-../shared/datasets}
mkdir -p "$OUT"
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2)
T=(train --data-dir "$DATA" --dataset cora --model sage --runs 10 --quiet --fanouts 10,10)
"$BIN" "${T[@]}" --batch-size 140 --out "$OUT/sage_one.json"
"${MPI[@]}" "$BIN" "${T[@]}" --batch-size 70 --distributed --out "$OUT/sage_np2.json"
"${MPI[@]}" "$BIN" "${T[@]}" --batch-size 70 --distributed --compress topk:0.01 --out "$OUT/sage_np2_topk.json"
"${MPI[@]}" "$BIN" "${T[@]}" --batch-size 70 --distributed --compress onebit --out "$OUT/sage_np2_onebit.json"
for f in np2 np2_topk np2_onebit; do
  echo "== sage $f - one process"
  python3 scripts/paired.py "$OUT/sage_$f.json" "$OUT/sage_one.json"
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["comm"]; print("bytes sent %d, dense %d, ratio %.1fx, per step %.0f" % (c["bytes_sent"], c["bytes_dense"], c["ratio"], c["bytes_per_step"]))' "$OUT/sage_$f.json"
done
