/**
 * `npm run bench:core` — the native core's speed against its physical limit.
 *
 * Prints: sha256d of an 80-byte header (native vs node:crypto); share checks per
 * second on one core, single-call and batched, for a coinbase-only template and a
 * 4000-transaction one (12-step merkle branch); merkle branch for 4000 txids; and
 * the machine's raw SHA-256 block rate (`openssl speed -evp sha256`, one stream) with
 * each batched share check expressed as a multiple of the compressions it needs at
 * that rate. Batched checks hash two shares at once (2-way SHA-NI), so they can cost
 * less than 1× that single-stream limit. The last line is a JSON summary.
 * All ratios come from the same run (these machines are noisy).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Bench } from 'tinybench';
import { sha256d, sha256dInto, merkleBranch, buildCoinbase, ShareChecker } from '../ts/index.js';

const quick = process.argv.includes('--quick');
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

// ------------------------------------------------------------ raw SHA-256 rate
function rawCompressionsPerSec(): { rate: number; source: string } {
  try {
    const out = execFileSync('openssl', ['speed', '-seconds', quick ? '1' : '3', '-bytes', '16384', '-evp', 'sha256'], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
    });
    const m = /sha256\s+([\d.]+)k/.exec(out);
    if (m) return { rate: (Number(m[1]) * 1000) / 64, source: 'openssl speed -evp sha256 (16 KiB blocks)' };
  } catch { /* fall through */ }
  // Fallback: node:crypto over 1 MiB (same SHA-NI/OpenSSL code underneath).
  const buf = randomBytes(1 << 20);
  const t0 = process.hrtime.bigint();
  let n = 0;
  while (process.hrtime.bigint() - t0 < 1_000_000_000n) { createHash('sha256').update(buf).digest(); n++; }
  return { rate: (n * buf.length) / 64, source: 'node:crypto sha256 over 1 MiB' };
}

// ------------------------------------------------------------ a realistic job
function makeChecker(txCount: number): ShareChecker {
  const script = Buffer.from('0014751e76e8199196d454941c45d1b3a323f1433bd6', 'hex');
  const { coinb1, coinb2 } = buildCoinbase({
    height: 870000, timestamp: 1732400000, nonce: 123456789, extranonce1Len: 4, extranonce2Len: 8,
    poolTag: 'ckpool-ts', btcsig: '/mined by ckpool-ts/', outputs: [{ script, value: 312_500_000 }],
    witnessCommitment: randomBytes(32),
  });
  const txids = Array.from({ length: txCount }, () => randomBytes(32));
  return new ShareChecker({
    coinb1, coinb2, branch: merkleBranch(txids), version: 0x20000000, versionMask: 0x1fffe000,
    prevhash: randomBytes(32), nbits: 0x17034219, extranonce1Len: 4, extranonce2Len: 8,
  });
}

/** Run `fn` repeatedly for `ms`, return calls per second of CPU-free wall time. */
function rate(ms: number, fn: () => number): number {
  for (let i = 0; i < 50; i++) fn(); // warm up
  let done = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(ms) * 1_000_000n;
  let now = t0;
  while (now < end) { done += fn(); now = process.hrtime.bigint(); }
  return done / (Number(now - t0) / 1e9);
}

const raw = rawCompressionsPerSec();
console.log(`raw SHA-256: ${fmt(raw.rate / 1e6, 2)} M compressions/s/core — ${raw.source}`);

// ------------------------------------------------------------ sha256d 80 bytes
const header = randomBytes(80);
const out = Buffer.alloc(32);
const bench = new Bench({ time: quick ? 300 : 1500, warmup: true });
bench
  .add('sha256d(80 B) native, new Buffer', () => { sha256d(header); })
  .add('sha256d(80 B) native, into caller buffer', () => { sha256dInto(header, out); })
  .add('sha256d(80 B) node:crypto', () => { createHash('sha256').update(createHash('sha256').update(header).digest()).digest(); });
await bench.run();
console.table(bench.table());
// The same three as sustained loops (calls/s over many back-to-back calls, GC included).
const loops = (fn: () => void) => rate(quick ? 300 : 1500, () => { for (let i = 0; i < 64; i++) fn(); return 64; });
const hashRates = {
  nativeNewBuffer: loops(() => { sha256d(header); }),
  nativeInto: loops(() => { sha256dInto(header, out); }),
  nodeCrypto: loops(() => { createHash('sha256').update(createHash('sha256').update(header).digest()).digest(); }),
};
console.log(`sha256d(80 B) calls/s in a loop: native new Buffer ${fmt(hashRates.nativeNewBuffer)}, native into caller buffer ${fmt(hashRates.nativeInto)}, node:crypto ${fmt(hashRates.nodeCrypto)}`);

