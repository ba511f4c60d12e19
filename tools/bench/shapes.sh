# Loadgen `fanout` flags of the issue-14 shapes, one place for every bench script
# (run.sh uws, uws_counts.sh, uws_profile.sh, malloc_counts.sh). Source it, then:
#
#   shape_args SHAPE [RATE] [SECS]
#
# prints the flags of SHAPE: b1, b4 (broadcast 1x1000, 1 or 4 in flight), many (19 000
# websockets in 3 800 channels, 8 publishers x 50), r100, r400 (broadcast at a fixed
# 100 k or 400 k deliveries/s), hb (19 000 websockets at 1 000 deliveries/s across two
# heartbeats). RATE (default max) is the rate of b1, b4 and many; SECS (default 10) their
# seconds of publishing. An unknown SHAPE prints nothing and returns 2.
shape_args() {
    local rate=${2:-max} secs=${3:-10}
    local bcast="--subscribers 1000 --channels 1 --payload 100 --duration ${secs}s --drain 10s"
    local wide="--subscribers 19000 --channels 3800 --payload 100 --sources 127.0.0.1,127.0.0.2"
    case $1 in
    b1) echo "$bcast --rate $rate --publishers 1 --batch 1" ;;
    b4) echo "$bcast --rate $rate --publishers 4 --batch 1" ;;
    many) echo "$wide --rate $rate --publishers 8 --batch 50 --duration ${secs}s --drain 10s" ;;
    r100) echo "$bcast --rate 100 --publishers 2 --batch 1" ;;
    r400) echo "$bcast --rate 400 --publishers 2 --batch 1" ;;
    hb) echo "$wide --rate 200 --publishers 2 --batch 1 --duration 12s --drain 5s" ;;
    *) return 2 ;;
    esac
}

# Waits until 127.0.0.1:PORT accepts a connection (10 s at most, then exits the script).
wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.1
    done
    exit 1
}

# start_pinned WHO PORT: starts our binary ($BIN, one worker) or the uWebSockets.js peer
# ($UWS) on core 0 at PORT, as every issue-14 script runs them; sets PID and waits for the
# port.
start_pinned() {
    if [ "$1" = ours ]; then
        taskset -c 0 "$BIN" --host 127.0.0.1 --port "$2" --secret secret --allow-posting-from 0.0.0.0 \
            --max-connections 20000 --workers 1 --log-level WARNING >/dev/null 2>&1 &
    else
        taskset -c 0 "$UWS" "$2" secret >/dev/null 2>&1 &
    fi
    PID=$!
    wait_port "$2"
}
