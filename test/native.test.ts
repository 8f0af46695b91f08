// The native core through its TypeScript surface: known answers from real blocks, the
// recorded stratum vectors, agreement with a plain node:crypto reference on random
// inputs, and every bad-input path's coded error.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  sha256d, sha256dInto, sha256, midstate, merkleRoot, merkleBranch, merkleRootFromBranch, stratumMerkleBranch,
  witnessRoot, witnessCommitment, witnessCommitmentScript, buildCoinbase, segwitCoinbase, buildHeader,
  prevhashFromStratum, stratumPrevhash, targetFromDifficulty, difficultyFromTarget, difficultyFromHash, targetFromNbits,
  nbitsFromTarget, difficultyFromNbits, targetToBigInt, fromDisplayHex, toDisplayHex, hex32,
  ShareChecker, checkShare, FLAG_MEETS_SHARE, FLAG_MEETS_NETWORK, FLAG_VERSION_DELTA, headerVersion,
} from '../ts/index.js';
import type { StratumClient } from '../ts/miner/client.js';
import { grindIndependent } from './helpers/indie-miner.js';

// ---------------------------------------------------------------- JS reference
const H = (b: Buffer) => createHash('sha256').update(b).digest();
const refD = (b: Buffer) => H(H(b));
const DIFF1 = 0xffffn << 208n;
const leToBig = (b: Buffer) => BigInt('0x' + (Buffer.from(b).reverse().toString('hex') || '0'));
function refRoot(leaves: Buffer[]): Buffer {
  let level = leaves;
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(refD(Buffer.concat([level[i], level[i + 1] ?? level[i]])));
    level = next;
  }
  return level[0];
}

// ---------------------------------------------------------------- known answers
test('genesis block header hash', (t) => {
  const header = buildHeader({
    version: 1,
    prevhash: Buffer.alloc(32),
    merkleRoot: fromDisplayHex('root', '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b'),
    ntime: 1231006505,
    nbits: 0x1d00ffff,
    nonce: 2083236893,
  });
  t.is(header.length, 80);
  t.is(toDisplayHex(sha256d(header)), '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f');
  t.is(difficultyFromHash(sha256d(header)) > 1, true);
});

test('merkle root of block 100000 from its txids', (t) => {
  const txids = [
    '8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87',
    'fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4',
    '6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4',
    'e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d',
  ].map((x) => fromDisplayHex('txid', x));
  const want = 'f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766';
  t.is(toDisplayHex(merkleRoot(txids)), want);
  t.is(toDisplayHex(merkleRootFromBranch(txids[0], merkleBranch(txids.slice(1)))), want);
  // the stratum branch is internal-order hex
  const branch = stratumMerkleBranch(txids.slice(1).map(toDisplayHex));
  t.deepEqual(branch[0], txids[1].toString('hex'));
});

// ---------------------------------------------------------------- version bits inside the mask

