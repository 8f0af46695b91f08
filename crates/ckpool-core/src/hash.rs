//! SHA-256 built directly on `sha2::compress256`, which picks SHA-NI (x86) or the
//! ARMv8 SHA2 instructions at run time. Going below the `Digest` API lets the hot
//! paths hash fixed-size inputs (64-byte merkle nodes, 80-byte headers, 32-byte
//! digests) with exactly the compressions they need and no buffering or allocation.

use crate::shani::compress2;
use sha2::compress256;
use sha2::digest::generic_array::{typenum::U64, GenericArray};

type Block = GenericArray<u8, U64>;

pub const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// View a slice whose length is a multiple of 64 as SHA-256 blocks, without copying.
#[inline(always)]
fn as_blocks(data: &[u8]) -> &[Block] {
    debug_assert!(data.len().is_multiple_of(64));
    // SAFETY: GenericArray<u8, U64> is #[repr(transparent)] over [u8; 64] (alignment 1),
    // so a byte slice of length 64*n has the same layout as [Block; n].
    unsafe { std::slice::from_raw_parts(data.as_ptr() as *const Block, data.len() / 64) }
}

#[inline(always)]
pub fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    compress256(state, as_blocks(blocks));
}

#[inline(always)]
pub fn state_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, w) in state.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// Finish a hash: `state` has absorbed `prefix_len` bytes in whole blocks and `tail`
/// (< 64 bytes... or any length) is the rest of the message.
pub fn finish(mut state: [u32; 8], prefix_len: usize, tail: &[u8]) -> [u8; 32] {
    let full = tail.len() / 64 * 64;
    if full > 0 {
        compress(&mut state, &tail[..full]);
    }
    let rest = &tail[full..];
    let mut buf = [0u8; 128];
    buf[..rest.len()].copy_from_slice(rest);
    buf[rest.len()] = 0x80;
    let total = if rest.len() < 56 { 64 } else { 128 };
    let bits = ((prefix_len + tail.len()) as u64) * 8;
    buf[total - 8..total].copy_from_slice(&bits.to_be_bytes());
    compress(&mut state, &buf[..total]);
    state_bytes(&state)
}

/// Single SHA-256 of arbitrary data.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    finish(H0, 0, data)
}

/// SHA-256 of a 32-byte digest: exactly one compression with constant padding.
#[inline(always)]
pub fn sha256_32(d: &[u8; 32]) -> [u8; 32] {
    let mut st = H0;
    compress(&mut st, &pad32(d)); // padding: 0x80, bit length 256 = 0x0100
    state_bytes(&st)
}

/// Bitcoin's double SHA-256.
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    sha256_32(&sha256(data))
}

/// The constant second block of a 64-byte message (padding + length 512).
const PAD64: [u8; 64] = {
    let mut b = [0u8; 64];
    b[0] = 0x80;
    b[62] = 0x02;
    b
};

/// sha256d of 64 bytes (one merkle node from two children): 3 compressions.
#[inline(always)]
pub fn sha256d_64(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut buf = [0u8; 128];
    buf[..32].copy_from_slice(left);
    buf[32..64].copy_from_slice(right);
    buf[64..].copy_from_slice(&PAD64);
    let mut st = H0;
    compress(&mut st, &buf);
    sha256_32(&state_bytes(&st))
}

/// sha256d of an 80-byte block header: 3 compressions.
#[inline(always)]
pub fn sha256d_80(header: &[u8; 80]) -> [u8; 32] {
    let mut st = H0;
    compress(&mut st, &pad80(header));
    sha256_32(&state_bytes(&st))
}

// ------------------------------------------------------------ two messages at once
//
// The `_x2` functions hash two independent messages of the same shape through
// `shani::compress2` (2-way SHA-NI where the CPU has it, two plain compressions
// elsewhere). Each result is bit-identical to its single-message twin above.

#[inline(always)]
fn pad32(d: &[u8; 32]) -> [u8; 64] {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(d);
    buf[32] = 0x80;
    buf[62] = 0x01;
    buf
}

/// [`sha256_32`] of two digests.
#[inline(always)]
pub fn sha256_32_x2(a: &[u8; 32], b: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let (mut sa, mut sb) = (H0, H0);
    compress2(&mut sa, &mut sb, &pad32(a), &pad32(b));
    (state_bytes(&sa), state_bytes(&sb))
}

