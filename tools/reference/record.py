#!/usr/bin/env python3
"""Records golden files from the reference channelstream 0.7.1.

For every scenario in `scenarios.py`: starts a fresh reference server on loopback
(`run_reference.py`), runs the scenario's steps against it, normalizes what was observed
and writes `tests/golden/<scenario>.json` with the steps and the expected results, so the
Rust replay (`tests/differential.rs`) needs nothing but the golden file.

Usage:
    tools/reference/setup.sh && tools/reference/.venv/bin/python tools/reference/record.py [NAME...]
(`python tools/reference/record.py` re-executes itself in tools/reference/.venv if the
current interpreter lacks channelstream/websocket-client.)

Normalization (mirrored in tests/support/normalize.rs; see docs/REFERENCE.md):
* a string equal to one of the scenario's `ids` uuids        -> "<id:NAME>"
* any other string that is a uuid                            -> "<uuid:N>", N numbered by
  first appearance in a walk over all results with object keys sorted
* a string that is an ISO-8601 date-time of year >= 2020     -> "<timestamp>"
* the value of an "uptime" key                               -> "<uptime>"
* a list under a "users" key whose items are all objects with a "user" key is sorted
  by that "user" (the reference builds some of them from a Python set)
* websocket frames that are exactly `[]` (heartbeats) are dropped
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GOLDEN_DIR = os.path.join(ROOT, "tests", "golden")


def ensure_venv():
    try:
        import websocket  # noqa: F401
        import channelstream  # noqa: F401
    except ImportError:
        venv = os.environ.get("CHANNELSTREAM_REF_VENV", os.path.join(HERE, ".venv"))
        venv_python = os.path.join(venv, "bin", "python")
        # sys.prefix tells venvs apart; the interpreter binary may be the same file.
        if os.path.exists(venv_python) and os.path.realpath(sys.prefix) != os.path.realpath(venv):
            os.execv(venv_python, [venv_python] + sys.argv)
        sys.exit("record.py: run tools/reference/setup.sh first")


ensure_venv()
import websocket  # noqa: E402

sys.path.insert(0, HERE)
import scenarios as scenario_defs  # noqa: E402

# ---------------------------------------------------------------------------
# signing (itsdangerous TimestampSigner, written out so the Rust port can follow it)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(secret, value="channelstream", now=None):
    """itsdangerous 1.1 TimestampSigner(secret).sign(value), default salt/derivation."""
    ts = int(time.time() if now is None else now)
    ts_bytes = ts.to_bytes(8, "big").lstrip(b"\x00")
    signed = f"{value}.{b64url(ts_bytes)}"
    key = hashlib.sha1(b"itsdangerous.Signer" + b"signer" + secret.encode()).digest()
    sig = hmac.new(key, signed.encode(), hashlib.sha1).digest()
    return f"{signed}.{b64url(sig)}"


def signature_for(mode, secret):
    if mode == "good":
        return sign(secret)
    if mode == "bad":
        return sign("not-the-secret")
    if mode == "expired":
        return sign(secret, now=time.time() - 120)
    if mode == "garbage":
        return "no-dots-here"
    raise ValueError(mode)


# ---------------------------------------------------------------------------
# normalization

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^(\d{4})-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


class Normalizer:
    def __init__(self, ids):
        self.ids = {v: k for k, v in ids.items()}
        self.seen = {}

    def value(self, v, key=None):
        if key == "uptime" and isinstance(v, str):
            return "<uptime>"
        if isinstance(v, dict):
            return {k: self.value(v[k], k) for k in sorted(v)}
        if isinstance(v, list):
            items = [self.value(x) for x in v]
            if key == "users" and items and all(isinstance(x, dict) and "user" in x for x in items):
                items.sort(key=lambda x: str(x["user"]))
            return items
        if isinstance(v, str):
            if v in self.ids:
                return f"<id:{self.ids[v]}>"
            if UUID_RE.match(v):
                if v not in self.seen:
                    self.seen[v] = len(self.seen) + 1
                return f"<uuid:{self.seen[v]}>"
            m = TS_RE.match(v)
            if m and int(m.group(1)) >= 2020:
                return "<timestamp>"
        return v


def scrub_raw(raw):
    """Makes informational raw bodies stable: server uuids and current timestamps."""
    if isinstance(raw, list):
        return [scrub_raw(r) for r in raw]
    raw = re.sub(r'"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"',
                 lambda m: m.group(0) if m.group(0).startswith('"00000000-') else '"<uuid>"', raw)
    return re.sub(r'"20[2-9]\d-\d\d-\d\dT[0-9:.]+"', '"<timestamp>"', raw)


# ---------------------------------------------------------------------------
# step execution


def parse_body(raw, content_type, callback=None):
    out = {}
    text = raw.decode("utf-8", "replace")
    if callback is not None:
        prefix = callback + "("
        if text.startswith(prefix) and text.endswith(")"):
            out["jsonp_callback"] = callback
            text = text[len(prefix):-1]
    try:
        out["json"] = json.loads(text)
    except ValueError:
        if "html" in (content_type or ""):
            out["html"] = True  # an error page: its markup is not compared
        else:
            out["text"] = text
    return out


def http_request(port, method, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.putrequest(method, path, skip_accept_encoding=True)
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    if body is not None or method in ("POST", "PATCH", "DELETE", "PUT"):
        conn.putheader("Content-Length", str(len(body or b"")))
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    hdrs = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return resp.status, hdrs, data


def http_result(status, hdrs, data, step, port, callback=None):
    """What a step observed. The server's own address in bodies and headers (redirects)
    becomes "<server>" so goldens do not depend on the port."""
    here = f"127.0.0.1:{port}"
    result = {"status": status, "content_type": hdrs.get("content-type")}
    if step.get("body") != "ignore":
        body = data.replace(here.encode(), b"<server>")
        result.update(parse_body(body, hdrs.get("content-type"), callback))
    if step.get("record_raw"):
        result["raw"] = data.decode("utf-8", "replace")  # informational, never compared
    wanted = step.get("record_headers") or []
    if wanted:
        result["headers"] = {
            h.lower(): (hdrs[h.lower()].replace(here, "<server>") if h.lower() in hdrs else None)
            for h in wanted
        }
    return result


class Runner:
    def __init__(self, scenario, port):
        self.s = scenario
        self.port = port
        self.secret = scenario["config"]["secret"]
        self.sockets = {}
        self.polls = {}

    def conn_id(self, name):
        return self.s["ids"][name]

    def run(self, step):
        return getattr(self, "op_" + step["op"])(step)

    def op_http(self, step):
        headers = dict(step.get("headers") or {})
        path = step["path"]
        mode = step.get("sign", "good")
        if mode in ("good", "bad", "expired", "garbage"):
            headers["X-Channelstream-Secret"] = signature_for(mode, self.secret)
        elif mode == "query":
            sep = "&" if "?" in path else "?"
            path = f"{path}{sep}secret={sign(self.secret)}"
        body = None
        if "json" in step:
            body = json.dumps(step["json"]).encode()
            headers.setdefault("Content-Type", "application/json")
        elif "raw" in step:
            body = step["raw"].encode()
        status, hdrs, data = http_request(self.port, step["method"], path, body, headers)
        return http_result(status, hdrs, data, step, self.port)

    def op_sleep(self, step):
        time.sleep(step["ms"] / 1000)
        return {}

    def op_ws_open(self, step):
        query = step["query"] if "query" in step else f"conn_id={self.conn_id(step['conn'])}"
        url = f"ws://127.0.0.1:{self.port}/ws?{query}"
        try:
            ws = websocket.create_connection(url, timeout=5)
        except websocket.WebSocketBadStatusException as e:
            return {"status": e.status_code}
        self.sockets[step["conn"]] = ws
        return {"status": ws.getstatus()}

    def op_ws_send(self, step):
        self.sockets[step["conn"]].send(step["text"])
        return {}

    def op_ws_close(self, step):
        ws = self.sockets.pop(step["conn"])
        try:
            ws.close(timeout=1)
        except Exception:
            pass
        return {}

    def op_ws_recv(self, step):
        ws = self.sockets[step["conn"]]
        want = step.get("count", 0)
        deadline = time.time() + step.get("timeout_ms", 1500) / 1000
        frames = []
        result = {"frames": frames}
        quiet_until = None
        while True:
            now = time.time()
            if len(frames) >= want and quiet_until is None:
                quiet_until = now + step.get("quiet_ms", 200) / 1000
            end = quiet_until if quiet_until is not None else deadline
            if now >= end:
                break
            ws.settimeout(max(end - now, 0.01))
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
                result["closed"] = True
                result["close_code"] = None  # dropped without a close frame
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                result["closed"] = True
                result["close_code"] = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                break
            if opcode != websocket.ABNF.OPCODE_TEXT:
                continue
            try:
                frame = json.loads(data.decode())
            except ValueError:
                frame = {"text": data.decode("utf-8", "replace")}
            if frame == [] and not step.get("keep_heartbeats"):
                continue  # heartbeat
            frames.append(frame)
            if step.get("record_raw"):
                result.setdefault("raw", []).append(data.decode("utf-8", "replace"))
        return result

    def op_listen_start(self, step):
        query = step["query"] if "query" in step else f"conn_id={self.conn_id(step['conn'])}"
        cb = step.get("callback")
        if cb is not None:
            query += f"&callback={cb}"
        box = {}

        def poll():
            try:
                box["r"] = http_request(self.port, "GET", f"/listen?{query}")
            except Exception as e:  # recorded as an error result
                box["e"] = repr(e)

        t = threading.Thread(target=poll, daemon=True)
        t.start()
        self.polls[step["tag"]] = (t, box, cb)
        time.sleep(0.05)  # let the request reach the server before the next step
        return {}

    def op_listen_wait(self, step):
        t, box, cb = self.polls.pop(step["tag"])
        t.join(15)
        if "r" not in box:
            return {"error": box.get("e", "timeout")}
        status, hdrs, data = box["r"]
        return http_result(status, hdrs, data, step, self.port, cb)

    def close(self):
        for ws in self.sockets.values():
            try:
                ws.close(timeout=0.2)
            except Exception:
                pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_reference(config):
    port = free_port()
    cmd = [sys.executable, os.path.join(HERE, "run_reference.py"), "--port", str(port),
           "--secret", config["secret"],
           "--wake-connections-after", str(config["wake_connections_after"]),
           "--allow-posting-from", ",".join(config["allow_posting_from"]),
           "--validate-requests", "true" if config["validate_requests"] else "false",
           "--admin-user", config["admin_user"], "--admin-secret", config["admin_secret"]]
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        proc.kill()
        raise RuntimeError(f"reference did not start: {line!r}")
    return proc, port


def record(scenario):
    proc, port = start_reference(scenario["config"])
    runner = Runner(scenario, port)
    raw = []
    try:
        for step in scenario["steps"]:
            raw.append(runner.run(step))
    finally:
        runner.close()
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
    norm = Normalizer(scenario["ids"])
    results = [norm.value(r) for r in raw]
    for r in results:
        if "raw" in r:
            r["raw"] = scrub_raw(r["raw"])
    return {
        "scenario": scenario["name"],
        "description": scenario["description"],
        "config": scenario["config"],
        "ids": scenario["ids"],
        "steps": [{"step": s, "expect": r} for s, r in zip(scenario["steps"], results)],
    }


def main(names):
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    chosen = [s for s in scenario_defs.all_scenarios() if not names or s["name"] in names]
    t0 = time.time()
    for s in chosen:
        t1 = time.time()
        golden = record(s)
        path = os.path.join(GOLDEN_DIR, s["name"] + ".json")
        with open(path, "w") as f:
            json.dump(golden, f, indent=2, sort_keys=False, ensure_ascii=False)
            f.write("\n")
        print(f"{s['name']}: {len(s['steps'])} steps, {time.time() - t1:.1f}s")
    print(f"recorded {len(chosen)} scenarios in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