// A recorded job with its version changed to 0x30000000 (regtest from height 144: bit 28,
// inside the mask), ground by the independent miner (node:crypto) for each kind of miner.
test('job version with a bit inside the mask: non-rolling, BIP310 and delta shares, with bit 28 kept and rolled off', (t) => {
  const v = JSON.parse(readFileSync(new URL('./fixtures/share-vectors.json', import.meta.url), 'utf8')).vectors[1];
  const notify = [...v.notify];
  notify[5] = '30000000';
  const en1 = Buffer.from(v.extranonce1, 'hex');
  const miner = { extranonce1: en1, extranonce2Size: v.extranonce2_size } as unknown as StratumClient;
  const job = { params: notify, jobId: notify[0], clean: true, ntime: parseInt(notify[7], 16) };
  const checker = ShareChecker.fromNotify(notify, en1.length, v.extranonce2_size, 0x1fffe000);
  const diff = 0.00002;
  const cases = [['none', 0, 0x30000000, false], ['bip310', 0x6000, 0x30006000, false], ['bip310', 0x10006000, 0x20006000, false],
    ['delta', 0x6000, 0x30006000, true], ['delta', 0x10006000, 0x20006000, true]] as const;
  for (const [kind, roll, version, delta] of cases) {
    const s = grindIndependent(miner, job, { diff, kind, rollBits: roll });
    t.is(s.version, version);
    const bits = s.params[4] ? parseInt(s.params[4], 16) : 0;
    const input = { extranonce1: en1, extranonce2: Buffer.from(s.params[1]!, 'hex'), ntime: parseInt(s.params[2]!, 16), nonce: parseInt(s.params[3]!, 16), versionBits: bits, difficulty: diff };
    const r = checker.check(input);
    t.true(r.meetsShareTarget, `${kind} ${roll.toString(16)}`);
    t.is(r.hash, s.hash, `${kind} ${roll.toString(16)}`);
    t.is(r.versionDelta, delta);
    t.is((r.flags & FLAG_VERSION_DELTA) !== 0, delta);
    t.is(checker.header(input.extranonce1, input.extranonce2, input.ntime, input.nonce, bits, r.flags).toString('hex'), s.header.toString('hex'));
    t.is(headerVersion(0x30000000, 0x1fffe000, bits, r.flags), version);
    // the batch path agrees
    const b = checker.batch(2);
    b.add(input);
    b.run();
    t.is(b.hash(0), s.hash);
    t.is(b.flags(0), r.flags);
  }
  // the old mistake: a non-rolling share hashed at (version & ~mask) is not this share
  const none = grindIndependent(miner, job, { diff, kind: 'none' });
  const cleared = checkShare({
    coinb1: Buffer.from(notify[2], 'hex'), coinb2: Buffer.from(notify[3], 'hex'), branch: notify[4].map((b: string) => Buffer.from(b, 'hex')),
    version: 0x20000000, versionMask: 0x1fffe000, prevhash: prevhashFromStratum(notify[1]), nbits: hex32('nbits', notify[6]),
    extranonce1: en1, extranonce2: Buffer.from(none.params[1]!, 'hex'), ntime: parseInt(none.params[2]!, 16), nonce: parseInt(none.params[3]!, 16), difficulty: diff,
  });
  t.not(cleared.hash, none.hash);
});

// ---------------------------------------------------------------- recorded shares
const vectors = JSON.parse(readFileSync(new URL('./fixtures/share-vectors.json', import.meta.url), 'utf8')).vectors;

for (const v of vectors) {
  test(`stratum vector: ${v.name}`, (t) => {
    const en1 = Buffer.from(v.extranonce1, 'hex');
    const checker = ShareChecker.fromNotify(v.notify, en1.length, v.extranonce2_size);
    const s = v.submit;
    const input = {
      extranonce1: en1,
      extranonce2: Buffer.from(s.extranonce2, 'hex'),
      ntime: hex32('ntime', s.ntime),
      nonce: hex32('nonce', s.nonce),
      versionBits: s.version_bits ? hex32('version_bits', s.version_bits) : 0,
      difficulty: v.session_difficulty ?? 1,
    };
    t.is(checker.header(input.extranonce1, input.extranonce2, input.ntime, input.nonce, input.versionBits).toString('hex'), v.header_hex);
    const r = checker.check(input);
    t.is(r.hash, v.expected_block_hash);
    if (v.upstream_expected_hash) t.is(r.hash, v.upstream_expected_hash);
    t.true(Math.abs(r.difficulty - v.share_difficulty) < 1e-4 * v.share_difficulty, `${r.difficulty} vs ${v.share_difficulty}`);
    t.true(r.meetsShareTarget);
    // network target from nbits, computed independently (mantissa · 256^(exponent-3))
    const nbits = hex32('nbits', v.notify[6]);
    const netTarget = BigInt(nbits & 0x7fffff) << (8n * BigInt((nbits >>> 24) - 3));
    t.is(r.meetsNetworkTarget, leToBig(fromDisplayHex('hash', r.hash)) <= netTarget);
    t.is(targetToBigInt(targetFromNbits(nbits)), netTarget);
    t.false(r.versionOutsideMask);
    // judged just above its own difficulty it fails
    t.false(checker.check({ ...input, difficulty: r.difficulty * 1.0001 }).meetsShareTarget);
    // the stateless form agrees
    const full = checkShare({
      ...input,
      coinb1: Buffer.from(v.notify[2], 'hex'),
      coinb2: Buffer.from(v.notify[3], 'hex'),
      branch: v.notify[4].map((b: string) => Buffer.from(b, 'hex')),
      version: hex32('version', v.notify[5]),
      versionMask: 0x1fffe000,
      prevhash: prevhashFromStratum(v.notify[1]),
      nbits: hex32('nbits', v.notify[6]),
    });
    t.is(full.hash, v.expected_block_hash);
    t.is(full.header.toString('hex'), v.header_hex);
  });
}

