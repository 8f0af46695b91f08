//! Errors of the SV2 transport, each with a stable `CKP_ERR_SV2_*` code (catalogued in
//! ts/errors.ts). Every one of them ends the connection it happened on, and only that one.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Sv2Error {
    /// The Noise handshake failed (garbage instead of an ElligatorSwift key, bad MAC).
    Handshake(String),
    /// A transport frame did not decrypt or its header is invalid.
    Frame(String),
    /// A frame larger than this server accepts from a client (declared or accumulated).
    Oversized { limit: usize, got: usize },
    /// A frame decrypted but its payload is not the message its type says.
    Message { msg_type: u8, detail: String },
    /// A message to send could not be encoded (bad field, wrong length).
    Encode(String),
    /// A key file or key string is not a valid secp256k1 key.
    Key(String),
    /// Called in the wrong state (encode before the handshake finished, after a failure).
    State(&'static str),
}

impl Sv2Error {
    pub fn code(&self) -> &'static str {
        match self {
            Sv2Error::Handshake(_) => "CKP_ERR_SV2_HANDSHAKE",
            Sv2Error::Frame(_) => "CKP_ERR_SV2_FRAME",
            Sv2Error::Oversized { .. } => "CKP_ERR_SV2_OVERSIZED",
            Sv2Error::Message { .. } => "CKP_ERR_SV2_MESSAGE",
            Sv2Error::Encode(_) => "CKP_ERR_SV2_ENCODE",
            Sv2Error::Key(_) => "CKP_ERR_SV2_KEY",
            Sv2Error::State(_) => "CKP_ERR_SV2_STATE",
        }
    }
}

impl fmt::Display for Sv2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sv2Error::Handshake(d) => write!(f, "SV2 Noise handshake failed: {d}"),
            Sv2Error::Frame(d) => write!(f, "bad SV2 frame: {d}"),
            Sv2Error::Oversized { limit, got } => {
                write!(f, "SV2 frame of {got} bytes is over this server's limit of {limit}")
            }
            Sv2Error::Message { msg_type, detail } => {
                write!(f, "bad SV2 message 0x{msg_type:02x}: {detail}")
            }
            Sv2Error::Encode(d) => write!(f, "cannot encode SV2 message: {d}"),
            Sv2Error::Key(d) => write!(f, "bad SV2 key: {d}"),
            Sv2Error::State(d) => write!(f, "SV2 session: {d}"),
        }
    }
}

impl std::error::Error for Sv2Error {}

pub type Result<T> = std::result::Result<T, Sv2Error>;
