#!/usr/bin/env bash
# Issue 13: does the trial store help? Leave each dataset out in turn.
#   1. cold searches: every dataset, seeds 0-2, each with its own empty store;
#   2. the pooled store: every cold trial of the task;
#   3. warm searches: each dataset again, same seeds, warm-started from the
#      pooled store minus every trial of that dataset (a fresh copy per search);
#   4. scripts/auto/warm_loo.py: trials each search needed to reach the cold
#      search's final validation score, and the curves.
# The message-passing models only (the transformer's trials dominate the time on
# PROTEINS and PubMed); the same for the cold and the warm searches.
# Usage: [STUDIES="node graph"] scripts/auto/warm_loo.sh [BIN] [OUT] [CORE]
set -euo pipefail
BIN=${1:-target/release/autoglm}
OUT=${2:-bench_results/auto/warm_loo}
CORE=${3:-1}
DATA=${AUTOGLM_DATA:-../shared/datasets}
TRIALS=18
mkdir -p "$OUT"
search() { # task dataset seed mode store extra...
  local task=$1 d=$2 s=$3 mode=$4 store=$5; shift 5
  local dir="$OUT/$task/$d/${mode}_seed$s"
  [ -f "$dir/summary.json" ] && return 0
  taskset -c "$CORE" "$BIN" auto --data-dir "$DATA" --task "$task" --dataset "$d" --seed "$s" \
    --trials $TRIALS --jobs 1 --no-final --quiet --store "$store" --out "$dir" "$@" > "$dir.log" 2>&1
}
study() { # task "datasets" extra...
  local task=$1 sets=$2; shift 2
  mkdir -p "$OUT/$task"
  for d in $sets; do for s in 0 1 2; do
    mkdir -p "$OUT/$task/$d"
    [ -f "$OUT/$task/$d/cold_seed$s/summary.json" ] || rm -f "$OUT/$task/$d/cold_seed$s.store.jsonl"
    search "$task" "$d" "$s" cold "$OUT/$task/$d/cold_seed$s.store.jsonl" "$@"
  done; done
  cat "$OUT/$task"/*/cold_seed*.store.jsonl > "$OUT/$task/pooled.jsonl"
  for d in $sets; do for s in 0 1 2; do
    local st="$OUT/$task/$d/warm_seed$s.store.jsonl"
    [ -f "$OUT/$task/$d/warm_seed$s/summary.json" ] || python3 -c 'import json,sys; [sys.stdout.write(l) for l in open(sys.argv[1]) if l.strip() and json.loads(l)["dataset"]!=sys.argv[2]]' \
      "$OUT/$task/pooled.jsonl" "$d" > "$st"
    search "$task" "$d" "$s" warm "$st" "$@"
  done
  "$BIN" plot "$OUT/$task/$d"/cold_seed*/summary.json "$OUT/$task/$d"/warm_seed*/summary.json --out "$OUT/$task/$d/curves"
  done
}
STUDIES=${STUDIES:-node graph}
case " $STUDIES " in *" node "*) study node "karate cora pubmed" --models gcn,gat,sage ;; esac
case " $STUDIES " in *" graph "*) study graph "MUTAG PROTEINS ENZYMES IMDB-BINARY" --outer-folds 1 --max-epochs 60 --models gcn,sage,gin ;; esac
python3 scripts/auto/warm_loo.py "$OUT" | tee "$OUT/report.txt"
