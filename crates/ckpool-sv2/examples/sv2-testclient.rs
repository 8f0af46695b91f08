//! sv2-testclient: a Stratum V2 mining client built ONLY from the SV2 reference crates
//! (noise_sv2's Initiator, codec_sv2's Noise codec, mining_sv2 / common_messages_sv2
//! message types). It deliberately does not use ckpool-sv2's own code, so
//! test/sv2.test.ts checks our server against the reference implementation.
//!
//! Usage: sv2-testclient <host:port> <authority pubkey (base58check)>
//! Prints one JSON line per event on stdout: {"event":"connected"}, {"event":
//! "handshake-failed","error":...}, {"event":"message","type":...,fields} and
//! {"event":"closed"}. Reads one JSON command per line on stdin: {"send":"<MessageName>",
//! ...camelCase fields} builds and sends that message.

use binary_sv2::{Str0255, B032, U256};
use codec_sv2::{Decrypted, Handshake, MessageFrame, NoiseDecoder, NoiseEncoder};
use common_messages_sv2::{Protocol, SetupConnection};
use key_utils::Secp256k1PublicKey;
use mining_sv2::*;
use noise_sv2::{Initiator, INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE};
use serde_json::{json, Value};
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;

fn out(v: Value) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{v}");
    let _ = o.flush();
}

fn hexs(b: &[u8]) -> String {
    hex::encode(b)
}

fn read_exact_or_close(s: &mut TcpStream, buf: &mut [u8]) -> bool {
    s.read_exact(buf).is_ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = &args[1];
    let authority: Secp256k1PublicKey = args[2].parse().expect("authority pubkey");
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.set_nodelay(true).ok();

    // Noise NX handshake, initiator side, verifying the certificate against `authority`.
    let initiator = Initiator::from_raw_k(authority.into_bytes()).expect("initiator");
    let (first, hs) = Handshake::initiator(initiator).step_0().expect("step_0");
    let mut encoder = NoiseEncoder::new();
    let first = encoder.encode_handshake(first);
    sock.write_all(first.as_ref()).expect("write handshake");
    let mut reply = [0u8; INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE];
    if !read_exact_or_close(&mut sock, &mut reply) {
        out(json!({"event": "handshake-failed", "error": "connection closed during the handshake"}));
        std::process::exit(2);
    }
    let transport = match hs.step_2(reply) {
        Ok(t) => t,
        Err(e) => {
            out(json!({"event": "handshake-failed", "error": format!("{e:?}")}));
            std::process::exit(2);
        }
    };
    let (mut enc, mut dec) = transport.split();
    out(json!({"event": "connected"}));

    // Reader thread: decrypt frames and print them.
    let mut rsock = sock.try_clone().expect("clone");
    std::thread::spawn(move || {
        let mut decoder = NoiseDecoder::new();
        loop {
            let buf = decoder.writable();
            if rsock.read_exact(buf).is_err() {
                out(json!({"event": "closed"}));
                std::process::exit(0);
            }
            match decoder.next_transport_frame(dec) {
                Ok(Decrypted::Frame(mut frame, d)) => {
                    dec = d;
                    let t = frame.header().msg_type();
                    out(describe(t, frame.payload()));
                }
                Ok(Decrypted::Incomplete(_, d)) => dec = d,
                Err(e) => {
                    out(json!({"event": "decode-error", "error": format!("{e:?}")}));
                    std::process::exit(3);
                }
            }
        }
    });

    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let c: Value = serde_json::from_str(&line).expect("command JSON");
        // "repeat": N sends the message N times in one write (a flood, for the server's
        // flood control); each copy is its own encrypted frame, as a client would send them.
        let mut bytes = Vec::new();
        for _ in 0..c["repeat"].as_u64().unwrap_or(1) {
            bytes.extend(build(&c, &mut encoder, &mut enc));
        }
        if sock.write_all(&bytes).is_err() {
            out(json!({"event": "closed"}));
            std::process::exit(0);
        }
    }
    // stdin closed: hang up.
    let _ = sock.shutdown(std::net::Shutdown::Both);
}

