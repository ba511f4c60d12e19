//! A real nginx in front of the real server, configured with the text of
//! `docs/DEPLOY.md` (only ports, certificate paths and a plain listener for the Rust
//! clients templated in). Through it: a signed API call is judged by the forwarded client
//! address (nginx itself may not post) and logged with it, a spoofed `X-Forwarded-For`
//! is ignored, a websocket and a long-poll get their messages, and `enforce_https`
//! accepts requests that reached nginx over TLS and refuses the same request over plain
//! http.

mod ops_common;
mod server_common;

use server_common::{body_of, loopback_config, read_to_eof, start, status_of, token, Binary};
use socket2::{Domain, Socket, Type};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The nginx configuration in `docs/DEPLOY.md`, between its markers.
fn deploy_md_config() -> String {
    let doc = include_str!("../docs/DEPLOY.md");
    let start = doc
        .find("<!-- nginx-config-begin")
        .expect("DEPLOY.md has the nginx-config-begin marker");
    let rest = &doc[start..];
    let fence = rest.find("```nginx\n").expect("an nginx fence") + "```nginx\n".len();
    let rest = &rest[fence..];
    rest[..rest.find("```").expect("fence end")].to_string()
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "DEPLOY.md's nginx config must contain `{from}` once"
    );
    text.replace(from, to)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

struct Ports {
    upstream: u16,
    redirect: u16,
    tls: u16,
    plain: u16,
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap_or(false)
}

/// nginx as a foreground child with everything under `dir`; killed on drop.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Drop for Nginx {
    /// SIGTERM to the master, which stops its workers (a SIGKILL would leave them
    /// running, holding the ports); SIGKILL only if it does not exit in 5 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// nginx in front of the server at `upstream`, on free ports. A port picked free can be
/// taken by another program before nginx binds it (tests of other runs start servers and
/// nginx at the same time); nginx then exits, and it is started again on other ports.
fn start_nginx(dir: &Path, upstream: u16) -> (Nginx, Ports) {
    for _ in 0..5 {
        let ports = Ports {
            upstream,
            redirect: free_port(),
            tls: free_port(),
            plain: free_port(),
        };
        if let Some(nginx) = try_start_nginx(dir, &ports) {
            return (nginx, ports);
        }
    }
    panic!("nginx did not start in 5 tries: {}", nginx_log(dir));
}

fn nginx_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
}

