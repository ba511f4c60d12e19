//! What the Redis tests share: a real `redis-server` started as a child process on a free
//! loopback port in a temporary directory (no persistence), killed when dropped; a
//! blocking one-command client for admin commands (`CLIENT KILL`, `LRANGE`) written on our
//! RESP codec; and a link whose events land on a channel the test reads with a timeout.
//!
//! Without `redis-server` on PATH the tests print why and pass, so `cargo test` works on a
//! machine without Redis; with `CI` set they fail instead (`.ci/run` installs it).
#![allow(dead_code)] // each test file uses a different part

use channelstream::decoded::Decoded;
use channelstream::redis::{LinkConfig, RedisEvent, RedisHandle, RedisLink, RedisUrl};
use channelstream::resp::{encode_command, Reply, ReplyDecoder, RespLimits};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// A running `redis-server`, killed (and its directory removed) on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

/// The server, or `None` (after saying why) without `redis-server` and without `CI`.
pub fn redis_or_skip(test: &str, extra: &[&str]) -> Option<RedisServer> {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let why = "no redis-server on PATH (apt-get install redis-server)";
        if std::env::var_os("CI").is_some() {
            panic!("{test}: {why}, and CI is set");
        }
        eprintln!("{test}: skipped: {why}");
        return None;
    }
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("cs-redis-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut server = RedisServer {
        child: None,
        port: free_port(),
        dir,
        extra: extra.iter().map(|s| s.to_string()).collect(),
    };
    // A port free a moment ago may be taken by the time redis-server binds it (tests run
    // in parallel and connect from ephemeral ports): then it exits, and another port is
    // tried.
    for _ in 0..5 {
        if server.try_start() {
            return Some(server);
        }
        server.port = free_port();
    }
    panic!("redis-server did not start on five free ports");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Whether the server on `port` answers a `PING` (`+PONG`, or `-NOAUTH` when it wants
/// a password): an accepted connection alone is not enough, since a connect to a port
/// in the ephemeral range can meet itself, and a server loading its data answers
/// `-LOADING`.
fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(n) => buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"),
        Err(_) => false,
    }
}

impl RedisServer {
    /// Starts (or restarts) the server on its port and waits until it answers.
    pub fn start(&mut self) {
        assert!(
            self.try_start(),
            "redis-server did not start on {}",
            self.port
        );
    }

    /// Starts the server on its port; true once it answers a `PING`, false if it exited
    /// first (its port was taken) or did not answer within 10 s.
    fn try_start(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if answers_ping(self.port) {
                return true;
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited {
                self.child = None;
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    /// Kills the server (SIGKILL: nothing is saved, clients see resets).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server as an operator does (`SHUTDOWN SAVE`): it writes its data to its
    /// directory first (the append-only file too, when started with `--appendonly yes`),
    /// so [`RedisServer::start`] brings it back with that data.
    pub fn shutdown_saving(&mut self) {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut out = Vec::new();
            encode_command(&["SHUTDOWN", "SAVE"], &mut out);
            let _ = stream.write_all(&out);
            // The server closes the connection when it exits.
            let _ = stream.read(&mut [0u8; 64]);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// `redis://127.0.0.1:port` plus `auth` (e.g. `":pw@"` goes before the host).
    pub fn url(&self, auth: &str) -> RedisUrl {
        RedisUrl::parse(&format!("redis://{auth}127.0.0.1:{}", self.port)).expect("url")
    }

    /// One command on a fresh blocking connection, after `AUTH password` if given.
    pub fn call(&self, password: Option<&str>, args: &[&str]) -> Reply {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut out = Vec::new();
        if let Some(pw) = password {
            encode_command(&["AUTH", pw], &mut out);
        }
        encode_command(args, &mut out);
        stream.write_all(&out).expect("write");
        let mut decoder = ReplyDecoder::new(RespLimits::default());
        let mut input = Vec::new();
        let mut replies = Vec::new();
        let want = 1 + usize::from(password.is_some());
        while replies.len() < want {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).expect("read");
            assert!(n > 0, "redis closed the connection");
            input.extend_from_slice(&buf[..n]);
            while let Ok(Decoded::Done { value, consumed }) = decoder.decode(&input) {
                input.drain(..consumed);
                replies.push(value);
            }
        }
        replies.pop().expect("reply")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A link whose events arrive on `events`.
pub struct TestLink {
    pub handle: RedisHandle,
    pub events: Receiver<RedisEvent>,
    backlog: RefCell<VecDeque<RedisEvent>>,
}

/// Test-sized timeouts: a command deadline of 1 s and back-off from 50 to 200 ms.
pub fn quick_config(url: RedisUrl) -> LinkConfig {
    let mut config = LinkConfig::new(url);
    config.command_timeout = Duration::from_secs(1);
    config.connect_timeout = Duration::from_secs(1);
    config.backoff_min = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(200);
    config
}

impl TestLink {
    pub fn spawn(config: LinkConfig) -> TestLink {
        let (tx, events) = mpsc::channel();
        let handle = RedisLink::spawn(config, move |e| {
            let _ = tx.send(e);
        })
        .expect("spawn link");
        TestLink {
            handle,
            events,
            backlog: RefCell::new(VecDeque::new()),
        }
    }

    /// The first event (oldest first) that `pick` maps to `Some`, within `wait`. Events
    /// it passes over are kept for later calls, so waiting for a reply never loses a
    /// message.
    pub fn wait_for<T>(
        &self,
        wait: Duration,
        mut pick: impl FnMut(&RedisEvent) -> Option<T>,
    ) -> Option<T> {
        let mut backlog = self.backlog.borrow_mut();
        if let Some(i) = backlog.iter().position(|e| pick(e).is_some()) {
            return backlog.remove(i).and_then(|e| pick(&e));
        }
        let until = Instant::now() + wait;
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            let event = self.events.recv_timeout(left).ok()?;
            match pick(&event) {
                Some(found) => return Some(found),
                None => backlog.push_back(event),
            }
        }
    }

    /// Sends `args` tagged `tag` and waits (5 s) for its reply.
    pub fn call(
        &self,
        tag: u64,
        args: &[&str],
    ) -> Result<Reply, channelstream::redis::CommandError> {
        self.handle.command(args, tag).expect("queued");
        self.reply(tag)
    }

    /// Waits (5 s) for the reply tagged `tag`.
    pub fn reply(&self, tag: u64) -> Result<Reply, channelstream::redis::CommandError> {
        self.wait_for(Duration::from_secs(5), |e| match e {
            RedisEvent::Reply { tag: t, result } if *t == tag => Some(result.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no reply for tag {tag} within 5 s"))
    }
}
