//! Share checking: everything fixed per job is prepared once (`ShareJob::new`); a
//! check then costs the SHA-256 compressions of coinbase + branch + header and
//! nothing else — no allocation, no hex.
//!
//! Batch records are fixed-size so JavaScript can fill one reusable buffer and hand
//! the core many shares per call (N-API calls cost far more than a compression):
//!
//! ```text
//! offset  size    field (little-endian numbers)
//! 0       en      extranonce1 ‖ extranonce2          (en = extranonce1Len + extranonce2Len)
//! en      4       ntime
//! en+4    4       nonce
//! en+8    4       version bits (as submitted; 0 when not rolling)
//! en+12   8       share difficulty to judge against (f64)
//! en+20   32      out: block hash, internal byte order (a little-endian number)
//! en+52   8       out: share difficulty (f64)
//! en+60   4       out: flags (FLAG_*)
//! ```
//! Record size = en + 64.

use crate::error::{CoreError, Result};
use crate::hash::{compress, sha256_32, sha256d_64, sha256d_80, state_bytes, H0};
use crate::header::{build_header, rolled_version, HeaderFields};
use crate::target::{difficulty_from_target, target_from_difficulty, target_from_nbits, U256};

pub const FLAG_MEETS_SHARE: u32 = 1;
pub const FLAG_MEETS_NETWORK: u32 = 2;
/// The submitted version bits had bits outside the job's mask (ignored for hashing).
pub const FLAG_VERSION_OUTSIDE_MASK: u32 = 4;

pub const RECORD_OVERHEAD: usize = 64;

#[derive(Clone, Debug)]
pub struct JobParams {
    pub coinb1: Vec<u8>,
    pub coinb2: Vec<u8>,
    pub branch: Vec<[u8; 32]>,
    pub version: u32,
    pub version_mask: u32,
    /// Internal (header) byte order.
    pub prevhash: [u8; 32],
    pub nbits: u32,
    pub extranonce1_len: usize,
    pub extranonce2_len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShareResult {
    pub hash: [u8; 32],
    pub difficulty: f64,
    pub flags: u32,
}

pub struct ShareJob {
    p: JobParams,
    network_target: U256,
    /// SHA-256 state after the whole 64-byte blocks of coinb1, and their byte count:
    /// those blocks are the same for every share of the job.
    coinb1_state: [u32; 8],
    coinb1_prefix: usize,
    /// Scratch for the variable part of the coinbase (coinb1 tail ‖ en ‖ coinb2).
    scratch: Vec<u8>,
    /// Last share difficulty → target conversion (consecutive shares usually share it).
    cached_diff: f64,
    cached_target: U256,
}

impl ShareJob {
    pub fn new(p: JobParams) -> Result<ShareJob> {
        if !(1..=16).contains(&(p.extranonce1_len + p.extranonce2_len)) || p.extranonce2_len == 0 {
            return Err(CoreError::range(
                "extranonce lengths",
                format!("extranonce1 {} + extranonce2 {} must be 1..16 with extranonce2 ≥ 1", p.extranonce1_len, p.extranonce2_len),
            ));
        }
        if p.coinb1.len() < 42 || p.coinb2.len() < 9 {
            return Err(CoreError::length("coinb1/coinb2", "coinb1 ≥ 42 and coinb2 ≥ 9", p.coinb1.len().min(p.coinb2.len())));
        }
        if p.branch.len() > 32 {
            return Err(CoreError::length("branch", "at most 32 hashes", p.branch.len()));
        }
        let network_target = target_from_nbits(p.nbits)?;
        let coinb1_prefix = p.coinb1.len() / 64 * 64;
        let mut coinb1_state = H0;
        if coinb1_prefix > 0 {
            compress(&mut coinb1_state, &p.coinb1[..coinb1_prefix]);
        }
        let scratch = Vec::with_capacity(p.coinb1.len() - coinb1_prefix + 16 + p.coinb2.len() + 72);
        Ok(ShareJob { p, network_target, coinb1_state, coinb1_prefix, scratch, cached_diff: 1.0, cached_target: crate::target::DIFF1_TARGET })
    }

    pub fn params(&self) -> &JobParams {
        &self.p
    }

    pub fn extranonce_len(&self) -> usize {
        self.p.extranonce1_len + self.p.extranonce2_len
    }

    pub fn record_size(&self) -> usize {
        self.extranonce_len() + RECORD_OVERHEAD
    }

    pub fn network_target(&self) -> U256 {
        self.network_target
    }

