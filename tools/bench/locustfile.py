"""A Locust scenario for channelstream servers: websocket subscribers and REST publishers.

Users load-test with the tools they know; this is a ready scenario for Locust
(https://locust.io) with the `websocket-client` package. It speaks the channelstream
protocol the way an application backend and its browsers do:

* `Subscriber` users (CS_SUBSCRIBERS of them, default 200) each sign a `POST /connect`
  (itsdangerous `TimestampSigner(secret).sign("channelstream")` in the
  `X-Channelstream-Secret` header, as the backend would), join one of CS_CHANNELS
  channels (default 1, round-robin), open `GET /ws?conn_id=...` and read frames. Every
  message found in a frame is reported to Locust as request type `WS`, name `deliver`,
  with its latency (receive time minus the publisher's send time carried in the message).
* `Publisher` users (CS_PUBLISHERS, default 2) each `POST /message` CS_BATCH messages
  (default 1) CS_RATE times a second (default 50), to the channels round-robin; Locust
  reports these as `POST /message`.

    python3 -m venv .venv-locust && .venv-locust/bin/pip install locust websocket-client itsdangerous
    CS_SECRET=secret .venv-locust/bin/locust -f tools/bench/locustfile.py --headless \
        --host http://127.0.0.1:8000 -u 202 -r 200 -t 20s --only-summary

`-u` must be CS_SUBSCRIBERS + CS_PUBLISHERS (each class has a fixed count). Publishers wait
until every subscriber is open (or 30 s) before publishing, so early messages are not
lost to subscribers still connecting; the summary's `deliver` count over the expected
CS_SUBSCRIBERS / CS_CHANNELS x messages published shows what arrived.
"""

import itertools
import json
import os
import threading
import time
import uuid

import gevent
import websocket
from itsdangerous import TimestampSigner
from locust import HttpUser, User, constant, constant_throughput, events, task

SECRET = os.environ.get("CS_SECRET", "secret")
SUBSCRIBERS = int(os.environ.get("CS_SUBSCRIBERS", "200"))
PUBLISHERS = int(os.environ.get("CS_PUBLISHERS", "2"))
CHANNELS = int(os.environ.get("CS_CHANNELS", "1"))
RATE = float(os.environ.get("CS_RATE", "50"))
BATCH = int(os.environ.get("CS_BATCH", "1"))
PAD = "x" * int(os.environ.get("CS_PAD", "60"))

_signer = TimestampSigner(SECRET)
_numbers = itertools.count()
_open = itertools.count(1)
_all_open = threading.Event()


def signed_headers():
    """The API secret header, signed now (signatures expire after 60 s)."""
    return {"X-Channelstream-Secret": _signer.sign("channelstream").decode(), "Content-Type": "application/json"}


class Subscriber(User):
    """One browser: signed /connect (done by its backend in real life), then a websocket."""

    fixed_count = SUBSCRIBERS
    wait_time = constant(3600)

    def on_start(self):
        import urllib.request

        n = next(_numbers)
        conn_id = str(uuid.uuid4())
        body = json.dumps({
            "username": f"locust{n}",
            "conn_id": conn_id,
            "channels": [f"bench{n % CHANNELS}"],
            "info": {"include_history": False, "include_users": False},
        }).encode()
        req = urllib.request.Request(self.host + "/connect", data=body, headers=signed_headers(), method="POST")
        started = time.time()
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
            ws_url = self.host.replace("http", "ws", 1) + "/ws?conn_id=" + conn_id
            self.ws = websocket.create_connection(ws_url, timeout=None)
        except Exception as e:  # reported, not raised: one failure must not stop the run
            events.request.fire(request_type="WS", name="open", response_time=(time.time() - started) * 1000,
                                response_length=0, exception=e)
            self.ws = None
            return
        events.request.fire(request_type="WS", name="open", response_time=(time.time() - started) * 1000,
                            response_length=0, exception=None)
        if next(_open) >= SUBSCRIBERS:
            _all_open.set()
        self.reader = gevent.spawn(self.read_loop)

    def read_loop(self):
        while True:
            try:
                frame = self.ws.recv()
            except Exception:
                return
            now = time.time()
            try:
                items = json.loads(frame)
            except ValueError:
                continue
            for item in items if isinstance(items, list) else []:
                sent = (item.get("message") or {}).get("t") if isinstance(item, dict) else None
                if isinstance(sent, (int, float)):
                    events.request.fire(request_type="WS", name="deliver", response_time=(now - sent) * 1000,
                                        response_length=len(frame), exception=None)

    def on_stop(self):
        if self.ws is not None:
            self.ws.close()

    @task
    def idle(self):
        """Subscribers only listen; the reader greenlet does the work."""


class Publisher(HttpUser):
    """The application backend publishing to channels."""

    fixed_count = PUBLISHERS
    wait_time = constant_throughput(RATE)

    def on_start(self):
        self.next_channel = 0
        _all_open.wait(30)

    @task
    def publish(self):
        msgs = []
        for _ in range(BATCH):
            msgs.append({"channel": f"bench{self.next_channel % CHANNELS}", "user": "locust",
                         "message": {"t": time.time(), "pad": PAD}})
            self.next_channel += 1
        self.client.post("/message", data=json.dumps(msgs), headers=signed_headers(), name="POST /message")
