//! Shared mode (`docs/SCALING.md`): `/connect`, `/subscribe` and `/unsubscribe` answer
//! with a `channels_info` listing, which must be the same whichever node is asked. The
//! hub thread runs them with [`Command::run_listed`]: the operation is done here at
//! once, and the answer waits, without its listing, while the Redis bridge reads the
//! listed channels, then is finished with [`Listed::render`]. Without Redis they run
//! as any command ([`Command::run`]), listing from this node.

use super::reply::{self, Cors};
use super::{connect, subscribe, Command, Kind, Outcome};
use crate::conn_id::ConnId;
use crate::http::Response;
use crate::hub::{Hub, InfoConfig, Time};
use serde_json::Value;

/// An answer whose `channels_info` is still to fill.
#[derive(Debug)]
pub struct Listed {
    /// The answer, `channels_info` `null`.
    pub answer: Value,
    /// The listing it takes (`info.channels` names its channels).
    pub info: InfoConfig,
    /// CORS headers of the request.
    pub cors: Cors,
}

impl Listed {
    /// The answer with `channels_info`.
    pub fn render(mut self, channels_info: Value) -> Response {
        self.answer["channels_info"] = channels_info;
        reply::rendered(200, &self.answer, &self.cors)
    }
}

impl Command {
    /// Whether this command answers with a `channels_info` listing.
    pub fn lists_channels(&self) -> bool {
        matches!(self.kind, Kind::Connect(_) | Kind::Subscribe(_))
    }

    /// Runs a command that answers with a listing, leaving the listing to fill; any
    /// other command, or one that fails, runs as [`Command::run`] and gives its outcome.
    pub fn run_listed(self, hub: &mut Hub, conn: ConnId, now: Time) -> Result<Listed, Outcome> {
        let cors = self.cors.clone();
        let (answer, info) = match self.kind {
            Kind::Connect(c) => connect::answer(c, hub, now),
            Kind::Subscribe(s) => match subscribe::answer(s, hub, now) {
                Ok(done) => done,
                Err(e) => return Err(Outcome::Respond(reply::invalid(e))),
            },
            _ => return Err(self.run(hub, conn, now)),
        };
        Ok(Listed { answer, info, cors })
    }
}
