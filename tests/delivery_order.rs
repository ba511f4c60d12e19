//! Delivery order while publishes arrive in the middle of write passes. The engine lets
//! mail that comes during a flush pass join it (`flush_dirty`, `join_pass` in
//! src/server/worker.rs): a socket the pass has still to write takes the new frames in the
//! same write, any other is written at the end of the pass. That moves whole sockets
//! within a pass, never frames within a socket, so each websocket must still get every
//! message of its channels exactly once, and each publisher's messages in the order the
//! server acknowledged them. Four publishers post at full speed to a wide channel (300
//! websockets, so its passes are long enough to take in new mail) and a narrow one (20),
//! and every websocket checks what it got.

mod server_common;

use serde_json::{json, Value};
use server_common::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const WIDE: usize = 300;
const NARROW: usize = 20;
/// Messages each publisher sends before its end marker.
const PER_PUBLISHER: u64 = 150;
/// Publishers 0 and 1 post to "wide", 2 and 3 to "narrow".
const PUBLISHERS: [(u64, &str); 4] = [(0, "wide"), (1, "wide"), (2, "narrow"), (3, "narrow")];
/// Generous, so a loaded CI machine does not make the test flake; a healthy run takes a
/// few seconds.
const WITHIN: Duration = Duration::from_secs(60);

/// One websocket client: its user, its connection id and the channels it is in.
#[derive(Clone)]
struct Reader {
    user: String,
    conn_id: String,
    channels: Vec<&'static str>,
}

fn readers() -> Vec<Reader> {
    let reader = |i: usize, user: String, channels: Vec<&'static str>| Reader {
        user,
        conn_id: format!("0f0f0f0f-0000-4000-8000-{i:012}"),
        channels,
    };
    let wide = (0..WIDE).map(|i| reader(i, format!("w{i}"), vec!["wide"]));
    let narrow = (0..NARROW).map(|i| reader(WIDE + i, format!("n{i}"), vec!["narrow"]));
    let both = std::iter::once(reader(WIDE + NARROW, "both".into(), vec!["wide", "narrow"]));
    wide.chain(narrow).chain(both).collect()
}

/// What one websocket saw of the publishers: per publisher, the sequence numbers in
/// arrival order and whether its end marker came; plus every item that should not have
/// come at all.
#[derive(Default)]
struct Seen {
    seqs: BTreeMap<u64, Vec<u64>>,
    ended: BTreeMap<u64, bool>,
    stray: Vec<String>,
}

impl Seen {
    /// Files one item. Items other than channel messages (heartbeats come as empty
    /// lists, so never here) are ignored.
    fn take(&mut self, me: &Reader, item: &Value) {
        if item["type"] != "message" {
            return;
        }
        let channel = item["channel"].as_str().unwrap_or("");
        let body = &item["message"];
        if !me.channels.contains(&channel) {
            self.stray.push(format!("from channel {channel:?}: {body}"));
            return;
        }
        if body.get("ready").is_some() {
            self.stray.push(format!("a second ready marker: {body}"));
            return;
        }
        let from = body["pub"].as_u64().and_then(|p| {
            PUBLISHERS
                .iter()
                .find(|(q, c)| *q == p && *c == channel)
                .map(|_| p)
        });
        let Some(p) = from else {
            self.stray
                .push(format!("not from a publisher of {channel:?}: {body}"));
            return;
        };
        if self.ended.get(&p) == Some(&true) {
            self.stray
                .push(format!("after publisher {p}'s end marker: {body}"));
        }
        if body["end"] == true {
            self.ended.insert(p, true);
        } else if let Some(seq) = body["seq"].as_u64() {
            self.seqs.entry(p).or_default().push(seq);
        } else {
            self.stray.push(format!("a message with no seq: {body}"));
        }
    }

    fn all_ended(&self, publishers: &[u64]) -> bool {
        publishers.iter().all(|p| self.ended.get(p) == Some(&true))
    }

    /// Everything wrong with what was seen, one line each; empty if all is well.
    fn problems(&self, publishers: &[u64]) -> Vec<String> {
        let mut out = self.stray.clone();
        for p in publishers {
            if self.ended.get(p) != Some(&true) {
                out.push(format!("publisher {p}'s end marker never came"));
            }
            let got = self.seqs.get(p).cloned().unwrap_or_default();
            out.extend(sequence_problems(*p, &got));
        }
        out
    }
}

/// What is wrong with one publisher's sequence numbers as a websocket got them: missing,
/// duplicated, or out of the order `0..PER_PUBLISHER` they were acknowledged in.
fn sequence_problems(p: u64, got: &[u64]) -> Vec<String> {
    let mut out = Vec::new();
    let mut counts = BTreeMap::new();
    for seq in got {
        *counts.entry(*seq).or_insert(0u32) += 1;
    }
    let missing: Vec<u64> = (0..PER_PUBLISHER)
        .filter(|s| !counts.contains_key(s))
        .collect();
    if !missing.is_empty() {
        out.push(format!(
            "publisher {p}: {} of {PER_PUBLISHER} missing: {missing:?}",
            missing.len()
        ));
    }
    let twice: Vec<u64> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, _)| *s)
        .collect();
    if !twice.is_empty() {
        out.push(format!("publisher {p}: got more than once: {twice:?}"));
    }
    let unknown: Vec<u64> = counts
        .keys()
        .filter(|s| **s >= PER_PUBLISHER)
        .copied()
        .collect();
    if !unknown.is_empty() {
        out.push(format!("publisher {p}: never sent: {unknown:?}"));
    }
    if let Some(at) = got.windows(2).position(|w| w[1] <= w[0]) {
        out.push(format!(
            "publisher {p}: out of order at position {}: seq {} came after {} ({} received)",
            at + 1,
            got[at + 1],
            got[at],
            got.len()
        ));
    }
    out
}

