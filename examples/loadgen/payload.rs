//! The probe each published message carries, and finding probes in delivered frames.
//!
//! A probe is one JSON string, `LG1:<channel>:<seq>:<sent_ns>:xxxx…`, with fixed-width
//! zero-padded decimal fields. A plain ASCII string is rendered verbatim by every JSON
//! serializer (the reference's `indent=4` and our compact output alike), so the fast
//! path can find probes by scanning bytes instead of parsing each frame. `--parse json`
//! runs the full parse instead, to check the fast path. Pure: times are arguments.

/// The literal that starts every probe.
pub const MARK: &[u8] = b"LG1:";
const CHAN_DIGITS: usize = 6;
const SEQ_DIGITS: usize = 12;
const TS_DIGITS: usize = 16;
/// Bytes of a probe before its padding.
pub const PROBE_MIN: usize = MARK.len() + CHAN_DIGITS + 1 + SEQ_DIGITS + 1 + TS_DIGITS + 1;
/// The key of the probe in the message object.
pub const KEY: &str = "lg";

/// What one probe says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Channel index (`lg<channel>` is the channel's name).
    pub channel: u32,
    /// Sequence number within the channel, from 0.
    pub seq: u64,
    /// Publish time, nanoseconds since the run's start.
    pub sent_ns: u64,
}

impl Probe {
    /// Appends the probe padded with `x` to `size` bytes (at least `PROBE_MIN`).
    pub fn encode(&self, size: usize, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(MARK);
        push_digits(u64::from(self.channel), CHAN_DIGITS, out);
        out.push(b':');
        push_digits(self.seq, SEQ_DIGITS, out);
        out.push(b':');
        push_digits(self.sent_ns, TS_DIGITS, out);
        out.push(b':');
        let written = out.len() - start;
        out.resize(out.len() + size.saturating_sub(written), b'x');
    }

    /// Overwrites the seq and time fields of a probe at `at` in `buf` (the sink patches
    /// pre-encoded frames this way).
    pub fn patch(buf: &mut [u8], at: usize, seq: u64, sent_ns: u64) {
        let seq_at = at + MARK.len() + CHAN_DIGITS + 1;
        write_digits(seq, &mut buf[seq_at..seq_at + SEQ_DIGITS]);
        let ts_at = seq_at + SEQ_DIGITS + 1;
        write_digits(sent_ns, &mut buf[ts_at..ts_at + TS_DIGITS]);
    }

    /// Parses a probe at the start of `s` (the bytes after the opening quote).
    pub fn parse(s: &[u8]) -> Option<Self> {
        let s = s.get(..PROBE_MIN)?;
        if !s.starts_with(MARK) {
            return None;
        }
        let mut at = MARK.len();
        let channel = read_digits(s, &mut at, CHAN_DIGITS)?;
        let seq = read_digits(s, &mut at, SEQ_DIGITS)?;
        let sent_ns = read_digits(s, &mut at, TS_DIGITS)?;
        Some(Self {
            channel: u32::try_from(channel).ok()?,
            seq,
            sent_ns,
        })
    }
}

fn push_digits(v: u64, width: usize, out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + width, b'0');
    write_digits(v, &mut out[at..]);
}

/// Writes `v` right-aligned in `field`, zero-padded (truncated to the field's width:
/// the run's caps keep every value far below it).
fn write_digits(mut v: u64, field: &mut [u8]) {
    for slot in field.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Reads `width` digits then a `:` at `*at`.
fn read_digits(s: &[u8], at: &mut usize, width: usize) -> Option<u64> {
    let digits = s.get(*at..*at + width)?;
    let mut v = 0u64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(d - b'0');
    }
    *at += width;
    if s.get(*at) != Some(&b':') {
        return None;
    }
    *at += 1;
    Some(v)
}

/// Calls `found` for every probe in a frame, by scanning for `"LG1:`. Correct for any
/// JSON rendering because a probe is a whole string value whose characters need no
/// escaping, and no other string the servers send can contain `"LG1:` followed by
/// the fixed digit layout (usernames and channel names are ours).
pub fn scan(frame: &[u8], mut found: impl FnMut(Probe)) -> usize {
    let mut count = 0;
    let mut at = 0;
    while let Some(rel) = frame.get(at..).and_then(find_mark) {
        let start = at + rel + 1;
        match Probe::parse(&frame[start..]) {
            Some(p) => {
                found(p);
                count += 1;
                at = start + PROBE_MIN;
            }
            None => at = start,
        }
    }
    count
}

/// Offset of the next `"LG1:` in `buf`. Looks for the `L`, which is rare in these
/// frames (keys, ids and names are lower case), eight bytes at a time: a byte-by-byte
/// search for `"` (forty per frame) was half of a receiver thread's time.
fn find_mark(buf: &[u8]) -> Option<usize> {
    let mut from = 1;
    while let Some(rel) = buf.get(from..).and_then(|rest| find_byte(rest, MARK[0])) {
        let at = from + rel;
        if buf.get(at - 1) == Some(&b'"') && buf.get(at..at + MARK.len()) == Some(MARK) {
            return Some(at - 1);
        }
        from = at + 1;
    }
    None
}

