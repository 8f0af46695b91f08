//! ResponderSession against the reference initiator (noise_sv2 + codec_sv2), byte by byte
//! and in one piece; wrong authority keys, garbage and oversized frames.

use ckpool_sv2::{keys, Msg, ResponderSession, MAX_CLIENT_FRAME};
use codec_sv2::{Decrypted, Handshake, MessageFrame, NoiseDecoder, NoiseEncoder, TransportDecryptState, TransportEncryptState};
use noise_sv2::{Initiator, INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE};

struct Client {
    enc: TransportEncryptState,
    dec: Option<TransportDecryptState>,
    encoder: NoiseEncoder,
    decoder: NoiseDecoder,
}

fn handshake(server: &mut ResponderSession, authority_pub: [u8; 32], chunk: usize) -> Result<Client, String> {
    let (first, hs) = Handshake::initiator(Initiator::from_raw_k(authority_pub).unwrap()).step_0().unwrap();
    let mut encoder = NoiseEncoder::new();
    let first = encoder.encode_handshake(first);
    let first: Vec<u8> = AsRef::<[u8]>::as_ref(&first).to_vec();
    let mut reply = Vec::new();
    for c in first.chunks(chunk) {
        let fed = server.feed(c).map_err(|e| e.to_string())?;
        reply.extend_from_slice(&fed.out);
    }
    assert!(server.ready());
    let reply: [u8; INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE] = reply.try_into().unwrap();
    let t = hs.step_2(reply).map_err(|e| format!("{e:?}"))?;
    let (enc, dec) = t.split();
    Ok(Client { enc, dec: Some(dec), encoder, decoder: NoiseDecoder::new() })
}

fn submit(c: &mut Client, seq: u32) -> Vec<u8> {
    let m = mining_sv2::SubmitSharesStandard { channel_id: 7, sequence_number: seq, job_id: 3, nonce: 9, ntime: 11, version: 0x2000_0000 };
    let f = MessageFrame::from_message(m, mining_sv2::MESSAGE_TYPE_SUBMIT_SHARES_STANDARD, 0, true).unwrap();
    let b = c.encoder.encode_transport(f, &mut c.enc).unwrap();
    let s: &[u8] = b.as_ref();
    s.to_vec()
}

fn authority() -> (String, [u8; 32]) {
    let s = keys::generate_secret();
    let p = keys::parse_public(&keys::public_b58(&s).unwrap()).unwrap();
    (s, p)
}

#[test]
fn handshake_then_messages_both_ways_in_any_chunking() {
    for chunk in [1usize, 7, 4096] {
        let (secret, public) = authority();
        let mut server = ResponderSession::new(&secret, 3600).unwrap();
        let mut c = handshake(&mut server, public, chunk).unwrap();
        let mut wire = submit(&mut c, 1);
        wire.extend(submit(&mut c, 2));
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            got.extend(server.feed(piece).unwrap().messages);
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], Msg::SubmitSharesStandard { channel_id: 7, sequence_number: 2, job_id: 3, nonce: 9, ntime: 11, version: 0x2000_0000 });

        // Server → client: decoded by the reference decoder.
        let out = server.encode(&Msg::SubmitSharesError { channel_id: 7, sequence_number: 2, error_code: "stale-share".into() }).unwrap();
        let mut pos = 0;
        let frame = loop {
            let buf = c.decoder.writable();
            let n = buf.len();
            buf.copy_from_slice(&out[pos..pos + n]);
            pos += n;
            match c.decoder.next_transport_frame(c.dec.take().unwrap()).unwrap() {
                Decrypted::Frame(f, d) => { c.dec = Some(d); break f; }
                Decrypted::Incomplete(_, d) => c.dec = Some(d),
            }
        };
        let mut frame = frame;
        assert_eq!(frame.header().msg_type(), mining_sv2::MESSAGE_TYPE_SUBMIT_SHARES_ERROR);
        let e: mining_sv2::SubmitSharesError = binary_sv2::from_bytes(frame.payload()).unwrap();
        assert_eq!(e.error_code.as_bytes(), b"stale-share");
    }
}

#[test]
fn a_client_expecting_another_authority_rejects_the_certificate() {
    let (secret, _) = authority();
    let (_, other_public) = authority();
    let mut server = ResponderSession::new(&secret, 3600).unwrap();
    assert!(handshake(&mut server, other_public, 64).is_err());
}

#[test]
fn garbage_after_the_handshake_is_a_frame_error_and_the_session_stays_failed() {
    let (secret, public) = authority();
    let mut server = ResponderSession::new(&secret, 3600).unwrap();
    handshake(&mut server, public, 64).unwrap();
    let e = server.feed(&[0x55u8; 64]).unwrap_err();
    assert_eq!(e.code(), "CKP_ERR_SV2_FRAME");
    assert_eq!(server.feed(&[0u8; 1]).unwrap_err().code(), "CKP_ERR_SV2_STATE");
}

#[test]
fn a_frame_declaring_more_than_the_limit_is_refused_before_its_payload_arrives() {
    let (secret, public) = authority();
    let mut server = ResponderSession::new(&secret, 3600).unwrap();
    let mut c = handshake(&mut server, public, 64).unwrap();
    let big = vec![7u8; 40_000];
    let m = mining_sv2::NewExtendedMiningJob {
        channel_id: 1, job_id: 1, min_ntime: binary_sv2::Sv2Option::new(None), version: 0,
        version_rolling_allowed: false, merkle_path: binary_sv2::Seq0255::new(vec![]).unwrap(),
        coinbase_tx_prefix: binary_sv2::B064K::new(&big).unwrap(), coinbase_tx_suffix: binary_sv2::B064K::new(&[]).unwrap(),
    };
    let f = MessageFrame::from_message(m, mining_sv2::MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB, 0, true).unwrap();
    let b = c.encoder.encode_transport(f, &mut c.enc).unwrap();
    let wire: &[u8] = b.as_ref();
    // Only the 22-byte encrypted header: the declared length alone is enough to refuse.
    let e = server.feed(&wire[..22]).unwrap_err();
    assert_eq!(e.code(), "CKP_ERR_SV2_OVERSIZED");
}

#[test]
fn a_flood_without_frame_boundaries_is_not_buffered() {
    let (secret, _) = authority();
    let mut server = ResponderSession::new(&secret, 3600).unwrap();
    // Before the handshake: 64 bytes are taken as the key (any 64 bytes decode as an
    // ElligatorSwift encoding), the rest must be frames; garbage is refused, never held.
    assert!(server.feed(&vec![1u8; MAX_CLIENT_FRAME * 2]).is_err());
}

#[test]
fn server_messages_round_trip_through_json() {
    let m = Msg::NewExtendedMiningJob {
        channel_id: 1, job_id: 2, min_ntime: None, version: 0x2000_0000, version_rolling_allowed: true,
        merkle_path: vec![1u8; 64], coinbase_tx_prefix: vec![2; 10], coinbase_tx_suffix: vec![3; 5],
    };
    let j = ckpool_sv2::msgs_to_json(std::slice::from_ref(&m));
    assert!(j.contains("\"type\":\"NewExtendedMiningJob\"") && j.contains("\"merklePath\""));
    let back = ckpool_sv2::msg_from_json(&j[1..j.len() - 1]).unwrap();
    assert_eq!(back, m);
}