test('batch check equals single checks, and flags report network target', (t) => {
  const v = vectors[4];
  const en1 = Buffer.from(v.extranonce1, 'hex');
  const c = ShareChecker.fromNotify(v.notify, 4, 4);
  const b = c.batch(500);
  const inputs = [];
  for (let i = 0; i < 500; i++) {
    const input = { extranonce1: en1, extranonce2: randomBytes(4), ntime: 0x64b3f3ec + (i % 7), nonce: randomBytes(4).readUInt32LE(), versionBits: (i & 1) << 13, difficulty: 1e-6 * (1 + (i % 3)) };
    inputs.push(input);
    t.is(b.add(input), i);
  }
  b.run();
  for (let i = 0; i < 500; i++) {
    const single = c.check(inputs[i]);
    t.deepEqual(b.result(i), single);
    t.is(b.difficulty(i), single.difficulty);
    t.is(b.hash(i), single.hash);
    t.is((b.flags(i) & FLAG_MEETS_SHARE) !== 0, single.meetsShareTarget);
  }
  // regtest bits: about half of all hashes meet the network target
  const regtest = ShareChecker.fromNotify([...v.notify.slice(0, 6), '207fffff', ...v.notify.slice(7)], 4, 4);
  let blocks = 0;
  for (let i = 0; i < 400; i++) {
    const r = regtest.check({ ...inputs[i], difficulty: 1e-9 });
    if (r.meetsNetworkTarget) blocks++;
    t.is(r.meetsNetworkTarget, leToBig(fromDisplayHex('h', r.hash)) <= (0x7fffffn << 232n));
  }
  t.true(blocks > 120 && blocks < 280, `${blocks} of 400`);
  t.is(FLAG_MEETS_NETWORK, 2);
});

test('checker() function, check() method and 2-way batches of every length agree', (t) => {
  const v = vectors[4];
  const en1 = Buffer.from(v.extranonce1, 'hex');
  // a real branch too, so the 2-way path folds merkle nodes
  const notify = [...v.notify.slice(0, 4), Array.from({ length: 5 }, () => randomBytes(32).toString('hex')), ...v.notify.slice(5)];
  for (const params of [v.notify, notify]) {
    const c = ShareChecker.fromNotify(params, 4, 4);
    const fn = c.job.checker();
    const share = (i: number) => ({
      extranonce1: en1, extranonce2: randomBytes(4), ntime: 0x64b3f3ec + i, nonce: randomBytes(4).readUInt32LE(),
      versionBits: (i % 3) << 13, difficulty: [1e-9, 1e-6, 1, 65536][i % 4],
    });
    for (const n of [1, 2, 3, 4, 5, 8, 9, 31, 64, 257]) {
      const b = c.batch(n);
      const inputs = Array.from({ length: n }, (_, i) => share(i));
      for (const s of inputs) b.add(s);
      b.run();
      for (let i = 0; i < n; i++) {
        const rec = Buffer.alloc(c.recordSize);
        c.writeRecord(rec, 0, inputs[i]);
        const viaMethod = Buffer.from(rec);
        const d = fn(rec);
        t.is(c.job.check(viaMethod), d);
        t.deepEqual(rec, viaMethod);
        t.deepEqual(rec, b.buffer.subarray(i * c.recordSize, (i + 1) * c.recordSize), `batch of ${n}, record ${i}`);
        t.is(b.difficulty(i), d);
        t.deepEqual(c.check(inputs[i]), b.result(i));
      }
    }
    // records inside a larger buffer at an odd byte offset (DataView and checker both honour byteOffset)
    const s = share(7);
    const big = Buffer.alloc(c.recordSize + 100);
    const rec = big.subarray(7, 7 + c.recordSize);
    c.writeRecord(rec, 0, s);
    fn(rec);
    t.deepEqual(c.readResult(rec, 0), c.check(s));
  }
});

