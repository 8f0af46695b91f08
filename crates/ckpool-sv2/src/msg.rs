//! The Common and Mining messages this pool speaks, as one serde enum that crosses the
//! N-API boundary as JSON (`{"type":"SubmitSharesStandard","channelId":1,...}`), and its
//! conversion to and from the reference crates' wire types (mining_sv2,
//! common_messages_sv2), which do the actual binary encoding.
//!
//! Byte fields are hex of the wire bytes, unchanged: U256 values (targets, prev_hash,
//! merkle_root) are the 32 bytes as SV2 sends them, i.e. little-endian numbers / header
//! byte order. `merkle_path` is the concatenation of its 32-byte hashes.

use binary_sv2::{GetSize, Seq0255, Serialize as Sv2Serialize, Str0255, Sv2Option, B032, B064K, U256};
use common_messages_sv2 as cm;
use mining_sv2 as mn;
use serde::{Deserialize, Serialize};

use crate::error::{Result, Sv2Error};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum Msg {
    SetupConnection {
        protocol: u8,
        min_version: u16,
        max_version: u16,
        flags: u32,
        endpoint_host: String,
        endpoint_port: u16,
        vendor: String,
        hardware_version: String,
        firmware: String,
        device_id: String,
    },
    SetupConnectionSuccess { used_version: u16, flags: u32 },
    SetupConnectionError { flags: u32, error_code: String },
    ChannelEndpointChanged { channel_id: u32 },
    Reconnect { new_host: String, new_port: u16 },
    OpenStandardMiningChannel {
        request_id: u32,
        user_identity: String,
        nominal_hash_rate: f32,
        #[serde(with = "hex")]
        max_target: Vec<u8>,
    },
    OpenStandardMiningChannelSuccess {
        request_id: u32,
        channel_id: u32,
        #[serde(with = "hex")]
        target: Vec<u8>,
        #[serde(with = "hex")]
        extranonce_prefix: Vec<u8>,
        group_channel_id: u32,
    },
    OpenExtendedMiningChannel {
        request_id: u32,
        user_identity: String,
        nominal_hash_rate: f32,
        #[serde(with = "hex")]
        max_target: Vec<u8>,
        min_extranonce_size: u16,
    },
    OpenExtendedMiningChannelSuccess {
        request_id: u32,
        channel_id: u32,
        #[serde(with = "hex")]
        target: Vec<u8>,
        extranonce_size: u16,
        #[serde(with = "hex")]
        extranonce_prefix: Vec<u8>,
        group_channel_id: u32,
    },
    OpenMiningChannelError { request_id: u32, error_code: String },
    UpdateChannel {
        channel_id: u32,
        nominal_hash_rate: f32,
        #[serde(with = "hex")]
        maximum_target: Vec<u8>,
    },
    UpdateChannelError { channel_id: u32, error_code: String },
    CloseChannel { channel_id: u32, reason_code: String },
    NewMiningJob {
        channel_id: u32,
        job_id: u32,
        min_ntime: Option<u32>,
        version: u32,
        #[serde(with = "hex")]
        merkle_root: Vec<u8>,
    },
    NewExtendedMiningJob {
        channel_id: u32,
        job_id: u32,
        min_ntime: Option<u32>,
        version: u32,
        version_rolling_allowed: bool,
        #[serde(with = "hex")]
        merkle_path: Vec<u8>,
        #[serde(with = "hex")]
        coinbase_tx_prefix: Vec<u8>,
        #[serde(with = "hex")]
        coinbase_tx_suffix: Vec<u8>,
    },
    SetNewPrevHash {
        channel_id: u32,
        job_id: u32,
        #[serde(with = "hex")]
        prev_hash: Vec<u8>,
        min_ntime: u32,
        nbits: u32,
    },
    SetTarget {
        channel_id: u32,
        #[serde(with = "hex")]
        maximum_target: Vec<u8>,
    },
    SetGroupChannel { group_channel_id: u32, channel_ids: Vec<u32> },
    SubmitSharesStandard {
        channel_id: u32,
        sequence_number: u32,
        job_id: u32,
        nonce: u32,
        ntime: u32,
        version: u32,
    },
    SubmitSharesExtended {
        channel_id: u32,
        sequence_number: u32,
        job_id: u32,
        nonce: u32,
        ntime: u32,
        version: u32,
        #[serde(with = "hex")]
        extranonce: Vec<u8>,
    },
    SubmitSharesSuccess {
        channel_id: u32,
        last_sequence_number: u32,
        new_submits_accepted_count: u32,
        new_shares_sum: u64,
    },
    SubmitSharesError { channel_id: u32, sequence_number: u32, error_code: String },
    /// A frame of a type this server does not handle (decode only): the caller decides
    /// (ckpool-ts closes the connection for unknown types after setup, as the spec allows).
    Unknown { msg_type: u8, ext_type: u16 },
}

