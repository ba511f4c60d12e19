//! Our browser client (`/static/channelstream/index.js`) in headless Chromium, against the
//! real server, used the way a page written for channelstream 0.7.1's client uses it: the
//! page's application (`TestApp`) signs and forwards `connect`, `subscribe` and `message`;
//! the page listens to the server over a websocket or by long-polling. Messages are
//! published by the test through the signed REST API; the page records what it gets.

mod browser_common;
mod server_common;

use browser_common::*;
use channelstream::api::signature::Signer;
use channelstream::app::Running;
use serde_json::{json, Value};
use server_common::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The client's tab and the server it talks to.
struct Session {
    tab: ClientTab,
    running: Running,
}

/// Everything started and the client module loaded, or `None` without Chromium.
fn open(test: &str) -> Option<Session> {
    let running = start(loopback_config());
    let state = "JSON.stringify({errors: window.__errors, events: window.__events, \
                 ids: window.__ids, got: window.__got})";
    let tab = ClientTab::open(test, running.addr, state)?;
    Some(Session { tab, running })
}

impl Session {
    fn eval(&mut self, js: &str) -> Value {
        self.tab.eval(js)
    }

    fn wait(&mut self, js: &str, within: Duration) -> Value {
        self.tab.wait(js, within)
    }

    /// Creates `window.__conn` for user alice in channel `room`, wired to record what it
    /// receives (`__got`), its connection ids (`__ids`), closes and errors (`__events`),
    /// and calls `connect()` after running `setup` (JS with `c` in scope).
    fn start_client(&mut self, no_websocket: bool, setup: &str) {
        let server = self.running.addr;
        self.eval(&format!(
            r#"(() => {{
                const c = new ChannelStreamConnection();
                const app = location.origin;
                c.connectUrl = app + "/connect";
                c.disconnectUrl = app + "/disconnect";
                c.subscribeUrl = app + "/subscribe";
                c.unsubscribeUrl = app + "/unsubscribe";
                c.messageUrl = app + "/message";
                c.messageEditUrl = app + "/message";
                c.messageDeleteUrl = app + "/message";
                c.userStateUrl = app + "/user_state";
                c.websocketUrl = "ws://{server}/ws";
                c.longPollUrl = "http://{server}/listen";
                c.username = "alice";
                c.channels = ["room"];
                c.noWebsocket = {no_websocket};
                window.__got = [];
                window.__ids = [];
                window.__events = [];
                c.listenMessageCallback = (data) => {{ for (const m of data) window.__got.push(m); }};
                c.connectCallback = (xhr, data) => window.__ids.push(data.conn_id);
                c.listenCloseCallback = (e) => window.__events.push("close " + e.code);
                c.listenErrorCallback = () => window.__events.push("error");
                window.__conn = c;
                {setup}
                c.connect();
                return true;
            }})()"#
        ));
    }

    /// The markers of the channel messages received so far, in order.
    fn markers(&mut self) -> Vec<Value> {
        let v = self
            .eval("window.__got.filter((m) => m.type === 'message').map((m) => m.message.marker)");
        v.as_array().cloned().unwrap_or_default()
    }

    /// Waits until `expected` markers arrived; returns all received.
    fn wait_markers(&mut self, expected: &[&str]) -> Vec<Value> {
        let list = serde_json::to_string(expected).unwrap_or_default();
        self.wait(
            &format!(
                "(() => {{ const got = window.__got.filter((m) => m.type === 'message')
                    .map((m) => m.message.marker);
                    return {list}.every((x) => got.includes(x)); }})()"
            ),
            Duration::from_secs(15),
        );
        self.markers()
    }

    /// Has the server drop connection `id` (`/disconnect`, then collection within 1 s,
    /// which closes its websocket or ends its long-poll) until `dropped` (JS) is true.
    /// `/disconnect` is repeated if need be: a websocket heartbeat or long-poll answer
    /// in the second before collection marks the connection active again (as in the
    /// reference, where every send does).
    fn drop_connection(&mut self, id: &Value, dropped: &str) {
        for _ in 0..5 {
            let (status, body) = call(
                self.running.addr,
                "POST",
                "/disconnect",
                &json!({ "conn_id": id }),
            );
            assert_eq!((status, &body), (200, &json!(true)), "/disconnect");
            if self
                .tab
                .browser
                .wait_for(&self.tab.page, dropped, Duration::from_millis(2500))
                .is_ok()
            {
                return;
            }
        }
        self.wait(dropped, Duration::from_millis(1));
    }

    fn conn_ids(&mut self) -> Vec<Value> {
        self.eval("window.__ids")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

const WS_OPEN: &str = "window.__conn.connected && window.__conn.websocket !== null \
                       && window.__conn.websocket.readyState === WebSocket.OPEN";

#[test]
fn websocket_client_receives_messages_published_to_its_channel_in_order() {
    let Some(mut s) = open("websocket_client_receives") else {
        return;
    };
    s.start_client(false, "");
    s.wait(WS_OPEN, Duration::from_secs(10));
    for m in ["w1", "w2", "w3"] {
        publish(s.running.addr, "room", m);
    }
    publish(s.running.addr, "elsewhere", "not-for-alice");
    let got = s.wait_markers(&["w1", "w2", "w3"]);
    assert_eq!(got, json!(["w1", "w2", "w3"]).as_array().cloned().unwrap());
    assert_eq!(s.conn_ids().len(), 1);
    assert_eq!(s.eval("window.__errors"), json!([]));
}

#[test]
fn long_poll_client_receives_every_message_in_order_across_polls() {
    let Some(mut s) = open("long_poll_client_receives") else {
        return;
    };
    s.start_client(true, "");
    s.wait("window.__conn.connected", Duration::from_secs(10));
    publish(s.running.addr, "room", "p1");
    s.wait_markers(&["p1"]);
    // Polls are answered after `wake_connections_after` (1 s) with or without messages;
    // the client must poll again each time.
    std::thread::sleep(Duration::from_millis(2500));
    publish(s.running.addr, "room", "p2");
    publish(s.running.addr, "room", "p3");
    let got = s.wait_markers(&["p2", "p3"]);
    assert_eq!(got, json!(["p1", "p2", "p3"]).as_array().cloned().unwrap());
    assert_eq!(
        s.eval("window.__conn.websocket"),
        Value::Null,
        "no websocket"
    );
    assert_eq!(s.conn_ids().len(), 1, "no reconnection was needed");
    assert_eq!(s.eval("window.__errors"), json!([]));
}

#[test]
fn websocket_client_reconnects_after_the_server_drops_its_connection() {
    let Some(mut s) = open("websocket_client_reconnects") else {
        return;
    };
    s.start_client(false, "");
    s.wait(WS_OPEN, Duration::from_secs(10));
    let first = s.conn_ids()[0].clone();
    s.drop_connection(&first, "window.__events.some((e) => e.startsWith('close'))");
    s.wait(
        &format!("window.__ids.length >= 2 && ({WS_OPEN})"),
        Duration::from_secs(20),
    );
    let events = s.eval("window.__events");
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.starts_with("close"))),
        "{events}"
    );
    let second = s.conn_ids()[1].clone();
    assert_ne!(first, second, "a new connection");
    publish(s.running.addr, "room", "after-reconnect");
    s.wait_markers(&["after-reconnect"]);
}

