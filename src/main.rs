//! The `channelstream` binary: reads the configuration (see `docs/CONFIG.md`), sets the log
//! level, starts the server, tells systemd it is ready (`NOTIFY_SOCKET`), reloads live
//! settings on SIGHUP and runs until SIGTERM/SIGINT, then exits 0 after a clean shutdown.

use channelstream::log::{self, Level};
use channelstream::{app, config};
use std::process::ExitCode;

fn main() -> ExitCode {
    let (config, warnings) = match config::load() {
        Ok(loaded) => loaded,
        Err(status) => return ExitCode::from(u8::try_from(status).unwrap_or(2)),
    };
    // The config accepts only names `from_name` knows; INFO is its default.
    log::set_level(Level::from_name(&config.log_level).unwrap_or(Level::Info));
    log::set_format(log::Format::from_name(&config.log_format).unwrap_or(log::Format::Text));
    for warning in &warnings {
        channelstream::log!(Warning, "{warning}");
    }
    channelstream::log!(
        Warning,
        "IP's allowed to post to API {:?}",
        config.allow_posting_from
    );
    if config.demo {
        channelstream::log!(
            Warning,
            "demo = true: /demo lets anyone who can reach this server chat through it"
        );
    }
    let running = match app::spawn(config) {
        Ok(running) => running,
        Err(err) => {
            channelstream::log!(Error, "cannot start: {err}");
            return ExitCode::from(1);
        }
    };
    channelstream::log!(
        Info,
        "Starting channelstream {} serving on http://{}",
        env!("CARGO_PKG_VERSION"),
        running.addr
    );
    // Listening, state loaded: systemd (`Type=notify`) may start what depends on us.
    if let Err(e) = app::notify::notify("READY=1") {
        channelstream::log!(Warning, "cannot tell systemd we are ready: {e}");
    }
    match running.wait() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            channelstream::log!(Error, "{err}");
            ExitCode::from(1)
        }
    }
}
