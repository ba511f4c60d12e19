//! The one result shape every incremental decoder returns. Pure data, no I/O.

/// Result of feeding bytes to an incremental decoder. Running out of input is not an error.
///
/// Decoders may keep state between calls (a chunked body, a fragmented websocket message),
/// so both variants say how many bytes of the input they took: the caller drops exactly
/// `consumed` bytes from the front of its buffer before calling again.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A whole item was decoded; `consumed` bytes of the input were used.
    Done {
        /// The decoded item.
        value: T,
        /// Bytes of the input taken, including any absorbed into decoder state earlier in
        /// this call.
        consumed: usize,
    },
    /// The input ends mid-item. `consumed` bytes were absorbed into the decoder's state
    /// (possibly 0); call again with more bytes after dropping them.
    NeedMore {
        /// Bytes of the input taken into decoder state.
        consumed: usize,
    },
}
