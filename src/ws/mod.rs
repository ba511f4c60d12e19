//! RFC 6455 websocket codec, server side. Sans-IO: handshake validation, client frame
//! decoding into whole messages, server frame encoding. No sockets, no clock, no hub.
//!
//! The files, each owning one concept:
//! - `handshake`: the HTTP upgrade (RFC 6455 §4.2): checks, accept key, 101.
//! - `frame`: client frame headers (§5.2), checked byte by byte as they arrive.
//! - `mask`: payload unmasking (§5.3).
//! - `utf8`: incremental, fail-fast UTF-8 validation of text messages (§8.1).
//! - `reader`: [`MessageReader`], which turns client frames into [`WsEvent`]s.
//! - `close`: close frame payloads (§5.5.1, §7.4): validate the client's, build ours.
//! - `encode`: unmasked server frames.
//! - `testing`: a masking client encoder and a piece-by-piece reader driver, for tests and
//!   fuzz targets only: compiled for unit tests and with the `testing` cargo feature,
//!   which the integration tests (through a dev-dependency on this crate) and the fuzz
//!   crate enable. A release build does not contain it.
//!
//! The engine drives a [`MessageReader`] by calling [`MessageReader::decode`] on its unread
//! bytes until it answers `NeedMore`, dropping `consumed` bytes after every answer.

mod close;
mod encode;
mod frame;
mod handshake;
mod mask;
mod reader;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
mod utf8;

pub use close::{close_frame, is_valid_close_code};
pub use encode::{encode_frame, frame_head, shared_frame};
pub use handshake::{
    accept_key, handshake_response, is_upgrade_request, validate_handshake, HandshakeError, GUID,
};
pub use reader::MessageReader;

use std::fmt;

/// A whole message or control frame from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsEvent {
    /// A complete text message, already validated as UTF-8.
    Text(String),
    /// A complete binary message.
    Binary(Vec<u8>),
    /// A ping; the engine answers with a pong carrying the same payload.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close frame: code and reason if it carried them (already validated).
    Close(Option<(u16, String)>),
}

/// Why a client's frames were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Client frame without the mask bit (RFC 6455 §5.1).
    UnmaskedClientFrame,
    /// RSV1-3 set without a negotiated extension.
    ReservedBitsSet,
    /// Opcode 3-7 or B-F.
    UnknownOpcode,
    /// Control frame longer than 125 bytes or fragmented.
    BadControlFrame,
    /// Continuation without a message, or a new message before the last one finished.
    BadFragmentation,
    /// Message longer than the configured limit.
    MessageTooBig,
    /// Text (or close reason) that is not UTF-8.
    InvalidUtf8,
    /// A close code that may not be sent, or a 1-byte close payload.
    BadCloseCode,
    /// A 64-bit payload length with the most significant bit set (RFC 6455 §5.2).
    BadLength,
}

impl ProtocolError {
    /// The close code we send (RFC 6455 §7.4.1).
    pub fn close_code(self) -> u16 {
        match self {
            ProtocolError::MessageTooBig => 1009,
            ProtocolError::InvalidUtf8 => 1007,
            _ => 1002,
        }
    }

    /// A short reason, fit for the close frame we send.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolError::UnmaskedClientFrame => "client frame not masked",
            ProtocolError::ReservedBitsSet => "reserved bits set",
            ProtocolError::UnknownOpcode => "unknown opcode",
            ProtocolError::BadControlFrame => "control frame too long or fragmented",
            ProtocolError::BadFragmentation => "bad fragmentation",
            ProtocolError::MessageTooBig => "message too big",
            ProtocolError::InvalidUtf8 => "invalid utf-8",
            ProtocolError::BadCloseCode => "bad close code",
            ProtocolError::BadLength => "bad payload length",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ProtocolError {}

/// Server frame opcodes we send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// 0x1
    Text,
    /// 0x2
    Binary,
    /// 0x8
    Close,
    /// 0x9
    Ping,
    /// 0xA
    Pong,
}

impl OpCode {
    /// The 4-bit opcode on the wire (RFC 6455 §5.2).
    pub fn code(self) -> u8 {
        match self {
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }
}
