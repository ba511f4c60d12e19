//! RFC 6455 websocket codec, server side. Sans-IO: handshake validation, client frame
//! decoding into whole messages, server frame encoding. No sockets, no clock.
//!
//! STUB: the public interface below is the contract the engine codes against. The owner of
//! this module fills in the bodies (and may split it into files) without changing the
//! signatures marked CONTRACT.

use crate::decoded::Decoded;
use crate::http::Request;
use std::sync::Arc;

/// The GUID of RFC 6455 §1.3, appended to the client key before hashing.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2). CONTRACT.
pub fn accept_key(client_key: &[u8]) -> String {
    let _ = client_key;
    todo!("ws::accept_key")
}

/// Why an upgrade request was refused. CONTRACT (variants may be added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not a GET request: 405... sent as 400 with an explanation.
    NotGet,
    /// `Upgrade: websocket` or the `upgrade` token in `Connection` is missing: 400.
    NotUpgrade,
    /// `Sec-WebSocket-Version` is not 13: 426 with `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing or not 16 bytes of base64: 400.
    BadKey,
}

impl HandshakeError {
    /// The status code of the refusal. CONTRACT.
    pub fn status(self) -> u16 {
        match self {
            HandshakeError::UnsupportedVersion => 426,
            _ => 400,
        }
    }
}

/// Checks an upgrade request (RFC 6455 §4.2.1) and returns the accept key. CONTRACT.
pub fn validate_handshake(req: &Request) -> Result<String, HandshakeError> {
    let _ = req;
    todo!("ws::validate_handshake")
}

/// Whether a request asks for a websocket upgrade at all (has `Upgrade: websocket`), so the
/// engine knows to call [`validate_handshake`]. CONTRACT.
pub fn is_upgrade_request(req: &Request) -> bool {
    let _ = req;
    todo!("ws::is_upgrade_request")
}

/// The complete `101 Switching Protocols` response for an accept key. CONTRACT.
pub fn handshake_response(accept: &str, out: &mut Vec<u8>) {
    let _ = (accept, out);
    todo!("ws::handshake_response")
}

/// A whole message or control frame from the client. CONTRACT.
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

/// Why a client's frames were refused. CONTRACT (variants may be added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

impl ProtocolError {
    /// The close code we send (RFC 6455 §7.4.1). CONTRACT.
    pub fn close_code(self) -> u16 {
        match self {
            ProtocolError::MessageTooBig => 1009,
            ProtocolError::InvalidUtf8 => 1007,
            _ => 1002,
        }
    }
}

/// Incremental decoder of client frames into [`WsEvent`]s. CONTRACT.
#[derive(Debug)]
pub struct MessageReader {
    max_message: usize,
}

impl MessageReader {
    /// A reader that refuses messages longer than `max_message` bytes. CONTRACT.
    pub fn new(max_message: usize) -> Self {
        MessageReader { max_message }
    }

    /// Decodes from `buf`; any split of the same bytes yields the same events, and invalid
    /// UTF-8 fails as soon as the bad byte is seen. After an error the reader is spent:
    /// the caller sends a close frame with `err.close_code()` and closes. CONTRACT.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Decoded<WsEvent>, ProtocolError> {
        let _ = (buf, self.max_message);
        todo!("ws::MessageReader::decode")
    }
}

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

/// Appends one unmasked, unfragmented server frame with the shortest length encoding.
/// CONTRACT.
pub fn encode_frame(op: OpCode, payload: &[u8], out: &mut Vec<u8>) {
    let _ = (op, payload, out);
    todo!("ws::encode_frame")
}

/// A whole server frame as shared bytes, encoded once for every recipient. CONTRACT.
pub fn shared_frame(op: OpCode, payload: &[u8]) -> Arc<[u8]> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    encode_frame(op, payload, &mut out);
    out.into()
}

/// A close frame with `code` and a UTF-8 `reason` (truncated to fit 125 bytes). CONTRACT.
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let _ = (code, reason);
    todo!("ws::close_frame")
}
