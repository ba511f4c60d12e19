"""Declarative differential-test scenarios for channelstream's API.

Each scenario is a dict: name, description, config (settings both servers get), ids
(name -> a fixed uuid, used as conn_ids and message uuids so goldens are stable) and
steps. A step is a dict with an "op":

  http         method, path, json | raw (body text), headers, sign, record_headers,
               body: "ignore" (record status and content type only), record_raw: true
               (also store the body text under "raw": informational, never compared)
               sign: "good" (default; X-Channelstream-Secret = TimestampSigner(secret)
               .sign("channelstream")), "bad" (signed with another secret), "expired"
               (timestamp 120 s old), "garbage" (no dots), "query" (?secret=<good>),
               "none" (no signature)
  ws_open      conn (ids name; opens /ws?conn_id=<uuid>) or query (raw query string)
  ws_recv      conn, count, timeout_ms (default 1500), quiet_ms (default 200), record_raw: reads
               frames until `count` non-heartbeat frames arrived (or timeout), then
               keeps reading for quiet_ms to catch unexpected extra frames;
               keep_heartbeats: true keeps (and counts) `[]` frames
  ws_send      conn, text
  ws_close     conn
  listen_start tag, conn | query, callback: starts GET /listen in the background
  listen_wait  tag: waits for that long-poll's response
  sleep        ms

The helpers below only build these dicts.
"""

BASE_CONFIG = {
    "secret": "secret",
    "admin_user": "admin",
    "admin_secret": "admin_secret",
    "wake_connections_after": 1,
    "allow_posting_from": ["0.0.0.0"],
    "validate_requests": True,
}


def cid(n):
    return f"00000000-0000-4000-8000-{n:012d}"


def mid(n):
    return f"00000000-0000-4000-9000-{n:012d}"


def http(method, path, json_body=None, **kw):
    step = {"op": "http", "method": method, "path": path}
    if json_body is not None:
        step["json"] = json_body
    step.update(kw)
    return step


def post(path, json_body=None, **kw):
    return http("POST", path, json_body, **kw)


def connect(user, conn=None, channels=None, **extra):
    body = {"username": user}
    if conn is not None:
        body["conn_id"] = conn
    if channels is not None:
        body["channels"] = channels
    body.update(extra)
    return post("/connect", body)


def message(*msgs, method="POST"):
    return http(method, "/message", list(msgs))


def info(json_body=None, **kw):
    return post("/info", json_body, **kw)


def ws_open(conn, **kw):
    return dict({"op": "ws_open", "conn": conn}, **kw)


def ws_recv(conn, count=0, timeout_ms=1500, **kw):
    return dict({"op": "ws_recv", "conn": conn, "count": count, "timeout_ms": timeout_ms}, **kw)


def ws_close(conn):
    return {"op": "ws_close", "conn": conn}


def ws_send(conn, text):
    return {"op": "ws_send", "conn": conn, "text": text}


def listen_start(tag, conn=None, **kw):
    step = {"op": "listen_start", "tag": tag}
    if conn is not None:
        step["conn"] = conn
    step.update(kw)
    return step


def listen_wait(tag):
    return {"op": "listen_wait", "tag": tag}


def sleep(ms):
    return {"op": "sleep", "ms": ms}


SCENARIOS = []


def scenario(name, description, ids, steps, **config):
    SCENARIOS.append(
        {
            "name": name,
            "description": description,
            "config": dict(BASE_CONFIG, **config),
            "ids": ids,
            "steps": steps,
        }
    )


# Conn ids and message ids used throughout.
A, B, C, UNKNOWN = cid(1), cid(2), cid(3), cid(99)
HEX = "abcdef00-0000-4000-8000-0000000000ab"
M1, M2, M3 = mid(1), mid(2), mid(3)
IDS = {"a": A, "b": B, "c": C, "hex": HEX, "unknown": UNKNOWN, "m1": M1, "m2": M2, "m3": M3}
LONG_512 = "u" * 512
LONG_513 = "u" * 513
LONG_256 = "c" * 256
LONG_257 = "c" * 257
OLD_TS = "2019-05-04T03:02:01.123456"

scenario(
    "connect_minimal",
    "connect with only a username and conn_id, then without conn_id (server picks a uuid)",
    IDS,
    [
        connect("alice", A),
        connect("bob"),
        connect("carol", HEX.upper()),
        connect("dave", "{" + B.replace("-", "") + "}"),
        post("/subscribe", {"conn_id": HEX, "channels": ["x"]}),
        info(),
    ],
)

