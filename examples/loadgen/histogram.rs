//! A log-linear latency histogram (the HDR idea): 128 linear sub-buckets per power of
//! two, so any recorded value is reported within 1/128 (0.8 %) of itself, in a fixed
//! 59 KiB table that merges by addition. Pure: values are nanoseconds given by the caller.

const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
/// Values below this get one bucket each.
const LINEAR: u64 = 1 << (SUB_BITS + 1);
const BUCKETS: usize = 2 * SUB + (64 - SUB_BITS as usize - 1) * SUB;

/// Counts of values by bucket, plus the exact extremes.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS + 1
    let g = e - SUB_BITS;
    let offset = (v >> g) as usize - SUB;
    2 * SUB + (g as usize - 1) * SUB + offset
}

/// The largest value that falls in bucket `i`.
fn upper(i: usize) -> u64 {
    if i < 2 * SUB {
        return i as u64;
    }
    let g = ((i - 2 * SUB) / SUB + 1) as u32;
    let offset = ((i - 2 * SUB) % SUB) as u64;
    let low = (offset + SUB as u64) << g;
    low.saturating_add((1u64 << g) - 1)
}

impl Histogram {
    /// Counts one value.
    pub fn record(&mut self, v: u64) {
        if let Some(c) = self.counts.get_mut(index(v)) {
            *c += 1;
        }
        self.total += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += u128::from(v);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Mean of the recorded values (0 when empty).
    pub fn mean(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            (self.sum / u128::from(self.total)) as u64
        }
    }

    /// The value at quantile `q` (0..=1): the upper edge of the bucket holding the
    /// `ceil(q * n)`-th smallest value, capped by the true maximum. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max).max(self.min);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order_within_one_percent() {
        let mut last = 0;
        for shift in 0..64 {
            for v in [
                1u64 << shift,
                (1u64 << shift) + 1,
                (1u64 << shift).wrapping_mul(3) / 2,
            ] {
                let i = index(v);
                assert!(i < BUCKETS, "value {v}");
                let up = upper(i);
                assert!(up >= v, "value {v} upper {up}");
                assert!(
                    (up - v) as f64 <= v as f64 / 100.0 + 1.0,
                    "value {v} upper {up}"
                );
            }
            assert!(index(1u64 << shift) >= last);
            last = index(1u64 << shift);
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_a_uniform_range_are_within_a_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        for (q, want) in [
            (0.5, 50_000_000.0),
            (0.99, 99_000_000.0),
            (0.999, 99_900_000.0),
        ] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.01, "q {q}: {got} vs {want}");
        }
        assert_eq!(h.quantile(1.0), 100_000_000);
        assert_eq!(h.max(), 100_000_000);
        assert_eq!(h.mean(), 50_000_500);
    }

    #[test]
    fn merged_histograms_count_both_and_empty_reports_zero() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        assert_eq!(a.quantile(0.5), 0);
        a.record(10);
        b.record(1_000_000);
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.quantile(0.5), 10);
        assert_eq!(a.quantile(0.99), 1_000_000);
    }
}
