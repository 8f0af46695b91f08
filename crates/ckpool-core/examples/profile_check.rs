//! `cargo run --release --example profile_check`: per-check cost of the share path
//! against sha2's own raw compression rate, without N-API in the way.
use ckpool_core::hash::{compress, H0};
use ckpool_core::share::{JobParams, ShareJob};
use std::time::Instant;

fn main() {
    let data = vec![7u8; 1 << 14];
    let mut st = H0;
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_millis() < 1000 {
        compress(&mut st, &data);
        n += (data.len() / 64) as u64;
    }
    let raw = n as f64 / t.elapsed().as_secs_f64();
    println!("sha2 raw: {:.2} M compressions/s ({:?})", raw / 1e6, st[0]);

    let mut job = ShareJob::new(JobParams {
        coinb1: vec![1; 58],
        coinb2: vec![2; 120],
        branch: vec![],
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
    let t = Instant::now();
    let mut checks = 0u64;
    while t.elapsed().as_millis() < 1000 {
        checks += job.check_records(&mut buf).unwrap() as u64;
    }
    let per = t.elapsed().as_secs_f64() / checks as f64;
    let c = job.compressions_per_check();
    println!("check: {:.1} ns, {} compressions → {:.2}× raw", per * 1e9, c, per / (c as f64 / raw));
}
