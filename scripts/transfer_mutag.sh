#!/usr/bin/env bash
# Transfer: pretrain on QM9 molecules (configs/pretrain_qm9.toml), fine-tune on
# MUTAG read as molecules of the same vocabulary; stratified 10-fold CV with an
# inner 10 % validation split, selection on validation, 3 repeats (seeds 0-2);
# the same model from scratch on the same folds and seeds; the paired difference.
# Usage: scripts/transfer_mutag.sh [NAME]   (configs/pretrain_NAME.toml, default qm9)
set -euo pipefail
name=${1:-qm9}
bin=${AUTOGLM:-target/release/autoglm}
out=bench_results/pretrain/transfer${1:+_$1}; mkdir -p "$out"
[ -f "$out/qm9_enc.safetensors" ] || "$bin" pretrain --config "configs/pretrain_$name.toml" --seed 0 --checkpoint "$out/qm9_enc.safetensors" --out "$out/qm9_pretrain.json" --quiet | tail -1
for mode in finetune scratch; do
  "$bin" finetune --pretrained "$out/qm9_enc.safetensors" --dataset MUTAG --task graph --mode "$mode" --runs 3 --seed 0 --out "$out/mutag_$mode.json" --quiet | tail -1
done
python3 scripts/paired.py "$out/mutag_finetune.json" "$out/mutag_scratch.json" --metric test_acc --json "$out/paired.json"
