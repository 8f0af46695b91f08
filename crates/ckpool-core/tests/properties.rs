//! Property tests (proptest) over random jobs and shares; bounded to a few seconds of
//! `cargo test` (64 cases each, small branches). Run longer with PROPTEST_CASES=100000.

use ckpool_core::hash::sha256d_80;
use ckpool_core::share::{JobParams, ShareJob, FLAG_VERSION_DELTA};
use ckpool_core::target::{difficulty_from_target, nbits_from_target, target_from_difficulty, target_from_nbits, U256};
use ckpool_core::template::parse_reply;
use proptest::prelude::*;

const EN1: usize = 4;
const EN2: usize = 4;
const RECORD_OUT: usize = 64;

fn job_strategy() -> impl Strategy<Value = JobParams> {
    (
        // the core's minimum coinbase halves (a coinbase input and one output)
        prop::collection::vec(any::<u8>(), 42..160),
        prop::collection::vec(any::<u8>(), 9..120),
        prop::collection::vec(any::<[u8; 32]>(), 0..6),
        any::<u32>(),
        any::<u32>(),
        any::<[u8; 32]>(),
        // nbits with a valid (positive, in-range) target: exponent 3..=32, mantissa < 0x800000
        (3u32..=32, 1u32..0x80_0000),
    )
        .prop_map(|(coinb1, coinb2, branch, version, version_mask, prevhash, (e, m))| JobParams {
            coinb1, coinb2, branch, version, version_mask, prevhash, nbits: (e << 24) | m,
            extranonce1_len: EN1, extranonce2_len: EN2,
        })
}

#[derive(Debug, Clone)]
struct S { en: [u8; EN1 + EN2], ntime: u32, nonce: u32, vbits: u32, diff: f64 }

fn share_strategy() -> impl Strategy<Value = S> {
    (any::<[u8; EN1 + EN2]>(), any::<u32>(), any::<u32>(), prop_oneof![Just(0u32), any::<u32>()], prop_oneof![Just(1e-9f64), 1e-9f64..1e6])
        .prop_map(|(en, ntime, nonce, vbits, diff)| S { en, ntime, nonce, vbits, diff })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The batch path (2-way hashing over records) judges every share exactly as one
    /// `check` call does, and the header its flags describe hashes to the reported hash.
    #[test]
    fn batch_equals_single_and_header_hashes_to_result(p in job_strategy(), shares in prop::collection::vec(share_strategy(), 1..6)) {
        let mut job = ShareJob::new(p).unwrap();
        let size = job.record_size();
        prop_assert_eq!(size, EN1 + EN2 + RECORD_OUT);
        let mut buf = vec![0u8; size * shares.len()];
        for (rec, s) in buf.chunks_exact_mut(size).zip(&shares) {
            rec[..EN1 + EN2].copy_from_slice(&s.en);
            let o = EN1 + EN2;
            rec[o..o + 4].copy_from_slice(&s.ntime.to_le_bytes());
            rec[o + 4..o + 8].copy_from_slice(&s.nonce.to_le_bytes());
            rec[o + 8..o + 12].copy_from_slice(&s.vbits.to_le_bytes());
            rec[o + 12..o + 20].copy_from_slice(&s.diff.to_le_bytes());
        }
        prop_assert_eq!(job.check_records(&mut buf).unwrap(), shares.len());
        for (rec, s) in buf.chunks_exact(size).zip(&shares) {
            let single = job.check(&s.en, s.ntime, s.nonce, s.vbits, s.diff).unwrap();
            let o = EN1 + EN2 + 20;
            prop_assert_eq!(&rec[o..o + 32], &single.hash[..]);
            prop_assert_eq!(f64::from_le_bytes(rec[o + 32..o + 40].try_into().unwrap()).to_bits(), single.difficulty.to_bits());
            prop_assert_eq!(u32::from_le_bytes(rec[o + 40..o + 44].try_into().unwrap()), single.flags);
            let header = job.header(&s.en, s.ntime, s.nonce, s.vbits, single.flags).unwrap();
            prop_assert_eq!(sha256d_80(&header), single.hash);
        }
    }

    /// Both version readings (BIP310 and delta) change only bits inside the mask, and
    /// bits 0 leaves the job version alone.
    #[test]
    fn version_readings_stay_inside_the_mask(p in job_strategy(), vbits in any::<u32>()) {
        let (version, mask) = (p.version, p.version_mask);
        let job = ShareJob::new(p).unwrap();
        for flags in [0, FLAG_VERSION_DELTA] {
            let v = job.version_of(vbits, flags);
            prop_assert_eq!(v & !mask, version & !mask, "flags {} changed bits outside the mask", flags);
            prop_assert_eq!(job.version_of(0, flags), version);
        }
    }

    /// nbits → target → nbits is the identity on canonical nbits; difficulty → target →
    /// difficulty round-trips within float precision.
    #[test]
    fn target_round_trips(e in 3u32..=32, m in 0x8000u32..0x80_0000, diff in 1e-6f64..1e12) {
        let nbits = (e << 24) | m;
        let t = target_from_nbits(nbits).unwrap();
        prop_assert_eq!(nbits_from_target(&t), nbits);
        let t2 = target_from_difficulty(diff).unwrap();
        let back = difficulty_from_target(&t2);
        prop_assert!(((back - diff) / diff).abs() < 1e-9, "{} -> {}", diff, back);
        prop_assert!(!t2.is_zero() && t2 <= U256([u64::MAX; 4]));
    }

    /// The template reader never panics: arbitrary bytes, and a real reply mutated.
    #[test]
    fn template_reader_never_panics(body in prop::collection::vec(any::<u8>(), 0..512), at in any::<usize>(), byte in any::<u8>()) {
        let _ = parse_reply(&body);
        let mut real = br#"{"result":{"version":536870912,"rules":["csv","!segwit"],"previousblockhash":"4db2551ac06dd63a16cbfbe66bfcc281ae42e95409b0fa79273c679c38a2315b","transactions":[{"data":"0100","txid":"0000000000000000000000000000000000000000000000000000000000000001","hash":"0000000000000000000000000000000000000000000000000000000000000002"}],"coinbasevalue":5000000000,"bits":"207fffff","height":102,"curtime":1700000000},"error":null,"id":1}"#.to_vec();
        let i = at % real.len();
        real[i] = byte;
        let _ = parse_reply(&real);
    }
}
