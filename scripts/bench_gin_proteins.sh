#!/usr/bin/env bash
# One GIN training epoch over PROTEINS (1,113 graphs, batch 32), autoglm against
# PyTorch Geometric, measured back to back by one `autoglm bench` invocation
# (the machine is shared and noisy: compare the ratio, not absolute times across runs).
#
#   scripts/bench_gin_proteins.sh [DATA_DIR] [EPOCHS] [THREADS] [OUT_JSON]
#
# autoglm: `autoglm::tasks::graph::bench_gin_epoch`; PyG: scripts/pyg_gin_proteins.py
# with the venv at $PYG_PYTHON (default ~/pyg/bin/python). Both: GIN-0, 4 GIN
# layers with 2-layer MLPs and batch norm, hidden 64, sum readout of every
# layer, dropout 0.5, Adam 0.01, shuffled batches of 32; median of EPOCHS epochs
# after two warm-up epochs; THREADS for rayon / torch.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$here/../shared/datasets}"
epochs="${2:-10}"
threads="${3:-2}"
out="${4:-$here/runs/bench_gin.json}"
py="${PYG_PYTHON:-$HOME/pyg/bin/python}"
cd "$here"
mkdir -p "$(dirname "$out")"
cargo build --release -q -p autoglm-cli
pyg=()
if [ -x "$py" ]; then pyg=(--pyg "$py"); else echo "PyG venv not found at $py; only autoglm is timed" >&2; fi
./target/release/autoglm bench --skip-cora --skip-synthetic --data-dir "$data" \
  --graph-epochs "$epochs" --threads "$threads" --gin-peer scripts/pyg_gin_proteins.py "${pyg[@]}" --out "$out"