/// Starts nginx on `ports`; `None` if it exited (a port was taken), so that the caller
/// tries others. It is up once its master wrote its pid file (after binding every port)
/// and the plain port answers.
fn try_start_nginx(dir: &Path, ports: &Ports) -> Option<Nginx> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
    let mut site = deploy_md_config();
    site = replace_once(
        &site,
        "server 127.0.0.1:8000;",
        &format!("server 127.0.0.1:{};", ports.upstream),
    );
    site = replace_once(
        &site,
        "listen 80;",
        &format!("listen 127.0.0.1:{};", ports.redirect),
    );
    // The TLS server block also gets a plain listener, so the Rust clients (no TLS) go
    // through the very same locations; there `$scheme` is http.
    site = replace_once(
        &site,
        "listen 443 ssl;",
        &format!(
            "listen 127.0.0.1:{} ssl;\n    listen 127.0.0.1:{};",
            ports.tls, ports.plain
        ),
    );
    site = replace_once(
        &site,
        "/etc/letsencrypt/live/chat.example.com/fullchain.pem",
        &cert.display().to_string(),
    );
    site = replace_once(
        &site,
        "/etc/letsencrypt/live/chat.example.com/privkey.pem",
        &key.display().to_string(),
    );
    site = replace_once(
        &site,
        "root /var/www/html;",
        &format!("root {};", dir.display()),
    );
    let d = dir.display();
    let conf = format!(
        "{user}worker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n\
         proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n\
         uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n{site}\n}}\n",
        user = if is_root() { "user root;\n" } else { "" },
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
    let mut child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nginx");
    let pid_file = dir.join("nginx.pid");
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        if pid_file.exists() && TcpStream::connect(("127.0.0.1", ports.plain)).is_ok() {
            return Some(Nginx {
                child,
                dir: dir.to_path_buf(),
            });
        }
        assert!(
            Instant::now() < end,
            "nginx did not start: {}",
            nginx_log(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A connection to `port` on 127.0.0.1 from source address `from` (any 127.x works on
/// Linux loopback), so nginx sees a client that is not itself.
fn connect_from(from: [u8; 4], port: u16) -> TcpStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from((from, 0)).into())
        .expect("bind source");
    s.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .expect("connect");
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    s
}

/// A signed request from `from` to `port` with extra header lines; status and body.
fn signed_from(
    from: [u8; 4],
    port: u16,
    method: &str,
    target: &str,
    body: &str,
    extra: &str,
) -> (u16, String) {
    let mut s = connect_from(from, port);
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: chat.example.com\r\nX-Channelstream-Secret: {}\r\n\
         {extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        token(),
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let (out, _) = read_to_eof(&mut s, Duration::from_secs(10));
    (
        status_of(&out),
        String::from_utf8_lossy(body_of(&out)).into_owned(),
    )
}

fn tools_present() -> bool {
    let missing: Vec<&str> = ["nginx", "openssl"]
        .into_iter()
        .filter(|t| Command::new(t).arg("-v").output().is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("{missing:?} missing (apt-get install nginx-light openssl)");
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipped: {why}");
    false
}

#[test]
fn through_nginx_forwarded_addresses_websockets_long_polls_and_https_work() {
    if !tools_present() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("cs-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    // The binary, so its log can be read: nginx's own 127.0.0.1 may not post.
    let mut server = Binary::start(
        "",
        &[
            "--secret",
            "secret",
            "--allow-posting-from",
            "127.0.0.2",
            "--trusted-proxies",
            "127.0.0.1",
            "--wake-connections-after",
            "1",
        ],
    );
    let (_nginx, ports) = start_nginx(&dir, server.addr.port());
    let (allowed, other) = ([127, 0, 0, 2], [127, 0, 0, 3]);
    let p = ports.plain;

    let ws_id = "1e0f6a2c-3d4b-4c5d-8e6f-7a8b9c0d1e2f";
    let poll_id = "2e0f6a2c-3d4b-4c5d-8e6f-7a8b9c0d1e2f";
    for id in [ws_id, poll_id] {
        let body = format!(r#"{{"username":"u-{id}","conn_id":"{id}","channels":["room"]}}"#);
        let (status, text) = signed_from(allowed, p, "POST", "/connect", &body, "");
        assert_eq!(
            status, 200,
            "the forwarded address 127.0.0.2 may post: {text}"
        );
    }
    let info = r#"{"info":{}}"#;
    assert_eq!(
        signed_from(other, p, "POST", "/info", info, "").0,
        403,
        "127.0.0.3 may not post, though nginx's own address is the peer"
    );
    let spoof = "X-Forwarded-For: 127.0.0.2\r\n";
    assert_eq!(
        signed_from(other, p, "POST", "/info", info, spoof).0,
        403,
        "a client's own X-Forwarded-For entry is left of nginx's and not believed"
    );
    assert_eq!(
        signed_from(other, ports.upstream, "POST", "/info", info, spoof).0,
        403,
        "X-Forwarded-For straight from an untrusted peer is ignored"
    );

    // Websocket through nginx.
    let stream = connect_from(other, p);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let url = format!("ws://127.0.0.1:{p}/ws?conn_id={ws_id}");
    let mut ws = tungstenite::client(url, stream)
        .expect("handshake via nginx")
        .0;
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    // Long-poll through nginx, waiting in a thread.
    let poll = std::thread::spawn(move || {
        let mut s = connect_from([127, 0, 0, 4], p);
        let req = format!(
            "GET /listen?conn_id={poll_id} HTTP/1.1\r\nHost: chat.example.com\r\n\
             Connection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).expect("write");
        let (out, _) = read_to_eof(&mut s, Duration::from_secs(10));
        String::from_utf8_lossy(&out).into_owned()
    });
    std::thread::sleep(Duration::from_millis(300));
    let msg = r#"[{"channel":"room","user":"system","message":{"marker":"via-nginx"}}]"#;
    let (status, text) = signed_from(allowed, p, "POST", "/message", msg, "");
    assert_eq!(status, 200, "{text}");
    assert!(
        server_common::sees_marker(&mut ws, "via-nginx", Duration::from_secs(5)),
        "the websocket got the message through nginx"
    );
    let answer = poll.join().expect("poll thread");
    assert_eq!(status_of(answer.as_bytes()), 200, "{answer}");
    assert!(answer.contains("via-nginx"), "long-poll: {answer}");
    drop(ws);
    assert_eq!(server.terminate(), Some(0));
    let log = server.log();
    let logged = |what: &str, client: &str| {
        log.lines()
            .any(|l| l.contains(what) && l.ends_with(&format!("client={client}")))
    };
    assert!(
        logged("path=/connect status=200", "127.0.0.2"),
        "the log names the forwarded client: {log}"
    );
    assert!(logged("path=/info status=403", "127.0.0.3"), "{log}");
    assert!(
        !logged("path=/info status=200", "127.0.0.2"),
        "the spoofed address never shows up as an accepted caller: {log}"
    );

    // enforce_https: the same request is accepted over TLS and refused over plain http.
    let mut c = loopback_config();
    c.port = ports.upstream;
    c.enforce_https = true;
    c.trusted_proxies = vec!["127.0.0.1".into()];
    let server = start(c);
    let curl = |url: &str| {
        // nginx may still hold a kept-alive connection to the first server: a POST on
        // it fails with 502 and is not retried by nginx, so try again.
        for _ in 0..5 {
            let out = Command::new("curl")
                .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
                .args(["-H", &format!("X-Channelstream-Secret: {}", token())])
                .args(["--data", info, url])
                .output();
            let code = match out {
                Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
                Err(_) => {
                    assert!(std::env::var_os("CI").is_none(), "curl is missing");
                    return String::new();
                }
            };
            if code != "502" {
                return code;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        "502".to_string()
    };
    let tls = curl(&format!("https://127.0.0.1:{}/info", ports.tls));
    if !tls.is_empty() {
        assert_eq!(tls, "200", "X-Forwarded-Proto: https from nginx counts");
        let plain = curl(&format!("http://127.0.0.1:{}/info", ports.plain));
        assert_eq!(plain, "406", "plain http through the same block is refused");
        let redirect = curl(&format!("http://127.0.0.1:{}/info", ports.redirect));
        assert_eq!(redirect, "301", "port 80 sends clients to https");
    }
    server.shutdown().expect("clean shutdown");
}
