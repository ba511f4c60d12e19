//! A receiver thread: one mio `Poll` multiplexing many subscribers, plus a few
//! keep-alive control connections that send their signed `/connect` calls. Owns the
//! sockets and the setup pipeline (register → open → upgrade); the protocol of each
//! subscriber lives in `sub.rs`.

use crate::net;
use crate::procstat::Sample;
use crate::rng::Rng;
pub use crate::shared::Shared;
use crate::stats::RecvStats;
use crate::sub::{Cx, Kind, Phase, Proto};
use crate::wire::{ReadEnd, Wire};
use channelstream::api::signature::Signer;

#[path = "control.rs"]
mod control;
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tokens at and above this are control connections.
const CONTROL: usize = usize::MAX / 2;
/// Bytes read from one socket per turn, so a fast sender cannot starve the others.
const READ_BUDGET: usize = 128 * 1024;
/// How long closing may take before the rest are dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// One subscriber to run.
pub struct SubSpec {
    pub conn_id: String,
    pub username: String,
    pub channel: u32,
    pub source: Option<IpAddr>,
}

/// What a worker runs.
pub struct Spec {
    pub kind: Kind,
    /// Send `/connect` first (false for the sink, which needs none).
    pub register: bool,
    pub target: SocketAddr,
    pub host: String,
    pub secret: String,
    pub inflight: usize,
    pub control_conns: usize,
    pub parse_json: bool,
    pub channels: usize,
    pub subs: Vec<SubSpec>,
    pub seed: u64,
}

/// A subscriber's place in the run's accounting (separate from its protocol phase).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    /// Not open yet; ending now counts as a setup failure.
    Pending,
    /// Counted as opened; ending now is a drop unless the run is closing.
    Opened,
    /// Counted and finished.
    Ended,
}

struct Sub {
    wire: Option<Wire>,
    proto: Proto,
    username: String,
    source: Option<IpAddr>,
    life: Life,
    /// Counted in `inflight` until open or failed.
    setting_up: bool,
    /// Listed in `Worker::again` (listed once however many times it hits the budget).
    again: bool,
}

struct Control {
    wire: Option<Wire>,
    busy: Option<usize>,
}

struct Worker {
    poll: Poll,
    spec: Spec,
    shared: Arc<Shared>,
    subs: Vec<Sub>,
    controls: Vec<Control>,
    register_queue: VecDeque<usize>,
    ready_queue: VecDeque<usize>,
    inflight: usize,
    live: usize,
    stats: RecvStats,
    rng: Rng,
    signer: Signer,
    signature: (u64, String),
    scratch: Vec<u8>,
    closing_since: Option<Instant>,
    reported: (u64, u64, u64),
    /// Subscribers that stopped at the read budget: served again next turn.
    again: Vec<usize>,
}

/// Runs the subscribers until the run closes them; returns what they counted.
pub fn run(mut spec: Spec, shared: Arc<Shared>) -> io::Result<RecvStats> {
    let cpu0 = Sample::read("thread-self").unwrap_or_default();
    let specs = std::mem::take(&mut spec.subs);
    let register = spec.register;
    let mut w = Worker {
        poll: Poll::new()?,
        controls: (0..spec.control_conns)
            .map(|_| Control {
                wire: None,
                busy: None,
            })
            .collect(),
        subs: specs
            .into_iter()
            .map(|s| Sub {
                wire: None,
                proto: Proto::new(spec.kind, s.conn_id, s.channel),
                username: s.username,
                source: s.source,
                life: Life::Pending,
                setting_up: false,
                again: false,
            })
            .collect(),
        register_queue: VecDeque::new(),
        ready_queue: VecDeque::new(),
        inflight: 0,
        live: 0,
        stats: RecvStats {
            open_per_channel: vec![0; spec.channels],
            ..RecvStats::default()
        },
        rng: Rng::from_os(spec.seed),
        signer: Signer::new(&spec.secret),
        signature: (0, String::new()),
        scratch: vec![0; 256 * 1024],
        closing_since: None,
        reported: (0, 0, 0),
        again: Vec::new(),
        spec,
        shared,
    };
    w.live = w.subs.len();
    for (i, sub) in w.subs.iter_mut().enumerate() {
        if register {
            sub.proto.phase = Phase::Register;
            w.register_queue.push_back(i);
        } else {
            sub.proto.phase = Phase::Ready;
            w.ready_queue.push_back(i);
        }
    }
    w.run_loop()?;
    for sub in &w.subs {
        w.stats.duplicates += sub.proto.seen().duplicates;
        w.stats.out_of_range += sub.proto.seen().out_of_range;
    }
    let cpu1 = Sample::read("thread-self").unwrap_or_default();
    w.stats.cpu_s = cpu1.cpu_s() - cpu0.cpu_s();
    Ok(w.stats)
}