scenario(
    "connect_full",
    "connect with every field: states, public keys, unsorted channels, channel configs, info flags",
    IDS,
    [
        connect(
            "alice",
            A,
            ["zeta", "alpha", "beta"],
            fresh_user_state={"name": "Alice", "age": 30, "admin": True, "score": 1.5, "nothing": None},
            user_state={"color": "red"},
            state_public_keys=["name", "color", "missing"],
            channel_configs={
                "alpha": {"notify_presence": True, "store_history": True, "history_size": 3},
                "zeta": {"notify_state": True, "broadcast_presence_with_user_lists": True, "store_frames": False},
                "not_joined": {"store_history": True},
            },
            info={"include_history": False, "include_users": True, "return_public_state": True,
                  "exclude_channels": ["beta"]},
        ),
        connect("bob", B, ["alpha"], info={"include_users": False, "include_connections": True}),
        connect("carol", C, ["alpha", "zeta"], info={"channels": ["alpha"]}),
    ],
)

scenario(
    "connect_existing_user",
    "second connect of a known user: fresh_user_state ignored, user_state merged, public keys replaced",
    IDS,
    [
        connect("alice", A, ["room"], fresh_user_state={"a": 1, "b": 2}, state_public_keys=["a"]),
        connect("alice", B, ["room"], fresh_user_state={"a": 100, "z": 9}, user_state={"b": 3, "c": "x"},
                state_public_keys=["b", "c"]),
        connect("alice", C, [], user_state={"c": None}),
        info(),
    ],
)

scenario(
    "connect_duplicate_conn_id",
    "BUG: connecting twice with the same conn_id adds a second connection object",
    IDS,
    [
        connect("alice", A, ["room"]),
        connect("alice", A, ["room"]),
        info(),
        post("/admin/admin.json"),
    ],
)

scenario(
    "connect_validation",
    "every kind of /connect validation error",
    IDS,
    [
        post("/connect", {}),
        post("/connect", {"username": ""}),
        post("/connect", {"username": LONG_513}),
        post("/connect", {"username": LONG_512, "conn_id": A}),
        post("/connect", {"username": 5}),
        post("/connect", {"username": None}),
        post("/connect", {"username": "u", "conn_id": "not-a-uuid"}),
        post("/connect", {"username": "u", "conn_id": 12}),
        post("/connect", {"username": "u", "channels": "room"}),
        post("/connect", {"username": "u", "channels": ["", LONG_257, 3]}),
        post("/connect", {"username": "u", "state_public_keys": [""]}),
        post("/connect", {"username": "u", "user_state": {"nested": {"x": 1}}}),
        post("/connect", {"username": "u", "user_state": {"list": [1]}}),
        post("/connect", {"username": "u", "fresh_user_state": "str"}),
        post("/connect", {"username": "u", "channel_configs": {"room": {"history_size": -1}}}),
        post("/connect", {"username": "u", "channel_configs": {"room": {"history_size": "x", "notify_presence": "maybe"}}}),
        post("/connect", {"username": "u", "channel_configs": []}),
        post("/connect", {"username": "u", "info": "all"}),
        post("/connect", {"username": "u", "info": {"include_history": "no", "channels": [""]}}),
        post("/connect", {"username": "", "conn_id": "bad", "channels": 1}),
        post("/connect", {"username": "u", "conn_id": B, "unknown_key": 1, "channels": [LONG_256]}),
        post("/connect", {"username": "\u00e9" * 512, "conn_id": C, "channels": ["\U0001F600" * 256]}),
        post("/connect", {"username": "\u00e9" * 513, "channels": ["\U0001F600" * 257]}),
        info(),
    ],
)

scenario(
    "subscribe",
    "subscribe to new and existing channels with configs and info flags; repeat is a no-op",
    IDS,
    [
        connect("alice", A, ["one"]),
        post("/subscribe", {"conn_id": A, "channels": ["two", "three"],
                            "channel_configs": {"three": {"store_history": True, "history_size": 5}}}),
        post("/subscribe", {"conn_id": A, "channels": ["two", "one"], "info": {"include_users": False}}),
        post("/subscribe?conn_id=" + A, {"channels": ["four"]}),
        info(),
    ],
)

scenario(
    "subscribe_validation",
    "subscribe/unsubscribe validation: unknown conn_id, missing fields, empty list, bad types",
    IDS,
    [
        connect("alice", A, ["one"]),
        post("/subscribe", {"conn_id": UNKNOWN, "channels": ["x"]}),
        post("/subscribe", {"channels": ["x"]}),
        post("/subscribe", {"conn_id": A}),
        post("/subscribe", {"conn_id": A, "channels": []}),
        post("/subscribe", {"conn_id": A, "channels": "x"}),
        post("/subscribe", {"conn_id": "nope", "channels": [""]}),
        post("/subscribe", {"conn_id": A, "channels": ["x"], "channel_configs": {"x": {"history_size": -5}}}),
        post("/unsubscribe", {"conn_id": UNKNOWN, "channels": ["one"]}),
        post("/unsubscribe", {"conn_id": A, "channels": []}),
        post("/unsubscribe", {"conn_id": A}),
    ],
)

