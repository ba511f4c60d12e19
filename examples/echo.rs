//! An echo websocket server on the engine, for Autobahn|Testsuite and manual tests.
//!
//! `cargo run --release --example echo -- --port 9001 --max-message 16777216`
//!
//! Any GET with `Upgrade` becomes a websocket that echoes each message with its opcode;
//! anything else gets a 404 JSON body. Binds 127.0.0.1; stops on SIGINT/SIGTERM.

use channelstream::http::{Request, Response};
use channelstream::server::{App, ConnId, Ctx, Limits, Reply, Server, ServerConfig, WsMessage};
use channelstream::ws::{self, OpCode};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

struct Echo;

impl App for Echo {
    fn on_request(&self, req: Request, _ctx: &mut Ctx<'_>) -> Reply {
        if req.method == "GET" && req.header("upgrade").is_some() {
            Reply::Upgrade { frames: vec![] }
        } else {
            Reply::Respond(Response::json(404, br#"{"error":"not found"}"#.to_vec()))
        }
    }

    fn on_ws_message(&self, msg: WsMessage, ctx: &mut Ctx<'_>) {
        let frame = match &msg {
            WsMessage::Text(text) => ws::shared_frame(OpCode::Text, text.as_bytes()),
            WsMessage::Binary(bytes) => ws::shared_frame(OpCode::Binary, bytes),
        };
        let me = ctx.conn();
        ctx.send(me, frame);
    }

    fn on_close(&self, _conn: ConnId) {}
}

/// `--port N` (default 9001), `--max-message BYTES` (default 16 MiB: Autobahn 9.x sends
/// messages up to 16 MiB), `--workers N` (default 2).
fn parse_args() -> Result<(u16, usize, usize), String> {
    let (mut port, mut max_message, mut workers) = (9001u16, 16 * 1024 * 1024usize, 2usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |_| format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--port" => port = value.parse().map_err(bad)?,
            "--max-message" => max_message = value.parse().map_err(bad)?,
            "--workers" => workers = value.parse().map_err(bad)?,
            _ => {
                return Err(format!(
                    "unknown flag {flag} (use --port, --max-message, --workers)"
                ))
            }
        }
    }
    Ok((port, max_message, workers))
}

fn main() -> ExitCode {
    let (port, max_message, workers) = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("echo: {e}");
            return ExitCode::from(2);
        }
    };
    let mut limits = Limits::default();
    limits.max_message = max_message;
    // Room for one echoed maximal message plus what follows it.
    limits.max_outbound = max_message.saturating_mul(2).max(limits.max_outbound);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let server = match Server::bind(ServerConfig {
        addr,
        workers,
        limits,
    }) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("echo: bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("echo: listening on ws://{}", server.local_addr());
    match server.run(Arc::new(Echo)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}
