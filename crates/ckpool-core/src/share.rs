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
//!
//! Version bits: 0 means the miner did not roll, and the header carries the job's version
//! unchanged; otherwise BIP310's `(version & !mask) | (bits & mask)`. When that reading
//! misses the share target and the job version has bits inside the mask, the share is
//! hashed once more with the delta reading `version ^ (bits & mask)` that some firmware
//! sends (see [`crate::header::delta_version`]); a hit there is flagged
//! `FLAG_VERSION_DELTA`, and [`ShareJob::header`] given those flags rebuilds exactly that
//! header. (The share target, not the network's: on regtest half of all hashes meet the
//! network target, so the wrong reading of a delta miner's share would often "be a block".)
//! Record size = en + 64.

use crate::error::{CoreError, Result};
use crate::hash::{compress, sha256_32, sha256_32_x2_states, sha256d_64, sha256d_64_x2, sha256d_80, sha256d_80_x2, state_bytes, H0};
use crate::shani::{self, compress2, HeaderVars, ShareConsts};
use crate::header::{build_header, delta_version, rolled_version, HeaderFields};
use crate::target::{difficulty_from_target, target_from_difficulty, target_from_nbits, U256};

pub const FLAG_MEETS_SHARE: u32 = 1;
pub const FLAG_MEETS_NETWORK: u32 = 2;
/// The submitted version bits had bits outside the job's mask (ignored for hashing).
pub const FLAG_VERSION_OUTSIDE_MASK: u32 = 4;
/// The share met its target only with the delta reading of its version bits
/// (`version ^ (bits & mask)`); the block header must be built the same way.
pub const FLAG_VERSION_DELTA: u32 = 8;

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

    /// The header version of a share: BIP310's reading, or the delta reading when the
    /// check flagged it (`FLAG_VERSION_DELTA` in `flags`).
    #[inline(always)]
    pub fn version_of(&self, version_bits: u32, flags: u32) -> u32 {
        if flags & FLAG_VERSION_DELTA != 0 {
            delta_version(self.p.version, version_bits, self.p.version_mask)
        } else {
            rolled_version(self.p.version, version_bits, self.p.version_mask)
        }
    }

    /// The header a share describes (extranonce = en1 ‖ en2); `flags` are the share's
    /// check result flags, so a delta-read share gets the header it was judged on.
    pub fn header(&mut self, en: &[u8], ntime: u32, nonce: u32, version_bits: u32, flags: u32) -> Result<[u8; 80]> {
        let cb = self.coinbase_hash(en)?;
        let root = self.p.branch.iter().fold(cb, |acc, b| sha256d_64(&acc, b));
        Ok(build_header(&HeaderFields {
            version: self.version_of(version_bits, flags),
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

    /// The block hashes of `N` (1 or 2) shares with header versions `versions`, their
    /// extranonces already checked. Fused SHA-NI pass where available, else the portable
    /// path — same hashes.
    #[inline(always)]
    fn share_hashes<const N: usize>(&mut self, shares: [&Share<'_>; N], versions: [u32; N]) -> [[u8; 32]; N] {
        let r = self.en_at..self.en_at + self.extranonce_len();
        for (t, s) in self.tail.iter_mut().zip(shares) {
            t[r.clone()].copy_from_slice(s.extranonce);
        }
        let vars: [HeaderVars; N] = std::array::from_fn(|l| HeaderVars { version: versions[l], ntime: shares[l].ntime, nonce: shares[l].nonce });
        let [ta, tb] = &self.tail;
        let tails: [&[u8]; N] = std::array::from_fn(|l| if l == 0 { &ta[..] } else { &tb[..] });
        if let Some(h) = shani::share_hashes(&self.consts, tails, vars) {
            return h;
        }
        self.share_hashes_portable(shares, versions)
    }

    /// A share that missed its target under BIP310's reading of its version bits gets
    /// one more hash with the delta reading, when that is a different version (only when
    /// the job version has bits inside the mask, e.g. during a BIP9 deployment on bits
    /// 13–28). Rare by construction: ordinary shares and every share of a job with no
    /// template bit in the mask never come here. The delta reading wins when it meets the
    /// share target; failing that, whichever reading meets the network target (BIP310's
    /// first), so a block is never dropped for the other reading.
    #[inline(always)]
    fn retry_delta(&mut self, s: &Share<'_>, r: ShareResult, target: &U256) -> ShareResult {
        if r.flags & FLAG_MEETS_SHARE != 0 || s.version_bits == 0 {
            return r;
        }
        self.retry_delta_cold(s, r, target)
    }

    /// The rehash itself, out of line: keeping a second copy of the fused hash out of
    /// `check`/`check_pair` kept the common path's cost where it was (a paired
    /// `profile_check` run showed ~20 ns more per lone share with it inlined).
    #[cold]
    #[inline(never)]
    fn retry_delta_cold(&mut self, s: &Share<'_>, r: ShareResult, target: &U256) -> ShareResult {
        let delta = self.version_of(s.version_bits, FLAG_VERSION_DELTA);
        if delta == self.version_of(s.version_bits, 0) {
            return r;
        }
        let [h] = self.share_hashes([s], [delta]);
        let d = self.judge(h, target, s.version_bits);
        if d.flags & FLAG_MEETS_SHARE != 0 || (r.flags & FLAG_MEETS_NETWORK == 0 && d.flags & FLAG_MEETS_NETWORK != 0) {
            ShareResult { flags: d.flags | FLAG_VERSION_DELTA, ..d }
        } else {
            r
        }
    }

    /// The portable share hash (sha2's compress256, 2-way via `compress2` for pairs):
    /// the path on CPUs without SHA-NI, and the reference the fused path is tested
    /// against. Expects the extranonces already written into the tails.
    fn share_hashes_portable<const N: usize>(&self, shares: [&Share<'_>; N], versions: [u32; N]) -> [[u8; 32]; N] {
        let header = |l: usize, root: [u8; 32]| {
            let s = shares[l];
            build_header(&HeaderFields { version: versions[l], prevhash: self.p.prevhash, merkle_root: root, ntime: s.ntime, nbits: self.p.nbits, nonce: s.nonce })
        };
        let (mut sa, mut sb) = (self.coinb1_state, self.coinb1_state);
        if N == 2 {
            compress2(&mut sa, &mut sb, &self.tail[0], &self.tail[1]);
            let (mut ra, mut rb) = sha256_32_x2_states(&sa, &sb);
            for br in &self.p.branch {
                (ra, rb) = sha256d_64_x2(&ra, br, &rb, br);
            }
            let (ha, hb) = sha256d_80_x2(&header(0, ra), &header(N - 1, rb));
            std::array::from_fn(|l| if l == 0 { ha } else { hb })
        } else {
            compress(&mut sa, &self.tail[0]);
            let cb = sha256_32(&state_bytes(&sa));
            let root = self.p.branch.iter().fold(cb, |acc, b| sha256d_64(&acc, b));
            [sha256d_80(&header(0, root)); N]
        }
    }

    /// Check one share against the difficulty `share_diff`.
    pub fn check(&mut self, en: &[u8], ntime: u32, nonce: u32, version_bits: u32, share_diff: f64) -> Result<ShareResult> {
        let s = Share { extranonce: en, ntime, nonce, version_bits, difficulty: share_diff };
        self.check_en(&s)?;
        let target = self.share_target(share_diff)?;
        let [h] = self.share_hashes([&s], [self.version_of(version_bits, 0)]);
        let r = self.judge(h, &target, version_bits);
        Ok(self.retry_delta(&s, r, &target))
    }

    /// Two shares of this job at once: every hash step runs 2-way (both coinbases
    /// have the same length, both walk the same branch, both headers are 80 bytes).
    /// Results are identical to two [`Self::check`] calls.
    pub fn check_pair(&mut self, a: &Share<'_>, b: &Share<'_>) -> Result<(ShareResult, ShareResult)> {
        self.check_en(a)?;
        self.check_en(b)?;
        let ta = self.share_target(a.difficulty)?;
        let tb = self.share_target(b.difficulty)?;
        let [ha, hb] = self.share_hashes([a, b], [self.version_of(a.version_bits, 0), self.version_of(b.version_bits, 0)]);
        let (ra, rb) = (self.judge(ha, &ta, a.version_bits), self.judge(hb, &tb, b.version_bits));
        Ok((self.retry_delta(a, ra, &ta), self.retry_delta(b, rb, &tb)))
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
            // a quarter of the shares come from miners that do not roll
            if rng.next().is_multiple_of(4) {
                rec[en + 8..en + 12].fill(0);
            }
        }
        buf
    }

    /// The whole share check from first principles with sha2's Digest API: the block
    /// hash, and whether it took the delta reading of the version bits. No version bits →
    /// the job version; else BIP310's reading; when that misses both targets, the delta
    /// reading `version ^ (bits & mask)` if it is a different version and it hits.
    fn reference(p: &JobParams, rec: &[u8]) -> ([u8; 32], bool) {
        let en = p.extranonce1_len + p.extranonce2_len;
        let bits = u32::from_le_bytes(rec[en + 8..en + 12].try_into().unwrap());
        let diff = f64::from_le_bytes(rec[en + 12..en + 20].try_into().unwrap());
        let share = |h: &[u8; 32]| U256::from_le_bytes(h) <= target_from_difficulty(diff).unwrap();
        let block = |h: &[u8; 32]| U256::from_le_bytes(h) <= target_from_nbits(p.nbits).unwrap();
        let bip310 = if bits == 0 { p.version } else { (p.version & !p.version_mask) | (bits & p.version_mask) };
        let h = reference_hash_at(p, rec, bip310);
        let delta = p.version ^ (bits & p.version_mask);
        if share(&h) || bits == 0 || delta == bip310 {
            return (h, false);
        }
        let hd = reference_hash_at(p, rec, delta);
        if share(&hd) || (!block(&h) && block(&hd)) {
            (hd, true)
        } else {
            (h, false)
        }
    }

    fn reference_hash(p: &JobParams, rec: &[u8]) -> [u8; 32] {
        reference(p, rec).0
    }

    /// sha256d of the header of record `rec` with header version `version`.
    fn reference_hash_at(p: &JobParams, rec: &[u8], version: u32) -> [u8; 32] {
        let d = |b: &[u8]| -> [u8; 32] { Sha256::digest(Sha256::digest(b)).into() };
        let en = p.extranonce1_len + p.extranonce2_len;
        let mut root = d(&[&p.coinb1[..], &rec[..en], &p.coinb2[..]].concat());
        for b in &p.branch {
            root = d(&[root, *b].concat());
        }
        let rd = |o: usize| u32::from_le_bytes(rec[o..o + 4].try_into().unwrap());
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
        let (mut checked, mut deltas) = (0, 0);
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
                let (want, delta) = reference(&p, orig);
                assert_eq!(single.hash, want);
                assert_eq!(single.flags & FLAG_VERSION_DELTA != 0, delta, "record {i} of {n}");
                if delta {
                    deltas += 1;
                }
                // the header rebuilt from the flags is the one that was hashed
                let header = job.header(s.extranonce, s.ntime, s.nonce, s.version_bits, single.flags).unwrap();
                assert_eq!(crate::hash::sha256d_80(&header), single.hash);
                let value = U256::from_le_bytes(&single.hash);
                assert_eq!(single.flags & FLAG_MEETS_SHARE != 0, value <= target_from_difficulty(s.difficulty).unwrap());
                assert_eq!(single.flags & FLAG_MEETS_NETWORK != 0, value <= job.network_target());
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked}");
        assert!(deltas > 10, "the delta reading was exercised {deltas} times");
    }

    /// Regtest from height 144: Core's template version is 0x30000000 (bit 28, inside the
    /// default mask). Every kind of miner must be judged on the header it hashed: one that
    /// does not roll (no bits), a BIP310 miner (full rolled version) and a delta miner
    /// (only the changed bits, as esp-miner sends them), with bit 28 kept or rolled off.
    #[test]
    fn template_bits_inside_the_mask_every_kind_of_miner() {
        let mut rng = Rng::new(144);
        // a hard network target (only the share target decides), and regtest's, where half
        // of all hashes are blocks: the wrong reading of a delta share often "is a block"
        for nbits in [0x1d00ffff, 0x207fffff] {
            template_bits_case(&mut rng, nbits);
        }
    }

    fn template_bits_case(rng: &mut Rng, nbits: u32) {
        let mut p = random_params(rng);
        p.version = 0x3000_0000;
        p.version_mask = 0x1fff_e000;
        p.nbits = nbits;
        let mut job = ShareJob::new(p.clone()).unwrap();
        let en = job.extranonce_len();
        let diff: f64 = 1.0 / 4096.0;
        // (hashed version, submitted bits, expected delta flag)
        let cases: [(u32, u32, bool); 5] = [
            (0x3000_0000, 0, false),           // not rolling: the job version as it is
            (0x3000_6000, 0x3000_6000, false), // BIP310, bit 28 kept
            (0x2000_6000, 0x2000_6000, false), // BIP310, bit 28 rolled off
            (0x3000_6000, 0x0000_6000, true),  // delta, bit 28 kept
            (0x2000_6000, 0x1000_6000, true),  // delta, bit 28 rolled off
        ];
        for (version, bits, delta) in cases {
            // grind with the reference hasher on the version the miner hashed
            let mut rec = vec![0u8; job.record_size()];
            rng.fill(&mut rec[..en]);
            rec[en + 8..en + 12].copy_from_slice(&bits.to_le_bytes());
            rec[en + 12..en + 20].copy_from_slice(&diff.to_le_bytes());
            let target = target_from_difficulty(diff).unwrap();
            let nonce = (0u32..)
                .find(|n| {
                    rec[en + 4..en + 8].copy_from_slice(&n.to_le_bytes());
                    U256::from_le_bytes(&reference_hash_at(&p, &rec, version)) <= target
                })
                .unwrap();
            let want = reference_hash_at(&p, &rec, version);
            let r = job.check(&rec[..en], 0, nonce, bits, diff).unwrap();
            assert_eq!(r.hash, want, "version {version:08x} bits {bits:08x}");
            assert_eq!(r.flags & FLAG_MEETS_SHARE, FLAG_MEETS_SHARE, "version {version:08x} bits {bits:08x}");
            assert_eq!(r.flags & FLAG_VERSION_DELTA != 0, delta, "version {version:08x} bits {bits:08x}");
            let header = job.header(&rec[..en], 0, nonce, bits, r.flags).unwrap();
            assert_eq!(u32::from_le_bytes(header[..4].try_into().unwrap()), version);
            // the batch path agrees
            let mut one = rec.clone();
            job.check_records(&mut one).unwrap();
            assert_eq!(&one[en + 20..en + 52], &want);
            assert_eq!(u32::from_le_bytes(one[en + 60..en + 64].try_into().unwrap()), r.flags);
        }
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
            let v = [job.version_of(a.version_bits, 0), job.version_of(b.version_bits, 0)];
            let pair = job.share_hashes([&a, &b], v);
            assert_eq!(pair, job.share_hashes_portable([&a, &b], v));
            let one = job.share_hashes([&b], [v[1]]);
            assert_eq!(one, job.share_hashes_portable([&b], [v[1]]));
            assert_eq!(one[0], pair[1]);
            assert_eq!(one[0], reference_hash_at(job.params(), rb, v[1]));
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
            assert!(job.header(en, 1, 2, 3, 0).is_err());
            assert!(job.check(en, 1, 2, 3, 1.0).is_err());
            assert!(job.check_pair(&Share { extranonce: en, ..s }, &s).is_err());
        }
        assert_eq!(job.check(s.extranonce, s.ntime, s.nonce, s.version_bits, s.difficulty).unwrap(), want);
        assert_eq!(want.hash, reference_hash(&p, &buf));
    }
}
