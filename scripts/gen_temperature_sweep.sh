#!/bin/sh
# Validity / uniqueness / novelty of a molecule generator across sampling
# temperatures, on samples of seed 100 (not the reported seed-0 set).
# usage: scripts/gen_temperature_sweep.sh CHECKPOINT OUTDIR [NUM]
set -e
ck=$1; out=$2; num=${3:-2000}
mkdir -p "$out"
for t in 0.8 1.0 1.2 1.5 2.0 2.5 3.0; do
  ./target/release/autoglm eval --task generate --checkpoint "$ck" --num "$num" --seed 100 --temperature "$t" --quiet --out "$out/temperature_$t.json" | grep "model,"
done