scenario(
    "unsubscribe",
    "unsubscribe from joined, not-joined and unknown channels",
    IDS,
    [
        connect("alice", A, ["one", "two", "three"]),
        connect("bob", B, ["two"]),
        post("/unsubscribe", {"conn_id": A, "channels": ["two", "nonexistent", "three"]}),
        post("/unsubscribe", {"conn_id": A, "channels": ["two"], "info": {"include_history": False}}),
        connect("carol", C, ["four"]),
        post("/unsubscribe", {"conn_id": A, "channels": ["four"]}),
        info(),
    ],
)

scenario(
    "user_state",
    "set user state; changes emitted to notify_state channels; public keys; unknown user and bad values 422",
    IDS,
    [
        connect("alice", A, ["watched", "quiet"], user_state={"name": "A", "secret": 1},
                state_public_keys=["name", "mood"],
                channel_configs={"watched": {"notify_state": True}}),
        connect("bob", B, ["watched", "quiet"]),
        ws_open("b"),
        ws_open("a"),
        ws_recv("b", 0, 300),
        post("/user_state", {"user": "alice", "user_state": {"mood": "happy", "secret": 2, "name": "A"}}),
        ws_recv("b", 1),
        ws_recv("a", 1),
        post("/user_state", {"user": "alice", "user_state": {"secret": 3}}),
        ws_recv("b", 1),
        post("/user_state", {"user": "alice", "user_state": {"mood": "happy"}}),
        ws_recv("b", 0, 300),
        post("/user_state", {"user": "alice", "state_public_keys": []}),
        post("/user_state", {"user": "alice", "state_public_keys": ["secret"], "user_state": {"secret": 4}}),
        ws_recv("b", 1),
        post("/user_state", {"user": "nobody", "user_state": {"x": 1}}),
        post("/user_state", {"user": "alice", "user_state": {"x": {"deep": 1}}}),
        post("/user_state", {"user": "alice", "user_state": {"x": [1, 2]}}),
        post("/user_state", {"user_state": {"x": 1}}),
        post("/user_state", {"user": ""}),
        post("/user_state", {"user": "alice", "state_public_keys": "name"}),
        post("/user_state", {"user": "alice", "user_state": "x"}),
        info({"info": {"return_public_state": True}}),
    ],
)

scenario(
    "channel_config",
    "create and reconfigure channels via /channel_config; validation errors",
    IDS,
    [
        post("/channel_config", {"new_one": {"notify_presence": True, "history_size": 2}, "other": {}}),
        connect("alice", A, ["new_one"], channel_configs={"new_one": {"history_size": 99}}),
        post("/channel_config", {"new_one": {"store_history": True}}),
        post("/channel_config", {"new_one": {"history_size": -1}}),
        post("/channel_config", {"bad": {"notify_presence": "sometimes", "history_size": 1.5}}),
        post("/channel_config", {"bad": "notadict"}),
        post("/channel_config", {}),
        post("/channel_config", {"coerced": {"notify_presence": "true", "history_size": "5", "store_history": 1,
                                             "notify_state": "F", "store_frames": 0}}),
        post("/channel_config", {"coerced": {"history_size": 2.9, "broadcast_presence_with_user_lists": "1"}}),
        post("/channel_config", {"coerced": {"history_size": True}}),
        post("/channel_config", {"coerced": {"notify_presence": "yes"}}),
        post("/channel_config", {"coerced": {"history_size": None}}),
        info(),
    ],
)

scenario(
    "info",
    "/info: empty body means everything; channels filter; include/exclude flags; validation",
    IDS,
    [
        connect("alice", A, ["one", "two"], user_state={"pub": 1, "priv": 2}, state_public_keys=["pub"],
                channel_configs={"one": {"store_history": True}}),
        connect("bob", B, ["two", "three"]),
        message({"channel": "one", "user": "alice", "message": {"text": "hi"}, "uuid": M1}),
        sleep(100),
        http("POST", "/info", raw=""),
        http("GET", "/info"),
        info({"info": {}}),
        info({"info": {"channels": ["one", "nonexistent"]}}),
        info({"info": {"include_history": False, "include_users": False}}),
        info({"info": {"exclude_channels": ["two"], "return_public_state": True}}),
        info({"info": {"channels": ["two"], "include_connections": False}}),
        info({}),
        info({"info": None}),
        info({"info": {"channels": "one"}}),
        info({"info": {"include_users": "sure"}}),
    ],
)

