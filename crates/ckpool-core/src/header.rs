//! 80-byte block headers from stratum fields.

/// Stratum sends `prevhash` as the internal-order hash with each 4-byte word
/// byte-reversed (a historical quirk of getwork). Reversing each word again gives the
/// header bytes; the operation is its own inverse.
pub fn swap_words(h: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..8 {
        for j in 0..4 {
            out[4 * i + j] = h[4 * i + 3 - j];
        }
    }
    out
}

/// The version a miner hashed, by BIP310: it may change exactly the bits in `mask`.
///
/// - No version bits submitted (`version_bits == 0`, what a miner that does not roll
///   sends): the job's version, unchanged — template bits inside the mask (a BIP9
///   deployment signalling on bits 13–28, e.g. regtest's bit 28) stay set.
/// - Otherwise `(version & !mask) | (version_bits & mask)`: the submitted value is the
///   full rolled version, of which only the bits in the mask count.
#[inline(always)]
pub fn rolled_version(version: u32, version_bits: u32, mask: u32) -> u32 {
    // branch-free (it runs for every share): no bits → an empty mask → the version as is
    let m = mask & ((version_bits != 0) as u32).wrapping_neg();
    (version & !m) | (version_bits & m)
}

/// The other reading of submitted version bits that firmware uses in the wild: the bits
/// that changed (`rolled ^ job`, as esp-miner (Bitaxe) and public-pool do), applied to
/// the job's version by XOR. It differs from [`rolled_version`] only when the job
/// version has bits inside the mask; the share checker tries it when the BIP310 reading
/// misses (see `share.rs`). Both readings only ever change bits inside the mask.
#[inline(always)]
pub fn delta_version(version: u32, version_bits: u32, mask: u32) -> u32 {
    version ^ (version_bits & mask)
}

/// Header fields, all numbers as stratum carries them (parsed from hex as big-endian
/// numbers) and hashes in internal byte order.
#[derive(Clone, Copy, Debug)]
pub struct HeaderFields {
    pub version: u32,
    pub prevhash: [u8; 32],
    pub merkle_root: [u8; 32],
    pub ntime: u32,
    pub nbits: u32,
    pub nonce: u32,
}

#[inline(always)]
pub fn build_header(f: &HeaderFields) -> [u8; 80] {
    let mut h = [0u8; 80];
    h[0..4].copy_from_slice(&f.version.to_le_bytes());
    h[4..36].copy_from_slice(&f.prevhash);
    h[36..68].copy_from_slice(&f.merkle_root);
    h[68..72].copy_from_slice(&f.ntime.to_le_bytes());
    h[72..76].copy_from_slice(&f.nbits.to_le_bytes());
    h[76..80].copy_from_slice(&f.nonce.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{hex_decode, hex_encode};
    use crate::hash::sha256d_80;

    #[test]
    fn genesis_header_hash() {
        let root: [u8; 32] = {
            let mut v = hex_decode("r", "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b").unwrap();
            v.reverse();
            v.try_into().unwrap()
        };
        let h = build_header(&HeaderFields {
            version: 1,
            prevhash: [0; 32],
            merkle_root: root,
            ntime: 1231006505,
            nbits: 0x1d00ffff,
            nonce: 2083236893,
        });
        let mut hash = sha256d_80(&h);
        hash.reverse();
        assert_eq!(hex_encode(&hash), "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
    }

    #[test]
    fn word_swap_is_an_involution() {
        let x: [u8; 32] = core::array::from_fn(|i| i as u8);
        assert_eq!(&swap_words(&x)[..8], &[3, 2, 1, 0, 7, 6, 5, 4]);
        assert_eq!(swap_words(&swap_words(&x)), x);
    }

    #[test]
    fn version_rolling_under_mask() {
        assert_eq!(rolled_version(0x20000000, 0x083ac000, 0x1fffe000), 0x283ac000);
        // bits outside the mask are ignored
        assert_eq!(rolled_version(0x20000000, 0xe0002000, 0x1fffe000), 0x20002000);
        assert_eq!(rolled_version(0x20000000, 0, 0), 0x20000000);
    }

    #[test]
    fn template_bits_inside_the_mask_survive_a_miner_that_does_not_roll() {
        // regtest from height 144: the test deployment signals on bit 28, inside 1fffe000
        assert_eq!(rolled_version(0x30000000, 0, 0x1fffe000), 0x30000000);
        // a BIP310 miner sends the full rolled version: bit 28 kept or rolled off as sent
        assert_eq!(rolled_version(0x30000000, 0x30002000, 0x1fffe000), 0x30002000);
        assert_eq!(rolled_version(0x30000000, 0x20002000, 0x1fffe000), 0x20002000);
        // a delta miner sends only what changed; XOR puts it back on the job version
        assert_eq!(delta_version(0x30000000, 0x00002000, 0x1fffe000), 0x30002000);
        assert_eq!(delta_version(0x30000000, 0x10002000, 0x1fffe000), 0x20002000);
        // with no template bit inside the mask both readings agree
        for bits in [0u32, 0x2000, 0x1fffe000, 0x083ac000, 0xffffffff] {
            assert_eq!(rolled_version(0x20000000, bits, 0x1fffe000), delta_version(0x20000000, bits, 0x1fffe000));
        }
    }
}
