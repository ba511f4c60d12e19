#!/usr/bin/env bash
# perf record of our pinned server in one issue-14 shape (run.sh uws), from the end of
# setup for SECS seconds; prints the top symbols and glibc's allocator (malloc, free and
# their slow paths) as a share of the server's samples, per thread.
#
#   tools/bench/uws_profile.sh SHAPE [SECS]    SHAPE: b1 b4 many (as uws_counts.sh)
#
# Env: BIN (default target/bench-profile/channelstream: symbols; build it with
# `cargo build --profile bench-profile --bin channelstream`), OUT (default
# target/bench/prof-<UTC time>), FREQ (2000 Hz), CG (call graph: fp; dwarf,8192 for
# callers through libc, then `perf script -i OUT/SHAPE.data`).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SHAPE=${1:?usage: uws_profile.sh SHAPE [SECS]}
SECS=${2:-8}
BIN=${BIN:-$ROOT/target/bench-profile/channelstream}
OUT=${OUT:-$ROOT/target/bench/prof-$(date -u +%Y%m%dT%H%M%SZ)}
LG=$ROOT/target/release/examples/loadgen
mkdir -p "$OUT"
. "$ROOT/tools/bench/shapes.sh"
args=$(shape_args "$SHAPE") || { echo "unknown shape $SHAPE" >&2; exit 2; }

taskset -c 0 "$BIN" --host 127.0.0.1 --port 28810 --secret secret --allow-posting-from 0.0.0.0 \
    --max-connections 20000 --workers 1 --log-level WARNING >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null' EXIT
wait_port 28810
# shellcheck disable=SC2086
taskset -c 1 "$LG" fanout $args --url http://127.0.0.1:28810 --server-pid "$PID" 2>"$OUT/$SHAPE.err" \
    | tail -n1 >"$OUT/$SHAPE.json" &
lg=$!
for _ in $(seq 1 600); do grep -q "open, " "$OUT/$SHAPE.err" 2>/dev/null && break; sleep 0.1; done
perf record -F ${FREQ:-2000} --call-graph ${CG:-fp} -o "$OUT/$SHAPE.data" -p "$PID" -- sleep "$SECS" >/dev/null 2>&1
wait $lg || true
python3 - "$OUT/$SHAPE.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"deliveries {r['deliveries']['unique']} lost {r['deliveries']['losses']} dup {r['deliveries']['duplicates']} p99 {r['latency']['p99_us']/1000:.1f} ms")
PY
perf report -i "$OUT/$SHAPE.data" --no-children -g none --sort comm,dso,symbol --stdio 2>/dev/null \
    | grep '%' >"$OUT/$SHAPE.syms"
head -25 "$OUT/$SHAPE.syms"
# glibc's allocator as a share of the server's samples, per thread
python3 - "$OUT/$SHAPE.syms" <<'PY'
import re, sys
share, threads = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(\S+)\s+\[.\]\s+(\S+)", line)
    if not m:
        continue
    pct, comm, dso, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4)
    threads[comm] = threads.get(comm, 0) + pct
    if "libc" in dso and re.match(r"(malloc|_int_malloc|_int_free|cfree|free|unlink_chunk|malloc_consolidate|realloc|_int_realloc|__libc_|tcache|sysmalloc)", sym):
        share[comm] = share.get(comm, 0) + pct
print("allocator % of server samples:", {k: round(v, 2) for k, v in share.items()}, "total", round(sum(share.values()), 2))
print("threads % of samples:", {k: round(v, 1) for k, v in threads.items()})
PY
