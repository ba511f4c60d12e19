//! Several nodes sharing state through Redis (issue 12; design in `docs/SCALING.md`).
//! Built so far, and not yet wired into the hub: the `redis_url` setting ([`RedisUrl`]).
//! The wire format is [`crate::resp`].

mod url;

pub use url::{RedisUrl, RedisUrlError};
