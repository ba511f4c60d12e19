#!/usr/bin/env python3
"""Measures what big listings cost the server: `/info` and `/admin/admin.json` over many
channels (issue 9, docs/RELIABILITY.md "Big answers"). Python 3 standard library only.

    tools/big_answers.py [--channels 50000] [--messages 3] [--repeat 3] BINARY [BINARY ...]

For each server binary: starts it on a free loopback port, connects one user to each of
`--channels` channels (history kept, `--messages` messages each), then requests each
listing `--repeat` times and reports, per request: answer bytes, wall time to the last
byte, the server's CPU time (user + system, /proc/<pid>/stat), its peak RSS above the RSS
before the request (VmHWM after resetting it through /proc/<pid>/clear_refs) and its RSS
after. Prints one JSON line per binary and listing, then a table with costs per channel.
Linux only (reads /proc).
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

SECRET = "secret"


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(secret=SECRET, value="channelstream"):
    """itsdangerous 1.1 `TimestampSigner(secret).sign(value)` (the API's secret header)."""
    ts = int(time.time()).to_bytes(8, "big").lstrip(b"\x00")
    signed = f"{value}.{b64url(ts)}"
    key = hashlib.sha1(b"itsdangerous.Signer" + b"signer" + secret.encode()).digest()
    return f"{signed}.{b64url(hmac.new(key, signed.encode(), hashlib.sha1).digest())}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def call(conn, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"X-Channelstream-Secret": sign(), "Content-Type": "application/json"}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    out = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"{method} {path}: {resp.status} {out[:200]!r}")
    return out


def set_up(port, channels, messages, threads=4):
    """One user per channel, `messages` history messages per channel."""

    def connect_range(lo, hi):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(lo, hi):
            name = f"channel-{i:06d}"
            call(conn, "POST", "/connect", {
                "username": f"user-{i:06d}",
                "channels": [name],
                "channel_configs": {name: {"store_history": True, "history_size": messages}},
                "user_state": {"color": "blue", "n": i},
                "state_public_keys": ["color"],
                "info": {"include_history": False, "include_users": False},
            })
        batch = []
        for i in range(lo, hi):
            for j in range(messages):
                batch.append({"channel": f"channel-{i:06d}", "user": f"user-{i:06d}",
                              "message": {"text": f"message {j} of channel {i}"}})
                if len(batch) == 2000:
                    call(conn, "POST", "/message", batch)
                    batch = []
        if batch:
            call(conn, "POST", "/message", batch)
        conn.close()

    step = (channels + threads - 1) // threads
    workers = [threading.Thread(target=connect_range, args=(lo, min(lo + step, channels)))
               for lo in range(0, channels, step)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def measure(pid, port, path):
    before = proc_kb(pid, "VmRSS")
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    cpu0 = cpu_seconds(pid)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t0 = time.perf_counter()
    body = call(conn, "GET", path)
    wall = time.perf_counter() - t0
    conn.close()
    time.sleep(0.2)  # let the worker finish writing and free the queue
    return {
        "bytes": len(body),
        "wall_s": wall,
        "cpu_s": cpu_seconds(pid) - cpu0,
        "rss_before_kb": before,
        "peak_above_kb": proc_kb(pid, "VmHWM") - before,
        "rss_after_kb": proc_kb(pid, "VmRSS"),
    }


def run(binary, args):
    port = free_port()
    server = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(port), "--secret", SECRET,
         "--allow-posting-from", "127.0.0.1", "--gc-conns-after", "86400",
         "--log-level", "ERROR"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        t0 = time.perf_counter()
        set_up(port, args.channels, args.messages)
        setup_s = time.perf_counter() - t0
        start_rss = proc_kb(server.pid, "VmRSS")
        results = []
        for path in ["/info", "/admin/admin.json"]:
            runs = [measure(server.pid, port, path) for _ in range(args.repeat)]
            row = {
                "binary": binary, "path": path, "channels": args.channels,
                "messages_per_channel": args.messages, "setup_s": round(setup_s, 1),
                "rss_after_setup_kb": start_rss, "runs": runs,
            }
            print(json.dumps(row), flush=True)
            results.append(row)
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def table(rows):
    print("\n| binary | answer | bytes | bytes/channel | wall ms (median) | server CPU µs/channel "
          "| peak RSS above before, MB (max) | peak/channel | RSS after last − after setup, MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        n = r["channels"]
        runs = r["runs"]
        size = runs[0]["bytes"]
        wall = statistics.median(x["wall_s"] for x in runs) * 1e3
        cpu = statistics.median(x["cpu_s"] for x in runs) * 1e6 / n
        peak = max(x["peak_above_kb"] for x in runs)
        grown = runs[-1]["rss_after_kb"] - r["rss_after_setup_kb"]
        print(f"| {r['binary']} | `{r['path']}` | {size / 1e6:.1f} MB | {size / n:.0f} B "
              f"| {wall:.0f} | {cpu:.1f} | {peak / 1024:.1f} | {peak * 1024 / n:.0f} B "
              f"| {grown / 1024:+.1f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("binaries", nargs="+", metavar="BINARY")
    p.add_argument("--channels", type=int, default=50_000)
    p.add_argument("--messages", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    rows = []
    for b in args.binaries:
        rows.extend(run(b, args))
    table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
