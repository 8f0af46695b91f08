#!/usr/bin/env node
// Core vector check in plain CommonJS (runs on any node ≥ 18, no tsx, no build step):
// loads the napi-rs binding through its generated loader and validates every vector of
// test/fixtures/share-vectors.json against it — headers, block hashes and share
// difficulties, through the single-share path, the batched path (2-way SHA-NI on x86,
// the portable code elsewhere) and the stateless helpers, each cross-checked with
// node:crypto.
//
// Used by scripts/test-arm64.sh (an arm64 node under qemu-user) and by
// test/install.test.ts (the binding of a package installed from the packed tarballs).
//
//   node scripts/check-vectors.cjs [PACKAGE_DIR | LOADER.js] [--vectors FILE] [--expect SUBSTRING]
//
// PACKAGE_DIR is a directory holding binding/index.js (default: this checkout). With
// --expect, the path of the .node file that was loaded must contain SUBSTRING (e.g.
// `node_modules/ckpool-ts-linux-x64-gnu/` to prove the prebuilt package was picked).
// Exit status 0 when every check passes, 1 otherwise.
'use strict';

const { createHash } = require('crypto');
const { readFileSync, statSync } = require('fs');
const path = require('path');

function usage(msg) {
  if (msg) console.error(`check-vectors: ${msg}`);
  console.error('usage: node scripts/check-vectors.cjs [PACKAGE_DIR | LOADER.js] [--vectors FILE] [--expect SUBSTRING]');
  process.exit(2);
}

let target = path.join(__dirname, '..');
let vectorsFile = path.join(__dirname, '..', 'test', 'fixtures', 'share-vectors.json');
let expect = null;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--vectors') vectorsFile = argv[++i] || usage('--vectors needs a file');
  else if (a === '--expect') expect = argv[++i] || usage('--expect needs a string');
  else if (a === '-h' || a === '--help') usage();
  else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else target = a;
}
target = path.resolve(target);
const loader = statSync(target).isDirectory() ? path.join(target, 'binding', 'index.js') : target;

const native = require(loader);
const loaded = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
const where = loaded.join(', ') || '(no .node file in require.cache)';
if (expect !== null && !loaded.some((f) => f.split(path.sep).join('/').includes(expect))) {
  console.error(`check-vectors: FAIL: loaded ${where}, expected a path containing "${expect}"`);
  process.exit(1);
}

const vectors = JSON.parse(readFileSync(vectorsFile, 'utf8')).vectors;
const sha256 = (b) => createHash('sha256').update(b).digest();
const sha256d = (b) => sha256(sha256(b));
const hex32 = (h) => parseInt(h, 16) >>> 0;
const display = (internal) => Buffer.from(internal).reverse().toString('hex');
// stratum prevhash: each 4-byte word byte-reversed relative to header order
function swapWords(hex) {
  const b = Buffer.from(hex, 'hex');
  for (let i = 0; i < b.length; i += 4) b.subarray(i, i + 4).reverse();
  return b;
}
const close = (a, b) => Math.abs(a - b) <= 1e-4 * Math.abs(b);

