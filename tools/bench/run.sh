#!/usr/bin/env bash
# Side-by-side benchmark of channelstream-rs and the Python reference (issue 4).
#
#   tools/bench/run.sh [SECTION ...]     sections: idle broadcast channels latency curve wrk capacity profile
#                                        (default: all, in that order), and uws (issue 14; not in
#                                        the default list: ours against uWebSockets.js, see below)
#
# Everything runs on loopback. Each loadgen result (one JSON line) is saved under
# $OUT (default target/bench/<UTC time>/); tools/bench/summarize.py prints the table with
# ratios at the end. Needs: cargo, tools/reference/setup.sh done, wrk, valgrind, perf
# (profile section only), ulimit -n >= 20000 (capacity and channels sections).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-$ROOT/target/bench/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
SECTIONS=${*:-idle broadcast channels latency curve wrk capacity profile}
OURS_PORT=${OURS_PORT:-18800}
REF_PORT=18731
UWS_PORT=${UWS_PORT:-18900}
UWS=${UWS:-$ROOT/../shared/tools/peers/uws.sh}
[ -x "$UWS" ] || UWS=/work/shared/tools/peers/uws.sh
PY=$ROOT/tools/reference/.venv/bin/python
LG=$ROOT/target/release/examples/loadgen
BIN=$ROOT/target/release/channelstream
PIDS=()

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_port() { # port
    for _ in $(seq 1 100); do
        if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "server on port $1 did not start" >&2; exit 1
}

start_ours() {
    "$BIN" --host 127.0.0.1 --port $OURS_PORT --secret secret --allow-posting-from 0.0.0.0 \
        --max-connections 20000 --log-level WARNING "$@" >"$OUT/ours.log" 2>&1 &
    OURS_PID=$!; PIDS+=("$OURS_PID"); wait_port $OURS_PORT
}
start_ref() {
    "$PY" tools/reference/run_reference.py --host 127.0.0.1 --port $REF_PORT --secret secret \
        --allow-posting-from 0.0.0.0 --log-level WARNING "$@" >"$OUT/ref.log" 2>&1 &
    REF_PID=$!; PIDS+=("$REF_PID"); wait_port $REF_PORT
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; sleep 0.5; }

# run NAME PORT PID loadgen-args...: saves the last stdout line (the JSON) as NAME.json
run() {
    local name=$1 port=$2 pid=$3; shift 3
    log "$name: loadgen $*"
    echo "loadgen $* --url http://127.0.0.1:$port --server-pid <pid>" >"$OUT/$name.cmd"
    "$LG" "$@" --url "http://127.0.0.1:$port" --server-pid "$pid" 2>"$OUT/$name.err" | tail -n1 >"$OUT/$name.json"
}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

log "building (release)"
cargo build --release --quiet --bin channelstream --example loadgen
{
    echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo -dirty)"
    echo "nproc=$(nproc)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "kernel=$(uname -r)"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

for section in $SECTIONS; do
case $section in
idle)
    start_ours; start_ref; sleep 2
    { echo "ours_idle_rss_kib=$(rss_kib "$OURS_PID")"; echo "ref_idle_rss_kib=$(rss_kib "$REF_PID")"
      echo "ours_binary_bytes=$(stat -c %s "$BIN")"; } >"$OUT/idle.txt"
    stop "$OURS_PID"; stop "$REF_PID" ;;
broadcast)
    # 1 channel x 1000 subscribers, 100-byte payloads, as fast as each server goes, at two
    # publishing shapes: 10 messages per POST /message and 1 per POST.
    # Ours: 2 publishers keep a request in flight each (rate max); 2 receiver threads, since
    # one receiver thread absorbs less than our server sends at this shape.
    # Reference: rate max would queue minutes of backlog (it accepts much faster than it
    # delivers), so it is offered 40 msgs/s = 40 000 deliveries/s, above its capacity;
    # its figure is deliveries/s including the drain of that backlog.
    for b in 10 1; do
        start_ours
        run broadcast_ours_b$b $OURS_PORT "$OURS_PID" fanout --subscribers 1000 --channels 1 --payload 100 \
            --rate max --publishers 2 --batch $b --duration 10s --drain 30s --threads 2
        stop "$OURS_PID"
        start_ref --wake-connections-after 5
        run broadcast_ref_b$b $REF_PORT "$REF_PID" fanout --subscribers 1000 --channels 1 --payload 100 \
            --rate 40 --publishers 1 --batch $b --duration 10s --drain 60s
        stop "$REF_PID"
    done ;;
