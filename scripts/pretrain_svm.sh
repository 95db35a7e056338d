#!/usr/bin/env bash
# Unsupervised graph-level protocol (GraphMAE): for each seed, pretrain on the
# dataset itself with its fixed recipe, embed every graph, score with an SVM
# (outer stratified 10-fold with that seed, C by inner 5-fold CV).
# Usage: scripts/pretrain_svm.sh NAME DATASET [SEEDS]   (configs/pretrain_NAME.toml)
set -euo pipefail
name=$1; ds=$2; seeds=${3:-10}
bin=${AUTOGLM:-target/release/autoglm}
out=bench_results/pretrain/$name; mkdir -p "$out"
for s in $(seq 0 $((seeds - 1))); do
  "$bin" pretrain --config "configs/pretrain_$name.toml" --seed "$s" --checkpoint "$out/enc_s$s.safetensors" --out "$out/pretrain_s$s.json" --quiet
  "$bin" finetune --pretrained "$out/enc_s$s.safetensors" --dataset "$ds" --task graph --mode svm --seed "$s" --out "$out/svm_s$s.json" --quiet | tail -1
done
python3 - "$out" "$seeds" <<'PY'
import json, sys, statistics as st
out, n = sys.argv[1], int(sys.argv[2])
acc = [json.load(open(f"{out}/svm_s{s}.json"))["summary"]["test_acc_mean"] * 100 for s in range(n)]
secs = [json.load(open(f"{out}/pretrain_s{s}.json"))["summary"] for s in range(n)]
print(f"{out}: SVM accuracy {st.mean(acc):.2f} ± {st.pstdev(acc):.2f} over {n} seeds (each a 10-fold mean); "
      f"pretraining {st.mean(x['seconds'] for x in secs):.1f} s, {st.mean(x['throughput'] for x in secs):.0f} graphs/s")
json.dump({"accuracy_per_seed": acc, "mean": st.mean(acc), "std": st.pstdev(acc)}, open(f"{out}/summary.json", "w"), indent=1)
PY