fn u(c: &Value, k: &str) -> u32 {
    c[k].as_u64().unwrap_or_else(|| panic!("field {k}")) as u32
}
fn st<'a>(c: &'a Value, k: &str) -> &'a str {
    c[k].as_str().unwrap_or_else(|| panic!("field {k}"))
}
fn hx(c: &Value, k: &str) -> Vec<u8> {
    hex::decode(st(c, k)).expect("hex")
}

fn frame<T: binary_sv2::Serialize + binary_sv2::GetSize>(
    m: T,
    t: u8,
    chan: bool,
    e: &mut NoiseEncoder,
    enc: &mut codec_sv2::TransportEncryptState,
) -> Vec<u8> {
    let f = MessageFrame::from_message(m, t, 0, chan).expect("frame");
    let b = e.encode_transport(f, enc).expect("encrypt");
    let bytes: &[u8] = b.as_ref();
    bytes.to_vec()
}

fn build(c: &Value, e: &mut NoiseEncoder, enc: &mut codec_sv2::TransportEncryptState) -> Vec<u8> {
    match st(c, "send") {
        "SetupConnection" => {
            let host = "127.0.0.1".to_string();
            let vendor = "sv2-testclient".to_string();
            let empty = String::new();
            let m = SetupConnection {
                protocol: Protocol::try_from(c["protocol"].as_u64().unwrap_or(0) as u8).expect("protocol"),
                min_version: c["minVersion"].as_u64().unwrap_or(2) as u16,
                max_version: c["maxVersion"].as_u64().unwrap_or(2) as u16,
                flags: c["flags"].as_u64().unwrap_or(0) as u32,
                endpoint_host: Str0255::try_from(&host).unwrap(),
                endpoint_port: 3336,
                vendor: Str0255::try_from(&vendor).unwrap(),
                hardware_version: Str0255::try_from(&empty).unwrap(),
                firmware: Str0255::try_from(&empty).unwrap(),
                device_id: Str0255::try_from(&empty).unwrap(),
            };
            frame(m, common_messages_sv2::MESSAGE_TYPE_SETUP_CONNECTION, false, e, enc)
        }
        "OpenStandardMiningChannel" => {
            let user = st(c, "user").to_string();
            let mt = hx(c, "maxTarget");
            let m = OpenStandardMiningChannel {
                request_id: u(c, "requestId"),
                user_identity: Str0255::try_from(&user).unwrap(),
                nominal_hash_rate: c["hashrate"].as_f64().unwrap_or(1e6) as f32,
                max_target: U256::new(&mt).unwrap(),
            };
            frame(m, MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL, false, e, enc)
        }
        "OpenExtendedMiningChannel" => {
            let user = st(c, "user").to_string();
            let mt = hx(c, "maxTarget");
            let m = OpenExtendedMiningChannel {
                request_id: u(c, "requestId"),
                user_identity: Str0255::try_from(&user).unwrap(),
                nominal_hash_rate: c["hashrate"].as_f64().unwrap_or(1e6) as f32,
                max_target: U256::new(&mt).unwrap(),
                min_extranonce_size: u(c, "minExtranonceSize") as u16,
            };
            frame(m, MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL, false, e, enc)
        }
        "SubmitSharesStandard" => {
            let m = SubmitSharesStandard {
                channel_id: u(c, "channelId"),
                sequence_number: u(c, "sequenceNumber"),
                job_id: u(c, "jobId"),
                nonce: u(c, "nonce"),
                ntime: u(c, "ntime"),
                version: u(c, "version"),
            };
            frame(m, MESSAGE_TYPE_SUBMIT_SHARES_STANDARD, true, e, enc)
        }
        "SubmitSharesExtended" => {
            let x = hx(c, "extranonce");
            let m = SubmitSharesExtended {
                channel_id: u(c, "channelId"),
                sequence_number: u(c, "sequenceNumber"),
                job_id: u(c, "jobId"),
                nonce: u(c, "nonce"),
                ntime: u(c, "ntime"),
                version: u(c, "version"),
                extranonce: B032::new(&x).unwrap(),
            };
            frame(m, MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED, true, e, enc)
        }
        "UpdateChannel" => {
            let mt = hx(c, "maxTarget");
            let m = UpdateChannel {
                channel_id: u(c, "channelId"),
                nominal_hash_rate: c["hashrate"].as_f64().unwrap_or(1e6) as f32,
                maximum_target: U256::new(&mt).unwrap(),
            };
            frame(m, MESSAGE_TYPE_UPDATE_CHANNEL, true, e, enc)
        }
        "CloseChannel" => {
            let reason = "bye".to_string();
            let m = CloseChannel { channel_id: u(c, "channelId"), reason_code: Str0255::try_from(&reason).unwrap() };
            frame(m, MESSAGE_TYPE_CLOSE_CHANNEL, true, e, enc)
        }
        // Abuse cases for the server's tests: bytes that are not a frame, and a frame
        // larger than any client message (a 40 KB NewExtendedMiningJob, built by the
        // reference crates like everything else here).
        "Garbage" => vec![0x5a; 100],
        "Oversized" => {
            let big = vec![7u8; 40_000];
            let m = NewExtendedMiningJob {
                channel_id: 1, job_id: 1, min_ntime: binary_sv2::Sv2Option::new(None), version: 0,
                version_rolling_allowed: false, merkle_path: binary_sv2::Seq0255::new(vec![]).unwrap(),
                coinbase_tx_prefix: binary_sv2::B064K::new(&big).unwrap(), coinbase_tx_suffix: binary_sv2::B064K::new(&[]).unwrap(),
            };
            frame(m, MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB, true, e, enc)
        }
        other => panic!("unknown command {other}"),
    }
}

