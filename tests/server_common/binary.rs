//! The real `channelstream` binary as a child process, and what a test reads of a process
//! from `/proc`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// VmRSS of this process in KiB.
pub fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The real `channelstream` binary as a child process; killed (SIGKILL) if still running
/// when dropped, so a failing test leaves nothing behind.
pub struct Binary {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// Everything the server wrote to stderr so far (read by a thread).
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Binary {
    /// Starts `sh -c "<prefix> exec channelstream --host 127.0.0.1 --port 0 <args>"` and
    /// waits for the "serving on" line.
    pub fn start(shell_prefix: &str, args: &[&str]) -> Binary {
        use std::io::BufRead;
        let bin = env!("CARGO_BIN_EXE_channelstream");
        let script =
            format!("{shell_prefix} exec \"$0\" --host 127.0.0.1 --port 0 --workers 2 \"$@\"");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(bin)
            .args(args)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn channelstream");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        thread_spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("serving on http://").nth(1) {
                    // A JSON line (`log_format = json`) ends the message with `"}`.
                    let _ = tx.send(rest.trim().trim_end_matches(['"', '}']).to_string());
                }
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(10)).map(|a| a.parse()) {
            Ok(Ok(addr)) => addr,
            // Killed before panicking, so a failed start leaves no server behind.
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "server did not start: {}",
                    log.lock().map(|l| l.clone()).unwrap_or_default()
                );
            }
        };
        Binary { child, addr, log }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends SIGTERM with the `kill` command and waits (up to 10 s) for the exit status.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid()])
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

fn thread_spawn(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(f);
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
