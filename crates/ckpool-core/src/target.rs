//! 256-bit targets, compact `nbits`, and difficulty — exact integer arithmetic
//! wherever a comparison decides something (share accepted? block?), doubles only
//! where a difficulty is *reported*.
//!
//! Difficulty 1 is the target 0x00000000ffff0000…0000 (= 0xffff · 2^208), the
//! "pool difficulty" convention ckpool and every stratum miner use.

use crate::error::{CoreError, Result};
use std::cmp::Ordering;

/// An unsigned 256-bit number, four little-endian u64 limbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct U256(pub [u64; 4]);

impl U256 {
    pub const ZERO: U256 = U256([0; 4]);
    pub const MAX: U256 = U256([u64::MAX; 4]);

    /// Little-endian bytes: a block hash as sha256d returns it is such a number.
    pub fn from_le_bytes(b: &[u8; 32]) -> U256 {
        let mut l = [0u64; 4];
        for (i, limb) in l.iter_mut().enumerate() {
            *limb = u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap());
        }
        U256(l)
    }

    pub fn to_le_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for i in 0..4 {
            b[8 * i..8 * i + 8].copy_from_slice(&self.0[i].to_le_bytes());
        }
        b
    }

    /// Big-endian bytes (the order block hashes and targets are displayed in).
    pub fn to_be_bytes(&self) -> [u8; 32] {
        let mut b = self.to_le_bytes();
        b.reverse();
        b
    }

    pub fn from_be_bytes(b: &[u8; 32]) -> U256 {
        let mut le = *b;
        le.reverse();
        U256::from_le_bytes(&le)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 4]
    }

    /// Number of significant bits (0 for zero).
    pub fn bits(&self) -> u32 {
        for i in (0..4).rev() {
            if self.0[i] != 0 {
                return 64 * i as u32 + 64 - self.0[i].leading_zeros();
            }
        }
        0
    }

    /// Left shift that saturates to `U256::MAX` if any set bit would be shifted out.
    pub fn shl(&self, n: u32) -> U256 {
        Wide::from(*self).shl(n).narrow().unwrap_or(U256::MAX)
    }

    pub fn shr(&self, n: u32) -> U256 {
        let mut w = Wide::from(*self);
        w = w.shr(n);
        w.narrow().expect("right shift cannot grow")
    }

    /// Correctly rounded conversion to f64 (round half to even, like `u128 as f64`).
    /// On the share path (difficulty of every hash), so it works on limbs directly.
    pub fn to_f64(&self) -> f64 {
        let l = &self.0;
        let top = match (0..4).rev().find(|&i| l[i] != 0) {
            None => return 0.0,
            Some(i) => i,
        };
        if top <= 1 {
            return (((l[1] as u128) << 64) | l[0] as u128) as f64;
        }
        // The top 128 bits, normalised so the leading one is bit 127; every bit below
        // them is folded into bit 0 (sticky) so u128→f64 rounding sees it.
        let s = l[top].leading_zeros();
        let hi = ((l[top] as u128) << 64) | l[top - 1] as u128;
        let lo = l[top - 2];
        let (mant, rest) = if s == 0 { (hi, lo) } else { ((hi << s) | (lo >> (64 - s)) as u128, lo << s) };
        let sticky = rest != 0 || (top == 3 && l[0] != 0);
        let shift = (top as i32 - 1) * 64 - s as i32; // value ≈ mant · 2^shift
        ((mant | sticky as u128) as f64) * 2f64.powi(shift)
    }
}

impl Ord for U256 {
    fn cmp(&self, other: &Self) -> Ordering {
        for i in (0..4).rev() {
            match self.0[i].cmp(&other.0[i]) {
                Ordering::Equal => continue,
                o => return o,
            }
        }
        Ordering::Equal
    }
}
impl PartialOrd for U256 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// 512-bit scratch number for the intermediate steps of target division.
#[derive(Clone, Copy)]
struct Wide([u64; 8]);

impl From<U256> for Wide {
    fn from(v: U256) -> Wide {
        let mut w = [0u64; 8];
        w[..4].copy_from_slice(&v.0);
        Wide(w)
    }
}

