//! One server-side SV2 connection: the Noise NX responder handshake (authority-signed
//! certificate over a per-connection static key, ElligatorSwift, ChaCha20-Poly1305),
//! then encrypted frames both ways. All of it is the reference crates' code (codec_sv2's
//! NoiseDecoder/NoiseEncoder and Handshake, noise_sv2's Responder); this type only turns
//! their pull-style decoder into push-style `feed(bytes)` for a socket owned by Node,
//! and bounds what a client may make us buffer.

use codec_sv2::{
    Decoded, Decrypted, Handshake, MessageFrame, NoiseDecoder, NoiseEncoder, TransportDecryptState,
    TransportEncryptState,
};
use binary_sv2::{GetSize, Serialize as Sv2Serialize};
use noise_sv2::{Responder, ELLSWIFT_ENCODING_SIZE};
use std::time::Duration;

use crate::error::{Result, Sv2Error};
use crate::keys;
use crate::msg::{self, FrameSink, Msg};

/// The largest encrypted frame (header, payload and MACs) accepted from a client. The
/// biggest client message this pool handles is SetupConnection (five Str0255 fields,
/// under 1.3 KB); 16 KiB leaves room and stops a client from making us hold up to the
/// 16 MB a u24 length allows.
pub const MAX_CLIENT_FRAME: usize = 16 * 1024;

enum State {
    Handshake(Handshake<Responder>),
    Transport { enc: TransportEncryptState, dec: Option<TransportDecryptState> },
    Failed,
}

/// What one `feed` produced: decoded messages and bytes to write back (the handshake reply).
#[derive(Debug, Default)]
pub struct Fed {
    pub messages: Vec<Msg>,
    pub out: Vec<u8>,
    /// True once the handshake has completed (set on the feed that completes it, and after).
    pub ready: bool,
}

pub struct ResponderSession {
    state: State,
    decoder: NoiseDecoder,
    encoder: NoiseEncoder,
    /// Received bytes not yet given to the decoder (it takes exactly what it asks for).
    pending: Vec<u8>,
    /// Bytes given to the decoder since the last complete frame.
    in_frame: usize,
    limit: usize,
}

impl ResponderSession {
    /// A responder for one connection. `authority_secret_b58` is the pool's authority key;
    /// the certificate it signs for this connection is valid for `cert_validity_secs`.
    pub fn new(authority_secret_b58: &str, cert_validity_secs: u32) -> Result<Self> {
        let secret = keys::parse_secret(authority_secret_b58)?;
        let public = keys::xonly_public(&secret);
        let responder = Responder::from_authority_kp(
            &public,
            &secret.secret_bytes(),
            Duration::from_secs(cert_validity_secs as u64),
        )
        .map_err(|e| Sv2Error::Key(format!("{e:?}")))?;
        let mut decoder = NoiseDecoder::new();
        // Prime the decoder: it asks for the 64-byte ElligatorSwift key of the initiator.
        let _ = decoder.next_handshake_frame::<Responder>();
        Ok(Self {
            state: State::Handshake(Handshake::responder(responder)),
            decoder,
            encoder: NoiseEncoder::new(),
            pending: Vec::new(),
            in_frame: 0,
            limit: MAX_CLIENT_FRAME,
        })
    }

    pub fn ready(&self) -> bool {
        matches!(self.state, State::Transport { .. })
    }

