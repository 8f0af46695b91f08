//! `cargo run --release -p ckpool-core --example profile_check`: per-check cost of the
//! share path against sha2's own raw compression rate, without N-API in the way.
//! Prints the 1-way (sha2) and 2-way (shani::compress2) raw rates, then batched checks
//! for a coinbase-only template and one with a 12-step branch (4000 txs).
use ckpool_core::hash::{compress, H0};
use ckpool_core::shani::{self, compress2};
use ckpool_core::share::{JobParams, ShareJob};
use std::time::Instant;

fn per_sec(ms: u128, mut f: impl FnMut() -> u64) -> f64 {
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_millis() < ms {
        n += f();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let data = vec![7u8; 1 << 14];
    let data2 = vec![9u8; 1 << 14];
    let (mut st, mut a, mut b) = (H0, H0, H0);
    let raw = per_sec(1000, || {
        compress(&mut st, &data);
        (data.len() / 64) as u64
    });
    let raw2 = per_sec(1000, || {
        compress2(&mut a, &mut b, &data, &data2);
        (2 * data.len() / 64) as u64
    });
    println!(
        "sha2 raw: {:.2} M compressions/s; 2-way (SHA-NI {}): {:.2} M/s = {:.2}× ({:x})",
        raw / 1e6,
        if shani::available() { "on" } else { "off" },
        raw2 / 1e6,
        raw2 / raw,
        st[0] ^ a[0] ^ b[0]
    );

    for depth in [0usize, 12] {
        let mut job = ShareJob::new(JobParams {
            coinb1: vec![1; 58],
            coinb2: vec![2; 120],
            branch: vec![[5; 32]; depth],
            version: 0x20000000,
            version_mask: 0x1fffe000,
            prevhash: [3; 32],
            nbits: 0x17034219,
            extranonce1_len: 4,
            extranonce2_len: 8,
        })
        .unwrap();
        let size = job.record_size();
        let mut buf = vec![0u8; size * 1024];
        for (i, r) in buf.chunks_exact_mut(size).enumerate() {
            r[..4].copy_from_slice(&(i as u32).to_le_bytes());
            r[12 + 12..12 + 20].copy_from_slice(&65536f64.to_le_bytes());
        }
        let batched = per_sec(1000, || job.check_records(&mut buf).unwrap() as u64);
        let mut one = buf[..size].to_vec();
        let single = per_sec(1000, || job.check_records(&mut one).unwrap() as u64);
        let c = job.compressions_per_check() as f64;
        println!(
            "branch {depth:2}: {c} compressions; batched {:.1} ns = {:.2}× raw, single-record {:.1} ns = {:.2}× raw",
            1e9 / batched,
            raw / c / batched,
            1e9 / single,
            raw / c / single
        );
    }
}
