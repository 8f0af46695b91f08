//! Coinbase transaction assembly, split around the extranonce into the stratum
//! `coinb1` / `coinb2` halves (see ckpool-behaviour.md §6.1 for ckpool's layout,
//! which this follows with two deliberate differences noted below).
//!
//! Layout (legacy serialisation, no witness — the witness reserved value is added
//! only when a solved block is assembled, see `with_witness_reserved`):
//!
//! ```text
//! coinb1 = version(4) 01 <32 zero bytes> ffffffff <scriptSig len>
//!          <BIP34 height> <aux flags push> <04 time> <04 nonce/nanos> <push of en1+en2 len>
//!   ...extranonce1 ‖ extranonce2...
//! coinb2 = <push pool tag> [<push btcsig>] ffffffff <output count>
//!          { value(8) <script len> script }*  [0 6a24aa21a9ed<commitment>]  locktime(4)
//! ```
//!
//! Differences from ckpool 0.9.9, both for correctness:
//! * heights 1..=16 are pushed as OP_1..OP_16 (what Bitcoin Core's BIP34 check
//!   expects); ckpool writes `01 01` at height 1, which Core rejects on regtest;
//! * the pool tag is a real push of its own length (ckpool writes 0x0a before the
//!   6-byte "ckpool").

use crate::error::{CoreError, Result};

/// Maximum scriptSig size for a coinbase (consensus: 2..=100 bytes).
pub const MAX_COINBASE_SCRIPT: usize = 100;
/// ckpool truncates `btcsig` to this many bytes.
pub const MAX_BTCSIG: usize = 38;

#[derive(Clone, Debug)]
pub struct Output {
    pub script: Vec<u8>,
    pub value: u64,
}

