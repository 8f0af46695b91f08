//! Nonce scanning: the inner loop of a CPU miner (the demo miner of `npm start`,
//! ts/miner/cpu.ts). Not on the pool's share path.
//!
//! The first 64 header bytes do not depend on the nonce, so their compression (the
//! midstate) is done once per call; each nonce then costs two compressions: the
//! header's second block (its last 16 bytes and padding) and the outer hash.

use crate::error::{CoreError, Result};
use crate::hash::{compress, state_bytes, H0};

/// The padded second block of an 80-byte message: bytes 64..80, 0x80, length 640 bits.
#[inline(always)]
fn second_block(tail: &[u8]) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[..16].copy_from_slice(tail);
    b[16] = 0x80;
    b[62] = 0x02;
    b[63] = 0x80;
    b
}

/// `hash <= target`, both 32 bytes little-endian (internal order).
#[inline(always)]
fn le_at_most(hash: &[u8; 32], target: &[u8; 32]) -> bool {
    for i in (0..32).rev() {
        if hash[i] != target[i] {
            return hash[i] < target[i];
        }
    }
    true
}

/// Hash `header` with nonces `start`, `start + 1`, … (`count` of them, never past
/// 0xffffffff) and return the first nonce whose sha256d is at most `target`, with that
/// hash (internal order). The header's own nonce bytes (76..80) are ignored.
pub fn scan_nonces(header: &[u8], start: u32, count: u32, target: &[u8]) -> Result<Option<(u32, [u8; 32])>> {
    let header: &[u8; 80] = header.try_into().map_err(|_| CoreError::length("header", "80", header.len()))?;
    let target: &[u8; 32] = target.try_into().map_err(|_| CoreError::length("target", "32", target.len()))?;
    let mut mid = H0;
    compress(&mut mid, &header[..64]);
    let mut block = second_block(&header[64..80]);
    let end = start as u64 + count as u64; // exclusive; clipped to the nonce space
    let end = end.min(1u64 << 32);
    let mut inner = [0u8; 64];
    inner[32] = 0x80;
    inner[62] = 0x01; // 256 bits
    let mut n = start as u64;
    while n < end {
        block[12..16].copy_from_slice(&(n as u32).to_le_bytes());
        let mut st = mid;
        compress(&mut st, &block);
        inner[..32].copy_from_slice(&state_bytes(&st));
        let mut st2 = H0;
        compress(&mut st2, &inner);
        let hash = state_bytes(&st2);
        // a quick look at the top word first: almost every hash fails there
        if hash[31] <= target[31] && le_at_most(&hash, target) {
            return Ok(Some((n as u32, hash)));
        }
        n += 1;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256d;

    /// Bitcoin's genesis block header (nonce 2083236893 = 0x7c2bac1d).
    fn genesis() -> [u8; 80] {
        let hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
        let mut h = [0u8; 80];
        for i in 0..80 {
            h[i] = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        h
    }

    fn target_from_nbits_1d00ffff() -> [u8; 32] {
        let mut t = [0u8; 32];
        // 0x00000000ffff0000…: little-endian bytes 26..28 are 0xff
        t[26] = 0xff;
        t[27] = 0xff;
        t
    }

    #[test]
    fn finds_the_genesis_nonce_and_its_hash() {
        let h = genesis();
        let nonce = 0x7c2bac1d_u32;
        let (found, hash) = scan_nonces(&h, nonce - 1000, 2000, &target_from_nbits_1d00ffff()).unwrap().unwrap();
        assert_eq!(found, nonce);
        assert_eq!(hash, sha256d(&h));
    }

    #[test]
    fn misses_when_the_range_excludes_the_nonce() {
        let h = genesis();
        assert_eq!(scan_nonces(&h, 0x7c2bac1d - 1000, 1000, &target_from_nbits_1d00ffff()).unwrap(), None);
    }

    #[test]
    fn every_nonce_matches_plain_sha256d_at_an_easy_target() {
        // target 2^255: about half the hashes pass; each hit must be the first one
        let mut h = genesis();
        let mut t = [0u8; 32];
        t[31] = 0x7f;
        t[..31].fill(0xff);
        let mut start = 5u32;
        for _ in 0..50 {
            let (n, hash) = scan_nonces(&h, start, 100, &t).unwrap().unwrap();
            for skipped in start..n {
                h[76..80].copy_from_slice(&skipped.to_le_bytes());
                assert!(sha256d(&h)[31] > 0x7f, "nonce {skipped} passed but was skipped");
            }
            h[76..80].copy_from_slice(&n.to_le_bytes());
            assert_eq!(hash, sha256d(&h));
            assert!(hash[31] <= 0x7f);
            start = n + 1;
        }
    }

    #[test]
    fn stops_at_the_end_of_the_nonce_space() {
        let h = genesis();
        let zero = [0u8; 32];
        assert_eq!(scan_nonces(&h, u32::MAX - 2, 1000, &zero).unwrap(), None);
        let all = [0xffu8; 32];
        assert_eq!(scan_nonces(&h, u32::MAX, 1000, &all).unwrap().unwrap().0, u32::MAX);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        assert_eq!(scan_nonces(&[0u8; 79], 0, 1, &[0u8; 32]).unwrap_err().code(), "CKP_ERR_NATIVE_LENGTH");
        assert_eq!(scan_nonces(&[0u8; 80], 0, 1, &[0u8; 31]).unwrap_err().code(), "CKP_ERR_NATIVE_LENGTH");
    }
}