impl Worker {
    fn run_loop(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let wait = if self.again.is_empty() { 20 } else { 0 };
            match self
                .poll
                .poll(&mut events, Some(Duration::from_millis(wait)))
            {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => other?,
            }
            for (n, event) in events.iter().enumerate() {
                match event.token() {
                    Token(t) if t >= CONTROL => self.on_control_event(t - CONTROL),
                    Token(i) => self.on_sub_event(i, !event.is_read_closed() && !event.is_error()),
                }
                if n % 64 == 63 {
                    self.report_progress();
                }
            }
            for (n, i) in std::mem::take(&mut self.again).into_iter().enumerate() {
                if let Some(sub) = self.subs.get_mut(i) {
                    sub.again = false;
                }
                self.on_sub_event(i, false);
                if n % 64 == 63 {
                    self.report_progress();
                }
            }
            self.start_more();
            self.report_progress();
            if self.shared.stop.load(Relaxed) {
                return Ok(());
            }
            if self.shared.closing.load(Relaxed) {
                if self.closing_since.is_none() {
                    self.closing_since = Some(Instant::now());
                    self.close_all();
                }
                let waited = self.closing_since.map(|t| t.elapsed()).unwrap_or_default();
                if self.live == 0 || waited > CLOSE_GRACE {
                    for i in 0..self.subs.len() {
                        if self.subs[i].life != Life::Ended {
                            self.stats.error("close: no answer in time");
                            self.end_sub(i, End::Clean);
                        }
                    }
                    return Ok(());
                }
            }
        }
    }

    fn report_progress(&mut self) {
        let now = (self.stats.unique, self.stats.heartbeats, self.stats.drops);
        self.shared
            .delivered
            .fetch_add(now.0 - self.reported.0, Relaxed);
        self.shared
            .heartbeats
            .fetch_add(now.1 - self.reported.1, Relaxed);
        self.shared
            .drops
            .fetch_add(now.2 - self.reported.2, Relaxed);
        self.reported = now;
    }

    /// Sends `/connect` for queued subscribers, and opens registered subscribers'
    /// sockets while in-flight setups are under the cap.
    fn start_more(&mut self) {
        if self.closing_since.is_some() {
            return;
        }
        self.send_registrations();
        while self.inflight < self.spec.inflight {
            let Some(i) = self.ready_queue.pop_front() else {
                break;
            };
            self.open_sub(i);
        }
    }

    fn open_sub(&mut self, i: usize) {
        let sub = &mut self.subs[i];
        let stream = net::connect(self.spec.target, sub.source).and_then(|mut s| {
            self.poll.registry().register(
                &mut s,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(s)
        });
        match stream {
            Ok(s) => {
                let mut wire = Wire::new(s);
                sub.proto.setup_started.get_or_insert_with(Instant::now);
                sub.proto
                    .first_request(&mut self.rng, &self.spec.host, wire.out());
                sub.wire = Some(wire);
                sub.setting_up = true;
                self.inflight += 1;
            }
            Err(e) => self.fail_sub(i, format!("connect: {}", e.kind())),
        }
    }

    fn fail_sub(&mut self, i: usize, reason: String) {
        self.stats.error(reason);
        self.end_sub(i, End::Lost);
    }

    /// Drops a subscriber's socket and settles its counters. Idempotent.
    fn end_sub(&mut self, i: usize, how: End) {
        let sub = &mut self.subs[i];
        if let Some(mut wire) = sub.wire.take() {
            let _ = self.poll.registry().deregister(&mut wire.stream);
        }
        if sub.setting_up {
            sub.setting_up = false;
            self.inflight -= 1;
        }
        sub.proto.phase = Phase::Done;
        match std::mem::replace(&mut sub.life, Life::Ended) {
            Life::Ended => return,
            Life::Pending => {
                self.stats.failed += 1;
                self.shared.failed.fetch_add(1, Relaxed);
            }
            Life::Opened => match how {
                End::Clean => self.stats.closed_clean += 1,
                End::Lost if self.closing_since.is_some() => self.stats.closed_clean += 1,
                End::Lost => self.stats.drops += 1,
            },
        }
        self.live -= 1;
    }

    /// Marks a subscriber open: counters, setup latency, in-flight slot.
    fn opened(&mut self, i: usize) {
        let sub = &mut self.subs[i];
        if sub.life != Life::Pending {
            return;
        }
        sub.life = Life::Opened;
        if sub.setting_up {
            sub.setting_up = false;
            self.inflight -= 1;
        }
        if let Some(t) = sub.proto.setup_started {
            self.stats.setup.record(t.elapsed().as_nanos() as u64);
        }
        self.stats.opened += 1;
        if let Some(c) = self
            .stats
            .open_per_channel
            .get_mut(sub.proto.channel as usize)
        {
            *c += 1;
        }
        self.shared.opened.fetch_add(1, Relaxed);
    }

    /// End of the measurement: close frames to open websockets, drop everything else.
    fn close_all(&mut self) {
        for i in 0..self.subs.len() {
            let sub = &mut self.subs[i];
            match (sub.life, sub.proto.phase, sub.wire.as_mut()) {
                (Life::Opened, Phase::Open, Some(wire)) => {
                    sub.proto.close(&mut self.rng, wire.out());
                    if wire.flush().is_err() {
                        self.end_sub(i, End::Clean);
                    }
                }
                (Life::Ended, _, _) => {}
                (Life::Pending, _, _) => self.fail_sub(i, "setup: not finished at close".into()),
                _ => self.end_sub(i, End::Clean),
            }
        }
    }

    /// `short_read_drains`: the event carried no peer close, so a short read may end the
    /// read pass (see `Wire::read_all`).
    fn on_sub_event(&mut self, i: usize, short_read_drains: bool) {
        let Some(sub) = self.subs.get_mut(i) else {
            return;
        };
        let Some(wire) = sub.wire.as_mut() else {
            return;
        };
        if !wire.connected {
            match net::connected(&wire.stream) {
                Ok(true) => wire.connected = true,
                Ok(false) => return,
                Err(e) => return self.fail_sub(i, format!("connect: {}", e.kind())),
            }
        }
        let closing = self.closing_since.is_some();
        let mut cx = Cx {
            stats: &mut self.stats,
            rng: &mut self.rng,
            start: self.shared.start,
            now: Instant::now(),
            parse_json: self.spec.parse_json,
            host: &self.spec.host,
            closing,
        };
        if sub.proto.kind == Kind::LongPoll {
            net::quickack(&wire.stream);
        }
        let before = sub.proto.phase;
        let proto = &mut sub.proto;
        let end = wire.read_all(
            &mut self.scratch,
            READ_BUDGET,
            short_read_drains,
            |buf, out| {
                cx.now = Instant::now();
                proto.on_bytes(buf, out, &mut cx)
            },
        );
        let flushed = wire.flush();
        let connected_lp = sub.proto.kind == Kind::LongPoll && wire.connected;
        let phase = sub.proto.phase;
        if phase == Phase::Open || (connected_lp && phase == Phase::Polling) {
            self.opened(i);
        }
        if phase == Phase::Done {
            // The protocol ended it: our close answered, or a server close or a
            // protocol failure (its reason is already counted).
            let how = if before == Phase::Closing {
                End::Clean
            } else {
                End::Lost
            };
            self.end_sub(i, how);
        } else if let Err(e) = flushed {
            self.fail_sub(i, format!("write: {}", e.kind()));
        } else {
            match end {
                ReadEnd::Open => {}
                ReadEnd::Budget if !self.subs[i].again => {
                    self.subs[i].again = true;
                    self.again.push(i);
                }
                ReadEnd::Budget => {}
                ReadEnd::Eof if phase == Phase::Closing => self.end_sub(i, End::Clean),
                ReadEnd::Eof => self.fail_sub(i, "closed by server (EOF)".into()),
                ReadEnd::Error(k) => self.fail_sub(i, format!("read: {k}")),
            }
        }
    }
}

/// How a subscriber ended, for the accounting in `end_sub`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// We closed it (or closing finished it).
    Clean,
    /// The server or the network ended it.
    Lost,
}