#[derive(Clone, Debug)]
pub struct CoinbaseParams {
    /// Transaction version (ckpool uses 1).
    pub tx_version: u32,
    pub height: u32,
    /// GBT `coinbaseaux.flags` bytes (may be empty).
    pub aux_flags: Vec<u8>,
    /// Unix time pushed into the scriptSig.
    pub timestamp: u32,
    /// A per-workbase randomiser (ckpool pushes nanoseconds): keeps coinbases of two
    /// workbases in the same second distinct.
    pub nonce: u32,
    pub extranonce1_len: usize,
    pub extranonce2_len: usize,
    /// Pool tag pushed after the extranonce (e.g. "ckpool-ts").
    pub pool_tag: Vec<u8>,
    /// Operator text (`btcsig`), at most 38 bytes.
    pub btcsig: Vec<u8>,
    /// Payout outputs in order (pool payout, donation, solo user...). At least one.
    pub outputs: Vec<Output>,
    /// Witness commitment hash; adds the OP_RETURN commitment output last.
    pub witness_commitment: Option<[u8; 32]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoinbaseParts {
    pub coinb1: Vec<u8>,
    pub coinb2: Vec<u8>,
}

/// Minimal push of a BIP34 block height (Bitcoin Core's `CScript() << height`).
pub fn push_height(out: &mut Vec<u8>, height: u32) {
    match height {
        0 => out.push(0x00),
        1..=16 => out.push(0x50 + height as u8),
        _ => push_scriptnum(out, height as i64),
    }
}

/// Push a CScriptNum in minimal little-endian sign-magnitude form.
fn push_scriptnum(out: &mut Vec<u8>, n: i64) {
    let mut bytes = Vec::with_capacity(9);
    let neg = n < 0;
    let mut abs = n.unsigned_abs();
    while abs > 0 {
        bytes.push((abs & 0xff) as u8);
        abs >>= 8;
    }
    if let Some(&last) = bytes.last() {
        if last & 0x80 != 0 {
            bytes.push(if neg { 0x80 } else { 0 });
        } else if neg {
            *bytes.last_mut().unwrap() |= 0x80;
        }
    }
    out.push(bytes.len() as u8);
    out.extend_from_slice(&bytes);
}

fn push_data(out: &mut Vec<u8>, data: &[u8]) {
    // Only short pushes occur in a coinbase scriptSig (< 76 bytes each).
    debug_assert!(data.len() < 0x4c);
    out.push(data.len() as u8);
    out.extend_from_slice(data);
}

pub fn write_varint(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Assemble coinb1 / coinb2.
pub fn build_coinbase(p: &CoinbaseParams) -> Result<CoinbaseParts> {
    let en_len = p.extranonce1_len + p.extranonce2_len;
    if !(1..=8).contains(&p.extranonce1_len) {
        return Err(CoreError::range("extranonce1Len", format!("must be 1..8, got {}", p.extranonce1_len)));
    }
    if !(1..=8).contains(&p.extranonce2_len) {
        return Err(CoreError::range("extranonce2Len", format!("must be 1..8, got {}", p.extranonce2_len)));
    }
    if p.btcsig.len() > MAX_BTCSIG {
        return Err(CoreError::length("btcsig", format!("at most {MAX_BTCSIG}"), p.btcsig.len()));
    }
    if p.pool_tag.len() > 32 {
        return Err(CoreError::length("poolTag", "at most 32", p.pool_tag.len()));
    }
    if p.aux_flags.len() > 32 {
        return Err(CoreError::length("auxFlags", "at most 32", p.aux_flags.len()));
    }
    if p.outputs.is_empty() {
        return Err(CoreError::arg("outputs", "a coinbase needs at least one payout output"));
    }
    let mut total: u64 = 0;
    for o in &p.outputs {
        if o.script.is_empty() || o.script.len() > 10_000 {
            return Err(CoreError::length("output script", "1..10000", o.script.len()));
        }
        total = total
            .checked_add(o.value)
            .filter(|t| *t <= 21_000_000 * 100_000_000)
            .ok_or_else(|| CoreError::range("outputs", "total value exceeds 21M BTC"))?;
    }

    // scriptSig before the extranonce
    let mut pre = Vec::with_capacity(40);
    push_height(&mut pre, p.height);
    push_data(&mut pre, &p.aux_flags);
    push_data(&mut pre, &p.timestamp.to_le_bytes());
    push_data(&mut pre, &p.nonce.to_le_bytes());
    pre.push(en_len as u8); // push opcode covering the extranonce
    // scriptSig after the extranonce
    let mut post = Vec::with_capacity(48);
    push_data(&mut post, &p.pool_tag);
    if !p.btcsig.is_empty() {
        push_data(&mut post, &p.btcsig);
    }
    let script_len = pre.len() + en_len + post.len();
    if !(2..=MAX_COINBASE_SCRIPT).contains(&script_len) {
        return Err(CoreError::range(
            "coinbase scriptSig",
            format!("{script_len} bytes; consensus allows 2..100 (shorten btcsig, pool tag or extranonce)"),
        ));
    }

    let mut coinb1 = Vec::with_capacity(42 + pre.len());
    coinb1.extend_from_slice(&p.tx_version.to_le_bytes());
    coinb1.push(1); // one input
    coinb1.extend_from_slice(&[0u8; 32]);
    coinb1.extend_from_slice(&[0xff; 4]);
    coinb1.push(script_len as u8);
    coinb1.extend_from_slice(&pre);

    let mut coinb2 = Vec::with_capacity(post.len() + 64 * p.outputs.len() + 64);
    coinb2.extend_from_slice(&post);
    coinb2.extend_from_slice(&[0xff; 4]); // sequence
    let n_out = p.outputs.len() + p.witness_commitment.is_some() as usize;
    write_varint(&mut coinb2, n_out as u64);
    for o in &p.outputs {
        coinb2.extend_from_slice(&o.value.to_le_bytes());
        write_varint(&mut coinb2, o.script.len() as u64);
        coinb2.extend_from_slice(&o.script);
    }
    if let Some(c) = &p.witness_commitment {
        coinb2.extend_from_slice(&0u64.to_le_bytes());
        coinb2.push(38);
        coinb2.extend_from_slice(&crate::merkle::witness_commitment_script(c));
    }
    coinb2.extend_from_slice(&[0u8; 4]); // locktime
    Ok(CoinbaseParts { coinb1, coinb2 })
}

/// Turn a legacy-serialised coinbase (one input, as built above) into the segwit
/// serialisation a block with a witness commitment needs: marker 00, flag 01, and a
/// witness for the input holding one 32-byte all-zero item (the witness reserved value
/// the commitment was computed with). The txid is unchanged; only the wtxid differs.
pub fn with_witness_reserved(legacy: &[u8]) -> Result<Vec<u8>> {
    if legacy.len() < 4 + 1 + 41 + 1 + 4 {
        return Err(CoreError::length("coinbase", "at least 51", legacy.len()));
    }
    if legacy[4] == 0 {
        return Err(CoreError::arg("coinbase", "already has a segwit marker"));
    }
    let mut out = Vec::with_capacity(legacy.len() + 36);
    out.extend_from_slice(&legacy[..4]);
    out.extend_from_slice(&[0x00, 0x01]);
    out.extend_from_slice(&legacy[4..legacy.len() - 4]);
    out.push(1); // one witness item
    out.push(32);
    out.extend_from_slice(&[0u8; 32]);
    out.extend_from_slice(&legacy[legacy.len() - 4..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::hex_encode;

    fn params() -> CoinbaseParams {
        CoinbaseParams {
            tx_version: 1,
            height: 1,
            aux_flags: vec![],
            timestamp: 0x6b049b0a,
            nonce: 0x202ba78e,
            extranonce1_len: 4,
            extranonce2_len: 8,
            pool_tag: b"ckpool".to_vec(),
            btcsig: b"/mined by test/".to_vec(),
            outputs: vec![Output { script: vec![0x00, 0x14, 0xfd, 0x8b].into_iter().chain([0x11; 18]).collect(), value: 4_975_000_000 }],
            witness_commitment: Some([0x22; 32]),
        }
    }

    #[test]
    fn layout_matches_ckpool_shape() {
        let parts = build_coinbase(&params()).unwrap();
        let c1 = hex_encode(&parts.coinb1);
        // version, 1 input, null prevout, scriptSig len, OP_1 height, empty flags push,
        // time push, nonce push, push 12 (extranonce)
        assert_eq!(
            c1,
            "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff30\
             51\
             00\
             040a9b046b\
             048ea72b20\
             0c"
        );
        let c2 = hex_encode(&parts.coinb2);
        assert!(c2.starts_with("06636b706f6f6c0f2f6d696e656420627920746573742fffffffff02"), "{c2}");
        assert!(c2.ends_with(&format!("0000000000000000266a24aa21a9ed{}00000000", "22".repeat(32))));
        // scriptSig length byte covers everything up to the sequence
        let script_len = parts.coinb1[41] as usize;
        assert_eq!(script_len, parts.coinb1.len() - 42 + 12 + 7 + 16);
    }

    #[test]
    fn heights() {
        let enc = |h| {
            let mut v = vec![];
            push_height(&mut v, h);
            hex_encode(&v)
        };
        assert_eq!(enc(0), "00");
        assert_eq!(enc(1), "51");
        assert_eq!(enc(16), "60");
        assert_eq!(enc(17), "0111");
        assert_eq!(enc(127), "017f");
        assert_eq!(enc(128), "028000");
        assert_eq!(enc(432), "02b001");
        assert_eq!(enc(32767), "02ff7f");
        assert_eq!(enc(32768), "03008000");
        assert_eq!(enc(840000), "0340d10c");
        assert_eq!(enc(8388608), "0400008000");
    }

    #[test]
    fn rejects_bad_params() {
        let mut p = params();
        p.btcsig = vec![b'x'; 39];
        assert_eq!(build_coinbase(&p).unwrap_err().code(), "CKP_ERR_NATIVE_LENGTH");
        let mut p = params();
        p.extranonce2_len = 9;
        assert_eq!(build_coinbase(&p).unwrap_err().code(), "CKP_ERR_NATIVE_RANGE");
        let mut p = params();
        p.outputs.clear();
        assert_eq!(build_coinbase(&p).unwrap_err().code(), "CKP_ERR_NATIVE_ARG");
        let mut p = params();
        p.outputs[0].value = 21_000_000 * 100_000_000 + 1;
        assert_eq!(build_coinbase(&p).unwrap_err().code(), "CKP_ERR_NATIVE_RANGE");
        let mut p = params();
        p.aux_flags = vec![1; 32];
        p.pool_tag = vec![b'a'; 32];
        p.btcsig = vec![b'b'; 38];
        assert_eq!(build_coinbase(&p).unwrap_err().code(), "CKP_ERR_NATIVE_RANGE");
    }

    #[test]
    fn witness_serialisation_keeps_txid() {
        let parts = build_coinbase(&params()).unwrap();
        let mut legacy = parts.coinb1.clone();
        legacy.extend_from_slice(&[0xab; 12]);
        legacy.extend_from_slice(&parts.coinb2);
        let seg = with_witness_reserved(&legacy).unwrap();
        assert_eq!(seg.len(), legacy.len() + 2 + 34);
        assert_eq!(&seg[4..6], &[0, 1]);
        assert_eq!(&seg[seg.len() - 38..seg.len() - 4], &[&[1u8, 32][..], &[0u8; 32][..]].concat()[..]);
        assert!(with_witness_reserved(&seg).is_err());
        assert_eq!(with_witness_reserved(&[1, 2, 3]).unwrap_err().code(), "CKP_ERR_NATIVE_LENGTH");
    }

    #[test]
    fn varints() {
        let enc = |n| {
            let mut v = vec![];
            write_varint(&mut v, n);
            hex_encode(&v)
        };
        assert_eq!(enc(0xfc), "fc");
        assert_eq!(enc(0xfd), "fdfd00");
        assert_eq!(enc(4001), "fda10f");
        assert_eq!(enc(0x10000), "fe00000100");
    }
}
