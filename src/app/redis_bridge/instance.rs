//! The `Pinstance` marker (`docs/SCALING.md`, "Redis restarted empty"): one random
//! value in Redis that every node learns. Missing or different from the one a node
//! knows means Redis lost its data (restarted without persistence, `FLUSHALL`, a
//! failover to an empty replica). Each stream notices that on its own (its epoch), but
//! what only the nodes hold would stay lost: the records of their connections
//! (`Pconn:{id}`, which a websocket moving to another node needs) and their channels'
//! configs (`meta c`, which a node making the channel later takes). So a node that finds
//! the marker changed writes them again, and its presence refresh (at once after a
//! reconnect) registers its connections again without `joined`.
//!
//! The check is `SET Pinstance <fresh value> NX` then `GET Pinstance`, pipelined on the
//! command connection (so the `GET` sees the `SET`): after every connect of the command
//! connection, and every refresh period (a `FLUSHALL` needs no reconnect). The value
//! offered is new each time, so a node whose own marker was lost never reads back the
//! value it knew.

use super::{Pending, RedisBridge};
use crate::hub::Hub;
use crate::redis::CommandError;
use crate::resp::Reply;

impl RedisBridge {
    fn instance_key(&self) -> String {
        format!("{}instance", self.prefix)
    }

    /// Queues the marker check; its answer comes to [`RedisBridge::on_instance`].
    pub(super) fn check_instance(&mut self) {
        let key = self.instance_key();
        self.epochs += 1;
        let offer = format!("{}{:x}", self.epoch_seed, self.epochs);
        let tag = self.tag(Pending::Write);
        if self
            .link
            .command(&["SET", key.as_str(), offer.as_str(), "NX"], tag)
            .is_err()
        {
            self.pending.remove(&tag);
            return;
        }
        let tag = self.tag(Pending::Instance);
        if self.link.command(&["GET", key.as_str()], tag).is_err() {
            self.pending.remove(&tag);
        }
    }

    /// The marker Redis holds now. The first one a node reads is Redis's; another one
    /// later means Redis lost its data: this node writes back what only it holds.
    pub(super) fn on_instance(&mut self, hub: &Hub, result: Result<Reply, CommandError>) {
        let Some(marker) = result
            .ok()
            .and_then(|r| r.into_optional_bulk().ok().flatten())
        else {
            return; // Redis did not answer: the next check asks again.
        };
        let lost = self.instance.as_ref().is_some_and(|known| *known != marker);
        self.instance = Some(marker);
        if lost {
            crate::log!(
                Warning,
                "redis lost its data (its instance marker changed): writing back this node's connection records and channel configs"
            );
            self.restores += 1;
            self.restore(hub);
        }
    }

    /// Writes back this node's connection records and its channels' configs (unless a
    /// node wrote one first), and puts its channels in the index again.
    fn restore(&mut self, hub: &Hub) {
        let ids: Vec<_> = hub.connections.keys().copied().collect();
        for id in ids {
            self.record_conn(hub, id);
        }
        let ttl = crate::redis::CHANNEL_TTL_SECONDS.to_string();
        for (name, ch) in &hub.channels {
            let meta = format!("{}:meta", self.publish.channel_base(name));
            let json = ch.config.to_json().to_string();
            let writes: [&[&str]; 2] = [
                &["HSETNX", meta.as_str(), "c", json.as_str()],
                &["EXPIRE", meta.as_str(), ttl.as_str()],
            ];
            for args in writes {
                self.next_tag += 1;
                let tag = self.next_tag;
                if self.link.command(args, tag).is_ok() {
                    self.pending.insert(tag, Pending::Write);
                }
            }
        }
        self.refresh_index(hub);
    }
}
