//! systemd: the unit file passes `systemd-analyze verify` (pointed at the binary just
//! built), and the binary speaks the readiness protocol on a socket this test listens
//! on: `READY=1` once it serves, `RELOADING=1` then `READY=1` around a SIGHUP reload,
//! whose log line names what changed now and what needs a restart (and the new log level
//! and connection limit are in force, while the demo, a restart-only key, stays on with
//! its rate counters),
//! `STOPPING=1` at SIGTERM.

mod ops_common;
mod server_common;

use ops_common::get;
use server_common::Binary;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn the_unit_file_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        let why = "systemd-analyze is missing (apt-get install systemd)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipped: {why}");
        return;
    }
    let unit = include_str!("../contrib/channelstream.service");
    for needed in [
        "Type=notify",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=channelstream",
        "NoNewPrivileges=yes",
        "LimitNOFILE=",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(needed), "the unit lacks {needed}");
    }
    // `verify` checks that ExecStart's program exists: point it at this build's binary.
    let dir = temp_dir("unit");
    let path = dir.join("channelstream.service");
    let unit = unit.replace(
        "/usr/local/bin/channelstream",
        env!("CARGO_BIN_EXE_channelstream"),
    );
    std::fs::write(&path, unit).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "verify failed: {text}");
    assert!(
        !text.contains("channelstream.service:"),
        "verify complains about the unit: {text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits (up to 5 s) until the server's log, read by a thread, contains `text`.
fn wait_for_log(server: &Binary, text: &str) {
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while !server.log().contains(text) {
        assert!(
            std::time::Instant::now() < end,
            "no `{text}` in the log: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Status of a `POST /demo/connect` (the demo counts these per address).
fn demo_connect(addr: std::net::SocketAddr) -> u16 {
    let body = br#"{"username": "ann", "channels": ["demo:lobby"]}"#;
    let out = server_common::raw(addr, &server_common::signed("POST", "/demo/connect", body));
    server_common::status_of(&out)
}

fn recv(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("a notification within 10 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_reloading_and_stopping_reach_the_notify_socket_and_sighup_reloads() {
    let dir = temp_dir("notify");
    let sock = dir.join("notify.sock");
    let listener = UnixDatagram::bind(&sock).expect("bind");
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let ini = dir.join("channelstream.ini");
    std::fs::write(
        &ini,
        "[channelstream]\nsecret = s3\nlog_level = INFO\ndemo = true\n",
    )
    .expect("ini");
    let prefix = format!("NOTIFY_SOCKET={}", sock.display());
    let mut server = Binary::start(&prefix, &["--ini", ini.to_str().unwrap()]);
    assert_eq!(recv(&listener), "READY=1");
    assert_eq!(get(server.addr, "/healthz", "").0, 200);
    wait_for_log(&server, "path=/healthz");
    // Use up this address's demo connects (30 per 10 s): the reload must not reset them.
    // (200, then 409: the name is taken; each call counts.)
    assert!(
        (0..100).any(|_| demo_connect(server.addr) == 429),
        "the demo never limits this address"
    );

    std::fs::write(
        &ini,
        "[channelstream]\nsecret = s3\nlog_level = WARNING\ntrusted_proxies = 10.0.0.0/8\n\
         max_connections = 1\nidle_timeout = 60\ndemo = false\n",
    )
    .expect("ini");
    let _ = Command::new("kill").args(["-HUP", &server.pid()]).status();
    assert_eq!(recv(&listener), "RELOADING=1");
    assert_eq!(recv(&listener), "READY=1");
    wait_for_log(
        &server,
        "changed now: log_level, trusted_proxies, max_connections; \
         changed but need a restart: idle_timeout, demo",
    );
    assert_eq!(get(server.addr, "/readyz", "").0, 200, "still serving");
    // (503 while the server still counts the last connection against max_connections = 1.)
    let end = std::time::Instant::now() + Duration::from_secs(5);
    let mut status = demo_connect(server.addr);
    while status == 503 && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        status = demo_connect(server.addr);
    }
    // `demo` needs a restart (as the log line says): still on, with its counters.
    assert_eq!(status, 429, "the demo's counters survived the reload");
    // One connection held open, then another request. The server lets the previous
    // request's connection go in its own time (and until then refuses the held one), so
    // try again until the limit shows.
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let held = std::net::TcpStream::connect(server.addr).expect("connect");
        std::thread::sleep(Duration::from_millis(50));
        if get(server.addr, "/readyz", "").0 == 503 {
            break;
        }
        drop(held);
        assert!(
            std::time::Instant::now() < end,
            "max_connections = 1 is never in force"
        );
    }

    std::fs::write(&ini, "[channelstream]\nlog_level = LOUD\n").expect("ini");
    let _ = Command::new("kill").args(["-HUP", &server.pid()]).status();
    assert_eq!(recv(&listener), "RELOADING=1");
    assert_eq!(recv(&listener), "READY=1");
    wait_for_log(&server, "SIGHUP: configuration not reloaded");
    // Still serving (once the held connection above is let go: max_connections is 1).
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while get(server.addr, "/healthz", "").0 != 200 {
        assert!(
            std::time::Instant::now() < end,
            "a bad file stopped the server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !server.log().contains("path=/readyz"),
        "log_level WARNING is in force: no request lines"
    );

    assert_eq!(server.terminate(), Some(0));
    assert_eq!(recv(&listener), "STOPPING=1");
    let _ = std::fs::remove_dir_all(&dir);
}
