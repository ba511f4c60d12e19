#!/usr/bin/env bash
# Noise-robust counts for one shape, ours and uWS alternating (issue 14): per delivery,
# the server's system calls (writev, write, read, futex, epoll_wait), context switches,
# instructions and cycles (perf stat on the pinned server), and server CPU-seconds.
#
#   tools/bench/uws_counts.sh SHAPE [RUNS]     SHAPE: b1 b4 many r100 r400 (as run.sh uws), or hb:
#   19 000 websockets at a low fixed rate (1 000 deliveries/s) across two heartbeats
#
# Env: WHO ("ours uws"), OUT (default target/bench/counts-<UTC time>), BIN (our binary).
# Prints one line per run; perf output and loadgen JSON stay in OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SHAPE=${1:?usage: uws_counts.sh SHAPE [RUNS]}
RUNS=${2:-2}
WHO=${WHO:-ours uws}
OUT=${OUT:-$ROOT/target/bench/counts-$(date -u +%Y%m%dT%H%M%SZ)}
BIN=${BIN:-$ROOT/target/release/channelstream}
LG=$ROOT/target/release/examples/loadgen
UWS=/work/shared/tools/peers/uws.sh
mkdir -p "$OUT"
. "$ROOT/tools/bench/shapes.sh"
args=$(shape_args "$SHAPE") || { echo "unknown shape $SHAPE" >&2; exit 2; }
EVENTS=task-clock,context-switches,instructions,cycles,syscalls:sys_enter_writev,syscalls:sys_enter_write,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null' EXIT
for r in $(seq 1 "$RUNS"); do
  for who in $WHO; do
    port=28800; [ "$who" = ours ] || port=28900
    start_pinned "$who" $port
    name=${SHAPE}_${who}_$r
    # shellcheck disable=SC2086
    taskset -c 1 "$LG" fanout $args --url "http://127.0.0.1:$port" --server-pid "$PID" 2>"$OUT/$name.err" \
      | tail -n1 >"$OUT/$name.json" &
    lg=$!
    # count from the end of setup (the loadgen logs "setup: N open, ...") to its exit
    for _ in $(seq 1 600); do grep -q "open, " "$OUT/$name.err" 2>/dev/null && break; sleep 0.1; done
    perf stat -e "$EVENTS" -p "$PID" -x, -o "$OUT/$name.perf" &
    ps=$!
    # the client's wakeups: each one a receiver thread woken by the server's sends
    lgpid=$(pgrep -P $$ -x loadgen || true)
    if [ -n "$lgpid" ]; then perf stat -e context-switches -p "$lgpid" -x, -o "$OUT/$name.lgperf" & lps=$!; fi
    wait $lg || true
    kill -INT $ps 2>/dev/null || true; wait $ps 2>/dev/null || true
    if [ -n "$lgpid" ]; then kill -INT $lps 2>/dev/null || true; wait $lps 2>/dev/null || true; fi
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; sleep 0.5
    python3 - "$OUT/$name.json" "$OUT/$name.perf" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); d = r["deliveries"]["unique"]
c = {}
for line in open(sys.argv[2]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        c[f[2].split(":")[-1]] = float(f[0])
try:
    lcs = [float(l.split(",")[0]) for l in open(sys.argv[2].replace(".perf", ".lgperf")) if "context-switches" in l][0]
except (OSError, IndexError, ValueError):
    lcs = 0
cpu = r["server"]["after"]["cpu_s"] - r["server_phases"]["after_setup"]["cpu_s"]
per = lambda k: c.get(k, 0) / d if d else 0
print(f"{sys.argv[3]:14} deliv {d:>9} lost {r['deliveries']['losses']} dup {r['deliveries']['duplicates']} "
      f"p99 {r['latency']['p99_us']/1000:6.1f}ms  deliv/cpu-s {d/cpu if cpu else 0:>9,.0f}  "
      f"sys/user us/deliv {(r['server']['after']['sys_s']-r['server_phases']['after_setup']['sys_s'])*1e6/d:.2f}/"
      f"{(r['server']['after']['user_s']-r['server_phases']['after_setup']['user_s'])*1e6/d:.2f}  "
      f"task-ms {c.get('task-clock',0):8.0f} us/deliv {c.get('task-clock',0)*1000/d if d else 0:.3f} "
      f"insn/deliv {per('instructions'):6.0f} cyc/deliv {per('cycles'):6.0f} cs/deliv {per('context-switches'):.4f} "
      f"writev {per('sys_enter_writev'):.3f} write {per('sys_enter_write'):.3f} sendto {per('sys_enter_sendto'):.3f} "
      f"sendmsg {per('sys_enter_sendmsg'):.3f} read {per('sys_enter_read'):.4f} recvfrom {per('sys_enter_recvfrom'):.4f} futex {per('sys_enter_futex'):.4f} "
      f"epoll_wait {per('sys_enter_epoll_wait'):.4f} epoll_ctl {per('sys_enter_epoll_ctl'):.4f} "
      f"client-cs/deliv {lcs / d if d else 0:.4f}")
PY
  done
done
