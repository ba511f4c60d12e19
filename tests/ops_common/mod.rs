//! What the operations tests share: a real Prometheus parser (PyPI `prometheus-client`,
//! installed by `.ci/run`), and plain HTTP GETs with chosen headers.
#![allow(dead_code)] // each test file uses a different part

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

/// Samples by `name{label="v",...}` (labels sorted), as the real parser read them.
pub type Samples = BTreeMap<String, f64>;

/// Parses `text` with `prometheus_client.parser.text_string_to_metric_families` and
/// returns every sample. `None` (after saying why) when python3 or the module is
/// missing, unless env `CI` is set: then it panics. A page the parser rejects panics.
pub fn parse_with_prometheus_client(text: &str) -> Option<Samples> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
        out[s.name + ("{" + labels + "}" if labels else "")] = s.value
print(json.dumps(out))
"#;
    let probe = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        let why = "python3 with prometheus_client is missing (pip install prometheus-client)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipped: {why}");
        return None;
    }
    let mut python = Command::new("python3");
    python.args(["-c", SCRIPT]);
    let out = fed(&mut python, text).expect("python3");
    assert!(
        out.status.success(),
        "the parser rejects the page: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("parser output"))
}

/// `GET target` with extra header lines (each ending in `\r\n`), `Connection: close`;
/// returns status and body.
pub fn get(addr: SocketAddr, target: &str, headers: &str) -> (u16, String) {
    let req = format!("GET {target} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n");
    let out = super::server_common::raw(addr, req.as_bytes());
    (
        super::server_common::status_of(&out),
        String::from_utf8_lossy(super::server_common::body_of(&out)).into_owned(),
    )
}

/// Runs `promtool check metrics` (Debian `prometheus`) on `text` when promtool is
/// installed: the parser plus Prometheus' naming lints. Optional (the Python parser
/// above is the one `.ci/run` installs); says so when it is missing. A complaint panics.
pub fn promtool_check(text: &str) {
    let mut promtool = Command::new("promtool");
    promtool.args(["check", "metrics"]);
    let Ok(out) = fed(&mut promtool, text) else {
        eprintln!("promtool not installed (apt-get install prometheus): lint skipped");
        return;
    };
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `command` with `text` on its standard input and returns what it printed; `Err`
/// when it cannot be started (not installed).
fn fed(command: &mut Command, text: &str) -> std::io::Result<std::process::Output> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write page");
    Ok(child.wait_with_output().expect("the program runs"))
}
