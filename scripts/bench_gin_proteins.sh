#!/usr/bin/env bash
# One GIN training epoch over PROTEINS (1,113 graphs, batch 32), autoglm against
# PyTorch Geometric, measured back to back in this one script (the machine is
# shared and noisy: compare the ratio, not absolute times across runs).
#
#   scripts/bench_gin_proteins.sh [DATA_DIR] [EPOCHS] [THREADS]
#
# autoglm: `autoglm::tasks::graph::bench_gin_epoch` through the
# graph_classification example; PyG: scripts/pyg_gin_proteins.py with the venv
# at $PYG_PYTHON (default ~/pyg/bin/python). Both: GIN-0, 4 GIN layers with
# 2-layer MLPs and batch norm, hidden 64, sum readout of every layer, dropout
# 0.5, Adam 0.01, shuffled batches of 32; median of EPOCHS epochs after two
# warm-up epochs. candle's element-wise thread pool is disabled (CANDLE_NUM_THREADS=1,
# see crates/autoglm-cli/src/graph.rs); THREADS applies to rayon / torch.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$here/../shared/datasets}"
epochs="${2:-10}"
threads="${3:-2}"
py="${PYG_PYTHON:-$HOME/pyg/bin/python}"
cd "$here"
cargo build --release -q -p autoglm --example graph_classification
ours=$(CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS="$threads" ./target/release/examples/graph_classification bench "$data" PROTEINS "$epochs")
echo "$ours"
if [ -x "$py" ]; then
  theirs=$("$py" scripts/pyg_gin_proteins.py "$data" --epochs "$epochs" --threads "$threads" 2>/dev/null | tail -n 1)
  echo "$theirs"
  python3 - "$ours" "$theirs" <<'EOF'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"GIN epoch over PROTEINS: autoglm {a['ms_per_epoch']:.1f} ms, PyG {b['ms_per_epoch']:.1f} ms, "
      f"PyG / autoglm = {b['ms_per_epoch'] / a['ms_per_epoch']:.2f}x")
EOF
else
  echo "PyG venv not found at $py; only autoglm was timed" >&2
fi