/// Publishers whose channel `me` is in.
fn publishers_of(me: &Reader) -> Vec<u64> {
    PUBLISHERS
        .iter()
        .filter(|(_, c)| me.channels.contains(c))
        .map(|(p, _)| *p)
        .collect()
}

/// One websocket's life: open, say so, wait for the ready marker of each of its channels
/// (so it is attached before the flow starts), say so, then read until every publisher
/// of its channels has ended. Returns what is wrong, each line naming the websocket.
fn read_one(
    addr: SocketAddr,
    me: Reader,
    opened: mpsc::Sender<()>,
    ready: mpsc::Sender<()>,
) -> Vec<String> {
    let who = format!("websocket of {} ({})", me.user, me.channels.join("+"));
    let mut ws = open_ws(addr, &me.conn_id);
    let _ = opened.send(());
    let mut readied = Vec::new();
    read_items(&mut ws, WITHIN, |item| {
        if item["type"] == "message" && item["message"]["ready"] == true {
            readied.push(item["channel"].as_str().unwrap_or("").to_string());
        }
        me.channels.iter().all(|c| readied.iter().any(|r| r == c))
    });
    if !me.channels.iter().all(|c| readied.iter().any(|r| r == c)) {
        return vec![format!(
            "{who}: ready markers seen for {readied:?} only, in {}s",
            WITHIN.as_secs()
        )];
    }
    let _ = ready.send(());
    let publishers = publishers_of(&me);
    let mut seen = Seen::default();
    read_items(&mut ws, WITHIN, |item| {
        seen.take(&me, item);
        seen.all_ended(&publishers)
    });
    seen.problems(&publishers)
        .into_iter()
        .map(|p| format!("{who}: {p}"))
        .collect()
}

/// Posts `PER_PUBLISHER` messages then the end marker, each after the previous one was
/// answered, so the sequence numbers are the order the server acknowledged them in.
fn publish_all(addr: SocketAddr, p: u64, channel: &str) -> Result<(), String> {
    let bodies = (0..PER_PUBLISHER)
        .map(|k| json!({"pub": p, "seq": k}))
        .chain(std::iter::once(json!({"pub": p, "end": true})));
    for body in bodies {
        let batch = json!([{"channel": channel, "user": "system", "message": body}]);
        let (status, answer) = call(addr, "POST", "/message", &batch);
        if status != 200 {
            return Err(format!(
                "publisher {p}: POST /message {body} answered {status}: {answer}"
            ));
        }
    }
    Ok(())
}

/// Waits for `n` signals on `rx`, or says how many came.
fn await_all(rx: &mpsc::Receiver<()>, n: usize, what: &str) {
    for got in 0..n {
        if rx.recv_timeout(WITHIN).is_err() {
            panic!(
                "only {got} of {n} websockets {what} within {}s",
                WITHIN.as_secs()
            );
        }
    }
}

#[test]
fn four_concurrent_publishers_reach_320_websockets_exactly_once_and_in_order() {
    let mut config = small_config();
    config.limits.idle_timeout = Duration::from_secs(120);
    // `app::spawn` leaves the process's log level alone (the binary sets it); 1 000
    // request lines would bury a failure's message.
    channelstream::log::set_level(channelstream::log::Level::Warning);
    let server = start(config);
    let addr = server.addr;
    let all = readers();
    for r in &all {
        connect(addr, &r.user, &r.conn_id, &r.channels);
    }
    let (opened_tx, opened_rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let threads: Vec<_> = all
        .iter()
        .cloned()
        .map(|r| {
            let (opened, ready) = (opened_tx.clone(), ready_tx.clone());
            // Named after the user, so a panic in `read_items` (a websocket error) names it.
            thread::Builder::new()
                .name(r.user.clone())
                .spawn(move || read_one(addr, r, opened, ready))
                .expect("reader thread starts")
        })
        .collect();
    await_all(&opened_rx, all.len(), "opened");
    for channel in ["wide", "narrow"] {
        post(
            addr,
            "/message",
            json!([{"channel": channel, "user": "system", "message": {"ready": true}}]),
        );
    }
    await_all(&ready_rx, all.len(), "saw their ready markers");

    let publishers: Vec<_> = PUBLISHERS
        .iter()
        .map(|&(p, channel)| thread::spawn(move || publish_all(addr, p, channel)))
        .collect();
    let mut problems = Vec::new();
    for p in publishers {
        if let Err(e) = p.join().expect("publisher thread") {
            problems.push(e);
        }
    }
    for t in threads {
        let name = t.thread().name().unwrap_or("?").to_string();
        match t.join() {
            Ok(found) => problems.extend(found),
            Err(_) => problems.push(format!("websocket of {name}: its reader panicked (above)")),
        }
    }
    let shown: Vec<&String> = problems.iter().take(40).collect();
    assert!(
        problems.is_empty(),
        "{} problems (first 40):\n{}",
        problems.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    server.shutdown().expect("clean shutdown");
}

#[test]
fn sequence_problems_names_loss_duplicates_and_reordering() {
    let whole: Vec<u64> = (0..PER_PUBLISHER).collect();
    assert!(sequence_problems(0, &whole).is_empty());
    let mut lost = whole.clone();
    lost.remove(7);
    let mut doubled = whole.clone();
    doubled.insert(9, 8);
    let mut swapped = whole.clone();
    swapped.swap(3, 4);
    let report = |got: &[u64]| sequence_problems(1, got).join("\n");
    assert!(report(&lost).contains("missing: [7]"), "{}", report(&lost));
    assert!(report(&doubled).contains("more than once: [8]"));
    assert!(report(&swapped).contains("seq 3 came after 4"));
}
