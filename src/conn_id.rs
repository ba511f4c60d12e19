//! The address of one engine connection. It sits below both the engine (`server`), which
//! hands ids out, and the pure layers (`hub`, `api`), which only name connections as
//! delivery targets, so neither of those imports the engine.

/// A connection's address anywhere in the process. Slab keys are reused at once, so
/// anything that crosses a thread carries `gen`, and the worker checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    /// Index of the worker that owns the socket.
    pub worker: u16,
    /// Slab key within that worker.
    pub key: u32,
    /// Generation, bumped each time a slab key is reused.
    pub gen: u32,
}
