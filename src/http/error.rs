//! Why a request was refused: the status and the words a client is told. The engine's
//! `server::Refusal` turns them into the answer on the wire.

use std::fmt;

/// Why a request was refused. Every variant ends the connection after its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// Syntax error in the request line, headers or chunked framing: 400.
    Malformed,
    /// Head longer than `max_head` or too many headers: 431.
    HeadTooLarge,
    /// Body longer than `max_body`: 413.
    BodyTooLarge,
    /// Both `Content-Length` and `Transfer-Encoding`, or conflicting lengths: 400.
    AmbiguousLength,
    /// A transfer coding other than chunked: 501.
    UnsupportedTransferEncoding,
    /// An HTTP version other than 1.0/1.1: 505.
    UnsupportedVersion,
}

impl HttpError {
    /// The status code sent before closing.
    pub fn status(self) -> u16 {
        match self {
            HttpError::Malformed | HttpError::AmbiguousLength => 400,
            HttpError::HeadTooLarge => 431,
            HttpError::BodyTooLarge => 413,
            HttpError::UnsupportedTransferEncoding => 501,
            HttpError::UnsupportedVersion => 505,
        }
    }

    /// A short, fixed explanation for the client (the refusal's JSON `error` field).
    /// Static so that refusing a hostile request allocates nothing beyond the response.
    pub fn message(self) -> &'static str {
        match self {
            HttpError::Malformed => "bad request",
            HttpError::HeadTooLarge => "request header fields too large",
            HttpError::BodyTooLarge => "request body too large",
            HttpError::AmbiguousLength => "ambiguous request length",
            HttpError::UnsupportedTransferEncoding => "unsupported transfer encoding",
            HttpError::UnsupportedVersion => "http version not supported",
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [HttpError; 6] = [
        HttpError::Malformed,
        HttpError::HeadTooLarge,
        HttpError::BodyTooLarge,
        HttpError::AmbiguousLength,
        HttpError::UnsupportedTransferEncoding,
        HttpError::UnsupportedVersion,
    ];

    #[test]
    fn every_error_has_its_status_and_a_distinct_message() {
        let statuses: Vec<u16> = ALL.iter().map(|e| e.status()).collect();
        assert_eq!(statuses, [400, 431, 413, 400, 501, 505]);
        for (i, a) in ALL.iter().enumerate() {
            assert_eq!(a.to_string(), a.message());
            for b in &ALL[i + 1..] {
                assert_ne!(a.message(), b.message(), "{a:?} vs {b:?}");
            }
        }
    }
}