scenario(
    "message_channel",
    "message to a channel: response body, ws delivery to every subscriber incl. sender, stats",
    IDS,
    [
        connect("alice", A, ["room"]),
        connect("bob", B, ["room"]),
        connect("carol", C, ["elsewhere"]),
        ws_open("a"),
        ws_open("b"),
        ws_open("c"),
        message({"channel": "room", "user": "alice", "message": {"text": "hello", "n": 1}, "uuid": M1,
                 "timestamp": OLD_TS}),
        ws_recv("a", 1),
        ws_recv("b", 1),
        ws_recv("c", 0, 300),
        message({"channel": "room", "user": "system", "message": {"text": "no uuid"}}),
        ws_recv("a", 1),
        message({"channel": "room", "user": "tz", "timestamp": "2019-05-04T03:02:01+00:00"},
                {"channel": "room", "user": "tz", "timestamp": "2019-05-04T05:02:01+02:00"},
                {"channel": "room", "user": "tz", "timestamp": "2019-05-04T03:02:01"}),
        ws_recv("b", 3),
        message({"channel": "room", "user": "tz", "timestamp": "2019-05-04T03:02:01.5Z"},
                {"channel": "room", "user": "tz", "timestamp": "2019-05-04 03:02:01"}),
        ws_recv("b", 2),
        message({"channel": "room", "user": "tz", "timestamp": "2019-05-04"},
                {"channel": "room", "user": "tz", "timestamp": 1557000000}),
        info({"info": {"channels": ["room"]}}),
        post("/admin/admin.json"),
    ],
)

scenario(
    "message_pm_users",
    "pm_users without channel goes to every connection of those users; unknown users skipped",
    IDS,
    [
        connect("alice", A, ["room"]),
        connect("bob", B, []),
        connect("bob", C, ["room"]),
        ws_open("a"),
        ws_open("b"),
        ws_open("c"),
        message({"pm_users": ["bob", "ghost"], "user": "alice", "message": {"text": "psst"}, "uuid": M1}),
        ws_recv("b", 1),
        ws_recv("c", 1),
        ws_recv("a", 0, 300),
        message({"pm_users": ["bob"], "exclude_users": ["bob"], "user": "alice", "message": {"text": "excluded?"},
                 "uuid": M2}),
        ws_recv("b", 1),
        ws_recv("c", 1),
        post("/admin/admin.json"),
    ],
)

scenario(
    "message_channel_pm_exclude",
    "channel + pm_users restricts delivery; exclude_users removes users; exclude wins over pm",
    IDS,
    [
        connect("alice", A, ["room"]),
        connect("bob", B, ["room"]),
        connect("carol", C, ["room"]),
        ws_open("a"),
        ws_open("b"),
        ws_open("c"),
        message({"channel": "room", "pm_users": ["bob"], "user": "alice", "message": {"t": 1}, "uuid": M1}),
        ws_recv("b", 1),
        ws_recv("a", 0, 300),
        ws_recv("c", 0, 100),
        message({"channel": "room", "exclude_users": ["alice"], "user": "alice", "message": {"t": 2}, "uuid": M2}),
        ws_recv("b", 1),
        ws_recv("c", 1),
        ws_recv("a", 0, 300),
        message({"channel": "room", "pm_users": ["bob", "carol"], "exclude_users": ["bob"], "user": "x",
                 "message": {"t": 3}, "uuid": M3}),
        ws_recv("c", 1),
        ws_recv("b", 0, 300),
        ws_recv("a", 0, 100),
    ],
)

scenario(
    "message_many_in_order",
    "several messages per call delivered in order; entries without channel/pm_users dropped; extra keys",
    IDS,
    [
        connect("alice", A, ["room"], channel_configs={"room": {"store_history": True}}),
        ws_open("a"),
        message(
            {"channel": "room", "user": "u", "message": {"i": 1}, "uuid": M1},
            {"user": "u", "message": {"i": "dropped"}},
            {"channel": "room", "user": "u", "message": {"i": 2}, "uuid": M2, "extra_key": "x"},
            {"channel": "room", "user": "u", "message": {"i": 3}, "uuid": M3, "no_history": True},
        ),
        ws_recv("a", 3),
        message({"channel": "room", "user": "u"}),
        ws_recv("a", 1),
        message(),
        sleep(100),
        info({"info": {"channels": ["room"]}}),
    ],
)

scenario(
    "message_validation",
    "every kind of /message validation error",
    IDS,
    [
        connect("alice", A, ["room"]),
        message({"channel": "room", "message": {"t": 1}}),
        message({"channel": "room", "user": "", "message": {}}),
        message({"channel": "room", "user": LONG_513}),
        message({"channel": LONG_257, "user": "u"}),
        message({"channel": "", "user": "u"}),
        message({"channel": "room", "user": "u", "message": "text"}),
        message({"channel": "room", "user": "u", "uuid": "nope"}),
        message({"channel": "room", "user": "u", "timestamp": "yesterday"}),
        message({"channel": "room", "user": "u", "pm_users": "bob"}),
        message({"channel": "room", "user": "u", "exclude_users": [""]}),
        message({"channel": "room", "user": "u", "no_history": "perhaps"}),
        message({"channel": "room", "user": "u"}, {"channel": "room"}),
        post("/message", {"channel": "room", "user": "u"}),
        post("/message", "string"),
        message(5),
    ],
)

