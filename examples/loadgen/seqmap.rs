//! Which sequence numbers one receiver has seen in its channel: tells first deliveries
//! from duplicates exactly. One bit per published message of the channel, so all maps
//! together take one bit per expected delivery. Pure.

/// A sequence number above this is counted as garbage instead of growing the map
/// (32 MiB per receiver); no run can publish that many messages to one channel.
pub const MAX_SEQ: u64 = 1 << 28;

/// A growable bitmap of seen sequence numbers.
#[derive(Default)]
pub struct SeqMap {
    bits: Vec<u64>,
    /// Distinct sequence numbers seen.
    pub unique: u64,
    /// Deliveries of an already seen sequence number.
    pub duplicates: u64,
    /// Sequence numbers over `MAX_SEQ`.
    pub out_of_range: u64,
}

impl SeqMap {
    /// Records a delivery of `seq`; true if it is the first.
    pub fn mark(&mut self, seq: u64) -> bool {
        if seq > MAX_SEQ {
            self.out_of_range += 1;
            return false;
        }
        let word = (seq / 64) as usize;
        if word >= self.bits.len() {
            self.bits.resize((word + 1).next_power_of_two(), 0);
        }
        let bit = 1u64 << (seq % 64);
        let Some(w) = self.bits.get_mut(word) else {
            return false;
        };
        if *w & bit != 0 {
            self.duplicates += 1;
            false
        } else {
            *w |= bit;
            self.unique += 1;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_out_of_range_sequences_are_counted_apart() {
        let mut m = SeqMap::default();
        for seq in [0, 63, 64, 1000, 63, 0, MAX_SEQ + 1] {
            m.mark(seq);
        }
        assert_eq!((m.unique, m.duplicates, m.out_of_range), (4, 2, 1));
        assert!(m.mark(5));
        assert!(!m.mark(5));
    }
}