channels)
    # 10 000 x 5 would need 50 000 sockets (fd limit 20 000): both servers get
    # 3 800 channels x 5 subscribers = 19 000 websockets; messages round-robin over channels.
    # Ours: 8 publishers keep a 50-message request in flight each. Reference: offered
    # 2 500 msgs/s (12 500 deliveries/s), above what it sustains; figure includes the drain.
    # The server's writev calls are counted (perf tracepoint) to give system CPU per write.
    start_ours
    perf stat -e syscalls:sys_enter_writev -p "$OURS_PID" -o "$OUT/channels_ours_writev.txt" &
    perfstat=$!
    run channels_ours $OURS_PORT "$OURS_PID" fanout --subscribers 19000 --channels 3800 --payload 100 \
        --rate max --publishers 8 --batch 50 --duration 10s --drain 30s --sources 127.0.0.1,127.0.0.2
    kill -INT $perfstat 2>/dev/null || true; wait $perfstat 2>/dev/null || true
    stop "$OURS_PID"
    start_ref --wake-connections-after 5
    run channels_ref $REF_PORT "$REF_PID" fanout --subscribers 19000 --channels 3800 --payload 100 \
        --rate 2500 --publishers 2 --batch 50 --duration 10s --drain 60s --setup-timeout 120s \
        --sources 127.0.0.1,127.0.0.2
    stop "$REF_PID" ;;
latency)
    # Half of the maximum broadcast rate measured above (messages/s), 1 x 1000, at each
    # publishing shape. Two receiver threads, so the client's own read loop adds less.
    for b in 10 1; do
        ours_max=$(jq '.deliveries.per_s / 1000' "$OUT/broadcast_ours_b$b.json")
        ref_max=$(jq '.deliveries.per_s_including_drain / 1000' "$OUT/broadcast_ref_b$b.json")
        ours_half=$(python3 -c "print(max(1, int($ours_max / 2)))")
        ref_half=$(python3 -c "print(max(1, int($ref_max / 2)))")
        start_ours
        run latency_ours_b$b $OURS_PORT "$OURS_PID" fanout --subscribers 1000 --channels 1 --payload 100 \
            --rate "$ours_half" --publishers 2 --batch $b --duration 10s --drain 10s --threads 2
        stop "$OURS_PID"
        start_ref --wake-connections-after 5
        run latency_ref_b$b $REF_PORT "$REF_PID" fanout --subscribers 1000 --channels 1 --payload 100 \
            --rate "$ref_half" --publishers 1 --batch $b --duration 10s --drain 30s --threads 2
        stop "$REF_PID"
    done ;;
curve)
    # Ours only: latency at fixed rates (msgs/s x 1000 subscribers), both publishing shapes,
    # to show where p99 stays under 5 ms on this 2-core machine.
    for spec in "1 100" "1 200" "1 400" "1 800" "10 400" "10 1000" "10 2000" "10 4000"; do
        set -- $spec; b=$1; r=$2
        start_ours
        run curve_b${b}_r$r $OURS_PORT "$OURS_PID" fanout --subscribers 1000 --channels 1 --payload 100 \
            --rate "$r" --publishers 2 --batch "$b" --duration 8s --drain 10s --threads 2
        stop "$OURS_PID"
    done ;;
wrk)
    # POST /message, keep-alive, 100-byte message to a channel without subscribers.
    for who in ours ref; do
        if [ $who = ours ]; then start_ours; port=$OURS_PORT; pid=$OURS_PID
        else start_ref; port=$REF_PORT; pid=$REF_PID; fi
        sig=$("$PY" -c "import itsdangerous; print(itsdangerous.TimestampSigner('secret').sign('channelstream').decode())")
        sed "s/@SIGNATURE@/$sig/" tools/bench/post_message.lua >"$OUT/post_message.lua"
        echo "wrk -t1 -c32 -d10s --latency -s post_message.lua http://127.0.0.1:$port/message" >"$OUT/wrk_$who.cmd"
        cpu0=$(awk '{print $14+$15}' "/proc/$pid/stat")
        log "wrk $who"
        wrk -t1 -c32 -d10s --latency -s "$OUT/post_message.lua" "http://127.0.0.1:$port/message" >"$OUT/wrk_$who.txt"
        cpu1=$(awk '{print $14+$15}' "/proc/$pid/stat")
        echo "server_cpu_ticks=$((cpu1 - cpu0))" >>"$OUT/wrk_$who.txt"
        stop "$pid"
    done ;;
capacity)
    # 19 000 idle websockets held 2 minutes (ours); the reference holds 2 000 for 30 s.
    start_ours
    # Kernel side: sockstat's TCP "mem" counts buffer pages only (about 0 for idle
    # sockets); the socket structures themselves are slab memory, sampled from meminfo.
    kmem() { grep -E '^(sockets|TCP):' /proc/net/sockstat; grep -E '^(Slab|SUnreclaim):' /proc/meminfo; }
    kmem >"$OUT/sockstat_before.txt"
    ( sleep 60; kmem >"$OUT/sockstat_held.txt" ) &
    run capacity_ours $OURS_PORT "$OURS_PID" connect --count 19000 --sources 127.0.0.1,127.0.0.2 --hold 120s --threads 2
    stop "$OURS_PID"
    start_ref --wake-connections-after 5
    run capacity_ref $REF_PORT "$REF_PID" connect --count 2000 --sources 127.0.0.1,127.0.0.2 --hold 30s --threads 2
    stop "$REF_PID" ;;
