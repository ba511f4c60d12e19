//! Running out of file descriptors: the acceptor must back off (not spin on EMFILE), log
//! once, and serve again once descriptors free up. The server runs in a child process
//! (this test binary, re-run with a low `ulimit -n`) so the limit does not hit other tests.

mod engine_common;

use engine_common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "CHANNELSTREAM_FD_CHILD";

/// The child: a server under the low limit, printing its port, until SIGTERM.
#[test]
#[ignore = "run by running_out_of_descriptors_backs_off_logs_once_and_recovers"]
fn fd_child_server() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let addr = "127.0.0.1:0".parse().unwrap();
    let config = channelstream::server::ServerConfig {
        addr,
        workers: 1,
        limits: limits(),
    };
    let server = channelstream::server::Server::bind(config).unwrap();
    println!("PORT={}", server.local_addr().port());
    server.run(Arc::new(TestApp::default())).unwrap();
    println!("STOPPED");
}

/// User + system CPU ticks the process has used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of proc(5), counted from after the command name (field 3 is [0]).
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn running_out_of_descriptors_backs_off_logs_once_and_recovers() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 40 && exec "$0" --exact fd_child_server --ignored --nocapture"#)
        .arg(exe)
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let port: u16 = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
        if let Some(p) = line.trim().strip_prefix("PORT=") {
            break p.parse().unwrap();
        }
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    // More connections than the child has descriptors: the rest wait in the backlog.
    let held: Vec<_> = (0..60).map(|_| connect(addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_millis(1000));
    let used = cpu_ticks(child.id()) - before;
    assert!(
        used < 30,
        "the acceptor spins on EMFILE: {used} ticks in 1 s"
    );
    drop(held);
    // Freed descriptors: the server answers again.
    let t0 = Instant::now();
    while try_status(addr, "/json") != Some(200) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no recovery after EMFILE"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGTERM: clean shutdown, exit status 0.
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "child exit {status:?}; stderr: {err}");
    assert!(
        rest.contains("STOPPED"),
        "Server::run returned after SIGTERM"
    );
    let logged = err.matches("pausing accepts").count();
    assert_eq!(logged, 1, "logged once; stderr: {err}");
    let _ = std::io::stderr().flush();
}
