#!/usr/bin/env python3
"""Runs the reference channelstream 0.7.1 server on loopback for differential testing.

What this changes compared with the stock `channelstream` entry point, and why:

* `collections.Mapping` & co. are aliased to `collections.abc` (channelstream 0.7.1's
  validation code uses the pre-3.10 names, so every dict field would raise otherwise).
* The Flash policy server the stock `main()` opens on 0.0.0.0:10843 is replaced by a
  no-op: it is not part of the API, and it must not listen on a public address.
* Settings are written into `channelstream.cli.SHARED_DEFAULTS` instead of an ini or
  the environment, because the reference reads `wake_connections_after` (and the GC
  settings) only from its defaults: they are not in `CONFIGURABLE_PARAMS`.
* Only a loopback host is accepted.

Usage: run_reference.py --port 8123 [--secret S] [--wake-connections-after 1] ...
Prints "READY <host>:<port>" on stdout once the port accepts connections.
"""
import argparse
import ipaddress
import os
import socket
import sys
import threading
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--secret", default="secret")
    p.add_argument("--admin-user", default="admin")
    p.add_argument("--admin-secret", default="admin_secret")
    p.add_argument("--cookie-secret", default="cookie_secret")
    p.add_argument("--wake-connections-after", type=float, default=5)
    p.add_argument("--allow-posting-from", default="0.0.0.0",
                   help="comma separated list, 0.0.0.0 = everyone")
    p.add_argument("--allow-cors", default="", help="comma separated list")
    p.add_argument("--validate-requests", default="true")
    p.add_argument("--log-level", default="WARNING")
    return p.parse_args(argv)


def require_loopback(host):
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        if host == "localhost":
            return
    sys.exit(f"run_reference.py: refusing non-loopback host {host!r}")


def patch_python_compat():
    """Aliases the ABCs removed from `collections` in Python 3.10."""
    import collections
    import collections.abc

    for name in ("Mapping", "MutableMapping", "Sequence", "MutableSequence",
                 "Iterable", "Callable", "Set", "MutableSet", "Hashable"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))


class NoPolicyServer:
    """Stands in for gevent's StreamServer, used by `main()` only for the Flash policy
    server on 0.0.0.0:10843."""

    def __init__(self, *args, **kwargs):
        pass

    def start(self):
        pass


def announce_when_listening(host, port):
    def probe():
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection((host, port), timeout=0.2):
                    print(f"READY {host}:{port}", flush=True)
                    return
            except OSError:
                time.sleep(0.05)
        print("NOT READY", flush=True)

    threading.Thread(target=probe, daemon=True).start()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    require_loopback(args.host)
    patch_python_compat()

    # The stock entry point monkey-patches on import; importing it here does that first.
    from channelstream.cli import start
    from channelstream.cli import SHARED_DEFAULTS, CONFIGURABLE_PARAMS

    start.StreamServer = NoPolicyServer
    for key in CONFIGURABLE_PARAMS:
        os.environ.pop(f"channelstream_{key}".upper(), None)
    os.environ.pop("CHANNELSTREAM_INI", None)
    SHARED_DEFAULTS.update(
        {
            "host": args.host,
            "port": args.port,
            "secret": args.secret,
            "admin_user": args.admin_user,
            "admin_secret": args.admin_secret,
            "cookie_secret": args.cookie_secret,
            "wake_connections_after": args.wake_connections_after,
            "allow_posting_from": [a.strip() for a in args.allow_posting_from.split(",")
                                   if a.strip()],
            "allow_cors": args.allow_cors,
            "validate_requests": args.validate_requests,
            "log_level": args.log_level,
        }
    )
    sys.argv = [sys.argv[0]]
    # gevent has patched threading, so this "thread" is a greenlet of the server's hub.
    announce_when_listening(args.host, args.port)
    start.main()


if __name__ == "__main__":
    main()
