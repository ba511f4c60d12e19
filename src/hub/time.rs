//! Wall-clock time as the hub sees it: microseconds since the Unix epoch (UTC), handed in by
//! the driver. Owns the one date format channelstream emits. Pure: never reads the clock.

use std::fmt::Write;
use std::time::Duration;

/// A moment in UTC, in microseconds since the Unix epoch.
///
/// The reference stamps everything with `datetime.utcnow()` and measures inactivity with
/// the same clock, so one wall-clock type serves both; tests pass any value they like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl Time {
    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Time {
        Time(
            self.0
                .saturating_add(d.as_micros().min(u64::MAX as u128) as u64),
        )
    }

    /// `self - d`, saturating at the epoch.
    pub fn minus(self, d: Duration) -> Time {
        Time(
            self.0
                .saturating_sub(d.as_micros().min(u64::MAX as u128) as u64),
        )
    }

    /// Time elapsed from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// Formats like Python's naive `datetime.isoformat()`: `2024-05-01T12:00:00.123456`,
    /// with the fraction left out when it is zero (as Python does).
    pub fn isoformat(self) -> String {
        let secs = self.0 / 1_000_000;
        let micros = self.0 % 1_000_000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
        // One allocation of the final size (`format!` grows its string several times,
        // and the hub stamps every posted message; BENCHMARKS.md, issue 14, allocations).
        let mut s = String::with_capacity(26);
        let _ = write!(s, "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
        if micros != 0 {
            let _ = write!(s, ".{micros:06}");
        }
        s
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats an elapsed time like Python's `str(timedelta).split(".")[0]`: `0:05:07`,
/// `1 day, 2:00:00`, `3 days, 0:00:01` (the reference's admin `uptime`).
pub fn format_uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let hms = format!("{}:{:02}:{:02}", rem / 3600, (rem % 3600) / 60, rem % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        n => format!("{n} days, {hms}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isoformat_matches_python_with_and_without_microseconds() {
        // python: datetime.utcfromtimestamp(1700000000.123456).isoformat()
        assert_eq!(
            Time(1_700_000_000_123_456).isoformat(),
            "2023-11-14T22:13:20.123456"
        );
        assert_eq!(
            Time(1_700_000_000_000_000).isoformat(),
            "2023-11-14T22:13:20"
        );
        assert_eq!(Time(0).isoformat(), "1970-01-01T00:00:00");
        // a leap day
        assert_eq!(
            Time(951_782_400_000_001).isoformat(),
            "2000-02-29T00:00:00.000001"
        );
    }

    #[test]
    fn uptime_matches_python_timedelta_str() {
        assert_eq!(format_uptime(Duration::from_millis(307_900)), "0:05:07");
        assert_eq!(
            format_uptime(Duration::from_secs(86_400 + 7200)),
            "1 day, 2:00:00"
        );
        assert_eq!(
            format_uptime(Duration::from_secs(3 * 86_400 + 1)),
            "3 days, 0:00:01"
        );
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Time(5).minus(Duration::from_secs(1)), Time(0));
        assert_eq!(Time(5).since(Time(9)), Duration::ZERO);
        assert_eq!(Time(1).plus(Duration::from_micros(2)), Time(3));
    }
}
