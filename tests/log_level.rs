//! `log_level` filters what the real binary writes on standard error: `ERROR` on a
//! healthy config writes nothing at start or at a clean shutdown; `WARNING` writes the
//! warnings but not the INFO start line. The start line carries the address, so these
//! tests pick a free port themselves and wait until it accepts.

mod server_common;

use serde_json::json;
use server_common::call;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Runs the binary on a free loopback port with `args`, checks that it serves a signed
/// `/info`, stops it with SIGTERM and returns its exit status and all it wrote on stderr.
fn run_and_stop(args: &[&str]) -> (Option<i32>, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_channelstream"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--workers", "1"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn channelstream");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let end = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < end,
            "server did not start: {:?}",
            stop(&mut child)
        );
        thread::sleep(Duration::from_millis(20));
    }
    let (status, _) = call(addr, "POST", "/info", &json!({"info": {}}));
    assert_eq!(status, 200, "serves");
    stop(&mut child)
}

/// SIGTERM, then the exit status and stderr (the pipe closes when the process exits).
fn stop(child: &mut Child) -> (Option<i32>, String) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut log = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut log);
    }
    let status = child.wait().ok().and_then(|s| s.code());
    (status, log)
}

#[test]
fn log_level_error_writes_nothing_on_a_healthy_start_and_stop() {
    let (status, log) = run_and_stop(&["--log-level", "ERROR"]);
    assert_eq!(status, Some(0));
    assert_eq!(log, "", "nothing below ERROR is written");
}

#[test]
fn log_level_warning_writes_warnings_but_not_the_info_start_line() {
    let (status, log) = run_and_stop(&["--log-level", "warning"]);
    assert_eq!(status, Some(0));
    assert!(
        log.contains("WARNING channelstream: Using default secret!"),
        "{log}"
    );
    assert!(!log.contains("INFO"), "{log}");
}

#[test]
fn default_log_level_info_writes_the_start_line() {
    let (status, log) = run_and_stop(&[]);
    assert_eq!(status, Some(0));
    assert!(
        log.contains("INFO channelstream: Starting channelstream"),
        "{log}"
    );
}

#[test]
fn demo_on_is_announced_by_a_warning_at_start_and_off_is_not() {
    let (status, log) = run_and_stop(&["--demo", "true"]);
    assert_eq!(status, Some(0));
    assert!(
        log.contains("WARNING channelstream: demo = true: /demo lets anyone"),
        "{log}"
    );
    let (_, log) = run_and_stop(&["--demo", "false"]);
    assert!(!log.contains("demo"), "{log}");
}