/// [`sha256_32`] of two digests still held as SHA-256 states (saves a byte round trip
/// for callers that compressed them).
#[inline(always)]
pub fn sha256_32_x2_states(a: &[u32; 8], b: &[u32; 8]) -> ([u8; 32], [u8; 32]) {
    sha256_32_x2(&state_bytes(a), &state_bytes(b))
}

/// [`sha256d_64`] of two (left, right) pairs.
#[inline(always)]
pub fn sha256d_64_x2(la: &[u8; 32], ra: &[u8; 32], lb: &[u8; 32], rb: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let mut ba = [0u8; 128];
    let mut bb = [0u8; 128];
    ba[..32].copy_from_slice(la);
    ba[32..64].copy_from_slice(ra);
    ba[64..].copy_from_slice(&PAD64);
    bb[..32].copy_from_slice(lb);
    bb[32..64].copy_from_slice(rb);
    bb[64..].copy_from_slice(&PAD64);
    let (mut sa, mut sb) = (H0, H0);
    compress2(&mut sa, &mut sb, &ba, &bb);
    sha256_32_x2_states(&sa, &sb)
}

/// The two padded blocks of an 80-byte header.
#[inline(always)]
fn pad80(header: &[u8; 80]) -> [u8; 128] {
    let mut buf = [0u8; 128];
    buf[..80].copy_from_slice(header);
    buf[80] = 0x80;
    buf[126] = 0x02;
    buf[127] = 0x80; // 640 bits
    buf
}

/// [`sha256d_80`] of two headers.
#[inline(always)]
pub fn sha256d_80_x2(a: &[u8; 80], b: &[u8; 80]) -> ([u8; 32], [u8; 32]) {
    let (mut sa, mut sb) = (H0, H0);
    compress2(&mut sa, &mut sb, &pad80(a), &pad80(b));
    sha256_32_x2_states(&sa, &sb)
}

/// [`finish`] for two messages whose tails have the same length.
pub fn finish_x2(mut sa: [u32; 8], mut sb: [u32; 8], prefix_len: usize, ta: &[u8], tb: &[u8]) -> ([u8; 32], [u8; 32]) {
    assert_eq!(ta.len(), tb.len(), "finish_x2: tails of different lengths");
    let full = ta.len() / 64 * 64;
    if full > 0 {
        compress2(&mut sa, &mut sb, &ta[..full], &tb[..full]);
    }
    let rest = ta.len() - full;
    let total = if rest < 56 { 64 } else { 128 };
    let bits = ((prefix_len + ta.len()) as u64) * 8;
    let mut ba = [0u8; 128];
    let mut bb = [0u8; 128];
    for (buf, t) in [(&mut ba, ta), (&mut bb, tb)] {
        buf[..rest].copy_from_slice(&t[full..]);
        buf[rest] = 0x80;
        buf[total - 8..total].copy_from_slice(&bits.to_be_bytes());
    }
    compress2(&mut sa, &mut sb, &ba[..total], &bb[..total]);
    (state_bytes(&sa), state_bytes(&sb))
}

/// [`sha256`] of two messages of the same length.
pub fn sha256_x2(a: &[u8], b: &[u8]) -> ([u8; 32], [u8; 32]) {
    finish_x2(H0, H0, 0, a, b)
}

/// [`sha256d`] of two messages of the same length.
pub fn sha256d_x2(a: &[u8], b: &[u8]) -> ([u8; 32], [u8; 32]) {
    let (ha, hb) = sha256_x2(a, b);
    sha256_32_x2(&ha, &hb)
}