scenario(
    "message_unknown_channel",
    "message to a channel that does not exist: 200, nothing created, nothing delivered",
    IDS,
    [
        connect("alice", A, ["room"]),
        ws_open("a"),
        message({"channel": "nope", "user": "u", "message": {"t": 1}, "uuid": M1}),
        ws_recv("a", 0, 300),
        info(),
        post("/admin/admin.json"),
    ],
)

scenario(
    "history",
    "store_history with history_size trimming, no_history, default store_history false, history_size 0",
    IDS,
    [
        connect("alice", A, ["kept", "plain", "zero"],
                channel_configs={"kept": {"store_history": True, "history_size": 2},
                                 "zero": {"store_history": True, "history_size": 0}}),
        message(
            {"channel": "kept", "user": "u", "message": {"i": 1}, "uuid": M1},
            {"channel": "kept", "user": "u", "message": {"i": 2}, "uuid": M2},
            {"channel": "kept", "user": "u", "message": {"i": 3}, "uuid": M3},
            {"channel": "kept", "user": "u", "message": {"i": 4}, "no_history": True},
            {"channel": "plain", "user": "u", "message": {"i": 5}},
            {"channel": "zero", "user": "u", "message": {"i": 6}},
            {"channel": "zero", "user": "u", "message": {"i": 7}},
        ),
        sleep(150),
        info(),
    ],
)

scenario(
    "message_edit",
    "PATCH /message edits history and frames and emits message:edit; validation",
    IDS,
    [
        connect("alice", A, ["room", "nohist"], channel_configs={"room": {"store_history": True}}),
        connect("bob", B, ["room"]),
        ws_open("b"),
        message({"channel": "room", "user": "alice", "message": {"text": "v1"}, "uuid": M1},
                {"channel": "nohist", "user": "alice", "message": {"text": "n1"}, "uuid": M2}),
        ws_recv("b", 1),
        message({"channel": "room", "uuid": M1, "message": {"text": "v2"}, "user": "alice2",
                 "timestamp": OLD_TS}, method="PATCH"),
        ws_recv("b", 1),
        message({"channel": "room", "uuid": M1, "message": {"text": "v3"}, "edited": "2019-01-01T00:00:00"},
                method="PATCH"),
        ws_recv("b", 1),
        message({"channel": "nohist", "uuid": M2, "message": {"text": "n2"}}, method="PATCH"),
        message({"channel": "room", "uuid": M3, "message": {"text": "unknown uuid"}}, method="PATCH"),
        ws_recv("b", 1),
        sleep(100),
        info({"info": {"channels": ["room", "nohist"]}}),
        message({"channel": "room", "message": {"text": "no uuid"}}, method="PATCH"),
        message({"channel": "room", "uuid": "bad"}, method="PATCH"),
        message({"channel": "room", "uuid": M1, "user": ""}, method="PATCH"),
        message({"uuid": M1, "message": {"t": "no target"}}, method="PATCH"),
    ],
)

scenario(
    "message_delete",
    "DELETE /message removes from history and frames and emits message:delete; validation",
    IDS,
    [
        connect("alice", A, ["room"], channel_configs={"room": {"store_history": True}}),
        connect("bob", B, ["room"]),
        ws_open("b"),
        message({"channel": "room", "user": "alice", "message": {"text": "one"}, "uuid": M1},
                {"channel": "room", "user": "alice", "message": {"text": "two"}, "uuid": M2}),
        ws_recv("b", 2),
        message({"channel": "room", "uuid": M1}, method="DELETE"),
        ws_recv("b", 1),
        sleep(100),
        info({"info": {"channels": ["room"]}}),
        message({"channel": "room", "uuid": M3, "pm_users": ["bob"]}, method="DELETE"),
        ws_recv("b", 1),
        message({"channel": "room"}, method="DELETE"),
        message({"channel": "room", "uuid": "x", "user": "not allowed?"}, method="DELETE"),
        ws_close("b"),
        sleep(1500),
        connect("bob", C, ["room"]),
        ws_open("c"),
        ws_recv("c", 0, 300),
    ],
)

scenario(
    "message_pm_edit_delete",
    "edit and delete of private (pm_users) messages go to the users' connections",
    IDS,
    [
        connect("alice", A, []),
        connect("bob", B, []),
        ws_open("b"),
        message({"pm_users": ["bob"], "user": "alice", "message": {"text": "secret"}, "uuid": M1}),
        ws_recv("b", 1),
        message({"pm_users": ["bob"], "uuid": M1, "message": {"text": "edited"}}, method="PATCH"),
        ws_recv("b", 1),
        message({"pm_users": ["bob"], "uuid": M1}, method="DELETE"),
        ws_recv("b", 1),
    ],
)