let failures = 0;
let checks = 0;
function check(name, cond, detail) {
  checks++;
  if (!cond) {
    failures++;
    console.error(`  FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
}

for (const v of vectors) {
  const [, prevStratum, coinb1Hex, coinb2Hex, branchHex, versionHex, nbitsHex] = v.notify;
  const en1 = Buffer.from(v.extranonce1, 'hex');
  const en2 = Buffer.from(v.submit.extranonce2, 'hex');
  const extranonce = Buffer.concat([en1, en2]);
  const ntime = hex32(v.submit.ntime);
  const nonce = hex32(v.submit.nonce);
  const versionBits = v.submit.version_bits ? hex32(v.submit.version_bits) : 0;
  const sessionDiff = v.session_difficulty || 1;
  const coinb1 = Buffer.from(coinb1Hex, 'hex');
  const coinb2 = Buffer.from(coinb2Hex, 'hex');
  const branch = Buffer.concat(branchHex.map((h) => Buffer.from(h, 'hex')));
  const prevhash = swapWords(prevStratum);
  const version = hex32(versionHex);
  const nbits = hex32(nbitsHex);
  const mask = 0x1fffe000;
  const label = v.name;

  // 1. stateless helpers: coinbase hash → merkle root → header
  check(`${label}: swapWords32`, native.swapWords32(Buffer.from(prevStratum, 'hex')).equals(prevhash));
  const coinbase = Buffer.concat([coinb1, extranonce, coinb2]);
  const cbHash = native.sha256d(coinbase);
  check(`${label}: sha256d(coinbase) = node:crypto`, cbHash.equals(sha256d(coinbase)));
  const root = native.merkleRootFromBranch(cbHash, branch);
  const header = native.buildHeader({ version, versionBits, versionMask: mask, prevhash, merkleRoot: root, ntime, nbits, nonce });
  check(`${label}: buildHeader`, header.toString('hex') === v.header_hex, header.toString('hex'));
  const hash = native.sha256d(header);
  check(`${label}: sha256d(header) = node:crypto`, hash.equals(sha256d(Buffer.from(v.header_hex, 'hex'))));
  check(`${label}: block hash`, display(hash) === v.expected_block_hash, display(hash));
  if (v.upstream_expected_hash) check(`${label}: upstream hash`, display(hash) === v.upstream_expected_hash);
  const diff = native.difficultyFromTarget(hash);
  check(`${label}: difficultyFromTarget`, close(diff, v.share_difficulty), `${diff} vs ${v.share_difficulty}`);
  const buf = Buffer.alloc(32);
  native.sha256dInto(header, buf);
  check(`${label}: sha256dInto`, buf.equals(hash));

  // 2. the share checker: single record, checker() function, batches of odd and even length
  const job = new native.ShareJob({
    coinb1, coinb2, branch, version, versionMask: mask, prevhash, nbits,
    extranonce1Len: en1.length, extranonce2Len: en2.length,
  });
  const en = extranonce.length;
  check(`${label}: recordSize`, job.recordSize === en + 64, String(job.recordSize));
  check(`${label}: ShareJob.header`, job.header(extranonce, ntime, nonce, versionBits).toString('hex') === v.header_hex);
  const record = () => {
    const r = Buffer.alloc(en + 64);
    extranonce.copy(r, 0);
    r.writeUInt32LE(ntime, en);
    r.writeUInt32LE(nonce, en + 4);
    r.writeUInt32LE(versionBits, en + 8);
    r.writeDoubleLE(sessionDiff, en + 12);
    return r;
  };
  const outputsOk = (r, off, what) => {
    const h = r.subarray(off + en + 20, off + en + 52);
    const d = r.readDoubleLE(off + en + 52);
    const flags = r.readUInt32LE(off + en + 60);
    check(`${what}: hash`, display(h) === v.expected_block_hash, display(h));
    check(`${what}: difficulty`, close(d, v.share_difficulty), `${d} vs ${v.share_difficulty}`);
    check(`${what}: meets share target`, (flags & 1) === 1, `flags ${flags}`);
    check(`${what}: version inside mask`, (flags & 4) === 0, `flags ${flags}`);
  };
  const one = record();
  const d1 = job.check(one);
  check(`${label}: check() return`, close(d1, v.share_difficulty), `${d1}`);
  outputsOk(one, 0, `${label}: check()`);
  const viaChecker = record();
  const d2 = job.checker()(viaChecker);
  check(`${label}: checker() = check()`, d2 === d1 && viaChecker.equals(one));
  for (const n of [1, 2, 3, 8]) {
    const batch = Buffer.concat(Array.from({ length: n }, record));
    check(`${label}: checkBatch(${n}) count`, job.checkBatch(batch) === n);
    for (let i = 0; i < n; i++) outputsOk(batch, i * (en + 64), `${label}: batch of ${n}, record ${i}`);
  }
  // judged just above its own difficulty, the share fails
  const above = record();
  above.writeDoubleLE(d1 * 1.0001, en + 12);
  job.check(above);
  check(`${label}: fails above its difficulty`, (above.readUInt32LE(en + 60) & 1) === 0);
}

const platform = `${process.platform}-${process.arch}`;
if (failures > 0) {
  console.error(`check-vectors: FAIL: ${failures} of ${checks} checks failed (${vectors.length} vectors, ${platform}, node ${process.version}; ${where})`);
  process.exit(1);
}
console.log(`check-vectors: OK: all ${vectors.length} vectors, ${checks} checks (${platform}, node ${process.version}; loaded ${where})`);
