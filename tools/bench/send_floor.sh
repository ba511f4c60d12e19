#!/usr/bin/env bash
# The floor under issue 14's many-channels shape, beside the two real servers: each run
# measures uWS and ours in the shape (tools/bench/uws_counts.sh many 1: deliveries per
# server CPU-second, the client's wakeups per delivery), then examples/send_floor, a
# sender that does nothing but send a 290-byte frame to the subscribers of a random channel
# of 3 800 over 19 000 loopback sockets, pinned the same way (sender core 0, reader core 1).
# The reader runs twice: as fast as it can (--spin-ns 0) and slowed by SPIN ns per read
# (default 2000), since a slower client is woken less often and that makes sends cheaper.
#
#   tools/bench/send_floor.sh [RUNS]        (default 3; about 1 minute per run)
#
# Env: OUT (default target/bench/floor-<UTC time>), BIN (our binary), SPIN, SECS (8).
# Prints one line per measurement and a summary of medians with the floor/uWS ratio: the
# most deliveries per server CPU-second any server that sends one frame per delivery could
# reach against uWS in this shape on this machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS=${1:-3}
SPIN=${SPIN:-2000}
SECS=${SECS:-8}
OUT=${OUT:-$ROOT/target/bench/floor-$(date -u +%Y%m%dT%H%M%SZ)}
export BIN=${BIN:-$ROOT/target/release/channelstream}
FLOOR=$ROOT/target/release/examples/send_floor
mkdir -p "$OUT"
ulimit -n 20000
cargo build --release --quiet --bin channelstream --example loadgen --example send_floor
floor_run() { # NAME SPIN_NS
  local port=29555
  taskset -c 0 "$FLOOR" serve --port $port --secs "$SECS" >"$OUT/$1.serve.json" &
  local srv=$!
  sleep 0.3
  perf stat -x, -e context-switches -o "$OUT/$1.readperf" -- \
    taskset -c 1 "$FLOOR" read --port $port --spin-ns "$2" >"$OUT/$1.read.json" 2>/dev/null
  wait $srv
  python3 - "$OUT/$1.serve.json" "$OUT/$1.read.json" "$OUT/$1.readperf" "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); r = json.load(open(sys.argv[2]))
cs = [float(l.split(",")[0]) for l in open(sys.argv[3]) if "context-switches" in l][0]
ok = "ok" if r["frames"] == s["sends"] and s["short_or_failed"] == 0 else "MISMATCH"
print(f"{sys.argv[4]:14} sends {s['sends']:>9} read {ok}  deliv/cpu-s {s['sends_per_cpu_s']:>9,.0f}  "
      f"us/deliv {s['us_per_send']:.3f}  client-cs/deliv {cs / max(s['sends'], 1):.4f}")
PY
}
for r in $(seq 1 "$RUNS"); do
  WHO="uws ours" OUT="$OUT/run$r" tools/bench/uws_counts.sh many 1 | sed "s/_1 / /" | tee -a "$OUT/lines"
  floor_run "floor0_$r" 0 | tee -a "$OUT/lines"
  floor_run "floor${SPIN}_$r" "$SPIN" | tee -a "$OUT/lines"
done
python3 - "$OUT/lines" "$SPIN" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.search(r"deliv/cpu-s\s+([\d,]+)", line)
    c = re.search(r"client-cs/deliv\s+([\d.]+)", line)
    if not m:
        continue
    name = line.split()[0]
    kind = ("uWS" if "uws" in name else "ours" if "ours" in name
            else "floor, reader at full speed" if name.startswith("floor0_")
            else f"floor, reader +{sys.argv[2]} ns per read")
    rows.setdefault(kind, []).append((float(m.group(1).replace(",", "")), float(c.group(1)) if c else 0))
uws = statistics.median(v for v, _ in rows["uWS"])
print("| many channels | deliveries per server CPU-second (median) | / uWS | client wakeups per delivery |")
print("|---|---:|---:|---:|")
for kind, vals in rows.items():
    med = statistics.median(v for v, _ in vals)
    print(f"| {kind} ({len(vals)} runs) | {med:,.0f} | {med / uws:.2f}x | {statistics.median(c for _, c in vals):.3f} |")
PY
