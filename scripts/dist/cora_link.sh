#!/usr/bin/env bash
# Issue 14: Cora link prediction (GAE recipe, seeds 0-9): one process against
# 2 MPI ranks (strided shares of the training edges and negatives) without
# compression, with top-k 1 % and with 1-bit; paired test-AUC differences.
# Needs a build with --features mpi. Usage: scripts/dist/cora_link.sh [BIN] [OUT]
set -euo pipefail
BIN=${1:-target/release/autoglm}
OUT=${2:-bench_results/dist}
DATA=${AUTOGLM_DATA:-../shared/datasets}
mkdir -p "$OUT"
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2)
T=(train --data-dir "$DATA" --dataset cora --task link --model gcn --runs 10 --quiet)
"$BIN" "${T[@]}" --out "$OUT/link_one.json"
"${MPI[@]}" "$BIN" "${T[@]}" --distributed --out "$OUT/link_np2.json"
"${MPI[@]}" "$BIN" "${T[@]}" --distributed --compress topk:0.01 --out "$OUT/link_np2_topk.json"
"${MPI[@]}" "$BIN" "${T[@]}" --distributed --compress onebit --out "$OUT/link_np2_onebit.json"
python3 - "$OUT" <<'PY'
import json, math, sys
out = sys.argv[1]
auc = lambda f: {r["seed"]: r["test"]["auc"] for r in json.load(open(f"{out}/{f}.json"))["runs"]}
base = auc("link_one")
for f in ["link_np2", "link_np2_topk", "link_np2_onebit"]:
    a = auc(f); d = [100 * (a[s] - base[s]) for s in sorted(base)]
    m = sum(d) / len(d); sd = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1))
    c = json.load(open(f"{out}/{f}.json"))["comm"]
    print(f"{f}: test AUC {100*sum(a.values())/len(a):.2f} vs one process {100*sum(base.values())/len(base):.2f}, paired {m:+.2f} ± {2.262*sd/math.sqrt(len(d)):.2f}; bytes {c['bytes_sent']} of {c['bytes_dense']} dense, ratio {c['ratio']:.1f}x")
PY
