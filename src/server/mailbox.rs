//! What other threads tell a worker. Each worker drains its `mpsc::Receiver<Mail>` when its
//! `mio::Waker` fires; nothing here touches a socket.

use super::ConnId;
use crate::http::Response;
use mio::net::TcpStream;
use std::net::SocketAddr;
use std::sync::Arc;

/// A connection address within one worker.
pub(crate) type Addr = (u32, u32);

/// One message to a worker.
#[derive(Debug)]
pub(crate) enum Mail {
    /// A freshly accepted socket to own (already counted against `max_connections`).
    Adopt(TcpStream, SocketAddr),
    /// The answer to a `Reply::Later`.
    Respond(Addr, Response),
    /// Complete the upgrade of a `Reply::Later` request.
    Upgrade(Addr, Vec<Arc<[u8]>>),
    /// Queue one frame to one websocket.
    Send(Addr, Arc<[u8]>),
    /// Queue the same frame to many websockets of this worker.
    SendMany(Vec<Addr>, Arc<[u8]>),
    /// Send a close frame with this code, then close.
    Close(Addr, u16),
    /// Shutdown began: close websockets with 1001, finish responses, then stop.
    Shutdown,
}

/// Splits `conns` by worker: `out[w]` gets the addresses owned by worker `w`, in order.
/// Ids naming a worker that does not exist are dropped.
/// Each group is allocated once at its final size (pushing grows a list of 1 000
/// addresses ten times; this runs for every message the hub fans out).
pub(crate) fn group_by_worker(conns: &[ConnId], workers: usize) -> Vec<Vec<Addr>> {
    let mut sizes = vec![0usize; workers];
    for c in conns {
        if let Some(n) = sizes.get_mut(c.worker as usize) {
            *n += 1;
        }
    }
    let mut out: Vec<Vec<Addr>> = sizes.into_iter().map(Vec::with_capacity).collect();
    for c in conns {
        if let Some(group) = out.get_mut(c.worker as usize) {
            group.push((c.key, c.gen));
        }
    }
    out
}

impl ConnId {
    /// This id's address within its worker.
    pub(crate) fn addr(self) -> Addr {
        (self.key, self.gen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(worker: u16, key: u32) -> ConnId {
        ConnId {
            worker,
            key,
            gen: key * 10,
        }
    }

    #[test]
    fn send_many_targets_are_grouped_per_worker_in_order() {
        let conns = [id(1, 4), id(0, 1), id(1, 2), id(0, 3), id(7, 9)];
        let groups = group_by_worker(&conns, 2);
        assert_eq!(groups, vec![vec![(1, 10), (3, 30)], vec![(4, 40), (2, 20)]]);
    }

    #[test]
    fn no_targets_gives_empty_groups() {
        assert_eq!(group_by_worker(&[], 3), vec![Vec::<Addr>::new(); 3]);
    }
}
