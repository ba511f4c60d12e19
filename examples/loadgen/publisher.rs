//! The publisher thread: P keep-alive connections sending signed `POST /message`
//! batches, each connection with at most one request in flight, paced to a rate or as
//! fast as the server answers. Counts what the server accepted, per channel, because
//! expected deliveries are computed from accepted messages only.

use crate::args::Rate;
use crate::histogram::Histogram;
use crate::http;
use crate::net;
use crate::payload::{self, Probe};
use crate::procstat::Sample;
use crate::wire::{ReadEnd, Wire};
use channelstream::api::signature::Signer;
use channelstream::decoded::Decoded;
use mio::{Events, Interest, Poll, Token};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long in-flight requests may take to answer after the publishing time is up.
const FINISH_GRACE: Duration = Duration::from_secs(5);

/// What to publish.
pub struct Spec {
    pub target: SocketAddr,
    pub host: String,
    pub secret: String,
    pub publishers: usize,
    pub batch: usize,
    pub channels: usize,
    pub payload: usize,
    pub rate: Rate,
    pub duration: Duration,
    /// Zero of the probe timestamps (the receivers use the same).
    pub start: Instant,
}

/// What the publisher counted.
#[derive(Default)]
pub struct Stats {
    pub batches_sent: u64,
    pub batches_ok: u64,
    pub batches_failed: u64,
    pub messages_ok: u64,
    /// Accepted messages per channel index.
    pub per_channel_ok: Vec<u64>,
    /// Request round trip of `POST /message`, ns.
    pub rtt: Histogram,
    pub errors: BTreeMap<String, u64>,
    /// Most batches that were due but not yet sent (rate mode: the publisher or the
    /// server could not keep up).
    pub behind_max: u64,
    /// Seconds from the first send to the last answer.
    pub elapsed_s: f64,
    pub cpu_s: f64,
}

struct Conn {
    wire: Option<Wire>,
    /// Channels of the in-flight batch's messages, and when it was sent.
    busy: Option<(Vec<u32>, Instant)>,
}

/// Publishes for `spec.duration`, then waits for the answers in flight.
pub fn run(spec: Spec) -> io::Result<Stats> {
    let cpu0 = Sample::read("thread-self").unwrap_or_default();
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(256);
    let signer = Signer::new(&spec.secret);
    let mut conns: Vec<Conn> = (0..spec.publishers)
        .map(|_| Conn {
            wire: None,
            busy: None,
        })
        .collect();
    let mut stats = Stats {
        per_channel_ok: vec![0; spec.channels],
        ..Stats::default()
    };
    let mut batcher = Batcher {
        seq: vec![0; spec.channels],
        next_message: 0,
    };
    let mut scratch = vec![0u8; 64 * 1024];
    let began = Instant::now();
    let stop_at = began + spec.duration;
    loop {
        let now = Instant::now();
        let publishing = now < stop_at;
        if !publishing && conns.iter().all(|c| c.busy.is_none()) {
            break;
        }
        if !publishing && now > stop_at + FINISH_GRACE {
            *stats
                .errors
                .entry("publish: no answer in time".into())
                .or_insert(0) += conns.iter().filter(|c| c.busy.is_some()).count() as u64;
            break;
        }
        // Send what is due on idle connections.
        let due = match spec.rate {
            Rate::Max => u64::MAX,
            Rate::PerSecond(r) => {
                ((now - began).as_secs_f64() * r / spec.batch as f64).floor() as u64 + 1
            }
        };
        if let Rate::PerSecond(_) = spec.rate {
            stats.behind_max = stats
                .behind_max
                .max(due.saturating_sub(stats.batches_sent + 1));
        }
        for (k, conn) in conns.iter_mut().enumerate() {
            if !publishing || conn.busy.is_some() || stats.batches_sent >= due {
                continue;
            }
            if conn.wire.is_none() {
                let mut s = net::connect(spec.target, None)?;
                poll.registry().register(
                    &mut s,
                    Token(k),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                conn.wire = Some(Wire::new(s));
            }
            let Some(wire) = conn.wire.as_mut() else {
                continue;
            };
            let sent_ns = spec.start.elapsed().as_nanos() as u64;
            let mut body = Vec::with_capacity(spec.batch * (spec.payload + 80) + 2);
            let chans = encode_batch(&mut batcher, spec.batch, spec.payload, sent_ns, &mut body);
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let sig = signer.sign("channelstream", secs);
            http::encode_request(
                "POST",
                "/message",
                &spec.host,
                Some(&sig),
                &body,
                wire.out(),
            );
            let _ = wire.flush();
            conn.busy = Some((chans, Instant::now()));
            stats.batches_sent += 1;
        }
        let timeout = match spec.rate {
            Rate::PerSecond(r) if publishing => {
                let next = Duration::from_secs_f64(due as f64 * spec.batch as f64 / r);
                (began + next)
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(20))
            }
            _ => Duration::from_millis(20),
        };
        match poll.poll(&mut events, Some(timeout)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => other?,
        }
        for event in &events {
            let Some(conn) = conns.get_mut(event.token().0) else {
                continue;
            };
            on_event(conn, &mut scratch, &mut stats, &poll);
        }
    }
    stats.elapsed_s = began.elapsed().as_secs_f64();
    let cpu1 = Sample::read("thread-self").unwrap_or_default();
    stats.cpu_s = cpu1.cpu_s() - cpu0.cpu_s();
    Ok(stats)
}

