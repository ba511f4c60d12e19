//! The glue: implements [`crate::server::App`] for channelstream, runs the hub thread and
//! routes hub output to connections through [`crate::server::Handle`].
//!
//! Workers do what needs no state (authorization, JSON, validation) and pass a command
//! to the hub thread over an `mpsc` channel, answering `Reply::Later`; the hub thread owns
//! the [`Hub`](crate::hub::Hub), runs commands, drives its clock and answers through the
//! engine handle. Only this module and the engine read the clock. With `state_file` set,
//! the hub is restored at start and saved every `snapshot_interval` and at shutdown
//! (`state_file.rs`).

mod delayed;
mod hub_thread;
mod metrics_page;
pub mod notify;
mod redis_bridge;
mod redis_metrics;
mod reload;
mod state_file;

use crate::api::health::{self, Readiness};
use crate::api::{Api, Routed};
use crate::config::Config;
use crate::http::Request;
use crate::metrics::Endpoint;
use crate::redis::{LinkStats, Role};
use crate::server::{App, ConnId, Ctx, Handle, Reply, Server, ServerConfig, WsMessage};
use hub_thread::HubMsg;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A channelstream server running in background threads.
#[derive(Debug)]
pub struct Running {
    /// The bound address (with `port = 0` in the config, the port picked).
    pub addr: SocketAddr,
    /// The engine handle (shutdown, sends).
    pub handle: Handle,
    engine: JoinHandle<io::Result<()>>,
    hub: JoinHandle<()>,
    to_hub: Sender<HubMsg>,
}

impl Running {
    /// Starts a clean shutdown and waits until every thread has finished.
    pub fn shutdown(self) -> io::Result<()> {
        self.handle.shutdown();
        self.wait()
    }

    /// Waits until the server stops by itself (SIGTERM/SIGINT).
    pub fn wait(self) -> io::Result<()> {
        let result = self
            .engine
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("engine thread panicked")));
        let _ = self.to_hub.send(HubMsg::Stop);
        if self.hub.join().is_err() {
            return Err(io::Error::other("hub thread panicked"));
        }
        result
    }
}

/// Binds `config.host:config.port`, starts the hub thread and the engine workers, and
/// returns at once.
pub fn spawn(mut config: Config) -> io::Result<Running> {
    if config.cookie_secret.is_empty() {
        // Admin sessions are signed with it: never with an empty key (`utils.py` also
        // picks a random one).
        config.cookie_secret = crate::config::random_secret().map_err(io::Error::other)?;
    }
    let server = Server::bind(ServerConfig {
        addr: SocketAddr::new(config.host, config.port),
        workers: config.workers.max(1),
        limits: config.limits,
    })?;
    let addr = server.local_addr();
    let handle = server.handle();
    let mut state = hub_thread::new_hub(&config);
    let saver = match &config.state_file {
        Some(path) => {
            state_file::load_or_set_aside(&mut state, path)?;
            Some(state_file::Saver::new(
                path.clone(),
                config.snapshot_interval,
                Instant::now(),
            ))
        }
        None => None,
    };
    let (to_hub, from_workers) = mpsc::channel();
    let bridge = match &config.redis_url {
        Some(url) => {
            // Shared mode (docs/SCALING.md): the link's events go to the hub thread.
            state.set_shared();
            let to_hub = to_hub.clone();
            // Bounded: past the gate's limit, published messages are dropped here and
            // repaired from Redis later (`redis_bridge/gate.rs`).
            let gate = redis_bridge::EventGate::default();
            let admit = gate.clone();
            let on_event = move |event| {
                if admit.admit(&event) {
                    let _ = to_hub.send(HubMsg::Redis(event));
                }
            };
            let prefix = &config.redis_key_prefix;
            let ttl = Duration::from_secs(config.redis_presence_ttl);
            let mut bridge =
                redis_bridge::RedisBridge::start(url.clone(), prefix, ttl, gate, on_event)?;
            bridge.set_list_bound(config.max_channels_per_request);
            // Messages in transit inside this node count toward its backlog as its
            // sockets' queues do: past a sixteenth of a socket's limit, it is behind.
            bridge.set_behind_bytes(config.limits.max_outbound / 16);
            Some(bridge)
        }
        None => None,
    };
    // Workers read whether the Redis command connection is up for `/readyz`.
    let redis = bridge.as_ref().map(|b| b.link_stats().clone());
    let owned = hub_thread::Owned {
        handle: handle.clone(),
        saver,
        nonces: crate::api::nonce_book::NonceBook::new(config.max_signature_nonces),
        counters: server.counters(),
        started: Instant::now(),
        bridge,
    };
    let hub = thread::Builder::new()
        .name("channelstream-hub".into())
        .spawn(move || hub_thread::run(state, from_workers, owned))?;
    let app = std::sync::Arc::new(Channelstream {
        handle: handle.clone(),
        api: RwLock::new(Arc::new(Api::new(&config))),
        to_hub: to_hub.clone(),
        config: Mutex::new(config),
        redis,
    });
    let engine = thread::Builder::new()
        .name("channelstream-engine".into())
        .spawn(move || server.run(app))?;
    Ok(Running {
        addr,
        handle,
        engine,
        hub,
        to_hub,
    })
}

