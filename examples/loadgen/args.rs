//! Command line: subcommand, flags, their defaults and hard caps. Refuses anything that
//! is not a loopback address, so the tool cannot be pointed at someone else's server.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Longest run phase any flag may ask for.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// Most connections (subscribers, count) any run may open.
pub const MAX_COUNT: usize = 200_000;

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Subscribers on websockets, publishers on `POST /message`.
    Fanout,
    /// Open many websockets, hold them, close them.
    Connect,
    /// Subscribers looping on `GET /listen`.
    Longpoll,
    /// The receive path against an in-process sink: the tool's own ceiling.
    Sink,
}

impl Mode {
    /// The subcommand's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fanout => "fanout",
            Self::Connect => "connect",
            Self::Longpoll => "longpoll",
            Self::Sink => "sink",
        }
    }
}

/// Publish pacing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// Messages per second, sent in batches at even intervals.
    PerSecond(f64),
    /// Each publisher connection keeps one request in flight.
    Max,
}

/// Every flag, parsed and checked.
#[derive(Clone, Debug)]
pub struct Args {
    pub mode: Mode,
    pub addr: SocketAddr,
    pub host_header: String,
    pub secret: String,
    pub subscribers: usize,
    pub channels: usize,
    pub payload: usize,
    pub rate: Rate,
    pub duration: Duration,
    pub publishers: usize,
    pub batch: usize,
    pub threads: usize,
    pub sources: Vec<IpAddr>,
    pub hold: Duration,
    pub drain: Duration,
    pub setup_timeout: Duration,
    pub inflight: usize,
    pub control_conns: usize,
    pub server_pid: Option<u32>,
    pub parse_json: bool,
    /// Sink mode: frames per write call.
    pub sink_frames: usize,
    /// Where publishers post, if not `addr` (another node of a shared deployment:
    /// docs/SCALING.md); with its Host header.
    pub publish_to: Option<(SocketAddr, String)>,
}

/// Usage text (printed on `--help` and on errors).
pub const USAGE: &str = "\
usage: cargo run --release --example loadgen -- <fanout|connect|longpoll|sink> [flags]
  --url http://127.0.0.1:8000   server (loopback only)     --secret secret
  --subscribers 1000 (fanout, longpoll, sink)   --count N (connect; same as --subscribers)
  --channels 1   --payload 100 (probe bytes)   --rate max|MSGS_PER_S   --duration 10s
  --publishers 1 --batch 1      --threads 1 (receiver poll loops)
  --sources 127.0.0.1,127.0.0.2 (client source addresses, round-robin)
  --hold 120s (connect)  --drain 10s (max wait for late deliveries)  --setup-timeout 60s  --inflight 256 (per thread)
  --control-conns 4 (per thread, for /connect)  --server-pid PID  --parse fast|json
  --frames-per-write 64 (sink)   --publish-url URL (fanout: publish on another node)
caps: durations <= 600s, connections <= 200000";

fn duration(v: &str) -> Result<Duration, String> {
    let (num, unit) = match v.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("bad duration {v:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration unit in {v:?} (ms, s, m)")),
    };
    let d = Duration::from_secs_f64(secs.max(0.0));
    if d > MAX_DURATION {
        return Err(format!("{v} is over the 600 s cap"));
    }
    Ok(d)
}

fn number(name: &str, v: &str, min: usize, max: usize) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "--{name} must be a whole number in {min}..={max}, got {v:?}"
        )),
    }
}

fn loopback(ip: IpAddr, what: &str) -> Result<IpAddr, String> {
    if ip.is_loopback() {
        Ok(ip)
    } else {
        Err(format!("refusing non-loopback {what} {ip}"))
    }
}

/// Splits `http://host:port` and resolves it to one loopback address.
fn parse_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url must start with http://, got {url:?}"))?;
    let hostport = rest.split('/').next().unwrap_or("");
    let with_port = if hostport
        .rsplit(':')
        .next()
        .is_some_and(|p| p.parse::<u16>().is_ok())
        && hostport.contains(':')
    {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {hostport:?}: {e}"))?
        .find(|a| a.ip().is_loopback())
        .ok_or_else(|| format!("refusing non-loopback server {hostport:?}"))?;
    Ok((addr, hostport.to_string()))
}