    /// Feeds received bytes; returns every complete message and the bytes to send. Any
    /// error leaves the session failed: the caller closes the connection.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Fed> {
        let r = self.feed_inner(bytes);
        if r.is_err() {
            self.state = State::Failed;
            self.pending = Vec::new();
        }
        r
    }

    fn feed_inner(&mut self, bytes: &[u8]) -> Result<Fed> {
        if matches!(self.state, State::Failed) {
            return Err(Sv2Error::State("the connection already failed"));
        }
        self.pending.extend_from_slice(bytes);
        let mut fed = Fed::default();
        let mut pos = 0;
        loop {
            let need = self.decoder.writable_len();
            if self.in_frame + need > self.limit {
                return Err(Sv2Error::Oversized { limit: self.limit, got: self.in_frame + need });
            }
            if need == 0 || self.pending.len() - pos < need {
                break;
            }
            self.decoder.writable().copy_from_slice(&self.pending[pos..pos + need]);
            pos += need;
            self.in_frame += need;
            self.step(&mut fed)?;
        }
        self.pending.drain(..pos);
        if self.pending.len() + self.in_frame > self.limit {
            return Err(Sv2Error::Oversized { limit: self.limit, got: self.pending.len() + self.in_frame });
        }
        fed.ready = self.ready();
        Ok(fed)
    }

    fn step(&mut self, fed: &mut Fed) -> Result<()> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Handshake(hs) => match self.decoder.next_handshake_frame::<Responder>() {
                Ok(Decoded::Frame(frame)) => {
                    let theirs: [u8; ELLSWIFT_ENCODING_SIZE] = frame
                        .payload()
                        .try_into()
                        .map_err(|_| Sv2Error::Handshake("short ElligatorSwift key".into()))?;
                    let (reply, transport) =
                        hs.step_1(theirs).map_err(|e| Sv2Error::Handshake(format!("{e:?}")))?;
                    fed.out.extend_from_slice(self.encoder.encode_handshake(reply).as_ref());
                    let (enc, dec) = transport.split();
                    self.state = State::Transport { enc, dec: Some(dec) };
                    self.in_frame = 0;
                    Ok(())
                }
                Ok(Decoded::Incomplete(_)) => {
                    self.state = State::Handshake(hs);
                    Ok(())
                }
                Err(e) => Err(Sv2Error::Handshake(format!("{e:?}"))),
            },
            State::Transport { enc, dec } => {
                let dec = dec.ok_or(Sv2Error::State("decrypt state lost"))?;
                match self.decoder.next_transport_frame(dec) {
                    Ok(Decrypted::Frame(mut frame, dec)) => {
                        self.state = State::Transport { enc, dec: Some(dec) };
                        self.in_frame = 0;
                        let h = frame.header();
                        fed.messages.push(msg::decode(h.msg_type(), h.ext_type(), frame.payload())?);
                        Ok(())
                    }
                    Ok(Decrypted::Incomplete(_, dec)) => {
                        self.state = State::Transport { enc, dec: Some(dec) };
                        Ok(())
                    }
                    Err(e) => Err(Sv2Error::Frame(format!("{e:?}"))),
                }
            }
            State::Failed => Err(Sv2Error::State("the connection already failed")),
        }
    }

    /// Encodes and encrypts a batch of messages into one buffer, in order.
    pub fn encode_many(&mut self, msgs: &[Msg]) -> Result<Vec<u8>> {
        let State::Transport { enc, .. } = &mut self.state else {
            return Err(Sv2Error::State("cannot send before the handshake completed"));
        };
        let mut sink = Sink { encoder: &mut self.encoder, enc, out: Vec::new() };
        for m in msgs {
            msg::encode_into(m, &mut sink)?;
        }
        Ok(sink.out)
    }

    /// Encodes and encrypts one message to send (after the handshake).
    pub fn encode(&mut self, m: &Msg) -> Result<Vec<u8>> {
        let State::Transport { enc, .. } = &mut self.state else {
            return Err(Sv2Error::State("cannot send before the handshake completed"));
        };
        let mut sink = Sink { encoder: &mut self.encoder, enc, out: Vec::new() };
        msg::encode_into(m, &mut sink)?;
        Ok(sink.out)
    }
}

struct Sink<'a> {
    encoder: &'a mut NoiseEncoder,
    enc: &'a mut TransportEncryptState,
    out: Vec<u8>,
}

impl FrameSink for Sink<'_> {
    fn put<T: Sv2Serialize + GetSize>(&mut self, m: T, msg_type: u8, channel_bit: bool) -> Result<()> {
        let frame = MessageFrame::from_message(m, msg_type, 0, channel_bit)
            .map_err(|e| Sv2Error::Encode(format!("message 0x{msg_type:02x} does not fit a frame: {e:?}")))?;
        let bytes = self
            .encoder
            .encode_transport(frame, self.enc)
            .map_err(|e| Sv2Error::Encode(format!("{e:?}")))?;
        self.out.extend_from_slice(bytes.as_ref());
        Ok(())
    }
}
