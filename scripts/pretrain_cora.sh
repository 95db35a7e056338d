#!/usr/bin/env bash
# Cora: per seed, pretrain GraphMAE's recipe (configs/pretrain_cora.toml), then
# linear probe, fine-tuning with layer-wise rates, fine-tuning with 5 labels
# per class, and fine-tuning with the CLNode curriculum, all with that seed.
# Usage: scripts/pretrain_cora.sh [FIRST_SEED] [LAST_SEED]
set -euo pipefail
first=${1:-0}; last=${2:-9}
bin=${AUTOGLM:-target/release/autoglm}
out=bench_results/pretrain/cora; mkdir -p "$out"
for s in $(seq "$first" "$last"); do
  ck=$out/enc_s$s.safetensors
  [ -f "$ck" ] || "$bin" pretrain --config configs/pretrain_cora.toml --seed "$s" --checkpoint "$ck" --out "$out/pretrain_s$s.json" --quiet | tail -1
  "$bin" finetune --pretrained "$ck" --dataset cora --task node --mode linear-probe --seed "$s" --out "$out/probe_s$s.json" --quiet | tail -1
  "$bin" finetune --pretrained "$ck" --dataset cora --task node --mode finetune --seed "$s" --out "$out/finetune_s$s.json" --quiet | tail -1
  "$bin" finetune --pretrained "$ck" --dataset cora --task node --mode finetune --config configs/finetune_cora_5.toml --seed "$s" --out "$out/finetune5_s$s.json" --quiet | tail -1
  "$bin" finetune --pretrained "$ck" --dataset cora --task node --mode finetune --config configs/finetune_cora_curriculum.toml --seed "$s" --out "$out/finetunecur_s$s.json" --quiet | tail -1
done