/// SHA-256 midstate of the first 64 header bytes: the eight state words after one
/// compression, each written little-endian (the getwork / ASIC-driver convention).
pub fn midstate(first64: &[u8; 64]) -> [u8; 32] {
    let mut st = H0;
    compress(&mut st, first64);
    let mut out = [0u8; 32];
    for (i, w) in st.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// Number of compressions SHA-256 needs for a message of `len` bytes.
pub fn compressions(len: usize) -> usize {
    (len + 9).div_ceil(64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{hex_decode, hex_encode};
    use sha2::{Digest, Sha256};

    fn reference_d(data: &[u8]) -> [u8; 32] {
        Sha256::digest(Sha256::digest(data)).into()
    }

    #[test]
    fn matches_digest_api_for_all_lengths() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(sha256(&data[..len]), <[u8; 32]>::from(Sha256::digest(&data[..len])), "len {len}");
            assert_eq!(sha256d(&data[..len]), reference_d(&data[..len]));
        }
    }

    #[test]
    fn fixed_size_variants_agree() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        for i in 0..32 {
            a[i] = i as u8;
            b[i] = 255 - i as u8;
        }
        let mut ab = a.to_vec();
        ab.extend_from_slice(&b);
        assert_eq!(sha256d_64(&a, &b), reference_d(&ab));
        let mut h = [0u8; 80];
        for (i, x) in h.iter_mut().enumerate() {
            *x = (i * 13) as u8;
        }
        assert_eq!(sha256d_80(&h), reference_d(&h));
        assert_eq!(sha256_32(&a), <[u8; 32]>::from(Sha256::digest(a)));
    }

    #[test]
    fn known_answers() {
        assert_eq!(
            hex_encode(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex_encode(&sha256d(b"hello")),
            "9595c9df90075148eb06860365df33584b75bff782a510c6cd4883a419833d50"
        );
    }

    #[test]
    fn midstate_continues_to_full_hash() {
        let h = hex_decode("h", "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c").unwrap();
        let first: [u8; 64] = h[..64].try_into().unwrap();
        let ms = midstate(&first);
        let mut st = [0u32; 8];
        for i in 0..8 {
            st[i] = u32::from_le_bytes(ms[4 * i..4 * i + 4].try_into().unwrap());
        }
        let single = finish(st, 64, &h[64..]);
        assert_eq!(single, <[u8; 32]>::from(Sha256::digest(&h)));
    }

    #[test]
    fn compression_counts() {
        assert_eq!(compressions(0), 1);
        assert_eq!(compressions(55), 1);
        assert_eq!(compressions(56), 2);
        assert_eq!(compressions(64), 2);
        assert_eq!(compressions(80), 2);
        assert_eq!(compressions(119), 2);
        assert_eq!(compressions(120), 3);
    }

    #[test]
    fn two_way_hashes_match_single_and_digest_api() {
        use crate::shani::tests::Rng;
        let mut rng = Rng::new(7);
        let mut n = 0;
        // every length 0..=300 (all padding cases, several block boundaries), then
        // random longer ones; ten random message pairs per length
        let lens: Vec<usize> = (0..=300).chain((0..60).map(|_| (rng.next() % 2000) as usize)).collect();
        for &len in &lens {
            for _ in 0..10 {
                let mut a = vec![0u8; len];
                let mut b = vec![0u8; len];
                rng.fill(&mut a);
                rng.fill(&mut b);
                let (ha, hb) = sha256_x2(&a, &b);
                assert_eq!(ha, sha256(&a), "len {len}");
                assert_eq!(hb, sha256(&b), "len {len}");
                assert_eq!(ha, <[u8; 32]>::from(Sha256::digest(&a)), "len {len}");
                assert_eq!(hb, <[u8; 32]>::from(Sha256::digest(&b)), "len {len}");
                let (da, db) = sha256d_x2(&a, &b);
                assert_eq!((da, db), (reference_d(&a), reference_d(&b)), "len {len}");
                n += 2;
            }
        }
        assert!(n > 6000);
    }

    #[test]
    fn two_way_fixed_size_variants_match() {
        use crate::shani::tests::Rng;
        let mut rng = Rng::new(8);
        for _ in 0..2000 {
            let mut x = [[0u8; 32]; 4];
            for h in x.iter_mut() {
                rng.fill(h);
            }
            let (a, b) = sha256_32_x2(&x[0], &x[1]);
            assert_eq!((a, b), (sha256_32(&x[0]), sha256_32(&x[1])));
            assert_eq!(a, <[u8; 32]>::from(Sha256::digest(x[0])));
            let (a, b) = sha256d_64_x2(&x[0], &x[1], &x[2], &x[3]);
            assert_eq!((a, b), (sha256d_64(&x[0], &x[1]), sha256d_64(&x[2], &x[3])));
            assert_eq!(a, reference_d(&[x[0], x[1]].concat()));
            let mut h = [[0u8; 80]; 2];
            rng.fill(&mut h[0]);
            rng.fill(&mut h[1]);
            let (a, b) = sha256d_80_x2(&h[0], &h[1]);
            assert_eq!((a, b), (sha256d_80(&h[0]), sha256d_80(&h[1])));
            assert_eq!(b, reference_d(&h[1]));
        }
    }
}