    /// sha256d(coinb1 ‖ en ‖ coinb2), reusing the precomputed coinb1 blocks. The
    /// variable tail and its SHA-256 padding go into one scratch buffer so the whole
    /// first hash is a single compression call.
    #[inline]
    pub fn coinbase_hash(&mut self, en: &[u8]) -> [u8; 32] {
        let s = &mut self.scratch;
        s.clear();
        s.extend_from_slice(&self.p.coinb1[self.coinb1_prefix..]);
        s.extend_from_slice(en);
        s.extend_from_slice(&self.p.coinb2);
        let bits = ((self.coinb1_prefix + s.len()) as u64) * 8;
        s.push(0x80);
        let padded = (s.len() + 8).div_ceil(64) * 64;
        s.resize(padded - 8, 0);
        s.extend_from_slice(&bits.to_be_bytes());
        let mut st = self.coinb1_state;
        compress(&mut st, s);
        sha256_32(&state_bytes(&st))
    }

    /// The header a share describes (extranonce = en1 ‖ en2).
    pub fn header(&mut self, en: &[u8], ntime: u32, nonce: u32, version_bits: u32) -> Result<[u8; 80]> {
        if en.len() != self.extranonce_len() {
            return Err(CoreError::length("extranonce1+extranonce2", self.extranonce_len().to_string(), en.len()));
        }
        let cb = self.coinbase_hash(en);
        let root = self.p.branch.iter().fold(cb, |acc, b| sha256d_64(&acc, b));
        Ok(build_header(&HeaderFields {
            version: rolled_version(self.p.version, version_bits, self.p.version_mask),
            prevhash: self.p.prevhash,
            merkle_root: root,
            ntime,
            nbits: self.p.nbits,
            nonce,
        }))
    }

    fn share_target(&mut self, diff: f64) -> Result<U256> {
        if diff != self.cached_diff {
            self.cached_target = target_from_difficulty(diff)?;
            self.cached_diff = diff;
        }
        Ok(self.cached_target)
    }

    /// Check one share against the difficulty `share_diff`.
    pub fn check(&mut self, en: &[u8], ntime: u32, nonce: u32, version_bits: u32, share_diff: f64) -> Result<ShareResult> {
        let target = self.share_target(share_diff)?;
        let header = self.header(en, ntime, nonce, version_bits)?;
        let hash = sha256d_80(&header);
        let value = U256::from_le_bytes(&hash);
        let mut flags = 0;
        if value <= target {
            flags |= FLAG_MEETS_SHARE;
        }
        if value <= self.network_target {
            flags |= FLAG_MEETS_NETWORK;
        }
        if version_bits & !self.p.version_mask != 0 {
            flags |= FLAG_VERSION_OUTSIDE_MASK;
        }
        Ok(ShareResult { hash, difficulty: difficulty_from_target(&value), flags })
    }

    /// Check every record in `buf` (layout in the module docs) in place; returns the
    /// number of records checked. All records are validated before any is hashed.
    pub fn check_records(&mut self, buf: &mut [u8]) -> Result<usize> {
        let size = self.record_size();
        if buf.is_empty() || buf.len() % size != 0 {
            return Err(CoreError::length("share records", format!("a non-zero multiple of the record size {size}"), buf.len()));
        }
        let en = self.extranonce_len();
        for rec in buf.chunks_exact(size) {
            let d = f64::from_le_bytes(rec[en + 12..en + 20].try_into().unwrap());
            if !d.is_finite() || d <= 0.0 {
                return Err(CoreError::range("share difficulty", format!("must be a finite number > 0, got {d}")));
            }
        }
        for rec in buf.chunks_exact_mut(size) {
            let rd = |o: usize| u32::from_le_bytes(rec[o..o + 4].try_into().unwrap());
            let (ntime, nonce, vbits) = (rd(en), rd(en + 4), rd(en + 8));
            let d = f64::from_le_bytes(rec[en + 12..en + 20].try_into().unwrap());
            let (head, out) = rec.split_at_mut(en + 20);
            let r = self.check(&head[..en], ntime, nonce, vbits, d)?;
            out[..32].copy_from_slice(&r.hash);
            out[32..40].copy_from_slice(&r.difficulty.to_le_bytes());
            out[40..44].copy_from_slice(&r.flags.to_le_bytes());
        }
        Ok(buf.len() / size)
    }

    /// SHA-256 compressions one share check costs (coinbase, branch, header).
    pub fn compressions_per_check(&self) -> usize {
        let cb_len = self.p.coinb1.len() + self.extranonce_len() + self.p.coinb2.len();
        let coinbase = crate::hash::compressions(cb_len) - self.coinb1_prefix / 64 + 1;
        coinbase + 3 * self.p.branch.len() + 3
    }
}
