#!/usr/bin/env python3
"""Prints the issue 14 table (ours against uWebSockets.js) from a `run.sh uws` directory.

    python3 tools/bench/uws_summary.py target/bench/<run>

Per run: deliveries per server CPU-second = unique deliveries / server CPU from the end of
setup to the end of the drain (both servers deliver everything, so the drain's idle tail
costs neither anything). Ratios are of the medians over the alternating runs, and, per
run pair, of the two runs made one after the other (ours_i / uws_i).
"""
import json
import statistics
import sys
from pathlib import Path

ROWS = [
    ("b1", "broadcast 1x1000, 1 msg in flight"),
    ("b4", "broadcast 1x1000, 4 in flight"),
    ("many", "many channels 3800x5 (19 000 ws)"),
    ("r100", "fixed 100 k deliveries/s"),
    ("r400", "fixed 400 k deliveries/s"),
]


def load(path):
    try:
        r = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return None if "error" in r else r


def per_cpu(r):
    cpu = r["server"]["after"]["cpu_s"] - r["server_phases"]["after_setup"]["cpu_s"]
    return r["deliveries"]["unique"] / cpu if cpu > 0 else None


def runs(out, row, who):
    got = {}
    for p in sorted(out.glob(f"uws_{row}_{who}_*.json")):
        r = load(p)
        if r:
            got[int(p.stem.rsplit("_", 1)[1])] = r
    return got


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    out = Path(sys.argv[1])
    m = {}
    mt = out / "machine.txt"
    if mt.exists():
        m = dict(l.split("=", 1) for l in mt.read_text().splitlines() if "=" in l)
    print(f"# {m.get('date_utc')} commit {m.get('commit')}; loadavg {m.get('loadavg_start')} -> {m.get('loadavg_end')}")
    print()
    print("| shape | deliveries/server-CPU-s ours / uWS (median) | ratio of medians | per-pair ratios "
          "| deliveries/s ours / uWS | p99 ms ours / uWS (median) | lost / dup ours; uWS |")
    print("| --- | ---: | ---: | --- | ---: | ---: | --- |")
    for row, label in ROWS:
        o, u = runs(out, row, "ours"), runs(out, row, "uws")
        if not o and not u:
            continue
        po, pu = med(per_cpu(r) for r in o.values()), med(per_cpu(r) for r in u.values())
        pairs = [per_cpu(o[i]) / per_cpu(u[i]) for i in sorted(o) if i in u and per_cpu(o[i]) and per_cpu(u[i])]
        ratio = po / pu if po and pu else None
        rate_o = med(r["deliveries"]["per_s"] for r in o.values())
        rate_u = med(r["deliveries"]["per_s"] for r in u.values())
        p99o = med(r["latency"]["p99_us"] / 1000 for r in o.values())
        p99u = med(r["latency"]["p99_us"] / 1000 for r in u.values())

        def loss(rs):
            return (f"{sum(r['deliveries']['losses'] for r in rs.values())} / "
                    f"{sum(r['deliveries']['duplicates'] for r in rs.values())}")

        f = lambda x, fmt: "n/a" if x is None else format(x, fmt)
        print(f"| {label} | {f(po, ',.0f')} / {f(pu, ',.0f')} | {f(ratio, '.2f')}x | "
              f"{', '.join(f'{x:.2f}' for x in pairs)} | {f(rate_o, ',.0f')} / {f(rate_u, ',.0f')} | "
              f"{f(p99o, '.1f')} / {f(p99u, '.1f')} | {loss(o)}; {loss(u)} |")
    print()
    print(f"runs: {len(list(out.glob('uws_*_ours_*.json')))} ours, {len(list(out.glob('uws_*_uws_*.json')))} uWS; "
          "commands in *.cmd beside the JSON results")


if __name__ == "__main__":
    main()