test('checker() errors carry the native codes', (t) => {
  const code = (f: () => unknown, want: string) => {
    const e = t.throws(f);
    t.is((e as NodeJS.ErrnoException).code, want, e?.message);
  };
  const c = ShareChecker.fromNotify(vectors[0].notify, 4, 4);
  const fn = c.job.checker();
  const good = { extranonce1: Buffer.alloc(4), extranonce2: Buffer.alloc(4), ntime: 1, nonce: 1, difficulty: 1 };
  const rec = Buffer.alloc(c.recordSize);
  c.writeRecord(rec, 0, good);
  t.is(typeof fn(rec), 'number');
  code(() => (fn as unknown as () => number)(), 'CKP_ERR_NATIVE_ARG');
  code(() => (fn as unknown as (x: unknown) => number)('not a buffer'), 'CKP_ERR_NATIVE_ARG');
  code(() => fn(Buffer.alloc(c.recordSize - 1)), 'CKP_ERR_NATIVE_LENGTH');
  for (const d of [0, -1, NaN, Infinity]) {
    c.writeRecord(rec, 0, { ...good, difficulty: d });
    code(() => fn(rec), 'CKP_ERR_NATIVE_RANGE');
  }
  code(() => c.writeRecord(rec, 1, good), 'CKP_ERR_NATIVE_RANGE');
  code(() => c.writeRecord(rec, -1, good), 'CKP_ERR_NATIVE_RANGE');
  // a longer buffer: only its first record is checked, as with job.check
  const two = Buffer.alloc(2 * c.recordSize);
  c.writeRecord(two, 0, good);
  c.writeRecord(two, c.recordSize, { ...good, difficulty: 0 });
  t.is(typeof fn(two), 'number');
});

// ---------------------------------------------------------------- random agreement with node:crypto
test('sha256d, sha256, midstate agree with node:crypto on thousands of inputs', (t) => {
  const out = Buffer.alloc(32);
  for (let i = 0; i < 3000; i++) {
    const data = randomBytes(i % 300);
    t.deepEqual(sha256d(data), refD(data));
    sha256dInto(data, out);
    t.deepEqual(out, refD(data));
    if (i % 10 === 0) t.deepEqual(sha256(data), H(data));
  }
  const header = randomBytes(80);
  t.is(midstate(header).length, 32);
  t.notDeepEqual(midstate(header), midstate(randomBytes(80)));
});

test('merkle root, branch and witness commitment agree with a JS reference', (t) => {
  for (const n of [0, 1, 2, 3, 5, 8, 13, 64, 255, 1000, 4001]) {
    const txids = Array.from({ length: n }, () => randomBytes(32));
    const cb = randomBytes(32);
    const all = [cb, ...txids];
    const root = refRoot(all);
    t.deepEqual(merkleRoot(all), root, `root n=${n}`);
    const branch = merkleBranch(txids);
    t.deepEqual(merkleRootFromBranch(cb, branch), root, `branch n=${n}`);
    t.deepEqual(merkleRootFromBranch(cb, Buffer.concat(branch)), root);
    const wroot = refRoot([Buffer.alloc(32), ...txids]);
    t.deepEqual(witnessRoot(txids), wroot);
    t.deepEqual(witnessCommitment(txids), refD(Buffer.concat([wroot, Buffer.alloc(32)])));
  }
});

