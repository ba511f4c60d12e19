//! The `channelstream` binary: reads the configuration (see `docs/CONFIG.md`), starts the
//! server and runs until SIGTERM/SIGINT, then exits 0 after a clean shutdown.

use channelstream::{app, config};
use std::process::ExitCode;

fn main() -> ExitCode {
    let (config, warnings) = match config::load() {
        Ok(loaded) => loaded,
        Err(status) => return ExitCode::from(u8::try_from(status).unwrap_or(2)),
    };
    for warning in &warnings {
        eprintln!("WARNING channelstream: {warning}");
    }
    eprintln!(
        "WARNING channelstream: IP's allowed to post to API {:?}",
        config.allow_posting_from
    );
    let running = match app::spawn(config) {
        Ok(running) => running,
        Err(err) => {
            eprintln!("ERROR channelstream: cannot start: {err}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "INFO channelstream: Starting channelstream {} serving on http://{}",
        env!("CARGO_PKG_VERSION"),
        running.addr
    );
    match running.wait() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ERROR channelstream: {err}");
            ExitCode::from(1)
        }
    }
}
