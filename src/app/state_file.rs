//! The state file (`state_file`, `snapshot_interval`): restores the hub at start, saves
//! it periodically and at shutdown. Writes go to a temporary file renamed over the old
//! one, so a crash mid-write leaves the previous snapshot intact.

use crate::hub::Hub;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Loads `path` into `hub` if the file exists. A file that exists but cannot be read or
/// parsed is an error: starting empty would silently discard state.
pub fn restore(hub: &mut Hub, path: &Path) -> io::Result<()> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let invalid = |m: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {m}", path.display()),
        )
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    hub.restore(&value).map_err(|e| invalid(e.to_string()))
}

/// Saves `hub` to `path` atomically (write a sibling temporary file, then rename).
pub fn save(hub: &Hub, path: &Path) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let bytes = serde_json::to_vec(&hub.snapshot()).map_err(io::Error::other)?;
    {
        use io::Write;
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// When and where the hub thread saves.
#[derive(Debug)]
pub struct Saver {
    path: PathBuf,
    every: Option<Duration>,
    next: Option<Instant>,
}

impl Saver {
    /// Saves to `path` every `every_secs` seconds (0: only at shutdown).
    pub fn new(path: PathBuf, every_secs: u64, now: Instant) -> Saver {
        let every = (every_secs > 0).then(|| Duration::from_secs(every_secs));
        Saver {
            path,
            every,
            next: every.map(|e| now + e),
        }
    }

    /// The next periodic save, if any.
    pub fn due(&self) -> Option<Instant> {
        self.next
    }

    /// Saves if due at `now`.
    pub fn tick(&mut self, hub: &Hub, now: Instant) {
        if let (Some(next), Some(every)) = (self.next, self.every) {
            if now >= next {
                self.next = Some(now + every);
                self.save(hub);
            }
        }
    }

    /// Saves now; a failure is logged, and the server keeps running.
    pub fn save(&self, hub: &Hub) {
        if let Err(e) = save(hub, &self.path) {
            eprintln!(
                "WARNING channelstream: cannot save state to {}: {e}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{ConnectParams, Time};

    #[test]
    fn saved_state_is_restored_and_a_missing_file_is_an_empty_start() {
        let dir = std::env::temp_dir().join(format!("cs-state-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let path = dir.join("state.json");
        let mut hub = Hub::new(Time(0), Duration::from_secs(5), 1);
        assert!(restore(&mut hub, &path).is_ok(), "missing file");
        hub.connect(
            &ConnectParams {
                username: "u".into(),
                channels: vec!["c".into()],
                ..Default::default()
            },
            Time(0),
        );
        save(&hub, &path).expect("save");
        let mut again = Hub::new(Time(0), Duration::from_secs(5), 2);
        restore(&mut again, &path).expect("restore");
        assert!(again.users.contains_key("u") && again.channels.contains_key("c"));
        fs::write(&path, b"{not json").expect("write");
        assert_eq!(
            restore(&mut again, &path).map_err(|e| e.kind()),
            Err(io::ErrorKind::InvalidData)
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
