#!/usr/bin/env bash
# Issue 15: the graph transformer in int8. The transformer has no `.agx`
# export path; `autoglm eval --quantize int8` runs the library's own forward
# pass with every linear map in int8 (weights per output channel, activations
# per row, i32 products) against the float forward on the test data. Cora
# (configs/gt_cora.toml, seeds 0-9) and PROTEINS fold 0 of the Errica folds
# (scripts/export/gt_proteins_fold0.toml, seeds 0-2), fixed before the runs.
#
#   scripts/export/transformer_int8.sh [DATA_DIR] [OUT]
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
data="${1:-$here/../shared/datasets}"
out="${2:-$here/bench_results/export/gt_int8}"
mkdir -p "$out"
cd "$here"
cargo build --release -q -p autoglm-cli
bin=./target/release/autoglm
export AUTOGLM_DATA="$data"
one() { # name task seed config
  local name=$1 task=$2 seed=$3 config=$4
  "$bin" train --config "$config" --runs 1 --seed "$seed" --quiet --checkpoint "$out/$name-$seed.safetensors" > "$out/$name-$seed.train.log" 2>&1
  "$bin" eval --task "$task" --checkpoint "$out/$name-$seed.safetensors" --quantize int8 --time 20 --quiet --out "$out/$name-$seed.json" > /dev/null
  rm -f "$out/$name-$seed.safetensors"
  echo "$name seed $seed done"
}
for s in 0 1 2 3 4 5 6 7 8 9; do [ -f "$out/cora_gt-$s.json" ] || one cora_gt node "$s" configs/gt_cora.toml; done
for s in 0 1 2; do one proteins_gt graph "$s" scripts/export/gt_proteins_fold0.toml; done
python3 - "$out" <<'PY'
import glob, json, math, sys
out = sys.argv[1]
rows = []
for name in ["cora_gt", "proteins_gt"]:
    rs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{name}-*.json"))]
    if not rs:
        continue
    d = [100 * (r["test"]["accuracy_int8"] - r["test"]["accuracy_float"]) for r in rs]
    n = len(d); m = sum(d) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in d) / (n - 1)) if n > 1 else 0.0
    t = {2: 12.706, 3: 4.303, 10: 2.262}.get(n, 2.262)
    hw = t * sd / math.sqrt(n) if n > 1 else float("nan")
    fa = sum(100 * r["test"]["accuracy_float"] for r in rs) / n
    agree = sum(100 * r["test"]["agreement"] for r in rs) / n
    sp = [r["timing_ms"]["speedup"] for r in rs]
    rows.append(f"| {name} | {n} | {fa:.2f} | {m:+.2f} (± {hw:.2f}) | {max(abs(x) for x in d):.2f} | {agree:.2f} | {sorted(sp)[n // 2]:.2f}x |")
print("| model | seeds | float acc | int8 - float (95 % CI) | largest abs diff | agreement % | int8 speed-up (median) |")
print("|---|---|---|---|---|---|---|")
print("\n".join(rows))
PY
