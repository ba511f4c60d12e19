//! Read-only views of the hub for API responses (`server.py` `get_channel_info`,
//! `admin_json`).

use super::time::{format_uptime, Time};
use super::Hub;
use serde_json::{json, Map, Value};

/// What a channel listing includes (`InfoResolutionSchema` after defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoConfig {
    /// Channels to list; `None` lists all.
    pub channels: Option<Vec<String>>,
    /// Include each channel's history.
    pub include_history: bool,
    /// Include each channel's user names and the `users` list.
    pub include_users: bool,
    /// Channels left out.
    pub exclude_channels: Vec<String>,
    /// Show users' public state instead of their whole state.
    pub return_public_state: bool,
}

impl Default for InfoConfig {
    fn default() -> Self {
        InfoConfig {
            channels: None,
            include_history: true,
            include_users: true,
            exclude_channels: Vec::new(),
            return_public_state: false,
        }
    }
}

impl Hub {
    /// `{"channels": {name: info}, "users": [{"user", "state"}]}`; users sorted by name
    /// (the reference lists them in set order).
    pub fn channels_info(&self, cfg: &InfoConfig) -> Value {
        let mut channels = Map::new();
        let mut users: Vec<String> = Vec::new();
        let selected: Vec<&super::Channel> = match &cfg.channels {
            None => self.channels.values().collect(),
            Some(names) => names.iter().filter_map(|n| self.channels.get(n)).collect(),
        };
        for ch in selected {
            if cfg.exclude_channels.contains(&ch.name) {
                continue;
            }
            channels.insert(
                ch.name.clone(),
                ch.info(cfg.include_history, cfg.include_users),
            );
            if cfg.include_users {
                users.extend(ch.users());
            }
        }
        users.sort();
        users.dedup();
        let users: Vec<Value> = users
            .iter()
            .filter_map(|name| self.users.get(name))
            .map(|u| {
                let state = if cfg.return_public_state {
                    u.public_state()
                } else {
                    u.state.clone()
                };
                json!({"user": u.username, "state": state})
            })
            .collect();
        json!({"channels": channels, "users": users})
    }

    /// The admin panel's JSON (`admin_json`).
    pub fn admin_info(&self, now: Time, version: &str) -> Value {
        let mut active: Vec<&super::User> = self
            .users
            .values()
            .filter(|u| !u.connections.is_empty())
            .collect();
        active.sort_by(|a, b| a.username.cmp(&b.username));
        let channels = self.channels_info(&InfoConfig::default());
        json!({
            "remembered_user_count": self.users.len(),
            "unique_user_count": active.len(),
            "total_connections": active.iter().map(|u| u.connections.len()).sum::<usize>(),
            "total_channels": self.channels.len(),
            "total_messages": self.stats.total_messages,
            "total_unique_messages": self.stats.total_unique_messages,
            "channels": channels["channels"],
            "users": active.iter().map(|u| u.info(true)).collect::<Vec<_>>(),
            "uptime": format_uptime(now.since(self.started)),
            "version": version,
        })
    }
}
