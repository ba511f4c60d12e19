//! Differential test: replays every golden file recorded from the reference
//! channelstream 0.7.1 (`tests/golden/*.json`, made by `tools/reference/record.py`)
//! against our server started in-process, and compares each step's normalized result.
//! `GOLDEN=name1,name2 cargo test --test differential` replays a subset. Our deliberate
//! differences are patched into the expectations from `tests/deviations.json`.
//!
//! `reference_server_replays_its_own_recordings` runs the same replay against the Python
//! reference itself (needs `tools/reference/setup.sh`): it checks the harness (signer,
//! client, normalizer, timing) and shows how stable each golden is.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use support::deviations::Deviation;
use support::normalize::Normalizer;
use support::replay::Replay;

/// Replays one golden file against `addr`; returns a report of the steps that differ.
fn replay_against(golden: &Value, addr: SocketAddr, deviations: &[Deviation]) -> Vec<String> {
    let name = golden["scenario"].as_str().unwrap_or("?");
    let secret = golden["config"]["secret"].as_str().unwrap_or("secret");
    let empty = serde_json::Map::new();
    let ids = golden["ids"].as_object().unwrap_or(&empty);
    let mut replay = Replay::new(addr, secret, ids);
    let mut norm = Normalizer::new(ids);
    let mut report = Vec::new();
    for (i, entry) in golden["steps"].as_array().into_iter().flatten().enumerate() {
        let step = &entry["step"];
        let mut got = norm.value(&replay.run(step), None);
        let mut want = entry["expect"].clone();
        if let Err(e) = support::deviations::apply(deviations, name, i, &mut want) {
            report.push(e);
        }
        for v in [&mut got, &mut want] {
            if let Some(map) = v.as_object_mut() {
                map.remove("raw"); // informational only
            }
        }
        let lines = support::json_diff::diff(&want, &got);
        if !lines.is_empty() {
            let summary: String = step.to_string().chars().take(160).collect();
            report.push(format!("{name} step {i}: {summary}"));
            report.extend(lines.into_iter().map(|l| format!("    {l}")));
        }
    }
    report
}

/// The golden files selected by `GOLDEN` (all when unset).
fn selected_goldens() -> Vec<Value> {
    let only: Option<Vec<String>> = std::env::var("GOLDEN")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let mut out = Vec::new();
    for path in support::golden_files() {
        let golden = support::load_golden(&path).unwrap_or_else(|e| panic!("{e}"));
        let name = golden["scenario"].as_str().unwrap_or_default().to_string();
        if only.as_ref().is_none_or(|o| o.contains(&name)) {
            out.push(golden);
        }
    }
    assert!(!out.is_empty(), "no golden file selected");
    out
}

/// Goldens replayed at once: most of a replay is waiting (long-polls, GC, heartbeats),
/// so a few servers side by side keep the run short on two cores.
const PARALLEL_REPLAYS: usize = 6;

#[test]
fn our_server_matches_every_reference_recording() {
    let deviations = support::deviations::load().unwrap_or_else(|e| panic!("{e}"));
    let goldens = selected_goldens();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let reports = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_REPLAYS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(golden) = goldens.get(i) else { break };
                let report = replay_on_our_server(golden, &deviations);
                reports.lock().unwrap().push((i, report));
            });
        }
    });
    let mut reports = reports.into_inner().unwrap();
    reports.sort_by_key(|(i, _)| *i);
    let report: Vec<String> = reports.into_iter().flat_map(|(_, r)| r).collect();
    assert!(
        report.is_empty(),
        "{} differing lines:\n{}",
        report.len(),
        report.join("\n")
    );
}

/// Starts a fresh server with the golden's settings, replays it, shuts the server down.
fn replay_on_our_server(golden: &Value, deviations: &[Deviation]) -> Vec<String> {
    let name = golden["scenario"].as_str().unwrap_or("?").to_string();
    let running = match channelstream::app::spawn(support::config_for(golden)) {
        Ok(r) => r,
        Err(e) => return vec![format!("{name}: spawn failed: {e}")],
    };
    let mut report = replay_against(golden, running.addr, deviations);
    if let Err(e) = running.shutdown() {
        report.push(format!("{name}: shutdown failed: {e}"));
    }
    report
}

/// A reference server process, killed on drop.
struct Reference {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_reference(golden: &Value) -> Result<Reference, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("tools/reference/.venv/bin/python");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let c = &golden["config"];
    let posting: Vec<&str> = c["allow_posting_from"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut child = Command::new(&python)
        .arg(root.join("tools/reference/run_reference.py"))
        .args(["--port", &port.to_string()])
        .args(["--secret", c["secret"].as_str().unwrap_or("secret")])
        .args([
            "--wake-connections-after",
            &c["wake_connections_after"].to_string(),
        ])
        .args(["--allow-posting-from", &posting.join(",")])
        .args([
            "--validate-requests",
            if c["validate_requests"] == false {
                "false"
            } else {
                "true"
            },
        ])
        .env("PYTHONHASHSEED", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let reference = Reference { child, addr };
    if line.starts_with("READY") {
        Ok(reference)
    } else {
        Err(format!("reference did not start: {line:?}"))
    }
}

#[test]
#[ignore = "needs the Python reference (tools/reference/setup.sh)"]
fn reference_server_replays_its_own_recordings() {
    let mut report = Vec::new();
    for golden in selected_goldens() {
        let reference = start_reference(&golden).unwrap_or_else(|e| panic!("{e}"));
        report.extend(replay_against(&golden, reference.addr, &[]));
    }
    assert!(
        report.is_empty(),
        "{} differing lines:\n{}",
        report.len(),
        report.join("\n")
    );
}
