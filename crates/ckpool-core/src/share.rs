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
use crate::hash::{compress, sha256_32, sha256_32_x2_states, sha256d_64, sha256d_64_x2, sha256d_80, sha256d_80_x2, state_bytes, H0};
use crate::shani::{self, compress2, HeaderVars, ShareConsts};
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

/// One share's inputs (a record's input fields, or the arguments of [`ShareJob::check`]).
#[derive(Clone, Copy, Debug)]
pub struct Share<'a> {
    /// extranonce1 ‖ extranonce2
    pub extranonce: &'a [u8],
    pub ntime: u32,
    pub nonce: u32,
    pub version_bits: u32,
    pub difficulty: f64,
}

/// The input fields of a record (layout in the module docs). Copies the numbers out,
/// borrows nothing but the extranonce.
#[inline(always)]
fn read_record(rec: &[u8], en: usize) -> Share<'_> {
    let rd = |o: usize| u32::from_le_bytes(rec[o..o + 4].try_into().unwrap());
    Share {
        extranonce: &rec[..en],
        ntime: rd(en),
        nonce: rd(en + 4),
        version_bits: rd(en + 8),
        difficulty: f64::from_le_bytes(rec[en + 12..en + 20].try_into().unwrap()),
    }
}

#[inline(always)]
fn write_result(rec: &mut [u8], en: usize, r: &ShareResult) {
    let out = &mut rec[en + 20..en + 64];
    out[..32].copy_from_slice(&r.hash);
    out[32..40].copy_from_slice(&r.difficulty.to_le_bytes());
    out[40..44].copy_from_slice(&r.flags.to_le_bytes());
}

pub struct ShareJob {
    p: JobParams,
    network_target: U256,
    /// SHA-256 state after the whole 64-byte blocks of coinb1, and their byte count:
    /// those blocks are the same for every share of the job.
    coinb1_state: [u32; 8],
    coinb1_prefix: usize,
    /// The variable part of the coinbase, already padded for SHA-256:
    /// coinb1 tail ‖ en ‖ coinb2 ‖ 0x80 ‖ zeros ‖ bit length. Only the `en` bytes at
    /// `en_at` change per share, so a check writes just those. Two copies, one per
    /// lane of a 2-way pair.
    tail: [Vec<u8>; 2],
    en_at: usize,
    /// The same job in message-word form for the fused SHA-NI share hash.
    consts: ShareConsts,
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
        let en_at = p.coinb1.len() - coinb1_prefix;
        let mut tail = p.coinb1[coinb1_prefix..].to_vec();
        tail.resize(en_at + p.extranonce1_len + p.extranonce2_len, 0);
        tail.extend_from_slice(&p.coinb2);
        let bits = ((coinb1_prefix + tail.len()) as u64) * 8;
        tail.push(0x80);
        tail.resize((tail.len() + 8).div_ceil(64) * 64 - 8, 0);
        tail.extend_from_slice(&bits.to_be_bytes());
        let consts = ShareConsts::new(coinb1_state, &p.branch, &p.prevhash, p.nbits);
        Ok(ShareJob {
            p,
            network_target,
            coinb1_state,
            coinb1_prefix,
            tail: [tail.clone(), tail],
            en_at,
            consts,
            cached_diff: 1.0,
            cached_target: crate::target::DIFF1_TARGET,
        })
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

    /// sha256d(coinb1 ‖ en ‖ coinb2), reusing the precomputed coinb1 blocks and the
    /// pre-padded tail: the whole first hash is one compression call. `en` must be
    /// `extranonce_len()` bytes (it overwrites exactly that slot of the tail).
    #[inline]
    pub fn coinbase_hash(&mut self, en: &[u8]) -> Result<[u8; 32]> {
        if en.len() != self.extranonce_len() {
            return Err(CoreError::length("extranonce1+extranonce2", self.extranonce_len().to_string(), en.len()));
        }
        let t = &mut self.tail[0];
        t[self.en_at..self.en_at + en.len()].copy_from_slice(en);
        let mut st = self.coinb1_state;
        compress(&mut st, t);
        Ok(sha256_32(&state_bytes(&st)))
    }

