//! The hub thread: owns the [`Hub`], runs API commands, and is the hub's clock driver
//! (`recv_timeout` until the next deadline, then `tick`). Turns hub effects into engine
//! calls, wrapping each shared payload into one websocket frame.

use super::delayed::Delayed;
use super::metrics_page;
use super::redis_bridge::RedisBridge;
use super::state_file::Saver;
use crate::api::listen;
use crate::api::nonce_book::NonceBook;
use crate::api::{Command, Kind, Outcome};
use crate::config::Config;
use crate::http::Response;
use crate::hub::{Effect, Hub, Time};
use crate::metrics::EngineCounters;
use crate::server::{ConnId, Handle, Refusal, Wakeups};
use crate::ws::{shared_frame, OpCode};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What workers and the app send to the hub thread.
#[derive(Debug)]
pub enum HubMsg {
    /// Run a command for the request on `conn`.
    Command {
        /// The engine connection that asked.
        conn: ConnId,
        /// What it asked.
        cmd: Box<Command>,
    },
    /// Send `response` on `conn` at `due` (a refused admin sign-in, held back).
    RespondAt {
        /// The engine connection that asked.
        conn: ConnId,
        /// When to answer.
        due: Instant,
        /// The answer.
        response: crate::http::Response,
    },
    /// A websocket sent something (client heartbeat).
    WsActivity(ConnId),
    /// An engine connection is gone.
    Closed(ConnId),
    /// Shutdown began: answer waiting polls, then acknowledge.
    Shutdown(Sender<()>),
    /// Something from Redis (shared mode).
    Redis(crate::redis::RedisEvent),
    /// Exit the thread.
    Stop,
}

/// The wall clock as the hub's [`Time`].
fn now() -> Time {
    Time(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0),
    )
}

/// Never sleep longer than this, so a wall-clock jump cannot stall timers for long.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// An empty hub on the wall clock with the config's timings, its ids seeded from std's
/// random hasher keys.
pub fn new_hub(config: &Config) -> Hub {
    let mut seed = RandomState::new().build_hasher();
    seed.write_u64(now().0);
    let wake_after = Duration::from_secs(config.wake_connections_after);
    let mut hub = Hub::new(now(), wake_after, seed.finish());
    hub.set_gc_periods(
        Duration::from_secs(config.gc_conns_after),
        Duration::from_secs(config.gc_channels_after),
    );
    hub
}

/// What the hub thread owns besides the hub.
pub struct Owned {
    /// Engine handle, for answers and deliveries.
    pub handle: Handle,
    /// The state-file saver, if `state_file` is set.
    pub saver: Option<Saver>,
    /// Strict signatures' nonces: every signed command passes through here, one at a
    /// time, so a replay is found without locks.
    pub nonces: NonceBook,
    /// The workers' counters, read by `GET /metrics`.
    pub counters: Arc<EngineCounters>,
    /// When the server started.
    pub started: Instant,
    /// Shared mode (`redis_url`): the way to Redis (docs/SCALING.md).
    pub bridge: Option<RedisBridge>,
}

