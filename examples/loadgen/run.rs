//! The subcommands: set up receivers, drive the measurement, build the result object.
//! The only place that sleeps and reads `/proc` of the server; progress goes to
//! stderr, the result is returned as JSON for `main` to print last.

use crate::args::{Args, Mode, Rate};
use crate::histogram::Histogram;
use crate::procstat::Sample;
use crate::publisher;
use crate::rng::Rng;
use crate::sink::Sink;
use crate::stats::RecvStats;
use crate::sub::Kind;
use crate::worker::{self, Shared, SubSpec};
use serde_json::{json, Value};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type Workers = Vec<JoinHandle<io::Result<RecvStats>>>;

fn server_sample(args: &Args) -> Option<Sample> {
    args.server_pid.and_then(|p| Sample::read(&p.to_string()))
}

fn sample_json(s: Option<Sample>) -> Value {
    match s {
        Some(s) => json!({"cpu_s": s.cpu_s(), "user_s": s.user_s, "sys_s": s.sys_s,
                          "rss_kib": s.rss_kib, "hwm_kib": s.hwm_kib, "threads": s.threads}),
        None => Value::Null,
    }
}

/// The receive timeline as `[start ms, deliveries, late (> 50 ms), max latency ms,
/// heartbeats]` per slice that had anything.
fn timeline_json(r: &RecvStats) -> Value {
    let step_ms = crate::stats::TIMELINE_STEP_NS / 1_000_000;
    let rows: Vec<Value> = (0u64..)
        .zip(&r.timeline)
        .filter(|(_, s)| s.deliveries + s.heartbeats > 0)
        .map(|(i, s)| {
            json!([
                i * step_ms,
                s.deliveries,
                s.late,
                s.max_ns / 1_000_000,
                s.heartbeats
            ])
        })
        .collect();
    Value::Array(rows)
}

fn latency_json(h: &Histogram) -> Value {
    let us = |ns: u64| ns as f64 / 1000.0;
    json!({"count": h.count(), "p50_us": us(h.quantile(0.5)), "p99_us": us(h.quantile(0.99)),
           "p999_us": us(h.quantile(0.999)), "max_us": us(h.max()), "mean_us": us(h.mean())})
}