    /// The header a share describes (extranonce = en1 ‖ en2).
    pub fn header(&mut self, en: &[u8], ntime: u32, nonce: u32, version_bits: u32) -> Result<[u8; 80]> {
        let cb = self.coinbase_hash(en)?;
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

    /// Judge a finished block hash: flags and difficulty. Shared by the single and
    /// the 2-way path so both produce identical results.
    #[inline(always)]
    fn judge(&self, hash: [u8; 32], target: &U256, version_bits: u32) -> ShareResult {
        let value = U256::from_le_bytes(&hash);
        let mut flags = 0;
        if value <= *target {
            flags |= FLAG_MEETS_SHARE;
        }
        if value <= self.network_target {
            flags |= FLAG_MEETS_NETWORK;
        }
        if version_bits & !self.p.version_mask != 0 {
            flags |= FLAG_VERSION_OUTSIDE_MASK;
        }
        ShareResult { hash, difficulty: difficulty_from_target(&value), flags }
    }

    fn check_en(&self, s: &Share<'_>) -> Result<()> {
        let n = self.extranonce_len();
        if s.extranonce.len() != n {
            return Err(CoreError::length("extranonce1+extranonce2", n.to_string(), s.extranonce.len()));
        }
        Ok(())
    }

    fn header_vars(&self, s: &Share<'_>) -> HeaderVars {
        HeaderVars { version: rolled_version(self.p.version, s.version_bits, self.p.version_mask), ntime: s.ntime, nonce: s.nonce }
    }

    /// The block hashes of `N` (1 or 2) shares, their extranonces already checked.
    /// Fused SHA-NI pass where available, else the portable path — same hashes.
    #[inline(always)]
    fn share_hashes<const N: usize>(&mut self, shares: [&Share<'_>; N]) -> [[u8; 32]; N] {
        let r = self.en_at..self.en_at + self.extranonce_len();
        for (t, s) in self.tail.iter_mut().zip(shares) {
            t[r.clone()].copy_from_slice(s.extranonce);
        }
        let vars = shares.map(|s| self.header_vars(s));
        let [ta, tb] = &self.tail;
        let tails: [&[u8]; N] = std::array::from_fn(|l| if l == 0 { &ta[..] } else { &tb[..] });
        if let Some(h) = shani::share_hashes(&self.consts, tails, vars) {
            return h;
        }
        self.share_hashes_portable(shares)
    }

    /// The portable share hash (sha2's compress256, 2-way via `compress2` for pairs):
    /// the path on CPUs without SHA-NI, and the reference the fused path is tested
    /// against. Expects the extranonces already written into the tails.
    fn share_hashes_portable<const N: usize>(&self, shares: [&Share<'_>; N]) -> [[u8; 32]; N] {
        let header = |s: &Share<'_>, root: [u8; 32]| {
            let v = self.header_vars(s);
            build_header(&HeaderFields { version: v.version, prevhash: self.p.prevhash, merkle_root: root, ntime: v.ntime, nbits: self.p.nbits, nonce: v.nonce })
        };
        let (mut sa, mut sb) = (self.coinb1_state, self.coinb1_state);
        if N == 2 {
            compress2(&mut sa, &mut sb, &self.tail[0], &self.tail[1]);
            let (mut ra, mut rb) = sha256_32_x2_states(&sa, &sb);
            for br in &self.p.branch {
                (ra, rb) = sha256d_64_x2(&ra, br, &rb, br);
            }
            let (ha, hb) = sha256d_80_x2(&header(shares[0], ra), &header(shares[N - 1], rb));
            std::array::from_fn(|l| if l == 0 { ha } else { hb })
        } else {
            compress(&mut sa, &self.tail[0]);
            let cb = sha256_32(&state_bytes(&sa));
            let root = self.p.branch.iter().fold(cb, |acc, b| sha256d_64(&acc, b));
            [sha256d_80(&header(shares[0], root)); N]
        }
    }

    /// Check one share against the difficulty `share_diff`.
    pub fn check(&mut self, en: &[u8], ntime: u32, nonce: u32, version_bits: u32, share_diff: f64) -> Result<ShareResult> {
        let s = Share { extranonce: en, ntime, nonce, version_bits, difficulty: share_diff };
        self.check_en(&s)?;
        let target = self.share_target(share_diff)?;
        let [h] = self.share_hashes([&s]);
        Ok(self.judge(h, &target, version_bits))
    }

    /// Two shares of this job at once: every hash step runs 2-way (both coinbases
    /// have the same length, both walk the same branch, both headers are 80 bytes).
    /// Results are identical to two [`Self::check`] calls.
    pub fn check_pair(&mut self, a: &Share<'_>, b: &Share<'_>) -> Result<(ShareResult, ShareResult)> {
        self.check_en(a)?;
        self.check_en(b)?;
        let ta = self.share_target(a.difficulty)?;
        let tb = self.share_target(b.difficulty)?;
        let [ha, hb] = self.share_hashes([a, b]);
        Ok((self.judge(ha, &ta, a.version_bits), self.judge(hb, &tb, b.version_bits)))
    }

    /// Check every record in `buf` (layout in the module docs) in place; returns the
    /// number of records checked. All records are validated before any is hashed.
    pub fn check_records(&mut self, buf: &mut [u8]) -> Result<usize> {
        let size = self.record_size();
        if buf.is_empty() || !buf.len().is_multiple_of(size) {
            return Err(CoreError::length("share records", format!("a non-zero multiple of the record size {size}"), buf.len()));
        }
        let en = self.extranonce_len();
        for rec in buf.chunks_exact(size) {
            let d = f64::from_le_bytes(rec[en + 12..en + 20].try_into().unwrap());
            if !d.is_finite() || d <= 0.0 {
                return Err(CoreError::range("share difficulty", format!("must be a finite number > 0, got {d}")));
            }
        }
        // Records in pairs through the 2-way path; an odd last one alone.
        let mut pairs = buf.chunks_exact_mut(2 * size);
        for pair in &mut pairs {
            let (ra, rb) = pair.split_at_mut(size);
            let (a, b) = (read_record(ra, en), read_record(rb, en));
            let (x, y) = self.check_pair(&a, &b)?;
            write_result(ra, en, &x);
            write_result(rb, en, &y);
        }
        let last = pairs.into_remainder();
        if !last.is_empty() {
            let s = read_record(last, en);
            let r = self.check(s.extranonce, s.ntime, s.nonce, s.version_bits, s.difficulty)?;
            write_result(last, en, &r);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shani::tests::Rng;
    use sha2::{Digest, Sha256};

    fn bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        rng.fill(&mut v);
        v
    }

    /// A random job: coinbase halves of many lengths (so the variable tail starts and
    /// ends at every offset within a block), 0..14 branch steps, random en lengths.
    fn random_params(rng: &mut Rng) -> JobParams {
        let en1 = (rng.next() % 9) as usize;
        let en2 = 1 + (rng.next() % (16 - en1 as u64)) as usize;
        let (l1, l2) = (42 + (rng.next() % 200) as usize, 9 + (rng.next() % 300) as usize);
        let coinb1 = bytes(rng, l1);
        let coinb2 = bytes(rng, l2);
        let branch = (0..rng.next() % 14).map(|_| bytes(rng, 32).try_into().unwrap()).collect();
        JobParams {
            coinb1,
            coinb2,
            branch,
            version: rng.next() as u32,
            version_mask: if rng.next().is_multiple_of(2) { 0x1fffe000 } else { rng.next() as u32 },
            prevhash: bytes(rng, 32).try_into().unwrap(),
            // easy network target now and then, so FLAG_MEETS_NETWORK is exercised
            nbits: if rng.next().is_multiple_of(3) { 0x207fffff } else { 0x1d00ffff },
            extranonce1_len: en1,
            extranonce2_len: en2,
        }
    }

    fn random_records(rng: &mut Rng, job: &ShareJob, n: usize) -> Vec<u8> {
        let (size, en) = (job.record_size(), job.extranonce_len());
        let mut buf = bytes(rng, size * n);
        for rec in buf.chunks_exact_mut(size) {
            // difficulties from 1e-9 (everything passes) to 1e9, repeated at times
            let d = match rng.next() % 4 {
                0 => 1.0,
                1 => 1e-9,
                _ => 10f64.powf((rng.next() % 1800) as f64 / 100.0 - 9.0),
            };
            rec[en + 12..en + 20].copy_from_slice(&d.to_le_bytes());
        }
        buf
    }

    /// The whole share check from first principles with sha2's Digest API.
    fn reference_hash(p: &JobParams, rec: &[u8]) -> [u8; 32] {
        let d = |b: &[u8]| -> [u8; 32] { Sha256::digest(Sha256::digest(b)).into() };
        let en = p.extranonce1_len + p.extranonce2_len;
        let mut root = d(&[&p.coinb1[..], &rec[..en], &p.coinb2[..]].concat());
        for b in &p.branch {
            root = d(&[root, *b].concat());
        }
        let rd = |o: usize| u32::from_le_bytes(rec[o..o + 4].try_into().unwrap());
        let version = (p.version & !p.version_mask) | (rd(en + 8) & p.version_mask);
        let header = [
            &version.to_le_bytes()[..],
            &p.prevhash,
            &root,
            &rd(en).to_le_bytes(),
            &p.nbits.to_le_bytes(),
            &rd(en + 4).to_le_bytes(),
        ]
        .concat();
        d(&header)
    }

    #[test]
    fn batch_of_pairs_equals_single_checks_and_reference() {
        let mut rng = Rng::new(42);
        let mut checked = 0;
        for _ in 0..120 {
            let p = random_params(&mut rng);
            let mut job = ShareJob::new(p.clone()).unwrap();
            let (size, en) = (job.record_size(), job.extranonce_len());
            let n = 1 + (rng.next() % 40) as usize; // odd and even counts
            let mut buf = random_records(&mut rng, &job, n);
            let before = buf.clone();
            assert_eq!(job.check_records(&mut buf).unwrap(), n);
            for (i, (rec, orig)) in buf.chunks_exact(size).zip(before.chunks_exact(size)).enumerate() {
                assert_eq!(&rec[..en + 20], &orig[..en + 20], "inputs untouched");
                let s = read_record(orig, en);
                let single = job.check(s.extranonce, s.ntime, s.nonce, s.version_bits, s.difficulty).unwrap();
                // the one-record batch path (what the single N-API call uses)
                let mut one = orig.to_vec();
                job.check_records(&mut one).unwrap();
                assert_eq!(one, rec, "record {i} of {n}");
                assert_eq!(&rec[en + 20..en + 52], &single.hash, "record {i} of {n}");
                assert_eq!(rec[en + 52..en + 60], single.difficulty.to_le_bytes());
                assert_eq!(rec[en + 60..en + 64], single.flags.to_le_bytes());
                assert_eq!(single.hash, reference_hash(&p, orig));
                let value = U256::from_le_bytes(&single.hash);
                assert_eq!(single.flags & FLAG_MEETS_SHARE != 0, value <= target_from_difficulty(s.difficulty).unwrap());
                assert_eq!(single.flags & FLAG_MEETS_NETWORK != 0, value <= job.network_target());
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn pair_equals_two_singles_with_same_and_different_inputs() {
        let mut rng = Rng::new(5);
        for _ in 0..300 {
            let mut job = ShareJob::new(random_params(&mut rng)).unwrap();
            let buf = random_records(&mut rng, &job, 2);
            let (ra, rb) = buf.split_at(job.record_size());
            let en = job.extranonce_len();
            let (a, b) = (read_record(ra, en), read_record(rb, en));
            for (x, y) in [(a, b), (a, a), (b, a)] {
                let (px, py) = job.check_pair(&x, &y).unwrap();
                let sx = job.check(x.extranonce, x.ntime, x.nonce, x.version_bits, x.difficulty).unwrap();
                let sy = job.check(y.extranonce, y.ntime, y.nonce, y.version_bits, y.difficulty).unwrap();
                assert_eq!(px.difficulty.to_bits(), sx.difficulty.to_bits());
                assert_eq!((px, py), (sx, sy));
            }
        }
    }

    #[test]
    fn bad_records_are_rejected_before_any_hashing() {
        let mut rng = Rng::new(9);
        let mut job = ShareJob::new(random_params(&mut rng)).unwrap();
        let (size, en) = (job.record_size(), job.extranonce_len());
        let mut buf = random_records(&mut rng, &job, 5);
        buf[3 * size + en + 12..3 * size + en + 20].copy_from_slice(&0f64.to_le_bytes());
        let before = buf.clone();
        assert_eq!(job.check_records(&mut buf).unwrap_err().code(), "CKP_ERR_NATIVE_RANGE");
        assert_eq!(buf, before);
        assert!(job.check_records(&mut buf[..size + 1]).is_err());
        assert!(job.check_records(&mut []).is_err());
        let short = vec![0u8; en + 1];
        let ok = read_record(&before[..size], en);
        assert!(job.check_pair(&ok, &Share { extranonce: &short, ..ok }).is_err());
    }

    #[test]
    fn fused_and_portable_paths_agree() {
        // On SHA-NI machines check()/check_pair() take the fused path; compare it with
        // the portable one (what CPUs without SHA-NI run) on the same tails.
        let mut rng = Rng::new(77);
        for _ in 0..400 {
            let mut job = ShareJob::new(random_params(&mut rng)).unwrap();
            let buf = random_records(&mut rng, &job, 2);
            let (ra, rb) = buf.split_at(job.record_size());
            let en = job.extranonce_len();
            let (a, b) = (read_record(ra, en), read_record(rb, en));
            let pair = job.share_hashes([&a, &b]);
            assert_eq!(pair, job.share_hashes_portable([&a, &b]));
            let one = job.share_hashes([&b]);
            assert_eq!(one, job.share_hashes_portable([&b]));
            assert_eq!(one[0], pair[1]);
            assert_eq!(one[0], reference_hash(job.params(), rb));
        }
    }

    #[test]
    fn wrong_extranonce_length_is_rejected_and_leaves_the_job_intact() {
        let mut rng = Rng::new(11);
        let p = random_params(&mut rng);
        let mut job = ShareJob::new(p.clone()).unwrap();
        let buf = random_records(&mut rng, &job, 1);
        let s = read_record(&buf, job.extranonce_len());
        let want = job.check(s.extranonce, s.ntime, s.nonce, s.version_bits, s.difficulty).unwrap();
        let long = vec![0xee; job.extranonce_len() + 5];
        let short = vec![0xee; job.extranonce_len() - 1];
        for en in [&long[..], &short[..]] {
            assert_eq!(job.coinbase_hash(en).unwrap_err().code(), "CKP_ERR_NATIVE_LENGTH");
            assert!(job.header(en, 1, 2, 3).is_err());
            assert!(job.check(en, 1, 2, 3, 1.0).is_err());
            assert!(job.check_pair(&Share { extranonce: en, ..s }, &s).is_err());
        }
        assert_eq!(job.check(s.extranonce, s.ntime, s.nonce, s.version_bits, s.difficulty).unwrap(), want);
        assert_eq!(want.hash, reference_hash(&p, &buf));
    }
}
