//! Merkle trees over transaction ids, all hashes in internal (little-endian) byte
//! order — RPC display order reversed.
//!
//! Stratum does not send the tree, only the coinbase's *branch*: the sibling hash at
//! each level on the path from the coinbase (leaf 0) to the root. The miner folds its
//! coinbase hash with the branch to get the root; so do we when checking a share.

use crate::error::{CoreError, Result};
use crate::hash::{sha256d, sha256d_64};

pub type Hash = [u8; 32];

/// Merkle root of a full transaction list (coinbase txid first). An odd level
/// pairs its last hash with itself, as Bitcoin does.
pub fn merkle_root(txids: &[Hash]) -> Result<Hash> {
    if txids.is_empty() {
        return Err(CoreError::arg("txids", "a merkle root needs at least one transaction"));
    }
    let mut level: Vec<Hash> = txids.to_vec();
    while level.len() > 1 {
        level = next_level(&level);
    }
    Ok(level[0])
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|p| sha256d_64(&p[0], p.get(1).unwrap_or(&p[0])))
        .collect()
}

/// The coinbase's merkle branch for a block whose non-coinbase txids are `txids`
/// (GBT order). Zero transactions give an empty branch.
///
/// The coinbase hash itself is unknown (it changes with every extranonce), so leaf 0
/// is never hashed: at each level the sibling `level[1]` is taken for the branch and
/// only the pairs from index 2 on are combined into the next level.
pub fn merkle_branch(txids: &[Hash]) -> Vec<Hash> {
    let mut branch = Vec::new();
    // `rest` holds level[1..] (everything but the coinbase-side node).
    let mut rest: Vec<Hash> = txids.to_vec();
    while !rest.is_empty() {
        branch.push(rest[0]);
        // Next level without its index 0: pairs (level[2], level[3]), ... i.e. rest[1..].
        let tail = &rest[1..];
        rest = if tail.is_empty() { Vec::new() } else { next_level(tail) };
    }
    branch
}

/// Fold a coinbase hash with a branch into the merkle root.
pub fn root_from_branch(coinbase_hash: &Hash, branch: &[Hash]) -> Hash {
    branch.iter().fold(*coinbase_hash, |acc, b| sha256d_64(&acc, b))
}

/// The BIP141 witness merkle root: the coinbase's wtxid is taken as all zeros.
pub fn witness_root(wtxids: &[Hash]) -> Hash {
    let mut leaves = Vec::with_capacity(wtxids.len() + 1);
    leaves.push([0u8; 32]);
    leaves.extend_from_slice(wtxids);
    merkle_root(&leaves).expect("at least the coinbase leaf")
}

/// Witness commitment hash: sha256d(witness root ‖ witness reserved value). Pools use
/// an all-zero reserved value (it must then appear as the coinbase input's witness).
pub fn witness_commitment(wtxids: &[Hash], reserved: &Hash) -> Hash {
    let root = witness_root(wtxids);
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&root);
    buf[32..].copy_from_slice(reserved);
    sha256d(&buf)
}

/// The commitment output's script: OP_RETURN, push 36, aa21a9ed, commitment.
pub fn witness_commitment_script(commitment: &Hash) -> [u8; 38] {
    let mut s = [0u8; 38];
    s[..6].copy_from_slice(&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed]);
    s[6..].copy_from_slice(commitment);
    s
}

/// Split a buffer of concatenated 32-byte hashes.
pub fn hashes_from_bytes(what: &'static str, bytes: &[u8]) -> Result<Vec<Hash>> {
    if bytes.len() % 32 != 0 {
        return Err(CoreError::length(what, "a multiple of 32", bytes.len()));
    }
    Ok(bytes.chunks_exact(32).map(|c| c.try_into().unwrap()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{hex_decode, hex_encode};

    /// RPC (display) order hex → internal order.
    fn h(s: &str) -> Hash {
        let mut v = hex_decode("h", s).unwrap();
        v.reverse();
        v.try_into().unwrap()
    }
    fn disp(x: &Hash) -> String {
        let mut v = x.to_vec();
        v.reverse();
        hex_encode(&v)
    }

    // Block 100000 (4 transactions): txids and merkle root as shown by any explorer.
    const B100K: [&str; 4] = [
        "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
        "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
        "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
        "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
    ];
    const B100K_ROOT: &str = "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766";

    #[test]
    fn real_block_root() {
        let txids: Vec<Hash> = B100K.iter().map(|s| h(s)).collect();
        assert_eq!(disp(&merkle_root(&txids).unwrap()), B100K_ROOT);
        // and through the stratum branch
        let branch = merkle_branch(&txids[1..]);
        assert_eq!(branch.len(), 2);
        assert_eq!(disp(&root_from_branch(&txids[0], &branch)), B100K_ROOT);
    }

    #[test]
    fn single_and_empty() {
        let cb = h(B100K[0]);
        assert_eq!(merkle_root(&[cb]).unwrap(), cb);
        assert!(merkle_branch(&[]).is_empty());
        assert_eq!(root_from_branch(&cb, &[]), cb);
        assert_eq!(merkle_root(&[]).unwrap_err().code(), "CKP_ERR_NATIVE_ARG");
    }

    #[test]
    fn branch_matches_full_tree_for_many_sizes() {
        for n in [1usize, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 100, 1001, 4000, 4097] {
            let all: Vec<Hash> = (0..n as u32 + 1)
                .map(|i| crate::hash::sha256(&i.to_le_bytes()))
                .collect();
            let branch = merkle_branch(&all[1..]);
            assert_eq!(root_from_branch(&all[0], &branch), merkle_root(&all).unwrap(), "n={n}");
            let depth = (usize::BITS - n.leading_zeros()) as usize; // ceil(log2(n+1))
            assert_eq!(branch.len(), depth, "n={n}");
        }
    }

    #[test]
    fn ckpool_three_txn_branch_shape() {
        // §6.2: with 3 txns the branch is [txid1, sha256d(txid2 ‖ txid3)].
        let t: Vec<Hash> = (1..4u8).map(|i| [i; 32]).collect();
        let b = merkle_branch(&t);
        assert_eq!(b, vec![t[0], sha256d_64(&t[1], &t[2])]);
    }

    #[test]
    fn hashes_from_bytes_checks_length() {
        assert_eq!(hashes_from_bytes("x", &[0u8; 64]).unwrap().len(), 2);
        assert_eq!(hashes_from_bytes("x", &[0u8; 33]).unwrap_err().code(), "CKP_ERR_NATIVE_LENGTH");
    }
}