uws)
    # Issue 14: ours against the uWebSockets.js anchor (uws.sh), the five shapes of the
    # issue, one server at a time, server pinned to core 0 (ours with one worker), loadgen
    # pinned to core 1. RUNS (default 3) alternating runs per shape and server: ours, uWS,
    # ours, uWS... Each loadgen run stops by itself (10 s publish, drain at most 10 s).
    # uws_summary.py prints per-CPU-second ratios (medians), p99 and loss/duplicates.
    RUNS=${RUNS:-3}
    UWS_ROWS=${UWS_ROWS:-b1 b4 many r100 r400}
    . "$ROOT/tools/bench/shapes.sh"
    for r in $(seq 1 "$RUNS"); do
        for row in $UWS_ROWS; do
            args=$(shape_args "$row") || { echo "unknown uws row $row" >&2; exit 2; }
            for who in ours uws; do
                if [ $who = ours ]; then
                    taskset -c 0 "$BIN" --host 127.0.0.1 --port $OURS_PORT --secret secret \
                        --allow-posting-from 0.0.0.0 --max-connections 20000 --workers 1 \
                        --log-level WARNING >"$OUT/ours.log" 2>&1 &
                    port=$OURS_PORT
                else
                    taskset -c 0 "$UWS" $UWS_PORT secret >"$OUT/uws.log" 2>&1 &
                    port=$UWS_PORT
                fi
                pid=$!; PIDS+=("$pid"); wait_port $port
                log "uws_${row}_${who}_$r: loadgen fanout $args"
                echo "taskset -c 1 loadgen fanout $args --url http://127.0.0.1:$port --server-pid <pid>" \
                    >"$OUT/uws_${row}_${who}_$r.cmd"
                # shellcheck disable=SC2086
                timeout 120 taskset -c 1 "$LG" fanout $args --url "http://127.0.0.1:$port" --server-pid "$pid" \
                    2>"$OUT/uws_${row}_${who}_$r.err" | tail -n1 >"$OUT/uws_${row}_${who}_$r.json" || true
                stop "$pid"
            done
        done
    done
    echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
    python3 tools/bench/uws_summary.py "$OUT" ;;
profile)
    # Instructions per delivery: callgrind on our server, two runs differing only in
    # publishing time; (Ir_long - Ir_short) / (deliveries_long - deliveries_short).
    cargo build --quiet --profile bench-profile --bin channelstream
    PBIN=$ROOT/target/bench-profile/channelstream
    for d in 2 6; do
        valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$d.out" "$PBIN" --host 127.0.0.1 \
            --port $OURS_PORT --allow-posting-from 0.0.0.0 --log-level WARNING --workers 2 \
            >"$OUT/callgrind.$d.log" 2>&1 &
        vg=$!; PIDS+=("$vg"); wait_port $OURS_PORT
        run profile_ours_$d $OURS_PORT "$vg" fanout --subscribers 1000 --channels 1 --payload 100 \
            --rate 40 --publishers 1 --batch 10 --duration ${d}s --drain 20s
        kill -INT "$vg"; wait "$vg" 2>/dev/null || true; sleep 0.5
    done
    callgrind_annotate --inclusive=no "$OUT/callgrind.6.out" >"$OUT/callgrind_self.txt" 2>/dev/null || true
    callgrind_annotate --inclusive=yes "$OUT/callgrind.6.out" >"$OUT/callgrind_incl.txt" 2>/dev/null || true
    # Where the time goes at full broadcast rate (sampled, release build with symbols).
    "$PBIN" --host 127.0.0.1 --port $OURS_PORT --allow-posting-from 0.0.0.0 --log-level WARNING >/dev/null 2>&1 &
    PROF_PID=$!; PIDS+=("$PROF_PID"); wait_port $OURS_PORT
    perf record -F 999 -g -o "$OUT/perf.data" -p "$PROF_PID" -- sleep 14 >/dev/null 2>&1 &
    perfpid=$!
    run profile_perf $OURS_PORT "$PROF_PID" fanout --subscribers 1000 --channels 1 --payload 100 \
        --rate max --publishers 2 --batch 10 --duration 8s --drain 10s
    wait $perfpid || true
    perf report -i "$OUT/perf.data" --no-children --sort comm,dso --stdio -g none >"$OUT/perf_threads.txt" 2>/dev/null || true
    perf report -i "$OUT/perf.data" --no-children --sort comm,symbol --stdio -g none >"$OUT/perf_symbols.txt" 2>/dev/null || true
    stop "$PROF_PID" ;;
*) echo "unknown section $section" >&2; exit 2 ;;
esac
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
if [ "$SECTIONS" != uws ]; then python3 tools/bench/summarize.py "$OUT"; fi
