#!/usr/bin/env python3
"""Prints the figures of one tools/bench/run.sh result directory as a Markdown table.

Usage: tools/bench/summarize.py DIR. Missing sections are skipped.
"""
import json
import os
import re
import sys

D = sys.argv[1]


def load(name):
    p = os.path.join(D, name + ".json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        txt = f.read().strip()
    return json.loads(txt) if txt else None


def kv(name):
    p = os.path.join(D, name)
    out = {}
    if os.path.exists(p):
        for line in open(p):
            if "=" in line:
                k, v = line.strip().split("=", 1)
                out[k] = v
    return out


rows = []  # (figure, ours, ref, ratio, target, met)


def fmt(x, nd=0):
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    if nd == 0:
        return f"{x:,.0f}"
    return f"{x:,.{nd}f}"


def row(fig, ours, ref, target="", met="", nd=0, ratio=None):
    if ratio is None and isinstance(ours, (int, float)) and isinstance(ref, (int, float)) and ref:
        ratio = ours / ref
    rows.append((fig, fmt(ours, nd), fmt(ref, nd), "n/a" if ratio is None else f"{ratio:,.1f}x", target, met))


def yes(b):
    return "yes" if b else "**no**"


def per_server_cpu_s(r, key):
    """Deliveries per CPU-second the server spent in the publish window (for a reference
    run with a backlog: from the end of setup to the end of the drain)."""
    if key == "per_s_including_drain":
        cpu = r["server"]["after"]["cpu_s"] - r["server_phases"]["after_setup"]["cpu_s"]
    else:
        cpu = r["server_phases"]["publish_cpu_s"]
    n = r["deliveries"]["unique"] if key == "per_s_including_drain" else r["deliveries"]["during_publish"]
    return n / cpu if cpu else None


def cpu_note(r):
    if not r:
        return ""
    return (f"server {r['server_phases']['publish_cpu_s']:.1f} CPU-s, receivers {r['receivers']['cpu_s']:.1f} CPU-s, "
            f"publisher {r['publish']['cpu_s']:.2f} CPU-s in {r['publish']['elapsed_s']:.1f} s")


notes = []
m = kv("machine.txt")
idle = kv("idle.txt")
if idle:
    o = int(idle["ours_idle_rss_kib"]) / 1024
    r = int(idle["ref_idle_rss_kib"]) / 1024
    row("Idle RSS (MiB)", o, r, "< 5 MB", yes(o < 5), nd=1, ratio=r / o)
    b = int(idle["ours_binary_bytes"]) / 1e6
    row("Stripped release binary (MB)", b, None, "< 3 MB", yes(b < 3), nd=2)

for b in (10, 1):
    bo, br = load(f"broadcast_ours_b{b}"), load(f"broadcast_ref_b{b}")
    if bo and br:
        o = bo["deliveries"]["per_s"]
        r = br["deliveries"]["per_s_including_drain"]
        lost = bo["deliveries"]["losses"] + br["deliveries"]["losses"]
        row(f"Broadcast 1x1000, {b} msg/POST: deliveries/s", o, r, ">= 50x, 0 lost", yes(o / r >= 50 and lost == 0))
        row("  deliveries per server CPU-second", per_server_cpu_s(bo, "per_s"), per_server_cpu_s(br, "per_s_including_drain"))
        row("  losses / duplicates", f"{bo['deliveries']['losses']} / {bo['deliveries']['duplicates']}",
            f"{br['deliveries']['losses']} / {br['deliveries']['duplicates']}", ratio=None)
        notes.append(f"broadcast {b} msg/POST ours: " + cpu_note(bo))
        notes.append(f"broadcast {b} msg/POST ref: " + cpu_note(br))

co, cr = load("channels_ours"), load("channels_ref")
if co and cr:
    o = co["deliveries"]["per_s"]
    r = cr["deliveries"]["per_s_including_drain"]
    p = co["params"]
    row(f"Many channels {p.get('channels')}x5, deliveries/s", o, r, ">= 50x", yes(o / r >= 50))
    row("  messages/s accepted", co["publish"]["accepted_msgs_per_s"], cr["publish"]["accepted_msgs_per_s"])
    row("  deliveries per server CPU-second", per_server_cpu_s(co, "per_s"), per_server_cpu_s(cr, "per_s_including_drain"))
    row("  losses (ours; ref)", co["deliveries"]["losses"], cr["deliveries"]["losses"], ratio=None)
    row("  server peak RSS (MiB)", co["server"]["after"]["hwm_kib"] / 1024, cr["server"]["after"]["hwm_kib"] / 1024,
        nd=0, ratio=cr["server"]["after"]["hwm_kib"] / co["server"]["after"]["hwm_kib"])
    wv = os.path.join(D, "channels_ours_writev.txt")
    if os.path.exists(wv):
        mm = re.search(r"([\d,]+)\s+syscalls:sys_enter_writev", open(wv).read())
        if mm:
            calls = int(mm.group(1).replace(",", ""))
            sys_s = co["server"]["after"]["sys_s"] - co["server_phases"]["after_setup"]["sys_s"]
            row("  server writev calls per delivery", calls / co["deliveries"]["unique"], None, nd=2, ratio=None)
            row("  server system CPU per writev (us)", sys_s / calls * 1e6 if calls else None, None, nd=1, ratio=None)
    notes.append("channels ours: " + cpu_note(co))
    notes.append("channels ref: " + cpu_note(cr))

for b in (10, 1):
    lo, lr = load(f"latency_ours_b{b}"), load(f"latency_ref_b{b}")
    if lo and lr:
        for k, lbl in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"), ("max_us", "max")):
            o = lo["latency"][k] / 1000
            r = lr["latency"][k] / 1000
            tgt = "p99 < 5 ms" if k == "p99_us" else ""
            met = yes(o < 5) if k == "p99_us" else ""
            row(f"Latency, half max rate, {b} msg/POST, {lbl} (ms)", o, r, tgt, met, nd=2, ratio=r / o if o else None)
        row(f"  rate (msgs/s x 1000 subscribers); losses", f"{lo['params'].get('rate')}; {lo['deliveries']['losses']}",
            f"{lr['params'].get('rate')}; {lr['deliveries']['losses']}", ratio=None)
        notes.append(f"latency {b} msg/POST ours: " + cpu_note(lo))

for b, r in ((1, 100), (1, 200), (1, 400), (1, 800), (10, 400), (10, 1000), (10, 2000), (10, 4000)):
    c = load(f"curve_b{b}_r{r}")
    if c:
        lat = c["latency"]
        p99 = lat["p99_us"] / 1000
        row(f"Latency at {r * 1000:,} deliveries/s, {b} msg/POST: p50 / p99 / max (ms)",
            f"{lat['p50_us'] / 1000:.2f} / {p99:.2f} / {lat['max_us'] / 1000:.2f}", None, "p99 < 5 ms", yes(p99 < 5), ratio=None)
        notes.append(f"latency at {r} msgs/s, {b} msg/POST: " + cpu_note(c) + f"; losses {c['deliveries']['losses']}")

ko, kr = load("capacity_ours"), load("capacity_ref")
if ko and kr:
    ro, rr = ko["receivers"], kr["receivers"]
    row("Capacity: websockets held (count)", ro["opened"], rr["opened"], "~19 000, 0 drops", yes(ro["opened"] >= 19000 and ro["drops"] == 0), ratio=None)
    row("  hold (s) / drops", f"{ko['params'].get('hold_s')} / {ro['drops']}", f"{kr['params'].get('hold_s')} / {rr['drops']}", ratio=None)
    row("  heartbeats per connection", ko.get("heartbeats_per_conn"), kr.get("heartbeats_per_conn"), nd=1, ratio=None)
    o, r = ko["server_bytes_per_conn"], kr["server_bytes_per_conn"]
    row("  server user-space memory per conn (bytes)", o, r, "<= 4 KiB", yes(o <= 4096), ratio=r / o)
    o, r = ko["connections_per_s"], kr["connections_per_s"]
    row("  connects/s (/connect + /ws)", o, r, ">= 20 000/s", yes(o >= 20000))
    before, held = kv("sockstat_before.txt"), None
    p1, p2 = os.path.join(D, "sockstat_before.txt"), os.path.join(D, "sockstat_held.txt")
    if os.path.exists(p1) and os.path.exists(p2):
        def tcp_mem(p):
            t = open(p).read()
            mm = re.search(r"TCP:.*mem (\d+)", t)
            return int(mm.group(1)) if mm else 0
        def slab_kb(p):
            mm = re.search(r"Slab:\s+(\d+) kB", open(p).read())
            return int(mm.group(1)) if mm else 0
        pages = tcp_mem(p2) - tcp_mem(p1)
        slab = slab_kb(p2) - slab_kb(p1)
        socks = 2 * ro["opened"]
        row("  kernel TCP buffer memory per socket (bytes, sockstat mem)", pages * 4096 / socks if socks else None, None, ratio=None)
        if slab:
            row("  kernel slab growth per socket (bytes, meminfo Slab)", slab * 1024 / socks if socks else None, None, ratio=None)
        notes.append(f"sockstat TCP mem changed by {pages} pages and Slab by {slab} kB over {socks} sockets "
                     "(client and server ends both on loopback, so per socket = per half connection)")

for who in ("ours", "ref"):
    pass
wo = os.path.join(D, "wrk_ours.txt")
wr = os.path.join(D, "wrk_ref.txt")
if os.path.exists(wo) and os.path.exists(wr):
    def wrk(p):
        t = open(p).read()
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
        lat = {}
        for q in ("50%", "99%"):
            mm = re.search(q.replace("%", r"%") + r"\s+([\d.]+)(us|ms|s)", t)
            if mm:
                v = float(mm.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[mm.group(2)]
                lat[q] = v
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
        cpu = re.search(r"server_cpu_ticks=(\d+)", t)
        return rps, lat, int(non2xx.group(1)) if non2xx else 0, int(cpu.group(1)) / 100 if cpu else None
    o, r = wrk(wo), wrk(wr)
    row("wrk POST /message, requests/s", o[0], r[0], "", "")
    row("  latency p50 / p99 (ms)", f"{o[1].get('50%', 0):.2f} / {o[1].get('99%', 0):.2f}", f"{r[1].get('50%', 0):.2f} / {r[1].get('99%', 0):.2f}", ratio=None)
    row("  non-2xx responses", o[2], r[2], ratio=None)
    notes.append(f"wrk server CPU-s over 10 s: ours {o[3]}, ref {r[3]}")

p2, p6 = load("profile_ours_2"), load("profile_ours_6")
def ir(path):
    if not os.path.exists(path):
        return None
    for line in open(path):
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    return None
if p2 and p6:
    i2, i6 = ir(os.path.join(D, "callgrind.2.out")), ir(os.path.join(D, "callgrind.6.out"))
    d2, d6 = p2["deliveries"]["unique"], p6["deliveries"]["unique"]
    if i2 and i6 and d6 > d2:
        row("Instructions per delivery (callgrind)", (i6 - i2) / (d6 - d2), None, "", "", ratio=None)
        notes.append(f"callgrind: {i2:,} Ir for {d2:,} deliveries, {i6:,} Ir for {d6:,} deliveries")

print(f"# {m.get('date_utc')} commit {m.get('commit')}; {m.get('nproc')} x {m.get('cpu')}; kernel {m.get('kernel')}; "
      f"loadavg {m.get('loadavg_start')} -> {m.get('loadavg_end')}")
print()
print("| figure | ours | reference | ratio | target | met |")
print("| --- | ---: | ---: | ---: | --- | --- |")
for r in rows:
    print("| " + " | ".join(str(c) for c in r) + " |")
print()
for n in notes:
    print("* " + n)
