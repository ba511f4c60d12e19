//! The counters and flags the main thread and the receiver threads share during a run:
//! the timestamp zero, the phase flags, and running totals for progress and draining.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::time::Instant;

/// What the main thread and the workers share while a run goes on.
pub struct Shared {
    /// Zero of every probe timestamp.
    pub start: Instant,
    /// Close every subscriber now (end of the measurement).
    pub closing: AtomicBool,
    /// Leave at once.
    pub stop: AtomicBool,
    /// Subscribers open / failed so far.
    pub opened: AtomicUsize,
    pub failed: AtomicUsize,
    /// First deliveries so far (for the drain phase).
    pub delivered: AtomicU64,
    /// Heartbeats and drops so far (for progress lines).
    pub heartbeats: AtomicU64,
    pub drops: AtomicU64,
}

impl Shared {
    /// Fresh counters, timestamps counted from now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            closing: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            opened: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            delivered: AtomicU64::new(0),
            heartbeats: AtomicU64::new(0),
            drops: AtomicU64::new(0),
        }
    }
}