scenario(
    "presence",
    "notify_presence: joined/parted frames to others (not to the user itself), public state included",
    IDS,
    [
        connect("alice", A, ["room"], channel_configs={"room": {"notify_presence": True}},
                user_state={"nick": "al", "hidden": 1}, state_public_keys=["nick"]),
        ws_open("a"),
        ws_recv("a", 0, 300),
        connect("bob", B, ["room"], user_state={"nick": "bo"}, state_public_keys=["nick"]),
        ws_recv("a", 1),
        connect("bob", C, ["room"]),
        ws_recv("a", 0, 300),
        post("/unsubscribe", {"conn_id": C, "channels": ["room"]}),
        ws_recv("a", 0, 300),
        post("/unsubscribe", {"conn_id": B, "channels": ["room"]}),
        ws_recv("a", 1),
        post("/subscribe", {"conn_id": B, "channels": ["room"]}),
        ws_recv("a", 1),
        info({"info": {"channels": ["room"]}}),
    ],
)

scenario(
    "presence_user_lists",
    "broadcast_presence_with_user_lists adds the channel's users (public state) to presence frames",
    IDS,
    [
        connect("alice", A, ["room"],
                channel_configs={"room": {"notify_presence": True, "broadcast_presence_with_user_lists": True}},
                user_state={"nick": "al"}, state_public_keys=["nick"]),
        ws_open("a"),
        connect("bob", B, ["room"], user_state={"nick": "bo", "x": 1}, state_public_keys=["x"]),
        ws_recv("a", 1),
        ws_open("b"),
        connect("carol", C, ["room"]),
        ws_recv("a", 1),
        ws_recv("b", 1),
        post("/disconnect", {"conn_id": C}),
        sleep(1500),
        ws_recv("a", 1),
        ws_recv("b", 1),
    ],
)

scenario(
    "disconnect",
    "/disconnect via GET and POST (no signature needed); GC removes the connection within ~1 s",
    IDS,
    [
        connect("alice", A, ["room"], channel_configs={"room": {"notify_presence": True}}),
        connect("bob", B, ["room"]),
        ws_open("a"),
        ws_recv("a", 1),
        http("GET", "/disconnect?conn_id=" + B, sign="none"),
        http("GET", "/disconnect?conn_id=" + UNKNOWN, sign="none"),
        http("POST", "/disconnect", {"conn_id": UNKNOWN}, sign="none"),
        sleep(1600),
        ws_recv("a", 1),
        info(),
        http("POST", "/disconnect", {"conn_id": A}, sign="none"),
        http("GET", "/disconnect", sign="none"),
        http("GET", "/disconnect?conn_id=bad", sign="none"),
        http("POST", "/disconnect", {}, sign="none"),
        http("POST", "/disconnect", {"conn_id": 5}, sign="none"),
        sleep(1600),
        ws_recv("a", 0, 500),
        info(),
    ],
)

scenario(
    "listen_longpoll",
    "/listen long-poll: wakes on a message, batches messages, empty [] after wake_connections_after",
    IDS,
    [
        connect("alice", A, ["room"]),
        listen_start("p1", "a"),
        message({"channel": "room", "user": "u", "message": {"i": 1}, "uuid": M1},
                {"channel": "room", "user": "u", "message": {"i": 2}, "uuid": M2}),
        listen_wait("p1"),
        listen_start("p2", "a"),
        listen_wait("p2"),
        listen_start("p3", "a", callback="cb_1"),
        message({"channel": "room", "user": "u", "message": {"i": 3}, "uuid": M3}),
        listen_wait("p3"),
        listen_start("p4", "a", callback="cb_2"),
        listen_wait("p4"),
    ],
)

scenario(
    "listen_errors",
    "/listen with unknown, malformed and missing conn_id",
    IDS,
    [
        listen_start("p1", "unknown"),
        listen_wait("p1"),
        listen_start("p2", query="conn_id=garbage"),
        listen_wait("p2"),
        listen_start("p3", query=""),
        listen_wait("p3"),
    ],
)

scenario(
    "listen_catchup",
    "messages sent while nobody listens are delivered (catchup: true) when /listen comes",
    IDS,
    [
        connect("alice", A, ["room"]),
        connect("bob", B, []),
        message({"channel": "room", "user": "u", "message": {"i": 1}, "uuid": M1},
                {"pm_users": ["alice"], "user": "bob", "message": {"i": 2}, "uuid": M2}),
        sleep(100),
        listen_start("p1", "a"),
        listen_wait("p1"),
        message({"channel": "room", "user": "u", "message": {"i": 3}, "uuid": M3}),
        sleep(100),
        listen_start("p2", "a"),
        listen_wait("p2"),
    ],
)