/// Runs until [`HubMsg::Stop`] or until every sender is gone, then saves state.
pub fn run(mut hub: Hub, rx: Receiver<HubMsg>, owned: Owned) {
    let Owned {
        handle,
        mut saver,
        mut nonces,
        counters,
        started,
        mut bridge,
    } = owned;
    let mut delayed = Delayed::default();
    let mut answers = Vec::new();
    let bridge = &mut bridge;
    loop {
        let mut wait = hub.next_deadline().since(now()).min(MAX_WAIT);
        if let Some(due) = saver.as_ref().and_then(Saver::due) {
            wait = wait.min(due.saturating_duration_since(Instant::now()));
        }
        if let Some(due) = delayed.next_due() {
            wait = wait.min(due.saturating_duration_since(Instant::now()));
        }
        if let Some(b) = bridge.as_ref() {
            wait = wait.min(b.next_due().saturating_duration_since(Instant::now()));
        }
        match rx.recv_timeout(wait) {
            Ok(HubMsg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(msg) => {
                let sources = metrics_page::Sources {
                    engine: &counters,
                    saves: saver.as_ref().map(|s| &s.counters),
                    started,
                };
                let mut state = State {
                    nonces: &mut nonces,
                    delayed: &mut delayed,
                    sources: &sources,
                    bridge,
                    answers: &mut answers,
                };
                handle_msg(&mut hub, &handle, &mut state, msg);
                // Whatever else is already waiting is handled before the flush, so that
                // messages arriving together reach each socket in one write.
                if drain_waiting(&mut hub, &handle, &mut state, &rx) {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        for (conn, response) in delayed.take_due(Instant::now()) {
            handle.respond(conn, response);
        }
        hub.tick(now());
        if let Some(b) = bridge.as_mut() {
            b.tick(&hub, Instant::now());
            b.measure_backlog(handle.strained(), Instant::now());
        }
        let released = bridge
            .as_mut()
            .map(|b| b.release_parked(&handle, Instant::now()))
            .unwrap_or_default();
        for (conn, cmd) in released {
            run_command(&mut hub, &handle, bridge, &mut answers, conn, cmd);
        }
        flush(&mut hub, &handle, bridge);
        answer(&handle, &mut answers);
        if let Some(s) = saver.as_mut() {
            s.tick(&hub, Instant::now());
        }
    }
    hub.answer_all_polls();
    flush(&mut hub, &handle, bridge);
    answer(&handle, &mut answers);
    if let Some(s) = saver.as_mut() {
        s.save(&hub);
    }
}

/// At most this many queued messages are handled between two flushes, so deliveries
/// wait behind a bounded amount of work.
const MAX_DRAIN: usize = 64;

/// Handles up to [`MAX_DRAIN`] messages that are already queued, without waiting.
/// Returns true if the thread should stop.
fn drain_waiting(
    hub: &mut Hub,
    handle: &Handle,
    state: &mut State<'_>,
    rx: &Receiver<HubMsg>,
) -> bool {
    for _ in 0..MAX_DRAIN {
        match rx.try_recv() {
            Ok(HubMsg::Stop) | Err(TryRecvError::Disconnected) => return true,
            Ok(msg) => handle_msg(hub, handle, state, msg),
            Err(TryRecvError::Empty) => return false,
        }
    }
    false
}

/// What handling one message may touch besides the hub and the engine handle.
struct State<'a> {
    nonces: &'a mut NonceBook,
    delayed: &'a mut Delayed,
    sources: &'a metrics_page::Sources<'a>,
    bridge: &'a mut Option<RedisBridge>,
    /// Answers of the commands run since the last flush ([`answer`]).
    answers: &'a mut Vec<(ConnId, Response)>,
}

fn handle_msg(hub: &mut Hub, handle: &Handle, state: &mut State<'_>, msg: HubMsg) {
    let bridge = &mut *state.bridge;
    let answers = &mut *state.answers;
    match msg {
        HubMsg::Command { conn, cmd } => {
            let unix_secs = now().0 / 1_000_000;
            if let Err(refusal) = cmd.claim_nonce(state.nonces, unix_secs) {
                handle.respond(conn, refusal);
                return;
            }
            if matches!(cmd.kind, Kind::Metrics) {
                return handle.respond(
                    conn,
                    metrics_page::render(hub, state.sources, bridge.as_ref()),
                );
            }
            // Shared mode: a websocket for a connection made on another node waits while
            // this node takes the connection over from Redis.
            if let (Some(b), Kind::Ws(Some(id), Ok(_))) = (bridge.as_mut(), &cmd.kind) {
                if !hub.connections.contains_key(id) {
                    let id = *id;
                    if let Some((conn, cmd)) = b.adopt(conn, cmd, id) {
                        run_command(hub, handle, bridge, answers, conn, cmd);
                    }
                    return;
                }
            }
            // Shared mode: while some node is behind delivering, `/message` waits (at
            // most 200 ms, then 503) rather than being published
            // (`redis_bridge/backpressure.rs`, `parked.rs`).
            if let (Some(b), Kind::Message(_)) = (bridge.as_mut(), &cmd.kind) {
                if let Some((conn, cmd)) = b.admit_publish(handle, conn, cmd, Instant::now()) {
                    run_command(hub, handle, bridge, answers, conn, cmd);
                }
                return;
            }
            // Shared mode: `/info` and `/admin/admin.json` wait while Redis is read, and
            // are answered from the shared state.
            if let (Some(b), Kind::Info(_) | Kind::Admin) = (bridge.as_mut(), &cmd.kind) {
                if let Some((conn, cmd)) = b.info(conn, cmd) {
                    run_command(hub, handle, bridge, answers, conn, cmd);
                }
                return;
            }
            // Shared mode: a `/connect` or `/user_state` of a user new here waits while
            // Redis's copy of the user is read, so the user starts with the state other
            // nodes gave it.
            let user = match &cmd.kind {
                Kind::Connect(c) => Some(&c.params.username),
                Kind::UserState(u) => u.user.as_ref(),
                _ => None,
            };
            if let (Some(b), Some(name)) = (bridge.as_mut(), user) {
                if !hub.users.contains_key(name) {
                    let name = name.clone();
                    if let Some((conn, cmd)) = b.load_user(conn, cmd, &name) {
                        run_command(hub, handle, bridge, answers, conn, cmd);
                    }
                    return;
                }
            }
            run_command(hub, handle, bridge, answers, conn, cmd);
        }
        HubMsg::WsActivity(conn) => hub.on_ws_activity(conn, now()),
        HubMsg::Closed(conn) => hub.on_engine_close(conn),
        HubMsg::Redis(event) => {
            // The backlog is measured after every event too, not only once per loop: one
            // loop takes up to `MAX_DRAIN` messages, enough to fill a socket's queue.
            let ready = bridge.as_mut().and_then(|b| {
                let ready = b.on_event(hub, event, now());
                b.measure_backlog(handle.strained(), Instant::now());
                ready
            });
            if let Some((conn, cmd)) = ready {
                run_command(hub, handle, bridge, answers, conn, cmd);
            }
        }
        HubMsg::Shutdown(ack) => {
            if let Some(b) = bridge.as_mut() {
                b.refuse_parked(handle);
            }
            hub.answer_all_polls();
            flush(hub, handle, bridge);
            answer(handle, answers);
            let _ = ack.send(());
        }
        HubMsg::RespondAt {
            conn,
            due,
            response,
        } => state.delayed.hold(conn, due, response),
        HubMsg::Stop => {}
    }
}

/// Runs `cmd` for the request on `conn` and answers it (or leaves a long-poll waiting).
/// A response is posted after the flush that hands the command's deliveries to the
/// workers ([`answer`]).
fn run_command(
    hub: &mut Hub,
    handle: &Handle,
    bridge: &mut Option<RedisBridge>,
    answers: &mut Vec<(ConnId, Response)>,
    conn: ConnId,
    cmd: Box<Command>,
) {
    // Shared mode: an answer with a channel listing waits while the listing is read.
    if let Some(b) = bridge.as_mut().filter(|_| cmd.lists_channels()) {
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| cmd.run_listed(hub, conn, now())));
        let outcome = match run {
            Ok(Ok(listed)) => {
                // Its presence writes go first: Redis answers them before the reads.
                b.take_from(hub, None, now());
                if let Some(r) = b.listing(hub, conn, listed) {
                    handle.respond(conn, r);
                }
                return;
            }
            Ok(Err(outcome)) => outcome,
            Err(_) => Outcome::Respond(Refusal::Internal.response()),
        };
        if let Outcome::Respond(r) = outcome {
            handle.respond(conn, r);
        }
        return;
    }
    // A bug in one command must not take the hub thread (and every client) down:
    // answer the engine's 500 and carry on.
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| cmd.run(hub, conn, now())));
    let outcome = run.unwrap_or_else(|_| Outcome::Respond(Refusal::Internal.response()));
    match outcome {
        Outcome::Respond(r) => {
            // Shared mode: the answer waits until Redis took what it published.
            let r = match bridge {
                Some(b) => {
                    b.take_from(hub, Some(conn), now());
                    b.hold(conn, r)
                }
                None => Some(r),
            };
            if let Some(r) = r {
                answers.push((conn, r));
            }
        }
        Outcome::Upgrade(frames) => {
            let frames = frames
                .iter()
                .map(|p| shared_frame(OpCode::Text, p.as_bytes()))
                .collect();
            handle.upgrade(conn, frames);
        }
        Outcome::UpgradeAndClose => {
            handle.upgrade(conn, Vec::new());
            handle.close(conn, 1000);
        }
        // The poll waits in the hub, with everything its answer needs.
        Outcome::Waiting => {}
    }
}