#[test]
fn long_poll_client_reconnects_after_its_connection_is_gone() {
    let Some(mut s) = open("long_poll_client_reconnects") else {
        return;
    };
    s.start_client(true, "");
    s.wait("window.__conn.connected", Duration::from_secs(10));
    let first = s.conn_ids()[0].clone();
    // The next poll for the collected connection is refused (401); the client connects
    // again instead of stopping.
    s.drop_connection(&first, "window.__events.includes('error')");
    s.wait("window.__ids.length >= 2", Duration::from_secs(20));
    assert!(s
        .eval("window.__events")
        .as_array()
        .unwrap()
        .contains(&json!("error")));
    publish(s.running.addr, "room", "after-poll-error");
    s.wait_markers(&["after-poll-error"]);
    assert_eq!(
        s.eval("window.__conn.websocket"),
        Value::Null,
        "no websocket"
    );
}

#[test]
fn reconnect_pauses_grow_while_connect_fails_and_reset_after_a_good_connection() {
    let Some(mut s) = open("reconnect_pauses") else {
        return;
    };
    // The application refuses the first connects (404); each attempt is timed.
    s.start_client(
        false,
        r#"c.increaseBounceIv = 300;
           c.connectUrl = app + "/not-yet";
           window.__attempts = [];
           window.__closedAt = null;
           c.addMutator("connect", () => window.__attempts.push(Date.now()));
           c.listenCloseCallback = () => { window.__closedAt = Date.now(); };"#,
    );
    let attempts = s.wait(
        "window.__attempts.length >= 5 && window.__attempts",
        Duration::from_secs(10),
    );
    let t: Vec<f64> = attempts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    for (i, gap) in gaps.iter().take(4).enumerate() {
        // Timers never fire early; a loaded machine may fire them late.
        let expected = 300.0 * (i + 1) as f64;
        assert!(*gap >= expected - 30.0, "gaps {gaps:?}");
        assert!(*gap < expected + 1000.0, "gaps {gaps:?}");
    }
    // Now the application answers; once a frame arrived, the back-off starts over.
    s.eval("window.__conn.connectUrl = location.origin + '/connect'; true");
    s.wait(WS_OPEN, Duration::from_secs(10));
    publish(s.running.addr, "room", "good");
    s.wait_markers(&["good"]);
    let before = s.eval("window.__attempts.length").as_u64().unwrap();
    let id = s.conn_ids().last().cloned().unwrap();
    s.drop_connection(&id, "window.__closedAt !== null");
    let after = s.wait(
        &format!(
            "window.__attempts.length > {before} && window.__closedAt !== null \
             && window.__attempts[{before}] - window.__closedAt"
        ),
        Duration::from_secs(10),
    );
    let pause = after.as_f64().unwrap();
    // One step after the reset; without it, at least 300 * 6 ms.
    assert!(
        (250.0..1300.0).contains(&pause),
        "pause after reset {pause}"
    );
}