scenario(
    "ws_catchup",
    "messages between /connect and /ws open are replayed on open with catchup: true",
    IDS,
    [
        connect("alice", A, ["room"], channel_configs={"room": {"notify_presence": True}}),
        connect("bob", B, ["room"]),
        message({"channel": "room", "user": "u", "message": {"i": 1}, "uuid": M1},
                {"pm_users": ["alice"], "user": "bob", "message": {"i": 2}, "uuid": M2},
                {"channel": "room", "user": "u", "message": {"i": 3}, "uuid": M3, "exclude_users": ["alice"]},
                {"channel": "room", "user": "u", "message": {"i": "pm for bob"}, "pm_users": ["bob"]},
                {"channel": "room", "user": "u", "message": {"i": "pm for alice"}, "pm_users": ["alice"]}),
        sleep(100),
        ws_open("a"),
        ws_recv("a", 4),
        message({"channel": "room", "user": "u", "message": {"i": 4}}),
        ws_recv("a", 1),
    ],
)

scenario(
    "ws_reconnect",
    "closing the socket marks the connection for GC; reconnecting needs a new /connect",
    IDS,
    [
        connect("alice", A, ["room"]),
        ws_open("a"),
        message({"channel": "room", "user": "u", "message": {"i": 1}, "uuid": M1}),
        ws_recv("a", 1),
        ws_close("a"),
        sleep(1600),
        info(),
        message({"channel": "room", "user": "u", "message": {"i": 2}, "uuid": M2}),
        sleep(100),
        connect("alice", A, ["room"]),
        message({"channel": "room", "user": "u", "message": {"i": 3}, "uuid": M3}),
        sleep(100),
        ws_open("a"),
        ws_recv("a", 1),
        ws_send("a", "client heartbeat"),
        ws_recv("a", 0, 300),
    ],
)

scenario(
    "ws_errors",
    "/ws with an unknown conn_id is closed at once; malformed conn_id",
    IDS,
    [
        ws_open("unknown"),
        ws_recv("unknown", 0, 1000),
        ws_open("bad", query="conn_id=garbage"),
        ws_recv("bad", 0, 1000),
        connect("alice", A, ["room"]),
        ws_open("a"),
        message({"channel": "room", "user": "u", "message": {"i": 1}}),
        ws_recv("a", 1),
    ],
)

scenario(
    "auth",
    "signature checks: missing 403, bad/expired/garbage 401, ?secret= accepted; client endpoints unsigned",
    IDS,
    [
        post("/connect", {"username": "u", "conn_id": A}, sign="none"),
        post("/connect", {"username": "u", "conn_id": A}, sign="bad"),
        post("/connect", {"username": "u", "conn_id": A}, sign="expired"),
        post("/connect", {"username": "u", "conn_id": A}, sign="garbage"),
        post("/connect", {"username": "u", "conn_id": A}, sign="query"),
        info(sign="none"),
        info(sign="bad"),
        post("/message", [], sign="none"),
        post("/subscribe", {"conn_id": A, "channels": ["x"]}, sign="none"),
        post("/user_state", {"user": "u"}, sign="bad"),
        post("/channel_config", {}, sign="none"),
        http("PATCH", "/message", [], sign="none"),
        http("DELETE", "/message", [], sign="bad"),
        post("/connect", {}, sign="bad"),
        http("GET", "/disconnect?conn_id=" + A, sign="none"),
    ],
)

scenario(
    "cors_and_methods",
    "OPTIONS preflight on any path; CORS headers on every response; unknown paths and methods",
    IDS,
    [
        http("OPTIONS", "/connect", sign="none",
             record_headers=["access-control-allow-origin", "access-control-allow-methods",
                             "access-control-allow-headers", "access-control-max-age", "xdomainrequestallowed"]),
        http("OPTIONS", "/anything/at/all", sign="none", record_headers=["access-control-allow-origin"]),
        info(record_headers=["access-control-allow-origin", "access-control-allow-methods",
                             "access-control-allow-headers", "access-control-max-age", "xdomainrequestallowed"]),
        post("/connect", {}, record_headers=["access-control-allow-origin"]),
        post("/connect", {}, sign="none", record_headers=["access-control-allow-origin"]),
        post("/connect", {}, sign="bad", record_headers=["access-control-allow-origin"]),
        http("GET", "/connect", body="ignore", record_headers=["access-control-allow-origin"]),
        http("GET", "/message", body="ignore"),
        http("PUT", "/message", [], body="ignore"),
        http("GET", "/nonexistent", body="ignore"),
        http("GET", "/nonexistent", sign="none", body="ignore"),
        http("POST", "/foo/bar", {}, body="ignore"),
    ],
)

scenario(
    "malformed_bodies",
    "non-JSON and wrongly shaped bodies on every signed endpoint",
    IDS,
    [
        http("POST", "/connect", raw="{not json", headers={"Content-Type": "application/json"}),
        http("POST", "/connect", raw=""),
        post("/connect", []),
        post("/connect", "just a string"),
        http("POST", "/subscribe", raw="nope"),
        http("POST", "/message", raw="[{]"),
        http("POST", "/info", raw="{bad"),
        post("/info", []),
        http("POST", "/channel_config", raw="{bad"),
        post("/channel_config", []),
        http("POST", "/user_state", raw="x"),
        http("POST", "/disconnect", raw="x", sign="none"),
    ],
)