/// Parses `argv` (without the program name).
pub fn parse(argv: &[String]) -> Result<Args, String> {
    let mode = match argv.first().map(String::as_str) {
        Some("fanout") => Mode::Fanout,
        Some("connect") => Mode::Connect,
        Some("longpoll") => Mode::Longpoll,
        Some("sink") => Mode::Sink,
        other => return Err(format!("unknown subcommand {other:?}")),
    };
    let (addr, host_header) = parse_url("http://127.0.0.1:8000")?;
    let mut a = Args {
        mode,
        addr,
        host_header,
        secret: "secret".into(),
        subscribers: if mode == Mode::Sink { 100 } else { 1000 },
        channels: 1,
        payload: 100,
        rate: Rate::Max,
        duration: Duration::from_secs(10),
        publishers: 1,
        batch: 1,
        threads: 1,
        sources: Vec::new(),
        hold: Duration::from_secs(120),
        drain: Duration::from_secs(10),
        setup_timeout: Duration::from_secs(60),
        inflight: 256,
        control_conns: 4,
        server_pid: None,
        parse_json: false,
        sink_frames: 64,
        publish_to: None,
    };
    let mut it = argv[1..].iter();
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag.as_str(), None),
        };
        let name = name
            .strip_prefix("--")
            .ok_or_else(|| format!("expected a --flag, got {flag:?}"))?;
        let v = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("--{name} needs a value"))?,
        };
        match name {
            "url" => (a.addr, a.host_header) = parse_url(&v)?,
            "publish-url" => a.publish_to = Some(parse_url(&v)?),
            "secret" => a.secret = v,
            "subscribers" | "count" => a.subscribers = number(name, &v, 1, MAX_COUNT)?,
            "channels" => a.channels = number(name, &v, 1, 100_000)?,
            "payload" => a.payload = number(name, &v, 0, 1 << 20)?,
            "rate" if v == "max" => a.rate = Rate::Max,
            "rate" => match v.parse::<f64>() {
                Ok(r) if r > 0.0 && r <= 10_000_000.0 => a.rate = Rate::PerSecond(r),
                _ => return Err(format!("--rate must be max or 0 < R <= 1e7, got {v:?}")),
            },
            "duration" => a.duration = duration(&v)?,
            "hold" => a.hold = duration(&v)?,
            "drain" => a.drain = duration(&v)?,
            "setup-timeout" => a.setup_timeout = duration(&v)?,
            "frames-per-write" => a.sink_frames = number(name, &v, 1, 4096)?,
            "publishers" => a.publishers = number(name, &v, 1, 64)?,
            "batch" => a.batch = number(name, &v, 1, 10_000)?,
            "threads" => a.threads = number(name, &v, 1, 64)?,
            "inflight" => a.inflight = number(name, &v, 1, 100_000)?,
            "control-conns" => a.control_conns = number(name, &v, 1, 64)?,
            "server-pid" => {
                a.server_pid = Some(v.parse().map_err(|_| format!("bad --server-pid {v:?}"))?)
            }
            "parse" => {
                a.parse_json = match v.as_str() {
                    "json" => true,
                    "fast" => false,
                    _ => return Err(format!("--parse must be fast or json, got {v:?}")),
                }
            }
            "sources" => {
                a.sources = v
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| {
                        let ip = s
                            .trim()
                            .parse::<IpAddr>()
                            .map_err(|_| format!("bad source address {s:?}"))?;
                        loopback(ip, "source address")
                    })
                    .collect::<Result<_, _>>()?
            }
            _ => return Err(format!("unknown flag --{name}")),
        }
    }
    if a.sources.iter().any(|s| s.is_ipv4() != a.addr.is_ipv4()) {
        return Err("--sources must be of the server address's family".into());
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_are_parsed_in_both_spellings() {
        let a = parse(&argv(
            "fanout --subscribers=50 --rate 200 --duration 1500ms --url http://127.0.0.1:9 --sources 127.0.0.2,127.0.0.3",
        ))
        .unwrap();
        assert_eq!(a.subscribers, 50);
        assert_eq!(a.rate, Rate::PerSecond(200.0));
        assert_eq!(a.duration, Duration::from_millis(1500));
        assert_eq!(a.addr.port(), 9);
        assert_eq!(a.sources.len(), 2);
    }

    #[test]
    fn caps_and_non_loopback_targets_are_refused() {
        for bad in [
            "fanout --url http://10.0.0.1:8000",
            "fanout --url http://192.168.1.1:80",
            "connect --sources 10.0.0.2",
            "fanout --duration 601s",
            "connect --count 200001",
            "connect --hold 11m",
            "storm",
        ] {
            assert!(parse(&argv(bad)).is_err(), "{bad}");
        }
    }
}