// ------------------------------------------------------------ share checks
// Both forms include writing the records from JS every round (the pool must fill a
// record per share anyway), so "single-call extra" = single − batched per check is
// what checking shares one call at a time costs over the batched path: the N-API call
// plus, on SHA-NI machines, the 2-way hashing a lone share cannot use (batches hash
// records in pairs). BENCHMARKS.md splits the two.
const BATCH = 1024;
const ms = quick ? 500 : 2500;
interface Row {
  template: string; compressions: number; single: number; singleMethod: number; batched: number;
  ratio: number; overheadUs: number; methodOverheadUs: number;
}
const rows: Row[] = [];
for (const txs of [0, 4000]) {
  const c = makeChecker(txs);
  const en1 = randomBytes(4);
  const shares = Array.from({ length: BATCH }, (_, i) => ({
    extranonce1: en1, extranonce2: randomBytes(8), ntime: 1732400000, nonce: i * 2654435761 >>> 0, difficulty: 65536,
  }));
  // single: one N-API call per share through ShareChecker's path (record reused)
  const rec = Buffer.alloc(c.recordSize);
  let k = 0;
  const single = rate(ms, () => {
    for (let i = 0; i < 64; i++) { c.writeRecord(rec, 0, shares[k++ & (BATCH - 1)]); c.checkRecord(rec); }
    return 64;
  });
  // for comparison: the same through the napi-rs class method job.check(record)
  const singleMethod = rate(ms, () => {
    for (let i = 0; i < 64; i++) { c.writeRecord(rec, 0, shares[k++ & (BATCH - 1)]); c.job.check(rec); }
    return 64;
  });
  // batched: fill 1024 records from JS, then one call checks them all
  const b = c.batch(BATCH);
  const batched = rate(ms, () => {
    b.clear();
    for (let i = 0; i < BATCH; i++) b.add(shares[i]);
    b.run();
    return BATCH;
  });
  const compressions = c.compressionsPerCheck;
  const ratio = (raw.rate / compressions) / batched;
  rows.push({
    template: `${txs} txs (branch ${merkleDepth(txs)})`, compressions, single, singleMethod, batched, ratio,
    overheadUs: (1 / single - 1 / batched) * 1e6, methodOverheadUs: (1 / singleMethod - 1 / batched) * 1e6,
  });
}
/** Branch length for a template of n non-coinbase transactions. */
function merkleDepth(n: number): number { return n === 0 ? 0 : Math.ceil(Math.log2(n + 1)); }

console.log('\nshare checks on one core (records written from JS in every form)');
console.table(rows.map((r) => ({
  template: r.template,
  'compressions/check': r.compressions,
  'limit checks/s': fmt(raw.rate / r.compressions),
  'batched checks/s': fmt(r.batched),
  'cost vs limit (≤1.3)': fmt(r.ratio, 2),
  'single checks/s': fmt(r.single),
  'single-call extra µs (≤0.3)': fmt(r.overheadUs, 3),
  'via job.check() method, extra µs': fmt(r.methodOverheadUs, 3),
})));

// ------------------------------------------------------------ merkle branch for 4000 txs
const txids = Buffer.concat(Array.from({ length: 4000 }, () => randomBytes(32)));
const branchPerSec = rate(quick ? 300 : 1500, () => { merkleBranch(txids); return 1; });
console.log(`\nmerkle branch, 4000 txids: ${fmt(1000 / branchPerSec, 3)} ms (target < 2 ms)`);

const summary = {
  rawCompressionsPerSec: Math.round(raw.rate),
  sha256d80PerSec: Object.fromEntries(Object.entries(hashRates).map(([k, v]) => [k, Math.round(v)])),
  shareChecks: rows.map((r) => ({
    template: r.template, compressions: r.compressions, batchedPerSec: Math.round(r.batched), singlePerSec: Math.round(r.single),
    costVsLimit: +r.ratio.toFixed(3), singleExtraUs: +r.overheadUs.toFixed(3), methodSingleExtraUs: +r.methodOverheadUs.toFixed(3),
  })),
  merkleBranch4000Ms: +(1000 / branchPerSec).toFixed(3),
};
console.log('\n' + JSON.stringify(summary));
