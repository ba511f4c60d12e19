#!/usr/bin/env bash
# One node vs two nodes + Redis (issue 12, docs/SCALING.md), on loopback, for BENCHMARKS.md.
#
#   tools/bench/scale.sh            # about 2 minutes; results in target/bench/scale-<UTC time>/
#
# Runs examples/loadgen fanout three times per setup (1000 websocket subscribers on one
# channel, 100-byte probes): at max rate, and at a fixed 200 and 3000 messages/s
# (200 000 and 3 000 000 deliveries/s) for latency. "one": subscribers and publisher on one node, no Redis.
# "two": subscribers on node B, publisher on node A, both with redis_url, so every
# message goes A -> publish script -> Redis PUBLISH -> B. Also records Redis's CPU
# (INFO cpu, before and after) per published message, and the bytes Redis holds per
# stored frame (MEMORY USAGE of the channel's history list / its length).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="target/bench/scale-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
cargo build --release -q
cargo build --release -q --example loadgen
bin=target/release/channelstream
lg=target/release/examples/loadgen
rport=18890
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

node() { # port [extra args...]
  local port=$1; shift
  "$bin" --host 127.0.0.1 --port "$port" --secret secret --allow-posting-from 0.0.0.0 \
    --max-connections 20000 --log-level WARNING "$@" >"$out/node-$port.log" 2>&1 &
  pids+=($!)
  echo $! >"$out/node-$port.pid"
  sleep 0.5
}

fanout() { # name url publish-url pid rate
  local name=$1 url=$2 purl=$3 pid=$4 rate=$5
  echo "$lg fanout --url $url --publish-url $purl --subscribers 1000 --rate $rate --duration 10s --server-pid $pid" >"$out/$name.cmd"
  "$lg" fanout --url "$url" --publish-url "$purl" --subscribers 1000 --rate "$rate" \
    --duration 10s --server-pid "$pid" 2>"$out/$name.err" | tail -1 >"$out/$name.json"
}

redis_cpu() {
  redis-cli -p $rport INFO cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.3f\n", s}'
}

echo "== one node" >&2
node 18800
p0=$(cat "$out/node-18800.pid")
fanout one-max http://127.0.0.1:18800 http://127.0.0.1:18800 "$p0" max
fanout one-200 http://127.0.0.1:18800 http://127.0.0.1:18800 "$p0" 200
fanout one-3000 http://127.0.0.1:18800 http://127.0.0.1:18800 "$p0" 3000
kill "$p0"

echo "== two nodes + redis" >&2
redis-server --port $rport --bind 127.0.0.1 --save "" --appendonly no >"$out/redis.log" 2>&1 &
pids+=($!)
sleep 0.5
node 18801 --redis-url redis://127.0.0.1:$rport
node 18802 --redis-url redis://127.0.0.1:$rport
pb=$(cat "$out/node-18802.pid")
cpu0=$(redis_cpu)
fanout two-max http://127.0.0.1:18802 http://127.0.0.1:18801 "$pb" max
cpu1=$(redis_cpu)
fanout two-200 http://127.0.0.1:18802 http://127.0.0.1:18801 "$pb" 200
cpu2=$(redis_cpu)
fanout two-3000 http://127.0.0.1:18802 http://127.0.0.1:18801 "$pb" 3000
cpu3=$(redis_cpu)
mem=$(redis-cli -p $rport MEMORY USAGE 'cs:{lg0}:hist' SAMPLES 0)
len=$(redis-cli -p $rport LLEN 'cs:{lg0}:hist')
cat >"$out/redis.json" <<EOF
{"cpu_max_run_s": $(awk "BEGIN {printf \"%.3f\", $cpu1 - $cpu0}"), "cpu_200_run_s": $(awk "BEGIN {printf \"%.3f\", $cpu2 - $cpu1}"),
 "cpu_3000_run_s": $(awk "BEGIN {printf \"%.3f\", $cpu3 - $cpu2}"),
 "hist_bytes": $mem, "hist_frames": $len}
EOF

python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
r = json.load(open(os.path.join(out, "redis.json")))
def load(n):
    return json.load(open(os.path.join(out, n + ".json")))
rows = []
for setup in ("one", "two"):
    m, l, h = load(setup + "-max"), load(setup + "-200"), load(setup + "-3000")
    msgs_max = m["publish"]["messages_ok"]
    msgs_200 = l["publish"]["messages_ok"]
    row = {
        "setup": setup,
        "max deliveries/s": round(m["deliveries"]["per_s"]),
        "max msgs/s accepted": round(m["publish"]["accepted_msgs_per_s"]),
        "max losses/dups": f'{m["deliveries"]["losses"]}/{m["deliveries"]["duplicates"]}',
        "200 msg/s p50 ms": round(l["latency"]["p50_us"] / 1000, 2),
        "200 msg/s p99 ms": round(l["latency"]["p99_us"] / 1000, 2),
        "200 msg/s losses/dups": f'{l["deliveries"]["losses"]}/{l["deliveries"]["duplicates"]}',
        "subscriber node cpu_s (max run)": m.get("server", {}).get("cpu_s"),
        "max run subscribers cut (1008)": m["receivers"]["errors"].get("closed by server (Some(1008))", 0),
        "3000 msg/s deliveries/s": round(h["deliveries"]["per_s"]),
        "3000 msg/s p50 ms": round(h["latency"]["p50_us"] / 1000, 2),
        "3000 msg/s p99 ms": round(h["latency"]["p99_us"] / 1000, 2),
        "3000 msg/s losses/dups": f'{h["deliveries"]["losses"]}/{h["deliveries"]["duplicates"]}',
    }
    if setup == "two":
        row["redis cpu us/msg (max run)"] = round(r["cpu_max_run_s"] / max(msgs_max, 1) * 1e6, 1)
        row["redis cpu us/msg (200 run)"] = round(r["cpu_200_run_s"] / max(msgs_200, 1) * 1e6, 1)
        row["redis cpu us/msg (3000 run)"] = round(r["cpu_3000_run_s"] / max(h["publish"]["messages_ok"], 1) * 1e6, 1)
        row["redis bytes/stored frame"] = round(r["hist_bytes"] / max(r["hist_frames"], 1))
    rows.append(row)
json.dump(rows, open(os.path.join(out, "summary.json"), "w"), indent=1)
for row in rows:
    print(json.dumps(row))
PY
echo "results in $out" >&2
