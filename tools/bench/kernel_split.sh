#!/usr/bin/env bash
# Where the server's time goes, ours beside uWS, in one issue-14 shape: perf record with
# call graphs on each pinned server in turn (our release binary, then uws.sh), from the end
# of setup for SECS seconds, then the share of the server's samples under the kernel paths
# that matter on loopback (the send, the softirq work it runs, the client's TCP receive
# and wakeup) and in user space.
#
#   tools/bench/kernel_split.sh SHAPE [SECS]    SHAPE: b1 b4 many r100 r400 (as run.sh uws)
#
# Env: OUT (default target/bench/split-<UTC time>), BIN (our binary), FREQ (2000 Hz).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SHAPE=${1:?usage: kernel_split.sh SHAPE [SECS]}
SECS=${2:-8}
BIN=${BIN:-$ROOT/target/release/channelstream}
OUT=${OUT:-$ROOT/target/bench/split-$(date -u +%Y%m%dT%H%M%SZ)}
LG=$ROOT/target/release/examples/loadgen
UWS=/work/shared/tools/peers/uws.sh
mkdir -p "$OUT"
. "$ROOT/tools/bench/shapes.sh"
args=$(shape_args "$SHAPE") || { echo "unknown shape $SHAPE" >&2; exit 2; }
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null' EXIT
for who in ours uws; do
  port=28860; [ "$who" = ours ] || port=28960
  start_pinned "$who" $port
  # shellcheck disable=SC2086
  taskset -c 1 "$LG" fanout $args --url "http://127.0.0.1:$port" --server-pid "$PID" 2>"$OUT/$who.err" \
    | tail -n1 >"$OUT/$who.json" &
  lg=$!
  for _ in $(seq 1 600); do grep -q "open, " "$OUT/$who.err" 2>/dev/null && break; sleep 0.1; done
  perf record -F "${FREQ:-2000}" -g -o "$OUT/$who.data" -p "$PID" -- sleep "$SECS" >/dev/null 2>&1
  wait $lg || true
  kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; PID=
  perf report -i "$OUT/$who.data" --children --sort symbol --stdio -g none 2>/dev/null \
    | grep '%' >"$OUT/$who.children"
  perf report -i "$OUT/$who.data" --no-children --sort dso --stdio -g none 2>/dev/null \
    | grep '%' >"$OUT/$who.dso"
done
python3 - "$OUT" <<'PY'
import json, re, sys
out = sys.argv[1]
rows = [
    ("kernel", None),
    ("under send (__sys_sendto / do_writev)", ("__sys_sendto", "do_writev")),
    ("softirq work (handle_softirqs)", ("handle_softirqs",)),
    ("loopback receive path (net_rx_action)", ("net_rx_action",)),
    ("client's TCP receive (tcp_v4_rcv)", ("tcp_v4_rcv",)),
    ("waking the client (sock_def_readable)", ("sock_def_readable",)),
    ("timers (run_timer_softirq)", ("run_timer_softirq",)),
    ("own ACK processing (tcp_ack)", ("tcp_ack",)),
]
def load(who):
    children = {}
    for line in open(f"{out}/{who}.children"):
        m = re.match(r"\s*([\d.]+)%\s+[\d.]+%\s+\[.\]\s+(\S+)", line)
        if m:
            children.setdefault(m.group(2), float(m.group(1)))
    kernel = 0.0
    for line in open(f"{out}/{who}.dso"):
        m = re.match(r"\s*([\d.]+)%\s+(\S+)", line)
        if m and "kernel" in m.group(2):
            kernel += float(m.group(1))
    r = json.load(open(f"{out}/{who}.json"))
    return children, kernel, r
data = {w: load(w) for w in ("ours", "uws")}
print(f"| share of the server's samples ({out}) | ours | uWS |\n|---|---:|---:|")
for name, syms in rows:
    cells = []
    for w in ("ours", "uws"):
        children, kernel, _ = data[w]
        v = kernel if syms is None else max(children.get(s, 0.0) for s in syms)
        cells.append(f"{v:.1f} %")
    print(f"| {name} | {cells[0]} | {cells[1]} |")
print("| user space (100 % - kernel) | " + " | ".join(f"{100 - data[w][1]:.1f} %" for w in ("ours", "uws")) + " |")
for w in ("ours", "uws"):
    r = data[w][2]
    print(f"{w}: deliveries {r['deliveries']['unique']} lost {r['deliveries']['losses']} dup {r['deliveries']['duplicates']} p99 {r['latency']['p99_us']/1000:.1f} ms")
PY
