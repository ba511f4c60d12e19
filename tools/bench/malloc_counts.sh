#!/usr/bin/env bash
# Per message published, per server thread: calls to glibc's malloc and free, and how many of them
# fell through the per-thread cache (tcache) into the arena (_int_malloc, _int_free,
# malloc_consolidate), counted with uprobes on our pinned server in one issue-14 shape.
# Counts, not times: they do not move with the load of a shared machine. Each probe hit
# is a trap, so the shapes run at a fixed rate the probed server keeps up with (RATE
# messages/s: many 1000, i.e. 5 000 deliveries/s; b1 b4 20, i.e. 20 000/s).
#
#   tools/bench/malloc_counts.sh SHAPE [BIN ...]   SHAPE: b1 b4 many; each BIN in turn
#
# Needs perf with uprobes (root). Env: OUT (default target/bench/malloc-<UTC time>), SECS (5).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SHAPE=${1:?usage: malloc_counts.sh SHAPE [BIN ...]}
shift
BINS=${*:-$ROOT/target/release/channelstream}
OUT=${OUT:-$ROOT/target/bench/malloc-$(date -u +%Y%m%dT%H%M%SZ)}
SECS=${SECS:-5}
LG=$ROOT/target/release/examples/loadgen
LIBC=$(ldd "$(echo "$BINS" | cut -d' ' -f1)" | awk '/libc.so/ {print $3}')
mkdir -p "$OUT"
. "$ROOT/tools/bench/shapes.sh"
# Low fixed rates, so that every binary gets the same messages: 20 broadcasts or 1 000
# many-channel messages a second unless RATE says otherwise.
if [ "$SHAPE" = many ]; then rate=${RATE:-1000}; else rate=${RATE:-20}; fi
args=$(shape_args "$SHAPE" "$rate" "$SECS") || { echo "unknown shape $SHAPE" >&2; exit 2; }
FUNCS="malloc free realloc _int_malloc _int_free malloc_consolidate"
for f in $FUNCS; do perf probe -q -x "$LIBC" -a "$f" 2>/dev/null || true; done
EVENTS=$(for f in $FUNCS; do printf 'probe_libc:%s,' "$f"; done)

PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; perf probe -q -d "probe_libc:*" 2>/dev/null || true' EXIT
i=0
for bin in $BINS; do
    i=$((i + 1))
    name=${SHAPE}_${i}_$(basename "$bin")
    taskset -c 0 "$bin" --host 127.0.0.1 --port 28820 --secret secret --allow-posting-from 0.0.0.0 \
        --max-connections 20000 --workers 1 --log-level WARNING >/dev/null 2>&1 &
    PID=$!; wait_port 28820
    # shellcheck disable=SC2086
    taskset -c 1 "$LG" fanout $args --url http://127.0.0.1:28820 --server-pid "$PID" 2>"$OUT/$name.err" \
        | tail -n1 >"$OUT/$name.json" &
    lg=$!
    for _ in $(seq 1 600); do grep -q "open, " "$OUT/$name.err" 2>/dev/null && break; sleep 0.1; done
    perf stat -e "${EVENTS%,}" --per-thread -p "$PID" -x, -o "$OUT/$name.perf" &
    ps=$!
    wait $lg || true
    kill -INT $ps 2>/dev/null || true; wait $ps 2>/dev/null || true
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; sleep 0.5
    python3 - "$OUT/$name.json" "$OUT/$name.perf" "$(basename "$bin")" <<'PY'
import json, sys, collections
r = json.load(open(sys.argv[1])); d = r["deliveries"]["unique"]
c = collections.defaultdict(dict)
for line in open(sys.argv[2]):
    f = line.strip().split(",")
    if len(f) > 3 and f[1].replace(".", "").isdigit():
        thread = f[0].rsplit("-", 1)[0]
        c[thread][f[3].split(":")[-1]] = float(f[1])
m = r["publish"]["messages_ok"]
print(f"{sys.argv[3]:12} messages {m} deliveries {d} lost {r['deliveries']['losses']} dup {r['deliveries']['duplicates']}")
for t, ev in sorted(c.items()):
    print(f"  {t:18} per message: " + "  ".join(f"{k} {v / m:.2f}" for k, v in ev.items()))
PY
done
