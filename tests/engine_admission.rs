//! Admission control through the real engine: while most websockets of a worker are far
//! behind, new HTTP requests wait (at most 50 ms each), so publishers slow down to what
//! subscribers read; once the backlog is gone they are answered at once again.

mod engine_common;

use engine_common::*;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

/// How long `GET /json` takes on a fresh connection.
fn timed_get(addr: SocketAddr) -> Duration {
    let t0 = Instant::now();
    assert_eq!(get(addr, "/json").status, 200);
    t0.elapsed()
}

/// Retries `timed_get` until `want` holds for one answer (at most `within`).
fn until_answer(addr: SocketAddr, within: Duration, want: impl Fn(Duration) -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if want(timed_get(addr)) {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn requests_wait_while_most_websockets_are_behind_and_not_after() {
    // Room for the 8 MiB backlog below, so the stalled websocket is behind, not cut.
    let server = start(limits_with(|l| l.max_outbound = 16 * 1024 * 1024), 1);
    let held = |d: Duration| d >= Duration::from_millis(40);
    assert!(
        until_answer(server.addr, Duration::from_secs(2), |d| !held(d)),
        "an idle server answers at once"
    );

    // The worker's only websocket never reads; 8 MiB are sent to it, more than the
    // kernel buffers take, so most of it waits in its out queue.
    let stalled = raw_ws(server.addr);
    socket2::SockRef::from(&stalled)
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    assert_eq!(get(server.addr, "/fill").status, 200);

    assert!(
        until_answer(server.addr, Duration::from_secs(5), held),
        "a request is held while the only websocket is far behind"
    );
    // Held, never refused or lost: the answer came, and the next ones keep coming.
    assert!(timed_get(server.addr) < Duration::from_secs(2));

    drop(stalled);
    assert!(
        until_answer(server.addr, Duration::from_secs(5), |d| !held(d)),
        "answered at once again after the backlog left with its socket"
    );
    server.stop().expect("clean stop");
}
