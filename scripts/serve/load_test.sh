#!/usr/bin/env bash
# Issue 15's server load test on loopback: `autoglm serve` under wrk, 64
# connections for 30 s, (1) node prediction over Cora with a GCN (16 random
# node ids per request) and (2) graph prediction with posted PROTEINS graphs
# (GIN trained on fold 0 of the Errica folds; every request carries a real
# graph of the dataset, walked in order, so no answer can come from a cache).
# The server's resident memory is sampled every second; the result JSON per
# run holds wrk's counts and latency percentiles, the server's own status
# counts from /metrics, and the memory series.
#
#   scripts/serve/load_test.sh [DATA_DIR] [OUT] [SECONDS] [CONNECTIONS]
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
data="${1:-$here/../shared/datasets}"
out="${2:-$here/bench_results/serve}"
secs="${3:-30}"
conns="${4:-64}"
mkdir -p "$out"
cd "$here"
command -v wrk > /dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p autoglm-cli
bin=./target/release/autoglm
export AUTOGLM_DATA="$data"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2> /dev/null || true; rm -rf "$work"' EXIT
[ -f "$out/cora_gcn.safetensors" ] || "$bin" train --dataset cora --model gcn --quiet --checkpoint "$out/cora_gcn.safetensors" > "$out/cora_gcn.train.log" 2>&1
[ -f "$out/proteins_gin.safetensors" ] || "$bin" train --task graph --dataset PROTEINS --model gin --config scripts/export/proteins_fold0.toml --quiet --checkpoint "$out/proteins_gin.safetensors" > "$out/proteins_gin.train.log" 2>&1

run() { # name checkpoint endpoint bodies
  local name=$1 ck=$2 endpoint=$3 bodies=$4 port=18431
  "$bin" serve --checkpoint "$ck" --port "$port" > /dev/null 2> "$out/$name.server.log" &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break; sleep 0.2; done
  # warm-up: 5 s of the same load, then the measured run
  BODIES="$bodies" SUMMARY="$work/warm.json" wrk -t2 -c"$conns" -d5s -s scripts/serve/post.lua "http://127.0.0.1:$port$endpoint" > /dev/null
  : > "$work/rss"
  ( while kill -0 "$pid" 2> /dev/null; do ps -o rss= -p "$pid" >> "$work/rss" || true; sleep 1; done ) &
  local sampler=$!
  BODIES="$bodies" SUMMARY="$work/$name.wrk.json" wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s --latency -s scripts/serve/post.lua "http://127.0.0.1:$port$endpoint" > "$out/$name.wrk.txt"
  curl -s "http://127.0.0.1:$port/metrics" > "$out/$name.metrics.txt"
  kill "$sampler" 2> /dev/null || true
  kill -TERM "$pid"; wait "$pid" || true
  python3 - "$name" "$work/$name.wrk.json" "$work/rss" "$out/$name.metrics.txt" "$endpoint" "$conns" > "$out/$name.json" <<'PY'
import json, re, sys
name, wrk, rss, metrics, endpoint, conns = sys.argv[1:]
w = json.load(open(wrk))
mem = [int(l) for l in open(rss) if l.strip()]
statuses = {}
for l in open(metrics):
    m = re.match(r'autoglm_http_requests_total\{endpoint="([^"]+)",status="(\d+)"\} (\d+)', l)
    if m and m.group(1) == endpoint:
        statuses[m.group(2)] = statuses.get(m.group(2), 0) + int(m.group(3))
batch = {}
for l in open(metrics):
    m = re.match(r'autoglm_batch_(graphs|requests)_(sum|count) ([\d.e+]+)', l)
    if m:
        batch[f"{m.group(1)}_{m.group(2)}"] = float(m.group(3))
out = {"run": name, "endpoint": endpoint, "connections": int(conns), "wrk": w,
       "server_status_counts_incl_warmup": statuses,
       "rss_kib": {"samples": len(mem), "first": mem[0] if mem else None, "last": mem[-1] if mem else None, "max": max(mem) if mem else None, "series": mem},
       "batching": {"requests_per_pass": batch.get("requests_sum", 0) / max(batch.get("requests_count", 1), 1),
                    "graphs_per_pass": batch.get("graphs_sum", 0) / max(batch.get("graphs_count", 1), 1)} if batch.get("requests_count") else None}
json.dump(out, sys.stdout, indent=1)
PY
  python3 -c "
import json; r = json.load(open('$out/$name.json')); w = r['wrk']; m = r['rss_kib']
print(f\"{r['run']}: {w['requests']} requests in {w['duration_s']:.1f} s ({w['throughput_rps']:.0f}/s), non-2xx {w['non_2xx']}, socket errors {sum(w['errors'].values())}; latency p50 {w['latency_ms']['p50']:.2f} ms, p99 {w['latency_ms']['p99']:.2f} ms; RSS {m['first']/1024:.1f} -> {m['last']/1024:.1f} MiB (max {m['max']/1024:.1f})\" + (f\"; {r['batching']['requests_per_pass']:.1f} requests per forward pass\" if r['batching'] else ''))
" | tee -a "$out/summary.txt"
}

python3 scripts/serve/make_bodies.py node 2708 5000 "$work/node.jsonl"
in_dim=$("$bin" serve --checkpoint "$out/proteins_gin.safetensors" --port 18432 > /dev/null 2>&1 & p=$!; for _ in $(seq 100); do v=$(curl -sf http://127.0.0.1:18432/v1/model) && break; sleep 0.2; done; kill $p; echo "$v" | python3 -c 'import json,sys; print(json.load(sys.stdin)["in_dim"])')
python3 scripts/serve/make_bodies.py graph "$data" PROTEINS "$in_dim" 1113 "$work/graph.jsonl"
: > "$out/summary.txt"
run node_cora_gcn "$out/cora_gcn.safetensors" /v1/predict/node "$work/node.jsonl"
run graph_proteins_gin "$out/proteins_gin.safetensors" /v1/predict/graph "$work/graph.jsonl"
rm -f "$out"/*.safetensors