fn mfail(msg_type: u8) -> impl Fn(binary_sv2::Error) -> Sv2Error {
    move |e| Sv2Error::Message { msg_type, detail: format!("{e:?}") }
}

fn s(v: &Str0255) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}

fn b(v: impl AsRef<[u8]>) -> Vec<u8> {
    v.as_ref().to_vec()
}

/// Decodes a frame payload of type `msg_type` (extension type 0) into a `Msg`.
pub fn decode(msg_type: u8, ext_type: u16, payload: &mut [u8]) -> Result<Msg> {
    if ext_type & 0x7fff != 0 {
        return Ok(Msg::Unknown { msg_type, ext_type });
    }
    let f = mfail(msg_type);
    Ok(match msg_type {
        cm::MESSAGE_TYPE_SETUP_CONNECTION => {
            let m: cm::SetupConnection = binary_sv2::from_bytes(payload).map_err(f)?;
            Msg::SetupConnection {
                protocol: m.protocol as u8,
                min_version: m.min_version,
                max_version: m.max_version,
                flags: m.flags,
                endpoint_host: s(&m.endpoint_host),
                endpoint_port: m.endpoint_port,
                vendor: s(&m.vendor),
                hardware_version: s(&m.hardware_version),
                firmware: s(&m.firmware),
                device_id: s(&m.device_id),
            }
        }
        mn::MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL => {
            let m: mn::OpenStandardMiningChannel = binary_sv2::from_bytes(payload).map_err(f)?;
            Msg::OpenStandardMiningChannel {
                request_id: m.request_id.into(),
                user_identity: s(&m.user_identity),
                nominal_hash_rate: m.nominal_hash_rate,
                max_target: b(m.max_target.as_bytes()),
            }
        }
        mn::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL => {
            let m: mn::OpenExtendedMiningChannel = binary_sv2::from_bytes(payload).map_err(f)?;
            Msg::OpenExtendedMiningChannel {
                request_id: m.request_id,
                user_identity: s(&m.user_identity),
                nominal_hash_rate: m.nominal_hash_rate,
                max_target: b(m.max_target.as_bytes()),
                min_extranonce_size: m.min_extranonce_size,
            }
        }
        mn::MESSAGE_TYPE_UPDATE_CHANNEL => {
            let m: mn::UpdateChannel = binary_sv2::from_bytes(payload).map_err(f)?;
            Msg::UpdateChannel {
                channel_id: m.channel_id,
                nominal_hash_rate: m.nominal_hash_rate,
                maximum_target: b(m.maximum_target.as_bytes()),
            }
        }
        mn::MESSAGE_TYPE_CLOSE_CHANNEL => {
            let m: mn::CloseChannel = binary_sv2::from_bytes(payload).map_err(f)?;
            Msg::CloseChannel { channel_id: m.channel_id, reason_code: s(&m.reason_code) }
        }
        mn::MESSAGE_TYPE_SUBMIT_SHARES_STANDARD => {
            let m: mn::SubmitSharesStandard = binary_sv2::from_bytes(payload).map_err(f)?;
            Msg::SubmitSharesStandard {
                channel_id: m.channel_id,
                sequence_number: m.sequence_number,
                job_id: m.job_id,
                nonce: m.nonce,
                ntime: m.ntime,
                version: m.version,
            }
        }
        mn::MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED => {
            let m: mn::SubmitSharesExtended = binary_sv2::from_bytes(payload).map_err(f)?;
            Msg::SubmitSharesExtended {
                channel_id: m.channel_id,
                sequence_number: m.sequence_number,
                job_id: m.job_id,
                nonce: m.nonce,
                ntime: m.ntime,
                version: m.version,
                extranonce: b(m.extranonce.as_bytes()),
            }
        }
        _ => Msg::Unknown { msg_type, ext_type },
    })
}

fn enc(what: &'static str) -> impl Fn(binary_sv2::Error) -> Sv2Error {
    move |e| Sv2Error::Encode(format!("{what}: {e:?}"))
}

