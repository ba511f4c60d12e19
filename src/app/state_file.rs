//! The state file (`state_file`, `snapshot_interval`): restores the hub at start, saves
//! it periodically and at shutdown. Writes go to a temporary file renamed over the old
//! one, so a crash mid-write leaves the previous snapshot intact. A snapshot that cannot
//! be read back is moved aside (`<state_file>.corrupt`) and the server starts empty: a
//! server that refuses to start loses more than the bad file holds.

use crate::hub::{Hub, Snapshot, SnapshotError};
use crate::metrics::SaveCounters;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a snapshot that cannot be loaded is moved: next to it, so an operator finds it.
pub fn corrupt_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".corrupt");
    PathBuf::from(p)
}

/// Loads `path` into `hub` if the file exists. A file that cannot be parsed is renamed to
/// [`corrupt_path`] (kept for inspection, never silently overwritten by the next save),
/// a warning is logged, and the hub starts empty. A file that cannot be read at all (or
/// moved aside) is an error, since the next save could otherwise destroy it.
pub fn load_or_set_aside(hub: &mut Hub, path: &Path) -> io::Result<()> {
    match restore(hub, path) {
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            let aside = corrupt_path(path);
            fs::rename(path, &aside)?;
            crate::log!(
                Warning,
                "state file is corrupt ({e}); moved to {} and starting empty",
                aside.display()
            );
            Ok(())
        }
        other => other,
    }
}

/// Loads `path` into `hub` if the file exists. A file that exists but cannot be read or
/// parsed is an error.
pub fn restore(hub: &mut Hub, path: &Path) -> io::Result<()> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let invalid = |e: SnapshotError| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    };
    let snapshot = Snapshot::from_json(&bytes).map_err(invalid)?;
    hub.restore(snapshot).map_err(invalid)
}

/// Saves `hub` to `path` atomically: write a sibling temporary file, fsync it, rename it
/// over `path`, fsync the directory (so the rename itself survives a power loss).
pub fn save(hub: &Hub, path: &Path) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let bytes = hub.snapshot().to_json();
    {
        use io::Write;
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Some filesystems refuse to open or sync a directory; the rename is done either way.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// When and where the hub thread saves.
#[derive(Debug)]
pub struct Saver {
    path: PathBuf,
    every: Option<Duration>,
    next: Option<Instant>,
    /// Saves done, failed and their time (`GET /metrics`).
    pub counters: SaveCounters,
}

impl Saver {
    /// Saves to `path` every `every_secs` seconds (0: only at shutdown).
    pub fn new(path: PathBuf, every_secs: u64, now: Instant) -> Saver {
        let every = (every_secs > 0).then(|| Duration::from_secs(every_secs));
        Saver {
            path,
            every,
            next: every.map(|e| now + e),
            counters: SaveCounters::default(),
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

    /// Saves now; a failure is logged and counted, and the server keeps running.
    pub fn save(&mut self, hub: &Hub) {
        let started = Instant::now();
        let result = save(hub, &self.path);
        let took = started.elapsed().as_secs_f64();
        self.counters.seconds += took;
        self.counters.last_seconds = took;
        match result {
            Ok(()) => self.counters.saves += 1,
            Err(e) => {
                self.counters.failures += 1;
                crate::log!(Warning, "cannot save state to {}: {e}", self.path.display());
            }
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

    #[test]
    fn corrupt_state_file_is_moved_aside_and_the_hub_starts_empty() {
        let dir = std::env::temp_dir().join(format!("cs-corrupt-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let path = dir.join("state.json");
        fs::write(&path, b"{\"channels\": [tru").expect("write");
        let mut hub = Hub::new(Time(0), Duration::from_secs(5), 1);
        load_or_set_aside(&mut hub, &path).expect("starts");
        assert!(hub.channels.is_empty());
        assert!(!path.exists(), "bad file left in place");
        assert_eq!(
            fs::read(corrupt_path(&path)).expect("moved aside"),
            b"{\"channels\": [tru"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    /// A state file written by release 0.1.0 (before the snapshot format was derived
    /// with serde): channels "frames", "hist" and "plain", five messages in "hist" (kept:
    /// the last three), alice's state with one public key, a private frame for bob.
    const RELEASE_0_1_0: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/state_v1_release_0.1.0.json"
    );

    #[test]
    fn a_state_file_written_by_release_0_1_0_still_loads() {
        let mut hub = Hub::new(Time(0), Duration::from_secs(5), 1);
        restore(&mut hub, Path::new(RELEASE_0_1_0)).expect("old state file loads");

        let names: Vec<&str> = hub.channels.keys().map(String::as_str).collect();
        assert_eq!(names, ["frames", "hist", "plain"]);
        let hist = &hub.channels["hist"];
        assert_eq!(hist.uuid.to_string().len(), 36);
        assert!(hist.config.store_history && hist.config.notify_presence);
        assert_eq!(hist.config.history_size, 3);
        let kept: Vec<serde_json::Value> = hist
            .history
            .iter()
            .map(|m| m.value()["message"].clone())
            .collect();
        assert_eq!(
            kept,
            [2, 3, 4].map(|i| serde_json::json!({"i": i, "text": "h\u{e9}llo \u{2603}"}))
        );
        assert_eq!(hist.frames.len(), 6, "presence, state change and messages");
        assert!(hub.channels["frames"].config.notify_state);
        assert_eq!(hub.channels["frames"].frames.len(), 2);

        let alice = &hub.users["alice"];
        assert_eq!(
            serde_json::Value::Object(alice.state.clone()),
            serde_json::json!({"color": "blue", "n": 3, "secret": "s"})
        );
        assert_eq!(alice.state_public_keys, ["color"]);
        let bob = &hub.users["bob"];
        assert_eq!(bob.frames.len(), 1);
        assert_eq!(
            bob.frames[0].1.value()["message"],
            serde_json::json!({"private": "to bob"})
        );
        assert_eq!(hub.stats.total_unique_messages, 7);
        assert_eq!(hub.stats.total_messages, 7);
        assert!(hub.connections.is_empty(), "connections are never saved");

        // Messages restored from a file without positions have none (0), and the
        // channels count on from 0.
        assert!(hist.history.iter().all(|m| m.pos() == 0));
        assert_eq!((hist.last_pos, hist.lost_through), (0, 0));

        // Saved again, it is the same document plus the position keys, which an older
        // release ignores (its `Saved*` types do not deny unknown keys), so it can read
        // it back.
        let dir = std::env::temp_dir().join(format!("cs-release-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let path = dir.join("state.json");
        save(&hub, &path).expect("save");
        let parse = |p: &Path| -> serde_json::Value {
            serde_json::from_slice(&fs::read(p).expect("read")).expect("json")
        };
        let mut again = parse(&path);
        for ch in again["channels"].as_array_mut().into_iter().flatten() {
            let Some(ch) = ch.as_object_mut() else {
                continue;
            };
            for key in [
                "last_pos",
                "lost_through",
                "history_positions",
                "frame_positions",
            ] {
                assert!(ch.remove(key).is_some(), "{key} is saved");
            }
        }
        assert_eq!(again, parse(Path::new(RELEASE_0_1_0)));
        let _ = fs::remove_dir_all(&dir);
    }
}
