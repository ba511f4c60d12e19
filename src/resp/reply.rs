//! [`Reply`]: one decoded RESP2 value, and accessors that check its type. What a command
//! returns is the server's business, so code that expects an integer asks for one with
//! [`Reply::into_integer`] and gets an [`UnexpectedReply`] error, never a panic, when the
//! server sent something else.

use std::fmt;

/// One RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`: a status line (no CR or LF inside). Non-UTF-8 bytes are replaced.
    Simple(String),
    /// `-ERR ...`: the server refused the command. Non-UTF-8 bytes are replaced.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nfoo`: binary-safe bytes.
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`: the null bulk string or null array.
    Nil,
    /// `*2\r\n...`: replies, possibly nested.
    Array(Vec<Reply>),
}

/// A reply of another type than the caller expected (or an error reply where a value was
/// expected; its text is in `error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnexpectedReply {
    /// What the caller asked for.
    pub expected: &'static str,
    /// What arrived ([`Reply::kind`]).
    pub got: &'static str,
    /// The server's message when the reply was an error.
    pub error: Option<String>,
}

impl fmt::Display for UnexpectedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} from redis, got {}", self.expected, self.got)?;
        match &self.error {
            Some(message) => write!(f, ": {message}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for UnexpectedReply {}

impl Reply {
    /// The type's name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Simple(_) => "simple string",
            Reply::Error(_) => "error",
            Reply::Integer(_) => "integer",
            Reply::Bulk(_) => "bulk string",
            Reply::Nil => "nil",
            Reply::Array(_) => "array",
        }
    }

    fn unexpected(self, expected: &'static str) -> UnexpectedReply {
        UnexpectedReply {
            expected,
            got: self.kind(),
            error: match self {
                Reply::Error(message) => Some(message),
                _ => None,
            },
        }
    }

    /// The integer of `:n`.
    pub fn into_integer(self) -> Result<i64, UnexpectedReply> {
        match self {
            Reply::Integer(n) => Ok(n),
            other => Err(other.unexpected("integer")),
        }
    }

    /// The bytes of a bulk string.
    pub fn into_bulk(self) -> Result<Vec<u8>, UnexpectedReply> {
        match self {
            Reply::Bulk(bytes) => Ok(bytes),
            other => Err(other.unexpected("bulk string")),
        }
    }

    /// The bytes of a bulk string, or `None` for nil.
    pub fn into_optional_bulk(self) -> Result<Option<Vec<u8>>, UnexpectedReply> {
        match self {
            Reply::Bulk(bytes) => Ok(Some(bytes)),
            Reply::Nil => Ok(None),
            other => Err(other.unexpected("bulk string or nil")),
        }
    }

    /// The elements of an array.
    pub fn into_array(self) -> Result<Vec<Reply>, UnexpectedReply> {
        match self {
            Reply::Array(items) => Ok(items),
            other => Err(other.unexpected("array")),
        }
    }

    /// `+OK`.
    pub fn into_ok(self) -> Result<(), UnexpectedReply> {
        match self {
            Reply::Simple(s) if s == "OK" => Ok(()),
            other => Err(other.unexpected("+OK")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_turn_other_types_into_errors_naming_both() {
        assert_eq!(Reply::Integer(3).into_integer(), Ok(3));
        let err = Reply::Bulk(b"3".to_vec()).into_integer().expect_err("bulk");
        assert_eq!((err.expected, err.got), ("integer", "bulk string"));
        let err = Reply::Error("WRONGTYPE x".into())
            .into_array()
            .expect_err("error");
        assert_eq!(err.error.as_deref(), Some("WRONGTYPE x"));
        assert!(err.to_string().contains("WRONGTYPE x"), "{err}");
        assert_eq!(Reply::Nil.into_optional_bulk(), Ok(None));
        assert!(Reply::Array(vec![]).into_optional_bulk().is_err());
        assert_eq!(Reply::Simple("OK".into()).into_ok(), Ok(()));
        assert!(Reply::Simple("QUEUED".into()).into_ok().is_err());
        assert!(Reply::Nil.into_bulk().is_err());
    }
}