/// Offset of the first `needle` in `hay`, testing a word of eight bytes per step (the
/// classic "has a zero byte" bit trick on `word ^ needle * 0x01..01`).
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ pattern;
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            return chunk.iter().position(|&b| b == needle).map(|i| base + i);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| base + i)
}

/// The slow, obviously correct path: parse the frame as JSON and read `message.lg` of
/// every object in the list. Returns `None` if the frame is not a JSON list.
pub fn scan_json(frame: &[u8], mut found: impl FnMut(Probe)) -> Option<usize> {
    let value: serde_json::Value = serde_json::from_slice(frame).ok()?;
    let mut count = 0;
    for item in value.as_array()? {
        let probe = item
            .get("message")
            .and_then(|m| m.get(KEY))
            .and_then(|s| s.as_str())
            .and_then(|s| Probe::parse(s.as_bytes()));
        if let Some(p) = probe {
            found(p);
            count += 1;
        }
    }
    Some(count)
}

/// True for a heartbeat frame: `[]`, whitespace allowed.
pub fn is_heartbeat(frame: &[u8]) -> bool {
    let t: Vec<u8> = frame
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .take(3)
        .collect();
    t == b"[]"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_string(p: Probe, size: usize) -> String {
        let mut out = Vec::new();
        p.encode(size, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn probe_round_trips_and_pads_to_the_size() {
        let p = Probe {
            channel: 42,
            seq: 123_456_789,
            sent_ns: 9_876_543_210_123,
        };
        let s = probe_string(p, 100);
        assert_eq!(s.len(), 100);
        assert!(s.ends_with("xxx"));
        assert_eq!(Probe::parse(s.as_bytes()), Some(p));
        assert_eq!(
            probe_string(p, 0).len(),
            PROBE_MIN,
            "never shorter than the fields"
        );
    }

    #[test]
    fn patch_rewrites_seq_and_time_only() {
        let p = Probe {
            channel: 3,
            seq: 1,
            sent_ns: 2,
        };
        let mut buf = format!("\"{}\"", probe_string(p, 60)).into_bytes();
        Probe::patch(&mut buf, 1, 77, 88);
        let got = Probe::parse(&buf[1..]).unwrap();
        assert_eq!(
            got,
            Probe {
                channel: 3,
                seq: 77,
                sent_ns: 88
            }
        );
    }

    #[test]
    fn fast_scan_agrees_with_the_json_parse_for_both_renderings() {
        let probes = [
            Probe {
                channel: 0,
                seq: 0,
                sent_ns: 5,
            },
            Probe {
                channel: 1,
                seq: 9,
                sent_ns: 6,
            },
        ];
        let items: Vec<serde_json::Value> = probes
            .iter()
            .map(|&p| {
                serde_json::json!({"channel": "lg0", "user": "LG1:000", "uuid": "x",
                    "message": {KEY: probe_string(p, 80)}, "type": "message"})
            })
            .collect();
        let list = serde_json::Value::Array(items);
        let compact = serde_json::to_vec(&list).unwrap();
        let pretty = serde_json::to_vec_pretty(&list).unwrap();
        for frame in [compact, pretty] {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            let n = scan(&frame, |p| fast.push(p));
            let m = scan_json(&frame, |p| slow.push(p));
            assert_eq!(fast, probes);
            assert_eq!(slow, probes);
            assert_eq!((n, m), (2, Some(2)));
        }
    }

    #[test]
    fn find_byte_finds_the_first_match_at_every_offset_and_length() {
        for len in 0..40 {
            for at in 0..=len {
                let mut hay = vec![b'x'; len];
                if at < len {
                    hay[at] = b'L';
                    if at + 3 < len {
                        hay[at + 3] = b'L';
                    }
                }
                let want = hay.iter().position(|&b| b == b'L');
                assert_eq!(find_byte(&hay, b'L'), want, "len {len} at {at}");
            }
        }
        // Bytes that differ from the needle by one bit or sit next to 0x80 do not match.
        assert_eq!(find_byte(&[b'M', 0xCC, 0x4C ^ 0x80, b'K'], b'L'), None);
    }

    #[test]
    fn frames_without_probes_find_nothing() {
        for frame in [&b"[]"[..], b"[{\"user\": \"LG1:x\"}]", b"\"LG1:", b""] {
            assert_eq!(scan(frame, |_| panic!("no probe expected")), 0);
        }
        assert!(is_heartbeat(b"[]") && is_heartbeat(b" [ ]\n"));
        assert!(!is_heartbeat(b"[1]"));
    }
}
