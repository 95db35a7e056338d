#!/usr/bin/env bash
# Issue 14, graph task: GIN (the recipe, GIN protocol, 10 folds) on DATASET in
# one process with batches of 32 graphs against `mpirun -np 2` with 16 graphs
# per rank (the same global batch), seeds SEEDS; per-fold last-epoch test
# accuracy paired by (seed, fold). Batch norm normalises per rank (running
# statistics averaged), dropout masks per rank: the same distribution, not
# the same bits. Needs a build with --features mpi.
# Usage: scripts/dist/graph_paired.sh [BIN] [OUT] [DATASET] [SEEDS]
# (CONFIG=run.toml TAG=nobn: a run file for both sides, and a tag in the file names.)
set -euo pipefail
BIN=${1:-target/release/autoglm}
OUT=${2:-bench_results/dist}
DS=${3:-MUTAG}
SEEDS=${4:-0 1 2}
DATA=${AUTOGLM_DATA:-../shared/datasets}
mkdir -p "$OUT"
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2)
T=(train --task graph --model gin --data-dir "$DATA" --dataset "$DS" --quiet ${CONFIG:+--config "$CONFIG"})
DS_TAG=$DS${TAG:+_$TAG}
for s in $SEEDS; do
  # a seed whose two result files exist is not run again (an interrupted script resumes)
  [ -f "$OUT/graph_${DS_TAG}_one_s$s.json" ] && [ -f "$OUT/graph_${DS_TAG}_np2_s$s.json" ] && continue
  /usr/bin/time -f "one process seed $s: %e s" "$BIN" "${T[@]}" --seed "$s" --batch-size 32 --out "$OUT/graph_${DS_TAG}_one_s$s.json"
  /usr/bin/time -f "np2 seed $s: %e s" "${MPI[@]}" "$BIN" "${T[@]}" --seed "$s" --batch-size 16 --distributed --out "$OUT/graph_${DS_TAG}_np2_s$s.json"
done
python3 - "$OUT" "$DS_TAG" $SEEDS <<'PY'
import json, math, sys
out, ds, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
def folds(kind):
    r = {}
    for s in seeds:
        d = json.load(open(f"{out}/graph_{ds}_{kind}_s{s}.json"))
        for f in d["folds"]:
            r[(s, f["fold"])] = f["test_acc"]
        if kind == "np2":
            c = d["comm"]
            print(f"seed {s}: -np 2 global batch {d['distributed']['global_batch']}, bytes sent {c['bytes_sent']}, dense {c['bytes_dense']}, ratio {c['ratio']:.2f}")
    return r
a, b = folds("np2"), folds("one")
keys = sorted(set(a) & set(b))
d = [100 * (a[k] - b[k]) for k in keys]
n = len(d); m = sum(d) / n; sd = math.sqrt(sum((x - m) ** 2 for x in d) / (n - 1))
t = {9: 2.262, 19: 2.093, 29: 2.045}.get(n - 1, 1.96)
mean = lambda r: 100 * sum(r[k] for k in keys) / n
print(f"{ds}: one process {mean(b):.2f}, -np 2 {mean(a):.2f} (last-epoch test accuracy, mean over {n} seed-folds); paired diff {m:+.2f} ± {t * sd / math.sqrt(n):.2f} (95 % t)")
PY