/// Starts `--threads` receiver workers for `n` subscribers and waits for their setup.
fn start_receivers(
    args: &Args,
    kind: Kind,
    register: bool,
    target: SocketAddr,
    shared: &Arc<Shared>,
) -> io::Result<(Workers, f64)> {
    let mut rng = Rng::from_os(0);
    let mut per_thread: Vec<Vec<SubSpec>> = (0..args.threads).map(|_| Vec::new()).collect();
    for i in 0..args.subscribers {
        per_thread[i % args.threads].push(SubSpec {
            conn_id: rng.uuid4(),
            username: format!("lg{i}"),
            channel: (i % args.channels) as u32,
            source: args.sources.get(i % args.sources.len().max(1)).copied(),
        });
    }
    let began = Instant::now();
    let mut workers = Vec::new();
    for (t, subs) in per_thread.into_iter().enumerate() {
        let spec = worker::Spec {
            kind,
            register,
            target,
            host: args.host_header.clone(),
            secret: args.secret.clone(),
            inflight: args.inflight,
            control_conns: args.control_conns,
            parse_json: args.parse_json,
            channels: args.channels,
            subs,
            seed: t as u64 + 1,
        };
        let shared = shared.clone();
        workers.push(
            std::thread::Builder::new()
                .name(format!("recv{t}"))
                .spawn(move || worker::run(spec, shared))?,
        );
    }
    let deadline = began + args.setup_timeout;
    let mut last_print = began;
    loop {
        let done = shared.opened.load(Relaxed) + shared.failed.load(Relaxed);
        if done >= args.subscribers || Instant::now() > deadline {
            break;
        }
        if last_print.elapsed() > Duration::from_secs(2) {
            eprintln!(
                "setup: {done}/{} after {:.1} s",
                args.subscribers,
                began.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let setup_s = began.elapsed().as_secs_f64();
    eprintln!(
        "setup: {} open, {} failed in {setup_s:.2} s",
        shared.opened.load(Relaxed),
        shared.failed.load(Relaxed)
    );
    Ok((workers, setup_s))
}

fn finish_receivers(shared: &Shared, workers: Workers) -> RecvStats {
    shared.closing.store(true, Relaxed);
    let mut total = RecvStats::default();
    for w in workers {
        match w.join() {
            Ok(Ok(s)) => total.merge(&s),
            Ok(Err(e)) => total.error(format!("worker: {e}")),
            Err(_) => total.error("worker panicked"),
        }
    }
    total
}

fn params(args: &Args) -> Value {
    let url = (args.mode != Mode::Sink).then(|| format!("http://{}", args.host_header));
    json!({"mode": args.mode.name(), "url": url,
           "subscribers": args.subscribers, "channels": args.channels, "payload": args.payload,
           "rate": match args.rate { Rate::Max => json!("max"), Rate::PerSecond(r) => json!(r) },
           "duration_s": args.duration.as_secs_f64(), "publishers": args.publishers,
           "batch": args.batch, "threads": args.threads,
           "sources": args.sources.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
           "hold_s": args.hold.as_secs_f64(), "drain_s": args.drain.as_secs_f64(),
           "inflight": args.inflight, "parse": if args.parse_json { "json" } else { "fast" },
           "server_pid": args.server_pid, "sink_frames_per_write": args.sink_frames})
}

fn receivers_json(r: &RecvStats) -> Value {
    json!({"opened": r.opened, "failed": r.failed, "drops": r.drops, "closed_clean": r.closed_clean,
           "probes": r.probes, "unique": r.unique, "duplicates": r.duplicates,
           "foreign": r.foreign, "out_of_range": r.out_of_range, "heartbeats": r.heartbeats,
           "other_frames": r.other_frames, "frames": r.frames, "bytes": r.bytes,
           "setup_latency": latency_json(&r.setup), "cpu_s": r.cpu_s, "errors": r.errors})
}

/// Refuses a run that cannot get the sockets it needs (each subscriber takes one
/// descriptor here, and in sink mode one more for the sink's end).
fn check_fd_limit(args: &Args) -> io::Result<()> {
    let per_sub = if args.mode == Mode::Sink { 2 } else { 1 };
    let need =
        (args.subscribers * per_sub + args.publishers + args.threads * args.control_conns + 64)
            as u64;
    match crate::procstat::open_files_limit() {
        Some(limit) if need > limit => Err(io::Error::other(format!(
            "needs about {need} file descriptors but the limit is {limit} (ulimit -n)"
        ))),
        _ => Ok(()),
    }
}

/// Runs the subcommand; returns the result object.
pub fn run(args: &Args) -> io::Result<Value> {
    check_fd_limit(args)?;
    let client0 = Sample::read("self").unwrap_or_default();
    let server0 = server_sample(args);
    let wall = Instant::now();
    let mut result = match args.mode {
        Mode::Fanout => publish_run(args, Kind::WebSocket, server0)?,
        Mode::Longpoll => publish_run(args, Kind::LongPoll, server0)?,
        Mode::Connect => connect_run(args, server0)?,
        Mode::Sink => sink_run(args)?,
    };
    let client1 = Sample::read("self").unwrap_or_default();
    let server1 = server_sample(args);
    result["params"] = params(args);
    result["wall_s"] = json!(wall.elapsed().as_secs_f64());
    result["client"] = json!({"cpu_s": client1.cpu_s() - client0.cpu_s(),
        "user_s": client1.user_s - client0.user_s, "sys_s": client1.sys_s - client0.sys_s,
        "rss_kib": client1.rss_kib, "hwm_kib": client1.hwm_kib});
    result["server"] = match (server0, server1) {
        (Some(a), Some(b)) => json!({"before": sample_json(Some(a)), "after": sample_json(Some(b)),
            "cpu_s": b.cpu_s() - a.cpu_s(), "rss_growth_kib": b.rss_kib as i64 - a.rss_kib as i64}),
        _ => Value::Null,
    };
    Ok(result)
}

fn publish_run(args: &Args, kind: Kind, server0: Option<Sample>) -> io::Result<Value> {
    let shared = Arc::new(Shared::new());
    let (workers, setup_s) = start_receivers(args, kind, true, args.addr, &shared)?;
    let server_setup = server_sample(args);
    let (target, host) = args
        .publish_to
        .clone()
        .unwrap_or_else(|| (args.addr, args.host_header.clone()));
    let pub_spec = publisher::Spec {
        target,
        host,
        secret: args.secret.clone(),
        publishers: args.publishers,
        batch: args.batch,
        channels: args.channels,
        payload: args.payload,
        rate: args.rate,
        duration: args.duration,
        start: shared.start,
    };
    let delivered0 = shared.delivered.load(Relaxed);
    let server_pub0 = server_sample(args);
    let published = std::thread::Builder::new()
        .name("publish".into())
        .spawn(move || publisher::run(pub_spec))?
        .join()
        .map_err(|_| io::Error::other("publisher panicked"))??;
    let delivered1 = shared.delivered.load(Relaxed);
    let server_pub1 = server_sample(args);
    // Drain: wait for deliveries still on their way (counting every subscriber that
    // was assigned; failures simply make the drain run its full time).
    let mut assigned = vec![0u64; args.channels];
    for i in 0..args.subscribers {
        assigned[i % args.channels] += 1;
    }
    let expected_assigned: u64 = published
        .per_channel_ok
        .iter()
        .zip(&assigned)
        .map(|(p, s)| p * s)
        .sum();
    // The drain ends when everything arrived, when nothing arrived for a second
    // (what is missing then is lost), or at --drain (then it may still be queued).
    let drain_began = Instant::now();
    let (mut last_count, mut last_change) = (shared.delivered.load(Relaxed), Instant::now());
    let mut drain_capped = false;
    loop {
        let now_count = shared.delivered.load(Relaxed);
        if now_count >= expected_assigned || last_change.elapsed() > Duration::from_secs(1) {
            break;
        }
        if drain_began.elapsed() >= args.drain {
            drain_capped = true;
            break;
        }
        if now_count != last_count {
            (last_count, last_change) = (now_count, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let drain_s = drain_began.elapsed().as_secs_f64();
    let recv = finish_receivers(&shared, workers);
    let expected: u64 = published
        .per_channel_ok
        .iter()
        .zip(&recv.open_per_channel)
        .map(|(p, s)| p * s)
        .sum();
    let window = published.elapsed_s.max(1e-9);
    eprintln!(
        "published {} msgs ({:.0}/s accepted), delivered {} of {expected} ({:.0}/s), p50 {:.0} us p99 {:.0} us",
        published.messages_ok,
        published.messages_ok as f64 / window,
        recv.unique,
        (delivered1 - delivered0) as f64 / window,
        recv.latency.quantile(0.5) as f64 / 1000.0,
        recv.latency.quantile(0.99) as f64 / 1000.0,
    );
    Ok(json!({
        "setup_s": setup_s,
        "publish": {"batches_sent": published.batches_sent, "batches_ok": published.batches_ok,
            "batches_failed": published.batches_failed, "messages_ok": published.messages_ok,
            "elapsed_s": published.elapsed_s,
            "accepted_msgs_per_s": published.messages_ok as f64 / window,
            "behind_max_batches": published.behind_max, "rtt": latency_json(&published.rtt),
            "cpu_s": published.cpu_s, "errors": published.errors},
        "deliveries": {"expected": expected, "unique": recv.unique,
            "losses": expected.saturating_sub(recv.unique),
            "unexpected": recv.unique.saturating_sub(expected), "duplicates": recv.duplicates,
            "during_publish": delivered1 - delivered0,
            "per_s": (delivered1 - delivered0) as f64 / window,
            "per_s_including_drain": recv.unique as f64 / (window + drain_s), "drain_s": drain_s,
            "drain_capped": drain_capped},
        "latency": latency_json(&recv.latency),
        "timeline": timeline_json(&recv),
        "receivers": receivers_json(&recv),
        "server_phases": {"start": sample_json(server0), "after_setup": sample_json(server_setup),
            "publish_cpu_s": match (server_pub0, server_pub1) {
                (Some(a), Some(b)) => json!(b.cpu_s() - a.cpu_s()), _ => Value::Null }},
    }))
}

fn connect_run(args: &Args, server0: Option<Sample>) -> io::Result<Value> {
    let shared = Arc::new(Shared::new());
    let (workers, setup_s) = start_receivers(args, Kind::WebSocket, true, args.addr, &shared)?;
    let opened = shared.opened.load(Relaxed);
    let server_open = server_sample(args);
    let hold_began = Instant::now();
    let mut last_print = hold_began;
    while hold_began.elapsed() < args.hold {
        std::thread::sleep(Duration::from_millis(100));
        if last_print.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "hold: {:.0} s, heartbeats {}, drops {}",
                hold_began.elapsed().as_secs_f64(),
                shared.heartbeats.load(Relaxed),
                shared.drops.load(Relaxed)
            );
            last_print = Instant::now();
        }
    }
    let server_held = server_sample(args);
    let close_began = Instant::now();
    let recv = finish_receivers(&shared, workers);
    let close_s = close_began.elapsed().as_secs_f64();
    let per_conn = match (server0, server_open) {
        (Some(a), Some(b)) if opened > 0 => {
            json!((b.rss_kib as f64 - a.rss_kib as f64) * 1024.0 / opened as f64)
        }
        _ => Value::Null,
    };
    eprintln!(
        "connect: {opened} open in {setup_s:.2} s ({:.0}/s), drops {}",
        opened as f64 / setup_s,
        recv.drops
    );
    Ok(json!({
        "setup_s": setup_s, "connections_per_s": opened as f64 / setup_s.max(1e-9),
        "opened": opened, "hold_s": args.hold.as_secs_f64(),
        "heartbeats": recv.heartbeats,
        "heartbeats_per_conn": recv.heartbeats as f64 / (opened.max(1) as f64),
        "close_s": close_s, "server_bytes_per_conn": per_conn,
        "server_phases": {"start": sample_json(server0), "all_open": sample_json(server_open),
                          "end_of_hold": sample_json(server_held)},
        "receivers": receivers_json(&recv),
    }))
}

fn sink_run(args: &Args) -> io::Result<Value> {
    let shared = Arc::new(Shared::new());
    let sink = Sink::start(args.payload, args.sink_frames, shared.start)?;
    let (workers, setup_s) = start_receivers(args, Kind::WebSocket, false, sink.addr, &shared)?;
    sink.go();
    let d0 = shared.delivered.load(Relaxed);
    let began = Instant::now();
    std::thread::sleep(args.duration);
    let d1 = shared.delivered.load(Relaxed);
    let window = began.elapsed().as_secs_f64();
    shared.stop.store(true, Relaxed);
    let recv = finish_receivers(&shared, workers);
    sink.stop();
    let per_s = (d1 - d0) as f64 / window;
    eprintln!(
        "sink: {per_s:.0} deliveries/s absorbed; receiver threads used {:.2} CPU s ({:.0} deliveries per CPU second)",
        recv.cpu_s,
        recv.unique as f64 / recv.cpu_s.max(1e-9)
    );
    Ok(json!({
        "setup_s": setup_s, "deliveries_per_s": per_s, "window_s": window,
        "deliveries_per_receiver_cpu_s": recv.unique as f64 / recv.cpu_s.max(1e-9),
        "bytes_per_s": recv.bytes as f64 / window,
        "latency": latency_json(&recv.latency),
        "receivers": receivers_json(&recv),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_run_opens_every_subscriber_and_counts_unique_deliveries() {
        let argv: Vec<String> = "sink --subscribers 3 --duration 200ms --frames-per-write 4"
            .split_whitespace()
            .map(String::from)
            .collect();
        let args = crate::args::parse(&argv).unwrap();
        let result = run(&args).unwrap();
        let r = &result["receivers"];
        assert_eq!(r["opened"], 3, "{result}");
        assert_eq!(r["failed"], 0, "{result}");
        assert_eq!(r["duplicates"], 0, "{result}");
        assert_eq!(r["foreign"], 0, "{result}");
        assert!(r["unique"].as_u64().unwrap() > 0, "{result}");
        assert_eq!(r["unique"], r["probes"], "{result}");
        assert!(
            result["deliveries_per_s"].as_f64().unwrap() > 0.0,
            "{result}"
        );
        assert_eq!(result["params"]["mode"], "sink");
    }
}
