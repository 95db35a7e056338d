#!/usr/bin/env bash
# Issue 14, compression at scale with sampling: GraphSAGE (the recipe: 2x16,
# dropout 0.5, Adam lr 0.01, 200 epochs, selection on validation accuracy) on
# the seeded 100,000-node contextual stochastic block model `csbm:100000`
# (10 classes, 10 % / 10 % / 80 % split), fanouts 10,10. One process with
# global batches of 2048 seeds against `mpirun -np 2` with 1024 per rank
# (the same global batch), uncompressed, top-k 1 % and 1-bit (error
# feedback); test accuracy paired by seed. Needs a build with --features mpi.
# Usage: scripts/dist/csbm_compress.sh [BIN] [OUT] [RUNS]
set -euo pipefail
BIN=${1:-target/release/autoglm}
OUT=${2:-bench_results/dist}
RUNS=${3:-10}
mkdir -p "$OUT"
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2)
T=(train --dataset csbm:100000 --model sage --fanouts 10,10 --runs "$RUNS" --quiet)
/usr/bin/time -f "one process: %e s" "$BIN" "${T[@]}" --batch-size 2048 --out "$OUT/csbm_one.json"
/usr/bin/time -f "np2: %e s" "${MPI[@]}" "$BIN" "${T[@]}" --batch-size 1024 --distributed --out "$OUT/csbm_np2.json"
/usr/bin/time -f "np2 topk: %e s" "${MPI[@]}" "$BIN" "${T[@]}" --batch-size 1024 --distributed --compress topk:0.01 --out "$OUT/csbm_np2_topk.json"
/usr/bin/time -f "np2 onebit: %e s" "${MPI[@]}" "$BIN" "${T[@]}" --batch-size 1024 --distributed --compress onebit --out "$OUT/csbm_np2_onebit.json"
for f in np2 np2_topk np2_onebit; do
  echo "== csbm $f - one process"
  python3 scripts/paired.py "$OUT/csbm_$f.json" "$OUT/csbm_one.json"
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["comm"]; print("bytes sent %d, dense %d, ratio %.1fx, per step %.0f" % (c["bytes_sent"], c["bytes_dense"], c["ratio"], c["bytes_per_step"]))' "$OUT/csbm_$f.json"
done
