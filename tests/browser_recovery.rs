//! Nothing lost across a reconnect, with our browser client in headless Chromium against
//! the real server: a long-poll client that re-polls late (with and without
//! `store_frames`), a websocket client whose socket is cut, and websocket and long-poll
//! clients whose server restarts (the binary with a state file, on the same port). Every message published meanwhile
//! arrives exactly once, in order (docs/API.md "Recovery after reconnect").

mod browser_common;
mod server_common;

use browser_common::*;
use serde_json::{json, Value};
use server_common::*;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// The client's tab, with an application that forwards to `server`.
struct Session {
    tab: ClientTab,
    server: SocketAddr,
}

fn open(test: &str, server: SocketAddr) -> Option<Session> {
    let state = "JSON.stringify({errors: window.__errors, ids: window.__ids, \
                 got: window.__got, failed: window.__failed})";
    let tab = ClientTab::open(test, server, state)?;
    Some(Session { tab, server })
}

impl Session {
    fn eval(&mut self, js: &str) -> Value {
        self.tab.eval(js)
    }

    fn wait(&mut self, js: &str, within: Duration) -> Value {
        self.tab.wait(js, within)
    }

    /// `window.__conn` for alice in `channel`, recording messages (`__got`), connection
    /// ids (`__ids`) and channels reported not fully recovered (`__failed`); `setup` runs
    /// (with `c` in scope) before `connect()`.
    fn start_client(&mut self, channel: &str, no_websocket: bool, setup: &str) {
        let server = self.server;
        self.eval(&format!(
            r#"(() => {{
                const c = new ChannelStreamConnection();
                const app = location.origin;
                c.connectUrl = app + "/connect";
                c.disconnectUrl = app + "/disconnect";
                c.messageUrl = app + "/message";
                c.websocketUrl = "ws://{server}/ws";
                c.longPollUrl = "http://{server}/listen";
                c.username = "alice";
                c.channels = ["{channel}"];
                c.noWebsocket = {no_websocket};
                window.__got = [];
                window.__ids = [];
                window.__failed = [];
                c.listenMessageCallback = (data) => {{ for (const m of data) window.__got.push(m); }};
                c.connectCallback = (xhr, data) => window.__ids.push(data.conn_id);
                c.recoveryFailedCallback = (channels) => window.__failed.push(...channels);
                window.__conn = c;
                {setup}
                c.connect();
                return true;
            }})()"#
        ));
    }

    /// Waits until the last of `expected` arrived; returns the markers of every channel
    /// message received, in order.
    fn markers_once(&mut self, expected: &[String]) -> Vec<String> {
        let last = expected.last().cloned().unwrap_or_default();
        self.wait(
            &format!(
                "window.__got.some((m) => m.type === 'message' && m.message.marker === '{last}')"
            ),
            Duration::from_secs(30),
        );
        let got = self
            .eval("window.__got.filter((m) => m.type === 'message').map((m) => m.message.marker)");
        got.as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    }
}

const WS_OPEN: &str = "window.__conn.connected && window.__conn.websocket !== null \
                       && window.__conn.websocket.readyState === WebSocket.OPEN";

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

/// Long-polls that reopen 300 ms after each answer (given 250 ms after a message), while
/// messages are published every 350 ms: about half are published while no poll is open.
fn long_poll_re_polling_late(test: &str, store_frames: bool) {
    let running = start(loopback_config());
    let Some(mut s) = open(test, running.addr) else {
        return;
    };
    post(
        running.addr,
        "/channel_config",
        json!({"room": {"store_frames": store_frames}}),
    );
    s.start_client(
        "room",
        true,
        r#"window.__polls = 0;
           const reallyOpen = c.openLongPoll.bind(c);
           c.openLongPoll = () => setTimeout(() => { window.__polls++; reallyOpen(); }, 300);"#,
    );
    s.wait("window.__conn.connected", Duration::from_secs(10));
    // The first poll's answer (the recovery report) comes at once; then polls cycle.
    s.wait("window.__polls >= 2", Duration::from_secs(10));
    let sent = names("lp", 0..12);
    for m in &sent {
        publish(running.addr, "room", m);
        std::thread::sleep(Duration::from_millis(350));
    }
    let got = s.markers_once(&sent);
    assert_eq!(
        got, sent,
        "store_frames {store_frames}: each once, in order"
    );
    assert!(
        s.eval("window.__polls").as_u64().unwrap_or(0) >= 4,
        "the messages spanned several polls"
    );
    assert_eq!(s.eval("window.__ids.length"), json!(1), "no reconnection");
    assert_eq!(s.eval("window.__failed"), json!([]));
}