/// Posts the answers of the commands run before the last flush. After the flush, so that
/// a worker has a command's deliveries before its answer: it writes the answer at once,
/// or, while it is far behind with its writes, after them, and a publisher's next
/// request then waits for what the server owes (`server/worker.rs`,
/// `ANSWER_NOW_WITHIN`).
fn answer(handle: &Handle, answers: &mut Vec<(ConnId, Response)>) {
    for (conn, response) in answers.drain(..) {
        handle.respond(conn, response);
    }
}

/// Hands the hub's effects to the engine: one frame per delivery group, and one wakeup
/// per worker for all the groups of this flush.
fn flush(hub: &mut Hub, handle: &Handle, bridge: &mut Option<RedisBridge>) {
    if let Some(b) = bridge {
        b.take_from(hub, None, now());
        b.release(handle);
    }
    let mut wakeups = Wakeups::default();
    for effect in hub.take_effects() {
        match effect {
            Effect::Send { conns, payload } => {
                let frame = shared_frame(OpCode::Text, payload.as_bytes());
                handle.send_many_unwoken(conns, frame, &mut wakeups);
            }
            Effect::Answer { http, reply, body } => {
                let answer = listen::answer(reply.callback.as_deref(), &body, &reply.headers);
                handle.respond(http, answer);
            }
            Effect::Close { conn, code } => handle.close(conn, code),
        }
    }
    handle.wake(&mut wakeups);
}