fn text(s: &Str0255) -> String {
    String::from_utf8_lossy(s.as_bytes()).into_owned()
}

fn describe(t: u8, p: &mut [u8]) -> Value {
    use common_messages_sv2 as cm;
    macro_rules! de {
        ($ty:ty) => {
            match binary_sv2::from_bytes::<$ty>(p) {
                Ok(m) => m,
                Err(e) => return json!({"event": "decode-error", "msgType": t, "error": format!("{e:?}")}),
            }
        };
    }
    match t {
        cm::MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS => {
            let m = de!(cm::SetupConnectionSuccess);
            json!({"event":"message","type":"SetupConnectionSuccess","usedVersion":m.used_version,"flags":m.flags})
        }
        cm::MESSAGE_TYPE_SETUP_CONNECTION_ERROR => {
            let m = de!(cm::SetupConnectionError);
            json!({"event":"message","type":"SetupConnectionError","flags":m.flags,"errorCode":text(&m.error_code)})
        }
        cm::MESSAGE_TYPE_RECONNECT => {
            let m = de!(cm::Reconnect);
            json!({"event":"message","type":"Reconnect","newHost":text(&m.new_host),"newPort":m.new_port})
        }
        cm::MESSAGE_TYPE_CHANNEL_ENDPOINT_CHANGED => {
            let m = de!(cm::ChannelEndpointChanged);
            json!({"event":"message","type":"ChannelEndpointChanged","channelId":m.channel_id})
        }
        MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL_SUCCESS => {
            let m = de!(OpenStandardMiningChannelSuccess);
            json!({"event":"message","type":"OpenStandardMiningChannelSuccess","requestId":m.request_id,"channelId":m.channel_id,
                   "target":hexs(m.target.as_bytes()),"extranoncePrefix":hexs(m.extranonce_prefix.as_bytes()),"groupChannelId":m.group_channel_id})
        }
        MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS => {
            let m = de!(OpenExtendedMiningChannelSuccess);
            json!({"event":"message","type":"OpenExtendedMiningChannelSuccess","requestId":m.request_id,"channelId":m.channel_id,
                   "target":hexs(m.target.as_bytes()),"extranonceSize":m.extranonce_size,
                   "extranoncePrefix":hexs(m.extranonce_prefix.as_bytes()),"groupChannelId":m.group_channel_id})
        }
        MESSAGE_TYPE_OPEN_MINING_CHANNEL_ERROR => {
            let m = de!(OpenMiningChannelError);
            json!({"event":"message","type":"OpenMiningChannelError","requestId":m.request_id,"errorCode":text(&m.error_code)})
        }
        MESSAGE_TYPE_NEW_MINING_JOB => {
            let m = de!(NewMiningJob);
            let min_ntime: Option<u32> = m.min_ntime.clone().into_inner();
            json!({"event":"message","type":"NewMiningJob","channelId":m.channel_id,"jobId":m.job_id,"minNtime":min_ntime,
                   "version":m.version,"merkleRoot":hexs(m.merkle_root.as_bytes())})
        }
        MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB => {
            let m = de!(NewExtendedMiningJob);
            let min_ntime: Option<u32> = m.min_ntime.clone().into_inner();
            let path: Vec<String> = m.merkle_path.clone().into_inner().iter().map(|h| hexs(h.as_bytes())).collect();
            json!({"event":"message","type":"NewExtendedMiningJob","channelId":m.channel_id,"jobId":m.job_id,"minNtime":min_ntime,
                   "version":m.version,"versionRollingAllowed":m.version_rolling_allowed,"merklePath":path,
                   "coinbaseTxPrefix":hexs(m.coinbase_tx_prefix.as_bytes()),"coinbaseTxSuffix":hexs(m.coinbase_tx_suffix.as_bytes())})
        }
        MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH => {
            let m = de!(SetNewPrevHash);
            json!({"event":"message","type":"SetNewPrevHash","channelId":m.channel_id,"jobId":m.job_id,
                   "prevHash":hexs(m.prev_hash.as_bytes()),"minNtime":m.min_ntime,"nbits":m.nbits})
        }
        MESSAGE_TYPE_SET_TARGET => {
            let m = de!(SetTarget);
            json!({"event":"message","type":"SetTarget","channelId":m.channel_id,"maximumTarget":hexs(m.maximum_target.as_bytes())})
        }
        MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS => {
            let m = de!(SubmitSharesSuccess);
            json!({"event":"message","type":"SubmitSharesSuccess","channelId":m.channel_id,"lastSequenceNumber":m.last_sequence_number,
                   "newSubmitsAcceptedCount":m.new_submits_accepted_count,"newSharesSum":m.new_shares_sum})
        }
        MESSAGE_TYPE_SUBMIT_SHARES_ERROR => {
            let m = de!(SubmitSharesError);
            json!({"event":"message","type":"SubmitSharesError","channelId":m.channel_id,"sequenceNumber":m.sequence_number,
                   "errorCode":text(&m.error_code)})
        }
        MESSAGE_TYPE_UPDATE_CHANNEL_ERROR => {
            let m = de!(UpdateChannelError);
            json!({"event":"message","type":"UpdateChannelError","channelId":m.channel_id,"errorCode":text(&m.error_code)})
        }
        MESSAGE_TYPE_CLOSE_CHANNEL => {
            let m = de!(CloseChannel);
            json!({"event":"message","type":"CloseChannel","channelId":m.channel_id,"reasonCode":text(&m.reason_code)})
        }
        MESSAGE_TYPE_SET_GROUP_CHANNEL => {
            let m = de!(SetGroupChannel);
            json!({"event":"message","type":"SetGroupChannel","groupChannelId":m.group_channel_id,
                   "channelIds":m.channel_ids.clone().into_inner()})
        }
        _ => json!({"event":"message","type":"Unknown","msgType":t}),
    }
}