test('full share checks agree with a JS reference on random jobs', (t) => {
  for (let i = 0; i < 1500; i++) {
    const en1Len = 2 + (i % 7);
    const en2Len = 2 + ((i >> 3) % 7);
    const coinb1 = randomBytes(42 + (i % 90));
    const coinb2 = randomBytes(9 + ((i * 7) % 200));
    const branch = Array.from({ length: i % 13 }, () => randomBytes(32));
    const prevhash = randomBytes(32);
    const version = 0x20000000;
    const vbits = i % 3 === 0 ? (randomBytes(4).readUInt32LE() & 0x1fffe000) >>> 0 : 0;
    const nbits = 0x1d00ffff;
    const en1 = randomBytes(en1Len);
    const en2 = randomBytes(en2Len);
    const ntime = randomBytes(4).readUInt32LE();
    const nonce = randomBytes(4).readUInt32LE();
    const diff = Math.pow(2, (i % 40) - 30);
    const r = checkShare({ coinb1, coinb2, branch, prevhash, version, versionMask: 0x1fffe000, nbits, extranonce1: en1, extranonce2: en2, ntime, nonce, versionBits: vbits, difficulty: diff });

    let root = refD(Buffer.concat([coinb1, en1, en2, coinb2]));
    for (const b of branch) root = refD(Buffer.concat([root, b]));
    const hdr = Buffer.alloc(80);
    hdr.writeUInt32LE(((version & ~0x1fffe000) | (vbits & 0x1fffe000)) >>> 0, 0);
    prevhash.copy(hdr, 4);
    root.copy(hdr, 36);
    hdr.writeUInt32LE(ntime, 68);
    hdr.writeUInt32LE(nbits, 72);
    hdr.writeUInt32LE(nonce, 76);
    t.deepEqual(r.header, hdr);
    const hash = refD(hdr);
    t.is(r.hash, toDisplayHex(hash));
    const value = leToBig(hash);
    const refDiff = Number(DIFF1) / Number(value);
    t.true(Math.abs(r.difficulty - refDiff) <= 1e-12 * refDiff);
    // exact target comparison: hash <= floor(DIFF1 / diff), diff a power of two here
    const target = (i % 40) - 30 >= 0 ? DIFF1 >> BigInt((i % 40) - 30) : DIFF1 << BigInt(30 - (i % 40));
    t.is(r.meetsShareTarget, value <= target);
    t.is(r.meetsNetworkTarget, value <= DIFF1);
  }
});

// ---------------------------------------------------------------- targets and difficulty
test('difficulty, target and nbits conversions are exact at the edges', (t) => {
  t.is(toDisplayHex(targetFromDifficulty(1)), '00000000ffff0000000000000000000000000000000000000000000000000000');
  t.is(difficultyFromTarget(targetFromDifficulty(1)), 1);
  t.is(nbitsFromTarget(targetFromDifficulty(1)), 0x1d00ffff);
  t.is(targetToBigInt(targetFromDifficulty(0.001)), DIFF1 * 1000n / 1n / 1n === 0n ? 0n : floorDiv(DIFF1, 0.001));
  for (const d of [1e-9, 0.0005, 0.25, 0.5, 1, 3, 7.5, 42, 1e6, 2 ** 40, 1.5e13]) {
    t.is(targetToBigInt(targetFromDifficulty(d)), floorDiv(DIFF1, d), `diff ${d}`);
  }
  t.is(targetToBigInt(targetFromDifficulty(1e-40)), (1n << 256n) - 1n, 'saturates at 2^256-1');
  t.is(targetToBigInt(targetFromDifficulty(1e90)), 0n);
  // regtest
  t.is(toDisplayHex(targetFromNbits(0x207fffff)), '7fffff0000000000000000000000000000000000000000000000000000000000');
  t.true(Math.abs(difficultyFromNbits(0x207fffff) - 4.656542373906925e-10) < 1e-22);
  t.is(nbitsFromTarget(targetFromNbits(0x207fffff)), 0x207fffff);
  t.is(difficultyFromNbits(0x1d00ffff), 1);
  t.true(Math.abs(difficultyFromNbits(0x17034219) / 86388558925171.02 - 1) < 1e-12);
});

/** floor(DIFF1 / d) for a double d, exactly, via its binary expansion. */
function floorDiv(n: bigint, d: number): bigint {
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, d);
  const bits = buf.getBigUint64(0);
  const e = Number((bits >> 52n) & 0x7ffn);
  const m = (bits & ((1n << 52n) - 1n)) | (e ? 1n << 52n : 0n);
  const exp = (e || 1) - 1075;
  return exp >= 0 ? n / (m << BigInt(exp)) : (n << BigInt(-exp)) / m;
}

