//! The recorded stratum shares in test/fixtures/share-vectors.json (a copy of
//! shared/stratum-vectors): each must reproduce its header, hash and difficulty.

use ckpool_core::error::{hex_decode, hex_encode};
use ckpool_core::header::swap_words;
use ckpool_core::merkle::hashes_from_bytes;
use ckpool_core::share::{JobParams, ShareJob, FLAG_MEETS_SHARE};
use serde_json::Value;

fn u32_hex(v: &Value) -> u32 {
    u32::from_str_radix(v.as_str().unwrap(), 16).unwrap()
}

#[test]
fn all_share_vectors_validate() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test/fixtures/share-vectors.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 5);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let n = &v["notify"];
        let en1 = hex_decode("en1", v["extranonce1"].as_str().unwrap()).unwrap();
        let en2_size = v["extranonce2_size"].as_u64().unwrap() as usize;
        let branch_bytes: Vec<u8> = n[4]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|b| hex_decode("branch", b.as_str().unwrap()).unwrap())
            .collect();
        let prev: [u8; 32] = hex_decode("prev", n[1].as_str().unwrap()).unwrap().try_into().unwrap();
        let mut job = ShareJob::new(JobParams {
            coinb1: hex_decode("coinb1", n[2].as_str().unwrap()).unwrap(),
            coinb2: hex_decode("coinb2", n[3].as_str().unwrap()).unwrap(),
            branch: hashes_from_bytes("branch", &branch_bytes).unwrap(),
            version: u32_hex(&n[5]),
            version_mask: 0x1fffe000,
            prevhash: swap_words(&prev),
            nbits: u32_hex(&n[6]),
            extranonce1_len: en1.len(),
            extranonce2_len: en2_size,
        })
        .unwrap();
        let s = &v["submit"];
        let mut en = en1.clone();
        en.extend(hex_decode("en2", s["extranonce2"].as_str().unwrap()).unwrap());
        let vbits = s.get("version_bits").map(u32_hex).unwrap_or(0);
        let (ntime, nonce) = (u32_hex(&s["ntime"]), u32_hex(&s["nonce"]));
        let header = job.header(&en, ntime, nonce, vbits, 0).unwrap();
        assert_eq!(hex_encode(&header), v["header_hex"].as_str().unwrap(), "{name}: header");
        let r = job.check(&en, ntime, nonce, vbits, 1.0).unwrap();
        let mut disp = r.hash;
        disp.reverse();
        assert_eq!(hex_encode(&disp), v["expected_block_hash"].as_str().unwrap(), "{name}: hash");
        let want = v["share_difficulty"].as_f64().unwrap();
        assert!((r.difficulty - want).abs() < 0.0001 * want.max(1.0), "{name}: diff {} vs {want}", r.difficulty);
        assert_eq!(r.flags & FLAG_MEETS_SHARE, FLAG_MEETS_SHARE, "{name}: meets diff 1");
        // judged against a difficulty just above its own, it must fail the share target
        let r2 = job.check(&en, ntime, nonce, vbits, r.difficulty * 1.0001).unwrap();
        assert_eq!(r2.flags & FLAG_MEETS_SHARE, 0, "{name}");
        if let Some(sd) = v.get("session_difficulty") {
            let ok = job.check(&en, ntime, nonce, vbits, sd.as_f64().unwrap()).unwrap();
            assert_eq!(ok.flags & FLAG_MEETS_SHARE, FLAG_MEETS_SHARE, "{name}: meets session diff");
        }
    }
}

/// A real segwit block (bcoin regtest, wallet transactions with witnesses): the
/// witness commitment computed from its wtxids equals the one in its coinbase, and the
/// merkle root from its txids equals its header's.
#[test]
fn real_segwit_block_commitment_and_root() {
    use ckpool_core::merkle::{merkle_root, witness_commitment, witness_commitment_script};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test/fixtures/segwit-block.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let internal = |s: &Value| -> [u8; 32] {
        let mut v = hex_decode("hash", s.as_str().unwrap()).unwrap();
        v.reverse();
        v.try_into().unwrap()
    };
    let wtxids: Vec<[u8; 32]> = doc["wtxids"].as_array().unwrap().iter().map(internal).collect();
    assert!(wtxids.len() >= 4);
    let c = witness_commitment(&wtxids, &[0u8; 32]);
    assert_eq!(hex_encode(&witness_commitment_script(&c)), doc["commitment_script"].as_str().unwrap());
    let txids: Vec<[u8; 32]> = doc["txids"].as_array().unwrap().iter().map(internal).collect();
    let mut root = merkle_root(&txids).unwrap();
    root.reverse();
    assert_eq!(hex_encode(&root), doc["merkleroot"].as_str().unwrap());
}
