#!/usr/bin/env bash
# The max-rate part of scale.sh (two nodes + Redis, publisher on A, 1000 subscribers on
# B), for two builds in alternating runs: what a publisher faster than B's subscribers
# gets (backpressure between nodes, docs/SCALING.md), before and after a change.
#
#   BEFORE=/path/to/old/channelstream AFTER=target/release/channelstream RUNS=2 \
#     tools/bench/scale_max.sh      # ~1 minute per run; target/bench/scale-max-<UTC time>/
#
# Per run, one JSON line: deliveries/s, messages accepted/s, publishes refused (non-200
# batches: 503 while a node is behind), losses and duplicates among accepted messages,
# and subscribers cut with 1008.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${BEFORE:?path of the old binary}" "${AFTER:=target/release/channelstream}" "${RUNS:=2}"
out="target/bench/scale-max-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
cargo build --release -q --example loadgen
lg=target/release/examples/loadgen
rport=18891
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

run() { # label binary n
  local label=$1 bin=$2 n=$3
  redis-server --port $rport --bind 127.0.0.1 --save "" --appendonly no >"$out/redis.log" 2>&1 &
  local rpid=$!
  sleep 0.5
  local ps=()
  for port in 18811 18812; do
    "$bin" --host 127.0.0.1 --port "$port" --secret secret --allow-posting-from 0.0.0.0 \
      --max-connections 20000 --log-level WARNING --redis-url redis://127.0.0.1:$rport \
      >"$out/node-$label-$n-$port.log" 2>&1 &
    ps+=($!)
  done
  pids=("$rpid" "${ps[@]}")
  sleep 0.5
  "$lg" fanout --url http://127.0.0.1:18812 --publish-url http://127.0.0.1:18811 \
    --subscribers 1000 --rate max --duration 10s --server-pid "${ps[1]}" \
    2>"$out/$label-$n.err" | tail -1 >"$out/$label-$n.json"
  kill "${ps[@]}" "$rpid" 2>/dev/null || true
  wait "${ps[@]}" "$rpid" 2>/dev/null || true
  python3 - "$out/$label-$n.json" "$label" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(json.dumps({
    "build": sys.argv[2],
    "deliveries/s": round(m["deliveries"]["per_s"]),
    "msgs/s accepted": round(m["publish"]["accepted_msgs_per_s"]),
    "publishes refused": m["publish"]["batches_failed"],
    "losses/dups": f'{m["deliveries"]["losses"]}/{m["deliveries"]["duplicates"]}',
    "subscribers cut (1008)": m["receivers"]["errors"].get("closed by server (Some(1008))", 0),
}))
PY
}

for n in $(seq 1 "$RUNS"); do
  run before "$BEFORE" "$n" | tee -a "$out/summary.jsonl"
  run after "$AFTER" "$n" | tee -a "$out/summary.jsonl"
done
echo "results in $out" >&2