impl Wide {
    fn shl(&self, n: u32) -> Wide {
        if n >= 512 {
            return Wide([0; 8]);
        }
        let (limbs, bits) = ((n / 64) as usize, n % 64);
        let mut r = [0u64; 8];
        for i in (limbs..8).rev() {
            let src = i - limbs;
            r[i] = self.0[src] << bits;
            if bits > 0 && src > 0 {
                r[i] |= self.0[src - 1] >> (64 - bits);
            }
        }
        Wide(r)
    }
    fn shr(&self, n: u32) -> Wide {
        if n >= 512 {
            return Wide([0; 8]);
        }
        let (limbs, bits) = ((n / 64) as usize, n % 64);
        let mut r = [0u64; 8];
        for i in 0..8 - limbs {
            let src = i + limbs;
            r[i] = self.0[src] >> bits;
            if bits > 0 && src + 1 < 8 {
                r[i] |= self.0[src + 1] << (64 - bits);
            }
        }
        Wide(r)
    }
    fn div_u64(&self, d: u64) -> Wide {
        let mut r = [0u64; 8];
        let mut rem: u128 = 0;
        for i in (0..8).rev() {
            let cur = (rem << 64) | self.0[i] as u128;
            r[i] = (cur / d as u128) as u64;
            rem = cur % d as u128;
        }
        Wide(r)
    }
    fn narrow(&self) -> Option<U256> {
        if self.0[4..].iter().any(|&x| x != 0) {
            None
        } else {
            Some(U256([self.0[0], self.0[1], self.0[2], self.0[3]]))
        }
    }
}

/// The difficulty-1 target, 0xffff · 2^208.
pub const DIFF1_TARGET: U256 = U256([0, 0, 0, 0x0000_0000_ffff_0000]);
/// DIFF1_TARGET as a double (exact: 0xffff · 2^208).
pub const DIFF1_F64: f64 = f64::from_bits((0x4de << 52) | (0x7fff << 37)); // 0xffff · 2^208 = 1.fffe · 2^223

/// Target for a (possibly fractional) difficulty: floor(DIFF1 / diff), exact.
/// Difficulties so small that the target would exceed 2^256-1 give the maximum target.
pub fn target_from_difficulty(diff: f64) -> Result<U256> {
    if !diff.is_finite() || diff <= 0.0 {
        return Err(CoreError::range("difficulty", format!("must be a finite number > 0, got {diff}")));
    }
    // diff = m · 2^e exactly, with m a 53-bit integer.
    let bits = diff.to_bits();
    let exp_field = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, e) = if exp_field == 0 { (frac, -1074) } else { (frac | (1u64 << 52), exp_field - 1075) };
    // Normalise m to odd to keep the shift small.
    let tz = m.trailing_zeros() as i32;
    let (m, e) = (m >> tz, e + tz);
    let d1 = Wide::from(DIFF1_TARGET);
    let q = if e >= 0 {
        if e >= 256 {
            Wide([0; 8])
        } else {
            d1.div_u64(m).shr(e as u32)
        }
    } else {
        let s = (-e) as u32;
        // DIFF1 < 2^224; with s > 288 the quotient exceeds 2^256 for any m < 2^53.
        if s > 288 {
            return Ok(U256::MAX);
        }
        d1.shl(s).div_u64(m)
    };
    Ok(q.narrow().unwrap_or(U256::MAX))
}

/// Difficulty of a target (or of a hash read as a little-endian number): DIFF1 / t,
/// in double precision as ckpool computes it. A zero target is infinitely hard.
pub fn difficulty_from_target(t: &U256) -> f64 {
    if t.is_zero() {
        return f64::INFINITY;
    }
    DIFF1_F64 / t.to_f64()
}

/// Decode compact `nbits` to the target it encodes (Bitcoin Core's SetCompact).
pub fn target_from_nbits(nbits: u32) -> Result<U256> {
    let size = nbits >> 24;
    let mut word = nbits & 0x007f_ffff;
    if word != 0 && nbits & 0x0080_0000 != 0 {
        return Err(CoreError::range("nbits", format!("{nbits:08x} encodes a negative target")));
    }
    let t = if size <= 3 {
        word >>= 8 * (3 - size);
        U256([word as u64, 0, 0, 0])
    } else {
        let shift = 8 * (size - 3);
        if word != 0 && (shift + 32 - word.leading_zeros()) > 256 {
            return Err(CoreError::range("nbits", format!("{nbits:08x} overflows 256 bits")));
        }
        U256([word as u64, 0, 0, 0]).shl(shift)
    };
    Ok(t)
}

/// Encode a target as compact `nbits` (Bitcoin Core's GetCompact; rounds down).
pub fn nbits_from_target(t: &U256) -> u32 {
    let mut size = t.bits().div_ceil(8);
    let mut compact: u32 = if size <= 3 {
        (t.0[0] << (8 * (3 - size))) as u32
    } else {
        t.shr(8 * (size - 3)).0[0] as u32
    };
    // The mantissa's top bit is a sign bit: move one byte up if it would be set.
    if compact & 0x0080_0000 != 0 {
        compact >>= 8;
        size += 1;
    }
    compact | (size << 24)
}

