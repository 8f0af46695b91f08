//! Stratum V2 transport for ckpool-ts: keys, the Noise NX responder session and the
//! Common/Mining messages, on top of the SV2 reference implementation's crates. Pure
//! Rust (no N-API); the binding at the repository root exposes it to Node.

pub mod error;
pub mod keys;
pub mod msg;
pub mod session;

pub use error::{Result, Sv2Error};
pub use msg::Msg;
pub use session::{Fed, ResponderSession, MAX_CLIENT_FRAME};

/// Decodes a JSON message (as the binding receives it from TypeScript).
pub fn msg_from_json(json: &str) -> Result<Msg> {
    serde_json::from_str(json).map_err(|e| Sv2Error::Encode(format!("message JSON: {e}")))
}

/// Decodes a JSON array of messages (a batch to send).
pub fn msgs_from_json(json: &str) -> Result<Vec<Msg>> {
    serde_json::from_str(json).map_err(|e| Sv2Error::Encode(format!("message JSON: {e}")))
}

/// JSON array of messages (as the binding hands them to TypeScript).
pub fn msgs_to_json(msgs: &[Msg]) -> String {
    serde_json::to_string(msgs).expect("Msg serializes to JSON")
}