// ---------------------------------------------------------------- coinbase
test('coinbase halves reassemble into a transaction with the requested outputs', (t) => {
  const script = Buffer.from('0014751e76e8199196d454941c45d1b3a323f1433bd6', 'hex');
  const commitment = randomBytes(32);
  const { coinb1, coinb2 } = buildCoinbase({
    height: 432, timestamp: 1700000000, nonce: 7, extranonce1Len: 4, extranonce2Len: 8,
    poolTag: 'ckpool-ts', btcsig: '/solo/', outputs: [{ script, value: 5_000_000_000 }, { script, value: 25_000_000 }],
    witnessCommitment: commitment,
  });
  t.is(coinb1.subarray(0, 5).toString('hex'), '0100000001');
  t.is(coinb1.subarray(42, 45).toString('hex'), '02b001', 'BIP34 height push');
  t.is(coinb1[coinb1.length - 1], 12, 'push opcode covering the extranonce');
  t.true(coinb2.includes(Buffer.from('ckpool-ts')));
  t.true(coinb2.includes(Buffer.concat([Buffer.from('00f2052a01000000', 'hex'), Buffer.from([22]), script])));
  t.true(coinb2.includes(witnessCommitmentScript(commitment)));
  const legacy = Buffer.concat([coinb1, Buffer.alloc(12, 0xaa), coinb2]);
  const seg = segwitCoinbase(legacy);
  t.is(seg.length, legacy.length + 36);
  t.is(seg.subarray(4, 6).toString('hex'), '0001');
});

test('prevhash conversions between GBT, stratum and header order', (t) => {
  const v = vectors[0];
  const internal = prevhashFromStratum(v.notify[1]);
  t.is(internal.toString('hex'), v.header_hex.slice(8, 72));
  t.is(stratumPrevhash(toDisplayHex(internal)), v.notify[1]);
});

