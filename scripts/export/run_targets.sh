#!/usr/bin/env bash
# Issue 15's export targets: train Cora GCN and GAT (seeds 0-9, the recipes)
# and GIN on PROTEINS fold 0 of the shipped Errica folds (seeds 0-2,
# scripts/export/proteins_fold0.toml), export each checkpoint as float and
# as int8 (`autoglm export --time 50`: the checkpoint's library forward, the
# float export and the int8 export timed in the same invocation), and
# summarise: int8 - float test accuracy (paired over seeds, 95 % interval),
# file size against a weights-only float file, int8 speed against the
# fastest float path.
#
#   scripts/export/run_targets.sh [DATA_DIR] [OUT]
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
data="${1:-$here/../shared/datasets}"
out="${2:-$here/bench_results/export}"
mkdir -p "$out"
cd "$here"
cargo build --release -q -p autoglm-cli
bin=./target/release/autoglm
export AUTOGLM_DATA="$data"
one() { # name seed train-args...
  local name=$1 seed=$2
  shift 2
  "$bin" train "$@" --seed "$seed" --quiet --checkpoint "$out/$name-$seed.safetensors" > "$out/$name-$seed.train.log" 2>&1
  for q in f32 int8; do
    "$bin" export --checkpoint "$out/$name-$seed.safetensors" --out "$out/$name-$seed-$q.agx" --quantize "$q" --time 50 --json "$out/$name-$seed-$q.json" > /dev/null 2>> "$out/$name-$seed.export.log"
  done
  rm -f "$out/$name-$seed.safetensors" "$out/$name-$seed"-*.agx
  echo "$name seed $seed done"
}
for s in 0 1 2 3 4 5 6 7 8 9; do one cora_gcn "$s" --dataset cora --model gcn; done
for s in 0 1 2 3 4 5 6 7 8 9; do one cora_gat "$s" --dataset cora --model gat; done
for s in 0 1 2; do one proteins_gin "$s" --task graph --dataset PROTEINS --model gin --config scripts/export/proteins_fold0.toml; done
python3 scripts/export/summarize.py "$out"