/// Client messages forwarded as activity at most this often per websocket (the engine
/// keeps the per-connection slot, `Ctx::once_per`): activity only matters at GC
/// granularity (seconds), and a client flooding tiny frames must not flood the hub thread.
const ACTIVITY_EVERY: Duration = Duration::from_secs(1);

/// The [`App`]: the worker half of the API plus the way to the hub thread.
struct Channelstream {
    /// Replaced whole when `SIGHUP` reloads the settings a running server can change.
    api: RwLock<Arc<Api>>,
    to_hub: Sender<HubMsg>,
    /// The settings in force, compared with the file on `SIGHUP`.
    config: Mutex<Config>,
    /// The engine, for limits changed by `SIGHUP`.
    handle: Handle,
    /// With `redis_url` set: the link's state (`/readyz` is 503 while its command
    /// connection is down).
    redis: Option<Arc<LinkStats>>,
}

impl Channelstream {
    /// The API settings in force now.
    fn api(&self) -> Arc<Api> {
        // A writer that panicked left a whole `Arc` behind; use it.
        self.api
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn send(&self, msg: HubMsg) {
        // Fails only once the hub thread has stopped, during shutdown.
        let _ = self.to_hub.send(msg);
    }
}

/// `a, b` or `none`, for the reload line.
fn names(keys: &[&str]) -> String {
    if keys.is_empty() {
        "none".into()
    } else {
        keys.join(", ")
    }
}

impl App for Channelstream {
    fn on_request(&self, req: Request, ctx: &mut Ctx<'_>) -> Reply {
        let api = self.api();
        let client = api.client(&req, ctx.peer().ip());
        ctx.describe(Endpoint::of(req.path()), client);
        let ready = if ctx.handle().is_shutting_down() {
            Readiness::ShuttingDown
        } else if self
            .redis
            .as_ref()
            .is_some_and(|r| !r.is_up(Role::Commands))
        {
            Readiness::SharedStateDown
        } else {
            Readiness::Ready
        };
        if let Some(answer) = health::answer(req.path(), &req.method, ready) {
            return Reply::Respond(answer);
        }
        if let Some(cmd) = api.route_ws(&req) {
            // The engine refused a bad handshake before we saw it (the reference's ws4py
            // fails those with a 500). A request with no `Upgrade` at all is answered
            // `Upgrade` too, so the engine refuses it the same one way (400).
            if !ctx.is_upgrade() {
                return Reply::Upgrade { frames: Vec::new() };
            }
            self.send(HubMsg::Command {
                conn: ctx.conn(),
                cmd: Box::new(cmd),
            });
            return Reply::Later;
        }
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        match api.route_at(&req, ctx.peer().ip(), unix) {
            Routed::Respond(r) => Reply::Respond(r),
            Routed::After(delay, response) => {
                self.send(HubMsg::RespondAt {
                    conn: ctx.conn(),
                    due: Instant::now() + delay,
                    response,
                });
                Reply::Later
            }
            Routed::Hub(cmd) => {
                self.send(HubMsg::Command {
                    conn: ctx.conn(),
                    cmd,
                });
                Reply::Later
            }
        }
    }

    fn on_ws_message(&self, msg: WsMessage, ctx: &mut Ctx<'_>) {
        let _ = msg; // any message counts as a client heartbeat; content is ignored
        if ctx.once_per(ACTIVITY_EVERY) {
            self.send(HubMsg::WsActivity(ctx.conn()));
        }
    }

    fn on_close(&self, conn: ConnId) {
        self.send(HubMsg::Closed(conn));
    }

    fn on_reload(&self) {
        let _ = notify::notify("RELOADING=1");
        match crate::config::from_process() {
            Ok(crate::config::Command::Run(new, warnings)) => {
                for w in warnings {
                    crate::log!(Warning, "{w}");
                }
                let mut config = self.config.lock().unwrap_or_else(|p| p.into_inner());
                let (live, restart) = reload::plan(&config, &new);
                reload::apply_logging(&new);
                // What is in force: the live part of `new`, the rest as started.
                let mut kept = new;
                std::mem::swap(&mut kept, &mut config);
                reload::keep_restart_only(&mut config, kept);
                // Built from what is in force, not from `new`: the keys the log calls
                // restart-only (`demo`, `admin_*`, `cookie_secret`, which is a fresh random
                // one when unset) stay as started. `reloaded` keeps the sign-in lockouts
                // and the demo's rate counters (`Api::reloaded`).
                let old = Arc::clone(&self.api.read().unwrap_or_else(|p| p.into_inner()));
                let api = Arc::new(old.reloaded(&config));
                *self.api.write().unwrap_or_else(|p| p.into_inner()) = api;
                self.handle
                    .set_max_connections(config.limits.max_connections);
                crate::log!(
                    Warning,
                    "SIGHUP: settings reloaded; changed now: {}; changed but need a restart: {}",
                    names(&live),
                    names(&restart)
                );
            }
            Ok(_) => crate::log!(Error, "SIGHUP: the command line asks for no server run"),
            Err(e) => crate::log!(Error, "SIGHUP: configuration not reloaded: {e}"),
        }
        let _ = notify::notify("READY=1");
    }

    fn on_shutdown(&self) {
        let _ = notify::notify("STOPPING=1");
        // Let the hub answer waiting long-polls before the engine stops; bounded wait.
        let (ack, done) = mpsc::channel();
        self.send(HubMsg::Shutdown(ack));
        let _ = done.recv_timeout(Duration::from_secs(1));
    }
}