/// Channel assignment and per-channel sequence numbers of published messages.
struct Batcher {
    /// Next seq per channel.
    seq: Vec<u64>,
    /// Messages so far; message k goes to channel k mod channels (uniform spread).
    next_message: u64,
}

/// Appends a `POST /message` body of `n` messages to `out`; returns each message's
/// channel (for counting what the server accepted).
fn encode_batch(
    b: &mut Batcher,
    n: usize,
    payload: usize,
    sent_ns: u64,
    out: &mut Vec<u8>,
) -> Vec<u32> {
    let channels = b.seq.len().max(1) as u64;
    let mut chans = Vec::with_capacity(n);
    out.push(b'[');
    for m in 0..n {
        let ch = (b.next_message % channels) as usize;
        b.next_message += 1;
        if m > 0 {
            out.push(b',');
        }
        out.extend_from_slice(
            format!(
                "{{\"channel\":\"lg{ch}\",\"user\":\"loadgen\",\"message\":{{\"{}\":\"",
                payload::KEY
            )
            .as_bytes(),
        );
        let seq = b.seq.get_mut(ch).map(|s| {
            *s += 1;
            *s - 1
        });
        Probe {
            channel: ch as u32,
            seq: seq.unwrap_or(0),
            sent_ns,
        }
        .encode(payload, out);
        out.extend_from_slice(b"\"}}");
        chans.push(ch as u32);
    }
    out.push(b']');
    chans
}

fn error(stats: &mut Stats, reason: String) {
    *stats.errors.entry(reason).or_insert(0) += 1;
}

fn on_event(conn: &mut Conn, scratch: &mut [u8], stats: &mut Stats, poll: &Poll) {
    let Some(wire) = conn.wire.as_mut() else {
        return;
    };
    if !wire.connected {
        match net::connected(&wire.stream) {
            Ok(true) => wire.connected = true,
            Ok(false) => return,
            Err(e) => {
                return drop_conn(conn, stats, poll, format!("publish connect: {}", e.kind()))
            }
        }
    }
    net::quickack(&wire.stream);
    let mut responses = Vec::new();
    let end = wire.read_all(scratch, usize::MAX, false, |buf, _| {
        let mut at = 0;
        while let Ok(Decoded::Done { value, consumed }) = http::decode_response(&buf[at..], 1 << 24)
        {
            responses.push(value);
            at += consumed;
        }
        at
    });
    let flushed = wire.flush();
    let mut keep = true;
    for r in responses {
        let Some((chans, sent)) = conn.busy.take() else {
            error(stats, "publish: response without a request".into());
            continue;
        };
        stats.rtt.record(sent.elapsed().as_nanos() as u64);
        if r.status == 200 {
            stats.batches_ok += 1;
            stats.messages_ok += chans.len() as u64;
            for c in chans {
                if let Some(n) = stats.per_channel_ok.get_mut(c as usize) {
                    *n += 1;
                }
            }
        } else {
            stats.batches_failed += 1;
            error(stats, format!("publish status {}", r.status));
        }
        keep &= r.keep_alive;
    }
    match (end, flushed) {
        (ReadEnd::Open | ReadEnd::Budget, Ok(())) if keep => {}
        (ReadEnd::Open | ReadEnd::Budget, Ok(())) => drop_conn(conn, stats, poll, String::new()),
        (ReadEnd::Eof, Ok(())) => drop_conn(conn, stats, poll, "publish: closed by server".into()),
        (ReadEnd::Error(k), _) => drop_conn(conn, stats, poll, format!("publish read: {k}")),
        (_, Err(e)) => drop_conn(conn, stats, poll, format!("publish write: {}", e.kind())),
    }
}

/// Closes a publisher connection; a batch in flight counts as failed (it may or may
/// not have been delivered, and is not counted as published).
fn drop_conn(conn: &mut Conn, stats: &mut Stats, poll: &Poll, reason: String) {
    if let Some(mut wire) = conn.wire.take() {
        let _ = poll.registry().deregister(&mut wire.stream);
    }
    if conn.busy.take().is_some() {
        stats.batches_failed += 1;
    }
    if !reason.is_empty() {
        error(stats, reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_json_lists_spread_over_channels_with_per_channel_seqs() {
        let mut b = Batcher {
            seq: vec![0; 3],
            next_message: 0,
        };
        let mut first = Vec::new();
        let chans = encode_batch(&mut b, 4, 60, 7, &mut first);
        assert_eq!(chans, vec![0, 1, 2, 0]);
        let mut second = Vec::new();
        encode_batch(&mut b, 2, 60, 8, &mut second);
        let mut probes = Vec::new();
        for body in [&first, &second] {
            let items: serde_json::Value = serde_json::from_slice(body).expect("valid JSON");
            for item in items.as_array().unwrap() {
                assert_eq!(item["user"], "loadgen");
                let lg = item["message"][payload::KEY].as_str().unwrap();
                assert_eq!(lg.len(), 60);
                let p = Probe::parse(lg.as_bytes()).unwrap();
                assert_eq!(item["channel"], format!("lg{}", p.channel));
                probes.push((p.channel, p.seq, p.sent_ns));
            }
        }
        assert_eq!(
            probes,
            vec![
                (0, 0, 7),
                (1, 0, 7),
                (2, 0, 7),
                (0, 1, 7),
                (1, 1, 8),
                (2, 1, 8)
            ]
        );
    }
}