// ---------------------------------------------------------------- bad input → coded errors
test('every bad input throws its coded error', (t) => {
  const code = (fn: () => unknown, c: string) => t.is(t.throws(fn)?.['code' as never], c as never, c);
  code(() => sha256d('abc' as never), 'CKP_ERR_NATIVE_ARG');
  code(() => sha256dInto(Buffer.alloc(1), Buffer.alloc(31)), 'CKP_ERR_NATIVE_LENGTH');
  code(() => midstate(Buffer.alloc(63)), 'CKP_ERR_NATIVE_LENGTH');
  code(() => merkleRoot([]), 'CKP_ERR_NATIVE_ARG');
  code(() => merkleRoot(Buffer.alloc(33)), 'CKP_ERR_NATIVE_LENGTH');
  code(() => merkleBranch([Buffer.alloc(31)]), 'CKP_ERR_NATIVE_LENGTH');
  code(() => merkleRootFromBranch(Buffer.alloc(31), []), 'CKP_ERR_NATIVE_LENGTH');
  code(() => witnessCommitment([], Buffer.alloc(5)), 'CKP_ERR_NATIVE_LENGTH');
  code(() => witnessCommitmentScript(Buffer.alloc(5)), 'CKP_ERR_NATIVE_LENGTH');
  code(() => targetFromDifficulty(0), 'CKP_ERR_NATIVE_RANGE');
  code(() => targetFromDifficulty(-1), 'CKP_ERR_NATIVE_RANGE');
  code(() => targetFromDifficulty(Infinity), 'CKP_ERR_NATIVE_RANGE');
  code(() => targetFromDifficulty(NaN), 'CKP_ERR_NATIVE_ARG');
  code(() => targetFromNbits(0x04923456), 'CKP_ERR_NATIVE_RANGE');
  code(() => targetFromNbits(0xff123456), 'CKP_ERR_NATIVE_RANGE');
  code(() => targetFromNbits(-1), 'CKP_ERR_NATIVE_RANGE');
  code(() => difficultyFromTarget(Buffer.alloc(20)), 'CKP_ERR_NATIVE_LENGTH');
  code(() => nbitsFromTarget(Buffer.alloc(33)), 'CKP_ERR_NATIVE_LENGTH');
  code(() => prevhashFromStratum('zz'), 'CKP_ERR_NATIVE_HEX');
  code(() => prevhashFromStratum('00'), 'CKP_ERR_NATIVE_LENGTH');
  code(() => hex32('ntime', '123456789'), 'CKP_ERR_NATIVE_HEX');
  code(() => buildHeader({ version: 1, prevhash: Buffer.alloc(31), merkleRoot: Buffer.alloc(32), ntime: 0, nbits: 0, nonce: 0 }), 'CKP_ERR_NATIVE_LENGTH');
  code(() => buildHeader({ version: 1.5, prevhash: Buffer.alloc(32), merkleRoot: Buffer.alloc(32), ntime: 0, nbits: 0, nonce: 0 }), 'CKP_ERR_NATIVE_RANGE');
  const cb = { height: 1, timestamp: 0, nonce: 0, extranonce1Len: 4, extranonce2Len: 8, poolTag: 'x', outputs: [{ script: Buffer.from([0x51]), value: 1 }] };
  t.truthy(buildCoinbase(cb).coinb1);
  code(() => buildCoinbase({ ...cb, outputs: [] }), 'CKP_ERR_NATIVE_ARG');
  code(() => buildCoinbase({ ...cb, outputs: 'x' as never }), 'CKP_ERR_NATIVE_ARG');
  code(() => buildCoinbase({ ...cb, extranonce2Len: 9 }), 'CKP_ERR_NATIVE_RANGE');
  code(() => buildCoinbase({ ...cb, btcsig: 'x'.repeat(39) }), 'CKP_ERR_NATIVE_LENGTH');
  code(() => buildCoinbase({ ...cb, outputs: [{ script: Buffer.from([0x51]), value: 0.5 }] }), 'CKP_ERR_NATIVE_RANGE');
  code(() => buildCoinbase({ ...cb, outputs: [{ script: Buffer.alloc(0), value: 1 }] }), 'CKP_ERR_NATIVE_LENGTH');
  code(() => buildCoinbase({ ...cb, witnessCommitment: Buffer.alloc(3) }), 'CKP_ERR_NATIVE_LENGTH');
  code(() => segwitCoinbase(Buffer.alloc(10)), 'CKP_ERR_NATIVE_LENGTH');
  const v = vectors[0];
  code(() => ShareChecker.fromNotify(v.notify, 4, 0), 'CKP_ERR_NATIVE_RANGE');
  code(() => ShareChecker.fromNotify(v.notify, 9, 9), 'CKP_ERR_NATIVE_RANGE');
  code(() => ShareChecker.fromNotify([1, 2], 4, 4), 'CKP_ERR_NATIVE_ARG');
  code(() => ShareChecker.fromNotify([...v.notify.slice(0, 4), ['00'], ...v.notify.slice(5)], 4, 4), 'CKP_ERR_NATIVE_LENGTH');
  code(() => ShareChecker.fromNotify([...v.notify.slice(0, 6), '04923456', ...v.notify.slice(7)], 4, 4), 'CKP_ERR_NATIVE_RANGE');
  const c = ShareChecker.fromNotify(v.notify, 4, 4);
  const good = { extranonce1: Buffer.alloc(4), extranonce2: Buffer.alloc(4), ntime: 1, nonce: 1, difficulty: 1 };
  t.truthy(c.check(good));
  code(() => c.check({ ...good, extranonce2: Buffer.alloc(5) }), 'CKP_ERR_NATIVE_LENGTH');
  code(() => c.check({ ...good, difficulty: 0 }), 'CKP_ERR_NATIVE_RANGE');
  code(() => c.check({ ...good, difficulty: -3 }), 'CKP_ERR_NATIVE_RANGE');
  code(() => c.job.checkBatch(Buffer.alloc(c.recordSize + 1)), 'CKP_ERR_NATIVE_LENGTH');
  code(() => c.job.check(Buffer.alloc(3)), 'CKP_ERR_NATIVE_LENGTH');
  const b = c.batch(1);
  b.add(good);
  code(() => b.add(good), 'CKP_ERR_NATIVE_RANGE');
});

test('a real segwit block (bcoin regtest, witness transactions): witness commitment and merkle root', (t) => {
  const b = JSON.parse(readFileSync(new URL('./fixtures/segwit-block.json', import.meta.url), 'utf8'));
  const wtxids = (b.wtxids as string[]).map((h) => fromDisplayHex('wtxid', h));
  t.true(wtxids.length >= 4);
  t.is(witnessCommitmentScript(witnessCommitment(wtxids)).toString('hex'), b.commitment_script);
  t.is(toDisplayHex(merkleRoot((b.txids as string[]).map((h) => fromDisplayHex('txid', h)))), b.merkleroot);
});
