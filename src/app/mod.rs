//! The glue: implements [`crate::server::App`] for channelstream, runs the hub thread and
//! routes hub output to connections through [`crate::server::Handle`].
//!
//! STUB: [`spawn`] and [`Running`] are the contract tests and the binary start the server
//! through. The owner of this module fills them in.

use crate::config::Config;
use crate::server::Handle;
use std::io;
use std::net::SocketAddr;

/// A channelstream server running in background threads. CONTRACT.
#[derive(Debug)]
pub struct Running {
    /// The bound address (with `port = 0` in the config, the port picked).
    pub addr: SocketAddr,
    /// The engine handle (shutdown, sends).
    pub handle: Handle,
}

impl Running {
    /// Starts a clean shutdown and waits until every thread has finished. CONTRACT.
    pub fn shutdown(self) -> io::Result<()> {
        todo!("app::Running::shutdown")
    }
    /// Waits until the server stops by itself (SIGTERM/SIGINT). CONTRACT.
    pub fn wait(self) -> io::Result<()> {
        todo!("app::Running::wait")
    }
}

/// Binds `config.host:config.port`, starts the hub thread and the engine workers, and
/// returns at once. CONTRACT.
pub fn spawn(config: Config) -> io::Result<Running> {
    let _ = config;
    todo!("app::spawn")
}