scenario(
    "admin_json",
    "/admin/admin.json with the API signature (GET and POST); without it a redirect to sign-in",
    IDS,
    [
        post("/admin/admin.json"),
        connect("alice", A, ["room"], user_state={"pub": 1, "priv": 2}, state_public_keys=["pub"],
                channel_configs={"room": {"store_history": True}}),
        connect("bob", B, ["room", "other"]),
        connect("bob", C, ["other"]),
        message({"channel": "room", "user": "alice", "message": {"i": 1}, "uuid": M1},
                {"pm_users": ["bob"], "user": "alice", "message": {"i": 2}, "uuid": M2}),
        sleep(100),
        http("GET", "/admin/admin.json"),
        post("/admin/admin.json", sign="none", body="ignore", record_headers=["location"]),
        post("/admin/admin.json", sign="bad"),
    ],
)

scenario(
    "store_frames_false",
    "store_frames false: no catch-up frames for the channel; user (pm) frames still kept",
    IDS,
    [
        connect("alice", A, ["room"], channel_configs={"room": {"store_frames": False, "store_history": True}}),
        message({"channel": "room", "user": "u", "message": {"i": 1}, "uuid": M1},
                {"pm_users": ["alice"], "user": "u", "message": {"i": 2}, "uuid": M2}),
        sleep(100),
        ws_open("a"),
        ws_recv("a", 1),
        info({"info": {"channels": ["room"]}}),
    ],
)

scenario(
    "ip_not_allowed",
    "allow_posting_from without the client's address: signed API calls are refused (403)",
    IDS,
    [
        connect("alice", A, ["room"]),
        info(),
        post("/admin/admin.json", body="ignore", record_headers=["location"]),
        http("GET", "/disconnect?conn_id=" + A, sign="none"),
        listen_start("p1", "unknown"),
        listen_wait("p1"),
    ],
    allow_posting_from=["10.1.2.3"],
)

scenario(
    "raw_rendering",
    "raw bytes of typical responses (indent, key order) for documentation; compared as JSON",
    IDS,
    [
        connect("alice", A, ["room"], channel_configs={"room": {"store_history": True}}),
        ws_open("a"),
        dict(message({"channel": "room", "user": "alice", "message": {"text": "caf\u00e9 \u2603", "n": 1.5},
                      "uuid": M1, "timestamp": OLD_TS}), record_raw=True),
        ws_recv("a", 1, record_raw=True),
        sleep(100),
        info({"info": {"channels": ["room"], "include_users": False}}, record_raw=True),
        post("/connect", {}, record_raw=True),
        http("GET", "/disconnect?conn_id=" + A, sign="none", record_raw=True),
        post("/connect", {}, sign="bad", record_raw=True),
    ],
)

scenario(
    "validate_requests_off",
    "validate_requests false: expired signatures are accepted, bad ones still 401",
    IDS,
    [
        info(sign="expired"),
        info(sign="bad"),
        info(sign="none"),
    ],
    validate_requests=False,
)

scenario(
    "heartbeat",
    "websocket heartbeat: `[]` frames every 5 s, counted from the connection's creation",
    IDS,
    [
        connect("alice", A, ["room"]),
        ws_open("a"),
        ws_recv("a", 1, 6000, keep_heartbeats=True, quiet_ms=100),
        message({"channel": "room", "user": "u", "message": {"i": 1}, "uuid": M1}),
        ws_recv("a", 1, 1500, keep_heartbeats=True),
    ],
)

scenario(
    "catchup_limits",
    "catch-up replays at most the last 100 frames of a channel, then the last 50 frames of the user",
    IDS,
    [
        connect("alice", A, ["room"]),
        message(*[{"channel": "room", "user": "u", "message": {"i": i}} for i in range(105)]),
        message(*[{"pm_users": ["alice"], "user": "u", "message": {"p": i}} for i in range(55)]),
        sleep(300),
        ws_open("a"),
        ws_recv("a", 150, 3000),
    ],
)

scenario(
    "gc_idle_connection",
    "a connection with no websocket or poll is collected ~15 s after /connect (slow: 17 s)",
    IDS,
    [
        connect("alice", A, ["room"], channel_configs={"room": {"notify_presence": True}}),
        connect("bob", B, ["room"]),
        ws_open("b"),
        ws_recv("b", 0, 300),
        sleep(13000),
        info({"info": {"channels": ["room"]}}),
        ws_recv("b", 1, 4500, quiet_ms=100),
        info({"info": {"channels": ["room"]}}),
        post("/subscribe", {"conn_id": A, "channels": ["room"]}),
    ],
)


def all_scenarios():
    return SCENARIOS
