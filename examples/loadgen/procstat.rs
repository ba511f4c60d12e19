//! CPU time and memory of a process or thread, read from `/proc` (no unsafe, no libc):
//! `/proc/<pid>/stat` for user and system ticks, `/proc/<pid>/status` for VmRSS/VmHWM.
//! Ticks are `USER_HZ`, which Linux fixes at 100 on every architecture we run on.

use std::fs;

/// Clock ticks per second in `/proc/*/stat` (`USER_HZ`).
const USER_HZ: f64 = 100.0;

/// One reading of a process (or, via `thread-self`, a thread).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// User CPU seconds.
    pub user_s: f64,
    /// System CPU seconds.
    pub sys_s: f64,
    /// Resident set, KiB.
    pub rss_kib: u64,
    /// Peak resident set, KiB.
    pub hwm_kib: u64,
    /// Threads.
    pub threads: u64,
}

impl Sample {
    /// User plus system seconds.
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }

    /// Reads `/proc/<who>/…`; `who` is a pid, `self` or `thread-self`.
    pub fn read(who: &str) -> Option<Self> {
        let stat = fs::read_to_string(format!("/proc/{who}/stat")).ok()?;
        let status = fs::read_to_string(format!("/proc/{who}/status")).unwrap_or_default();
        let (user, sys, threads) = parse_stat(&stat)?;
        Some(Self {
            user_s: user as f64 / USER_HZ,
            sys_s: sys as f64 / USER_HZ,
            rss_kib: status_kib(&status, "VmRSS:").unwrap_or(0),
            hwm_kib: status_kib(&status, "VmHWM:").unwrap_or(0),
            threads,
        })
    }
}

/// The soft limit on open files of this process (`/proc/self/limits`), if readable.
pub fn open_files_limit() -> Option<u64> {
    let text = fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files(&text)
}

fn parse_open_files(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// utime, stime and num_threads (fields 14, 15, 20 of proc(5)). The command name in
/// field 2 may contain spaces and parentheses, so fields are counted after the last `)`.
fn parse_stat(text: &str) -> Option<(u64, u64, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state).
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some((field(14)?, field(15)?, field(20)?))
}

fn status_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_a_command_with_spaces_and_parens() {
        let text = "42 (we (ird) name) S 1 2 3 4 5 6 7 8 9 10 250 130 0 0 20 0 7 0 99 1000 50 0";
        assert_eq!(parse_stat(text), Some((250, 130, 7)));
    }

    #[test]
    fn status_sizes_are_read_in_kib() {
        let text = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(status_kib(text, "VmRSS:"), Some(1024));
        assert_eq!(status_kib(text, "VmHWM:"), Some(2048));
        assert_eq!(status_kib(text, "VmSwap:"), None);
    }

    #[test]
    fn open_files_soft_limit_is_the_first_number() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max open files            20000                40000                files\n";
        assert_eq!(parse_open_files(text), Some(20000));
        assert_eq!(parse_open_files("Max open files unlimited"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let s = Sample::read("self").expect("/proc/self");
        assert!(s.threads >= 1 && s.rss_kib > 0);
    }
}