#[test]
fn page_calls_go_through_the_application_with_mutators_applied() {
    let Some(mut s) = open("page_calls") else {
        return;
    };
    s.start_client(
        false,
        r#"c.addMutator("message", (request) => {
               for (const m of request.body) m.message.viaMutator = true;
           });"#,
    );
    s.wait(WS_OPEN, Duration::from_secs(10));
    s.eval(
        "window.__conn.subscribeCallback = (xhr, data) => { window.__subscribed = data.channels; };
         window.__conn.subscribe(['second']); true",
    );
    let channels = s.wait("window.__subscribed", Duration::from_secs(10));
    assert_eq!(channels, json!(["room", "second"]));
    assert_eq!(s.eval("window.__conn.channels"), channels);
    s.eval(
        "window.__conn.message([{channel: 'second', user: 'alice', \
         message: {marker: 'from-page'}}]); true",
    );
    s.wait_markers(&["from-page"]);
    let item = s
        .eval("window.__got.find((m) => m.type === 'message' && m.message.marker === 'from-page')");
    assert_eq!(item["channel"], "second");
    assert_eq!(item["user"], "alice");
    assert_eq!(item["message"]["viaMutator"], true);
    assert!(
        s.eval("window.__conn.calculateSubscribe(['room', 'third'])") == json!(["third"])
            && s.eval("window.__conn.calculateUnsubscribe(['room', 'third'])") == json!(["room"])
    );
}

#[test]
fn signer_makes_the_tokens_the_server_verifies() {
    let Some(mut s) = open("signer") else {
        return;
    };
    let fixed = s.eval(
        "(() => { const real = Date.now; Date.now = () => 1700000000123;
           try { return new ChannelStreamSigner('secret').signRequest(); }
           finally { Date.now = real; } })()",
    );
    assert_eq!(
        fixed,
        json!(Signer::new("secret").sign("channelstream", 1_700_000_000))
    );
    let live = s.eval("new ChannelStreamSigner('s3cr3t-é').signRequest()");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let token = live.as_str().unwrap();
    assert!(Signer::new("s3cr3t-é")
        .verify(token.as_bytes(), now, Some(60))
        .is_ok());
    assert!(Signer::new("secret")
        .verify(token.as_bytes(), now, Some(60))
        .is_err());
}

#[test]
fn websocket_client_sends_heartbeats_every_10_s_while_heartbeats_is_on() {
    let Some(mut s) = open("heartbeats") else {
        return;
    };
    // The page's timers and socket sends are recorded, so no test waits 10 s.
    s.start_client(
        false,
        r#"window.__timers = [];
           const realSetInterval = window.setInterval;
           window.setInterval = (fn, ms) => {
               window.__timers.push({fn, ms});
               return realSetInterval(() => {}, 3600000);
           };
           window.__sent = [];
           const realSend = WebSocket.prototype.send;
           WebSocket.prototype.send = function (data) {
               window.__sent.push(data);
               return realSend.call(this, data);
           };"#,
    );
    s.wait(WS_OPEN, Duration::from_secs(10));
    assert_eq!(
        s.eval("window.__timers.map((t) => t.ms)"),
        json!([10000]),
        "one heartbeat timer"
    );
    s.eval("window.__timers[0].fn(); true");
    assert_eq!(s.eval("window.__sent"), json!([r#"{"type":"heartbeat"}"#]));
    // The server takes the heartbeat as a sign of life; the socket stays open.
    publish(s.running.addr, "room", "still-open");
    s.wait_markers(&["still-open"]);
    s.eval("window.__conn.heartbeats = false; window.__timers[0].fn(); true");
    assert_eq!(s.eval("window.__sent.length"), json!(1));
}
