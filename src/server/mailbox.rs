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
    /// Queue the same frame to many websockets of this worker (ids of other workers are
    /// not in the list; the hub's list is handed over as it is when one worker owns
    /// every recipient, so that a message costs no address list of its own).
    SendMany(Vec<ConnId>, Arc<[u8]>),
    /// Send a close frame with this code, then close.
    Close(Addr, u16),
    /// Shutdown began: close websockets with 1001, finish responses, then stop.
    Shutdown,
}

/// Splits `conns` by worker: calls `group(w, list)` for each worker `w` owning some of
/// them, in worker order, the list in the order of `conns`. Ids naming a worker that does
/// not exist (`workers` or more) are dropped. When one worker owns them all (always so
/// with one worker) `conns` itself is that list: this runs for every message the hub fans
/// out, and a copy per message plus a list of lists were three allocations of the hub
/// thread's ~25 per message. Otherwise each group is allocated once at its final size
/// (pushing grows a list of 1 000 addresses ten times).
pub(crate) fn group_by_worker(
    conns: Vec<ConnId>,
    workers: usize,
    mut group: impl FnMut(usize, Vec<ConnId>),
) {
    let Some(first) = conns.first().map(|c| usize::from(c.worker)) else {
        return;
    };
    if conns.iter().all(|c| usize::from(c.worker) == first) {
        if first < workers {
            group(first, conns);
        }
        return;
    }
    let mut sizes = vec![0usize; workers];
    for c in &conns {
        if let Some(n) = sizes.get_mut(usize::from(c.worker)) {
            *n += 1;
        }
    }
    let mut out: Vec<Vec<ConnId>> = sizes.into_iter().map(Vec::with_capacity).collect();
    for c in conns {
        if let Some(list) = out.get_mut(usize::from(c.worker)) {
            list.push(c);
        }
    }
    for (worker, list) in out.into_iter().enumerate() {
        if !list.is_empty() {
            group(worker, list);
        }
    }
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

    fn groups(conns: Vec<ConnId>, workers: usize) -> Vec<(usize, Vec<ConnId>)> {
        let mut out = Vec::new();
        group_by_worker(conns, workers, |w, list| out.push((w, list)));
        out
    }

    #[test]
    fn send_many_targets_are_grouped_per_worker_in_order() {
        let conns = vec![id(1, 4), id(0, 1), id(1, 2), id(0, 3), id(7, 9)];
        assert_eq!(
            groups(conns, 2),
            vec![(0, vec![id(0, 1), id(0, 3)]), (1, vec![id(1, 4), id(1, 2)])]
        );
    }

    #[test]
    fn one_worker_s_targets_are_one_group() {
        let conns = vec![id(1, 4), id(1, 2), id(1, 3)];
        assert_eq!(groups(conns.clone(), 2), vec![(1, conns.clone())]);
        assert_eq!(groups(conns, 1), vec![], "worker 1 does not exist");
    }

    #[test]
    fn no_targets_gives_no_groups() {
        assert_eq!(groups(Vec::new(), 3), vec![]);
    }
}
