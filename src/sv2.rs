//! N-API shims over crates/ckpool-sv2 (Stratum V2 transport). Thin: strings and bytes in
//! and out, one `Sv2Session` per connection; messages cross as JSON (see
//! crates/ckpool-sv2/src/msg.rs for their shape). Errors map once, here, to the stable
//! CKP_ERR_SV2_* codes (ts/errors.ts); a panic becomes CKP_ERR_NATIVE_PANIC.

use ckpool_sv2::{keys, ResponderSession};
use napi::bindgen_prelude::*;
use napi_derive::napi;

fn guard<T>(env: &Env, f: impl FnOnce() -> ckpool_sv2::Result<T>) -> napi::Result<T> {
    crate::guard_coded(env, "the native SV2 code", f)
}

impl crate::CodedError for ckpool_sv2::Sv2Error {
    fn code(&self) -> &'static str {
        ckpool_sv2::Sv2Error::code(self)
    }
}

/// A new random secp256k1 secret key, base58check (the content of a key file).
#[napi]
pub fn sv2_generate_key(env: Env) -> napi::Result<String> {
    guard(&env, || Ok(keys::generate_secret()))
}

/// The base58check authority public key (`stratum2+tcp://host:port/<this>`) of a secret key.
#[napi]
pub fn sv2_public_key(env: Env, secret: String) -> napi::Result<String> {
    guard(&env, || keys::public_b58(&secret))
}

#[napi(object)]
pub struct Sv2Fed {
    /// JSON array of the decoded messages.
    pub messages: String,
    /// Bytes to write to the peer (the handshake reply); empty most of the time.
    pub out: Buffer,
    /// The Noise handshake has completed.
    pub ready: bool,
}

/// What `feedCompact` produced: SubmitSharesStandard — nearly every message under load —
/// as numbers instead of JSON, so a share crosses N-API without a JSON string.
#[napi(object)]
pub struct Sv2FedCompact {
    /// Records of FEED_RECORD u32s, in the order the messages came:
    /// [0, channel_id, sequence_number, job_id, nonce, ntime, version] is a SubmitSharesStandard;
    /// [1, 0, …] stands for the next message of `messages`.
    pub records: Uint32Array,
    /// JSON array of the other messages (`[]` when there are none).
    pub messages: String,
    pub out: Buffer,
    pub ready: bool,
}

/// u32s per record of `Sv2FedCompact.records`.
pub const FEED_RECORD: usize = 7;
/// u32s per record given to `encodeReplies`.
pub const REPLY_RECORD: usize = 6;

/// One server-side SV2 connection (Noise NX responder, then encrypted frames).
#[napi]
pub struct Sv2Session {
    inner: ResponderSession,
}

#[napi]
impl Sv2Session {
    #[napi(constructor)]
    pub fn new(env: Env, authority_secret: String, cert_validity_secs: u32) -> napi::Result<Self> {
        guard(&env, || Ok(Sv2Session { inner: ResponderSession::new(&authority_secret, cert_validity_secs)? }))
    }

    /// Feed received bytes. Throws a CKP_ERR_SV2_* error on a bad handshake, frame,
    /// message or an oversized frame; the session is then unusable (close the socket).
    #[napi]
    pub fn feed(&mut self, env: Env, bytes: &[u8]) -> napi::Result<Sv2Fed> {
        guard(&env, || {
            let fed = self.inner.feed(bytes)?;
            let messages = if fed.messages.is_empty() { "[]".into() } else { ckpool_sv2::msgs_to_json(&fed.messages) };
            Ok(Sv2Fed { messages, out: fed.out.into(), ready: fed.ready })
        })
    }

    /// `feed` with SubmitSharesStandard as numbers (see Sv2FedCompact).
    #[napi]
    pub fn feed_compact(&mut self, env: Env, bytes: &[u8]) -> napi::Result<Sv2FedCompact> {
        guard(&env, || {
            let fed = self.inner.feed(bytes)?;
            let mut records = Vec::with_capacity(fed.messages.len() * FEED_RECORD);
            let mut others = Vec::new();
            for m in fed.messages {
                match m {
                    ckpool_sv2::Msg::SubmitSharesStandard { channel_id, sequence_number, job_id, nonce, ntime, version } => {
                        records.extend_from_slice(&[0, channel_id, sequence_number, job_id, nonce, ntime, version]);
                    }
                    other => {
                        records.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0]);
                        others.push(other);
                    }
                }
            }
            let messages = if others.is_empty() { "[]".into() } else { ckpool_sv2::msgs_to_json(&others) };
            Ok(Sv2FedCompact { records: records.into(), messages, out: fed.out.into(), ready: fed.ready })
        })
    }

    /// Encode and encrypt SubmitShares replies given as numbers, in order, into one buffer:
    /// records of REPLY_RECORD u32s, [0, channel_id, last_sequence_number, accepted_count,
    /// shares_sum low, shares_sum high] for SubmitShares.Success and [1, channel_id,
    /// sequence_number, 0, 0, 0] for SubmitShares.Error, whose error codes are the lines of
    /// `codes`, one per error record.
    #[napi]
    pub fn encode_replies(&mut self, env: Env, records: Uint32Array, codes: String) -> napi::Result<Buffer> {
        guard(&env, || {
            let r: &[u32] = &records;
            let mut codes = codes.split('\n');
            let mut msgs = Vec::with_capacity(r.len() / REPLY_RECORD);
            for x in r.chunks_exact(REPLY_RECORD) {
                msgs.push(match x[0] {
                    0 => ckpool_sv2::Msg::SubmitSharesSuccess {
                        channel_id: x[1], last_sequence_number: x[2], new_submits_accepted_count: x[3],
                        new_shares_sum: x[4] as u64 | (x[5] as u64) << 32,
                    },
                    _ => ckpool_sv2::Msg::SubmitSharesError {
                        channel_id: x[1], sequence_number: x[2],
                        error_code: codes.next().ok_or(ckpool_sv2::Sv2Error::Encode("encodeReplies: fewer error codes than error records".into()))?.to_string(),
                    },
                });
            }
            Ok(self.inner.encode_many(&msgs)?.into())
        })
    }

    /// Encode and encrypt one message (JSON) into a frame to write.
    #[napi]
    pub fn encode(&mut self, env: Env, msg_json: String) -> napi::Result<Buffer> {
        guard(&env, || {
            let m = ckpool_sv2::msg_from_json(&msg_json)?;
            Ok(self.inner.encode(&m)?.into())
        })
    }

    /// Encode and encrypt a JSON array of messages into one buffer (one write).
    #[napi]
    pub fn encode_many(&mut self, env: Env, msgs_json: String) -> napi::Result<Buffer> {
        guard(&env, || {
            let msgs = ckpool_sv2::msgs_from_json(&msgs_json)?;
            Ok(self.inner.encode_many(&msgs)?.into())
        })
    }

    #[napi(getter)]
    pub fn ready(&self) -> bool {
        self.inner.ready()
    }
}