fn str0255<'a>(what: &'static str, v: &'a str) -> Result<Str0255<'a>> {
    Str0255::new(v.as_bytes()).map_err(enc(what))
}

fn u256<'a>(what: &'static str, v: &'a [u8]) -> Result<U256<'a>> {
    U256::new(v).map_err(enc(what))
}

fn b032<'a>(what: &'static str, v: &'a [u8]) -> Result<B032<'a>> {
    B032::new(v).map_err(enc(what))
}

fn b064k<'a>(what: &'static str, v: &'a [u8]) -> Result<B064K<'a>> {
    B064K::new(v).map_err(enc(what))
}

/// Receives one message in its reference-crate type, with its type and channel bit.
pub trait FrameSink {
    fn put<T: Sv2Serialize + GetSize>(&mut self, m: T, msg_type: u8, channel_bit: bool) -> Result<()>;
}

/// Builds the reference-crate message for `msg` and hands it to `sink` (which frames it).
pub fn encode_into(msg: &Msg, sink: &mut impl FrameSink) -> Result<()> {
    match msg {
        Msg::SetupConnectionSuccess { used_version, flags } => sink.put(
            cm::SetupConnectionSuccess { used_version: *used_version, flags: *flags },
            cm::MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS,
            cm::CHANNEL_BIT_SETUP_CONNECTION_SUCCESS,
        ),
        Msg::SetupConnectionError { flags, error_code } => sink.put(
            cm::SetupConnectionError { flags: *flags, error_code: str0255("error_code", error_code)? },
            cm::MESSAGE_TYPE_SETUP_CONNECTION_ERROR,
            cm::CHANNEL_BIT_SETUP_CONNECTION_ERROR,
        ),
        Msg::ChannelEndpointChanged { channel_id } => sink.put(
            cm::ChannelEndpointChanged { channel_id: *channel_id },
            cm::MESSAGE_TYPE_CHANNEL_ENDPOINT_CHANGED,
            cm::CHANNEL_BIT_CHANNEL_ENDPOINT_CHANGED,
        ),
        Msg::Reconnect { new_host, new_port } => sink.put(
            cm::Reconnect { new_host: str0255("new_host", new_host)?, new_port: *new_port },
            cm::MESSAGE_TYPE_RECONNECT,
            cm::CHANNEL_BIT_RECONNECT,
        ),
        Msg::OpenStandardMiningChannelSuccess { request_id, channel_id, target, extranonce_prefix, group_channel_id } => sink.put(
            mn::OpenStandardMiningChannelSuccess {
                request_id: (*request_id).into(),
                channel_id: *channel_id,
                target: u256("target", target)?,
                extranonce_prefix: b032("extranonce_prefix", extranonce_prefix)?,
                group_channel_id: *group_channel_id,
            },
            mn::MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL_SUCCESS,
            mn::CHANNEL_BIT_OPEN_STANDARD_MINING_CHANNEL_SUCCESS,
        ),
        Msg::OpenExtendedMiningChannelSuccess { request_id, channel_id, target, extranonce_size, extranonce_prefix, group_channel_id } => sink.put(
            mn::OpenExtendedMiningChannelSuccess {
                request_id: *request_id,
                channel_id: *channel_id,
                target: u256("target", target)?,
                extranonce_size: *extranonce_size,
                extranonce_prefix: b032("extranonce_prefix", extranonce_prefix)?,
                group_channel_id: *group_channel_id,
            },
            mn::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
            mn::CHANNEL_BIT_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
        ),
        Msg::OpenMiningChannelError { request_id, error_code } => sink.put(
            mn::OpenMiningChannelError { request_id: *request_id, error_code: str0255("error_code", error_code)? },
            mn::MESSAGE_TYPE_OPEN_MINING_CHANNEL_ERROR,
            mn::CHANNEL_BIT_OPEN_MINING_CHANNEL_ERROR,
        ),
        Msg::UpdateChannelError { channel_id, error_code } => sink.put(
            mn::UpdateChannelError { channel_id: *channel_id, error_code: str0255("error_code", error_code)? },
            mn::MESSAGE_TYPE_UPDATE_CHANNEL_ERROR,
            mn::CHANNEL_BIT_UPDATE_CHANNEL_ERROR,
        ),
        Msg::CloseChannel { channel_id, reason_code } => sink.put(
            mn::CloseChannel { channel_id: *channel_id, reason_code: str0255("reason_code", reason_code)? },
            mn::MESSAGE_TYPE_CLOSE_CHANNEL,
            mn::CHANNEL_BIT_CLOSE_CHANNEL,
        ),
        Msg::NewMiningJob { channel_id, job_id, min_ntime, version, merkle_root } => sink.put(
            mn::NewMiningJob {
                channel_id: *channel_id,
                job_id: *job_id,
                min_ntime: Sv2Option::new(*min_ntime),
                version: *version,
                merkle_root: u256("merkle_root", merkle_root)?,
            },
            mn::MESSAGE_TYPE_NEW_MINING_JOB,
            mn::CHANNEL_BIT_NEW_MINING_JOB,
        ),
        Msg::NewExtendedMiningJob { channel_id, job_id, min_ntime, version, version_rolling_allowed, merkle_path, coinbase_tx_prefix, coinbase_tx_suffix } => {
            if merkle_path.len() % 32 != 0 {
                return Err(Sv2Error::Encode(format!("merkle_path is {} bytes, not a multiple of 32", merkle_path.len())));
            }
            let path: Vec<U256> = merkle_path.chunks(32).map(|c| u256("merkle_path", c)).collect::<Result<_>>()?;
            sink.put(
                mn::NewExtendedMiningJob {
                    channel_id: *channel_id,
                    job_id: *job_id,
                    min_ntime: Sv2Option::new(*min_ntime),
                    version: *version,
                    version_rolling_allowed: *version_rolling_allowed,
                    merkle_path: Seq0255::new(path).map_err(enc("merkle_path"))?,
                    coinbase_tx_prefix: b064k("coinbase_tx_prefix", coinbase_tx_prefix)?,
                    coinbase_tx_suffix: b064k("coinbase_tx_suffix", coinbase_tx_suffix)?,
                },
                mn::MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB,
                mn::CHANNEL_BIT_NEW_EXTENDED_MINING_JOB,
            )
        }
        Msg::SetNewPrevHash { channel_id, job_id, prev_hash, min_ntime, nbits } => sink.put(
            mn::SetNewPrevHash {
                channel_id: *channel_id,
                job_id: *job_id,
                prev_hash: u256("prev_hash", prev_hash)?,
                min_ntime: *min_ntime,
                nbits: *nbits,
            },
            mn::MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH,
            mn::CHANNEL_BIT_MINING_SET_NEW_PREV_HASH,
        ),
        Msg::SetTarget { channel_id, maximum_target } => sink.put(
            mn::SetTarget { channel_id: *channel_id, maximum_target: u256("maximum_target", maximum_target)? },
            mn::MESSAGE_TYPE_SET_TARGET,
            mn::CHANNEL_BIT_SET_TARGET,
        ),
        Msg::SetGroupChannel { group_channel_id, channel_ids } => sink.put(
            mn::SetGroupChannel {
                group_channel_id: *group_channel_id,
                channel_ids: binary_sv2::Seq064K::new(channel_ids.clone()).map_err(enc("channel_ids"))?,
            },
            mn::MESSAGE_TYPE_SET_GROUP_CHANNEL,
            mn::CHANNEL_BIT_SET_GROUP_CHANNEL,
        ),
        Msg::SubmitSharesSuccess { channel_id, last_sequence_number, new_submits_accepted_count, new_shares_sum } => sink.put(
            mn::SubmitSharesSuccess {
                channel_id: *channel_id,
                last_sequence_number: *last_sequence_number,
                new_submits_accepted_count: *new_submits_accepted_count,
                new_shares_sum: *new_shares_sum,
            },
            mn::MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS,
            mn::CHANNEL_BIT_SUBMIT_SHARES_SUCCESS,
        ),
        Msg::SubmitSharesError { channel_id, sequence_number, error_code } => sink.put(
            mn::SubmitSharesError {
                channel_id: *channel_id,
                sequence_number: *sequence_number,
                error_code: str0255("error_code", error_code)?,
            },
            mn::MESSAGE_TYPE_SUBMIT_SHARES_ERROR,
            mn::CHANNEL_BIT_SUBMIT_SHARES_ERROR,
        ),
        other => Err(Sv2Error::Encode(format!(
            "{} is sent by clients, not by this server",
            serde_json::to_value(other).ok().and_then(|v| v.get("type").and_then(|t| t.as_str().map(String::from))).unwrap_or_default()
        ))),
    }
}
