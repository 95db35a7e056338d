#!/usr/bin/env bash
# Issue 15: one-shot pruning at export (`autoglm export --prune R`, no
# fine-tuning) on Cora GCN, seeds 0-9 of the node recipe: int8 test accuracy
# and file size at R = 0.7 and 0.9 against the dense int8 export, paired by
# seed (95 % t-interval). Fixed before the runs.
#
#   scripts/export/prune_export.sh [DATA_DIR] [OUT]
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
data="${1:-$here/../shared/datasets}"
out="${2:-$here/bench_results/export/prune_export}"
mkdir -p "$out"
cd "$here"
cargo build --release -q -p autoglm-cli
bin=./target/release/autoglm
export AUTOGLM_DATA="$data"
for s in 0 1 2 3 4 5 6 7 8 9; do
  "$bin" train --dataset cora --model gcn --seed "$s" --quiet --checkpoint "$out/gcn-$s.safetensors" > /dev/null 2>&1
  "$bin" export --checkpoint "$out/gcn-$s.safetensors" --quantize int8 --out "$out/x.agx" --json "$out/gcn-$s-dense.json" > /dev/null 2>&1
  for r in 0.7 0.9; do
    "$bin" export --checkpoint "$out/gcn-$s.safetensors" --quantize int8 --prune "$r" --out "$out/x.agx" --json "$out/gcn-$s-prune$r.json" > /dev/null 2>&1
  done
  rm -f "$out/gcn-$s.safetensors" "$out/x.agx"
done
(python3 - "$out" <<'PY'
import json, math, sys
out = sys.argv[1]
def load(s, tag):
    return json.load(open(f"{out}/gcn-{s}-{tag}.json"))
print("| export | seeds | int8 test acc (mean) | vs dense int8, paired (95 % CI) | bytes (mean) | vs float weights |")
print("|---|---|---|---|---|---|")
for tag in ["dense", "prune0.7", "prune0.9"]:
    rs = [load(s, tag) for s in range(10)]
    d = [100 * (r["test"]["accuracy_export"] - load(s, "dense")["test"]["accuracy_export"]) for s, r in enumerate(rs)]
    m = sum(d) / 10
    sd = math.sqrt(sum((x - m) ** 2 for x in d) / 9)
    acc = sum(100 * r["test"]["accuracy_export"] for r in rs) / 10
    b = sum(r["bytes"] for r in rs) / 10
    fw = rs[0]["float_weights_bytes"]
    print(f"| {tag} | 10 | {acc:.2f} | {m:+.2f} (± {2.262 * sd / math.sqrt(10):.2f}) | {b:,.0f} | {fw / b:.2f}x smaller |")
PY
) | tee "$out/summary.md"