pub fn difficulty_from_nbits(nbits: u32) -> Result<f64> {
    Ok(difficulty_from_target(&target_from_nbits(nbits)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be_hex(t: &U256) -> String {
        crate::error::hex_encode(&t.to_be_bytes())
    }

    #[test]
    fn diff1_constants() {
        assert_eq!(be_hex(&DIFF1_TARGET), "00000000ffff0000000000000000000000000000000000000000000000000000");
        assert_eq!(DIFF1_F64, 65535.0 * 2f64.powi(208));
        assert_eq!(DIFF1_TARGET.to_f64(), DIFF1_F64);
        assert_eq!(target_from_difficulty(1.0).unwrap(), DIFF1_TARGET);
        assert_eq!(difficulty_from_target(&DIFF1_TARGET), 1.0);
        assert_eq!(target_from_nbits(0x1d00ffff).unwrap(), DIFF1_TARGET);
        assert_eq!(nbits_from_target(&DIFF1_TARGET), 0x1d00ffff);
    }

    #[test]
    fn fractional_and_huge_difficulties() {
        // diff 0.5 doubles the target exactly; diff 2^-32 shifts it by 32 bits.
        assert_eq!(target_from_difficulty(0.5).unwrap(), DIFF1_TARGET.shl(1));
        assert_eq!(target_from_difficulty(2f64.powi(-32)).unwrap(), DIFF1_TARGET.shl(32));
        // diff 3: floor division.
        let t3 = target_from_difficulty(3.0).unwrap();
        assert_eq!(be_hex(&t3), "0000000055550000000000000000000000000000000000000000000000000000");
        // so small that the target saturates.
        assert_eq!(target_from_difficulty(1e-30).unwrap(), U256::MAX);
        assert_eq!(target_from_difficulty(f64::MIN_POSITIVE).unwrap(), U256::MAX);
        // huge: DIFF1/2^64 = 0xffff·2^144
        assert_eq!(target_from_difficulty(2f64.powi(64)).unwrap(), U256([0, 0, 0xffff << 16, 0]));
        assert_eq!(target_from_difficulty(1e80).unwrap(), U256::ZERO);
        // round trip difficulty -> target -> difficulty within a ulp or two
        for d in [0.001, 0.0123, 1.0, 1.5, 42.0, 1e6, 1.2345e12, 9.1e13] {
            let back = difficulty_from_target(&target_from_difficulty(d).unwrap());
            assert!((back - d).abs() / d < 1e-12, "{d} -> {back}");
        }
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(target_from_difficulty(bad).unwrap_err().code(), "CKP_ERR_NATIVE_RANGE");
        }
    }

    #[test]
    fn regtest_bits() {
        let t = target_from_nbits(0x207fffff).unwrap();
        assert_eq!(be_hex(&t), "7fffff0000000000000000000000000000000000000000000000000000000000");
        assert_eq!(nbits_from_target(&t), 0x207fffff);
        let d = difficulty_from_nbits(0x207fffff).unwrap();
        assert!((d - 4.656542373906925e-10).abs() < 1e-22, "{d}");
    }

    #[test]
    fn compact_edges() {
        assert_eq!(target_from_nbits(0x01003456).unwrap(), U256::ZERO);
        assert_eq!(target_from_nbits(0x02123456).unwrap(), U256([0x1234, 0, 0, 0]));
        assert_eq!(target_from_nbits(0x03123456).unwrap(), U256([0x123456, 0, 0, 0]));
        assert_eq!(target_from_nbits(0x04123456).unwrap(), U256([0x12345600, 0, 0, 0]));
        assert_eq!(target_from_nbits(0x05009234).unwrap(), U256([0x92340000, 0, 0, 0]));
        assert!(target_from_nbits(0x04923456).is_err()); // negative
        assert!(target_from_nbits(0xff123456).is_err()); // overflow
        assert_eq!(nbits_from_target(&U256([0x92340000, 0, 0, 0])), 0x05009234);
        assert_eq!(nbits_from_target(&U256([0x12345600, 0, 0, 0])), 0x04123456);
        assert_eq!(nbits_from_target(&U256::ZERO), 0);
        // mainnet block 840000 bits
        let t = target_from_nbits(0x17034219).unwrap();
        assert_eq!(nbits_from_target(&t), 0x17034219);
        let d = difficulty_from_nbits(0x17034219).unwrap();
        assert!((d - 86388558925171.02).abs() / d < 1e-12, "{d}");
    }

    #[test]
    fn to_f64_rounds_correctly() {
        // 2^200 + 1 rounds to 2^200; 2^200 + 2^148 (half ulp) ties to even; above half rounds up.
        let p200 = U256([0, 0, 0, 1 << 8]);
        assert_eq!(p200.to_f64(), 2f64.powi(200));
        let mut x = p200;
        x.0[0] = 1;
        assert_eq!(x.to_f64(), 2f64.powi(200));
        let half = p200.shr(53); // 2^147 is half an ulp of 2^200 (ulp 2^148)
        let mut y = p200;
        y.0[2] |= half.0[2];
        y.0[0] |= 1;
        assert_eq!(y.to_f64(), 2f64.powi(200) + 2f64.powi(148));
        assert_eq!(U256::MAX.to_f64(), 2f64.powi(256));
    }
}