#[test]
fn long_poll_client_re_polling_late_gets_every_message_once_without_store_frames() {
    long_poll_re_polling_late("long_poll_late_no_frames", false);
}

#[test]
fn long_poll_client_re_polling_late_gets_every_message_once_with_store_frames() {
    long_poll_re_polling_late("long_poll_late_frames", true);
}

#[test]
fn websocket_client_gets_what_was_published_while_its_socket_was_cut() {
    let running = start(loopback_config());
    let Some(mut s) = open("websocket_cut", running.addr) else {
        return;
    };
    s.start_client("room", false, "");
    s.wait(WS_OPEN, Duration::from_secs(10));
    let before = names("before", 0..3);
    for m in &before {
        publish(running.addr, "room", m);
    }
    s.markers_once(&before);
    // The socket is cut; the client reconnects after its back-off (2 s) with a new
    // connection, and names the positions it saw.
    s.eval("window.__conn.websocket.close(); true");
    let away = names("away", 0..4);
    for m in &away {
        publish(running.addr, "room", m);
    }
    s.wait(
        &format!("window.__ids.length >= 2 && ({WS_OPEN})"),
        Duration::from_secs(20),
    );
    publish(running.addr, "room", "after");
    let want: Vec<String> = before
        .iter()
        .chain(&away)
        .cloned()
        .chain(["after".to_string()])
        .collect();
    assert_eq!(s.markers_once(&want), want);
    let ids = s.eval("window.__ids");
    assert_ne!(ids[0], ids[1], "a new connection");
    assert_eq!(s.eval("window.__failed"), json!([]));
    assert!(s
        .eval("window.__got.every((m) => m.type !== 'recovery')")
        .as_bool()
        .unwrap_or(false));
}

/// A port free right now on loopback.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The binary with a state file on a fixed port, a client (websocket or long-poll) that
/// saw three messages, a restart, four messages before the client is back, one after.
fn client_across_a_restart(test: &str, no_websocket: bool) {
    if chromium::find_executable().is_none() && std::env::var_os("CI").is_none() {
        eprintln!("{test}: skipped: no chromium");
        return;
    }
    let dir = std::env::temp_dir().join(format!("cs-browser-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let state = dir.join("state.json");
    let state_arg = state.to_str().expect("utf-8 path").to_string();
    let port = free_port().to_string();
    let args = ["--state-file", state_arg.as_str(), "--port", port.as_str()];
    let mut server = Binary::start("", &args);
    let Some(mut s) = open(test, server.addr) else {
        return;
    };
    let listening = if no_websocket {
        "window.__conn.connected"
    } else {
        WS_OPEN
    };
    s.start_client("room", no_websocket, "");
    s.wait(listening, Duration::from_secs(10));
    let before = names("before", 0..3);
    for m in &before {
        publish(server.addr, "room", m);
    }
    s.markers_once(&before);
    assert_eq!(server.terminate(), Some(0), "{}", server.log());
    let mut server = Binary::start("", &args);
    assert_eq!(server.addr, s.server, "the same port");
    let away = names("away", 0..4);
    for m in &away {
        publish(server.addr, "room", m);
    }
    s.wait(
        &format!("window.__ids.length >= 2 && ({listening})"),
        Duration::from_secs(30),
    );
    publish(server.addr, "room", "after");
    let want: Vec<String> = before
        .iter()
        .chain(&away)
        .cloned()
        .chain(["after".to_string()])
        .collect();
    assert_eq!(s.markers_once(&want), want);
    assert_eq!(s.eval("window.__failed"), json!([]));
    drop(s);
    assert_eq!(server.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn websocket_client_gets_what_was_published_while_its_server_restarted() {
    client_across_a_restart("websocket_restart", false);
}

#[test]
fn long_poll_client_gets_what_was_published_while_its_server_restarted() {
    client_across_a_restart("long_poll_restart", true);
}
