/**
 * ckpool-bench --sv2 (issue 17): the Stratum V2 client mode against a real ckpool-ts pool on
 * a real bcoin regtest node. The SV2 clients are crates/ckpool-sv2/examples/sv2-bench (the
 * SV2 reference crates, not our codec), spawned by ckpool-bench. Counts are checked, never
 * timings: non-zero replies and pool CPU, shares the pool logged as accepted, idle clients
 * held with the pool's RSS measured, a wrong authority key failing every handshake, and
 * options --sv2 cannot honour refused.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { native } from '../ts/native/binding.js';
import { Pool } from '../ts/pool/pool.js';
import { MemoryLogger } from '../ts/log/logger.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { benchCli } from './helpers/bench-cli.js';

const ROOT = path.resolve(import.meta.dirname, '..');

let node: BcoinNode;
let pool: Pool;
let sv2port: number;
let pubkey: string;
const dirs: string[] = [];

test.before(async () => {
  const [n] = await Promise.all([
    startTestBcoin(),
    promisify(execFile)('cargo', ['build', '--release', '-p', 'ckpool-sv2', '--example', 'sv2-bench'], { cwd: ROOT, timeout: 900_000 }),
  ]);
  node = n;
  const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-sv2-bench-'));
  const sockdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-sv2-bench-sock-'));
  dirs.push(logdir, sockdir);
  // Random shares at difficulty 5e-8: about 1 in 200 accepted. (On regtest about half of
  // all random hashes also meet the network target, so the run submits blocks to bcoin
  // too, and the chain moves under the channels: job changes and stale shares included.)
  pool = await Pool.start({
    btcd: [{ ...node.btcd(false), notify: false, line: 0 }], btcaddress: REGTEST_ADDRESS,
    serverurl: ['127.0.0.1:0'], sv2url: ['127.0.0.1:0'], startdiff: 5e-8, mindiff: 5e-8,
    logdir, updateInterval: 600, blockpoll: 50,
  }, { logger: new MemoryLogger(), logShares: true, sockdir, server: { highdiffPort: 65535 }, invalidBurst: Number.POSITIVE_INFINITY });
  sv2port = pool.sv2!.addresses[0]!.port;
  pubkey = pool.sv2!.authorityPublic;
});
test.after.always(async () => {
  await pool?.stop();
  await stopAllBcoins();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const cli = benchCli;

/** The pool's share log lines (logShares). */
function shareLog(): Record<string, unknown>[] {
  const logdir = dirs[0]!;
  return readdirSync(logdir).filter((d) => /^[0-9a-f]{8}$/.test(d)).flatMap((d) =>
    readdirSync(path.join(logdir, d)).flatMap((f) => readFileSync(path.join(logdir, d, f), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)));
}

test.serial('throughput --sv2: SV2 shares answered, pool CPU measured, accepted shares in the pool\'s share log', async (t) => {
  const r = await cli(['throughput', '--sv2', '--sv2-key', pubkey, '-p', String(sv2port), '-c', '3', '-P', '8', '-w', '1', '-d', '4',
    '-u', 'sv2bench.{i}', '--pid', String(process.pid)]);
  t.is(r.code, 0, r.stderr);
  const s = r.summary;
  t.is(s.tool, 'ckpool-bench');
  t.is(s.mode, 'throughput');
  t.is(s.pool, `127.0.0.1:${sv2port} (SV2)`);
  t.is(s.ready, 3);
  t.is(s.failures, 0, JSON.stringify(s.failureReasons));
  t.true(s.replies > 0 && s.repliesPerSec > 0, JSON.stringify(s));
  t.is(s.accepted + s.rejected, s.replies);
  // random nonces: nearly all too low for the share target, some accepted
  t.true(s.rejectReasons['difficulty-too-low'] > 0, JSON.stringify(s.rejectReasons));
  t.true(s.accepted > 0, JSON.stringify(s));
  t.true(s.poolCpuPct > 0 && s.repliesPerPoolCpuSec > 0 && s.poolRssBytes > 0);
  t.true(s.benchCpuPct > 0);
  t.regex(r.stdout, /ckpool-bench throughput → 127\.0\.0\.1:\d+ \(SV2\)/);
  // the pool's side: the engine's channels are sv2bench.0..2, and their accepted shares are logged
  // (the share log is written in batches: wait for the lines)
  let mine: Record<string, unknown>[] = [];
  for (let i = 0; i < 200; i++) {
    mine = shareLog().filter((l) => /^sv2bench\.[0-2]$/.test(String(l.workername)));
    if (mine.filter((l) => l.result === true).length >= s.accepted) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  t.true(mine.filter((l) => l.result === true).length >= s.accepted, `${mine.filter((l) => l.result === true).length} < ${s.accepted}`);
  t.deepEqual([...new Set(mine.map((l) => String(l.workername)))].sort(), ['sv2bench.0', 'sv2bench.1', 'sv2bench.2']);
});

test.serial('connect --sv2: idle SV2 clients with one standard channel each, the pool\'s RSS per client', async (t) => {
  const r = await cli(['connect', '--sv2', '--sv2-key', pubkey, '-p', String(sv2port), '-c', '40', '--settle', '500', '--pid', String(process.pid)]);
  t.is(r.code, 0, r.stderr);
  const s = r.summary;
  t.is(s.mode, 'connect');
  t.is(s.authorized, 40);
  t.is(s.failures, 0);
  t.true(s.allAuthorizedMs >= 0);
  t.true(s.poolRssBeforeBytes > 0 && s.poolRssAfterBytes > 0 && typeof s.bytesPerClient === 'number');
});

test.serial('--sv2 with another authority key: every handshake fails, with the reason', async (t) => {
  const other = native.sv2PublicKey(native.sv2GenerateKey());
  const r = await cli(['throughput', '--sv2', '--sv2-key', other, '-p', String(sv2port), '-c', '2', '-w', '0', '-d', '0.5']);
  t.is(r.code, 0, r.stderr);
  t.is(r.summary.ready, 0);
  t.is(r.summary.failures, 2);
  t.is(r.summary.replies, 0);
  t.true(Object.keys(r.summary.failureReasons).every((k) => k.startsWith('handshake')), JSON.stringify(r.summary.failureReasons));
});

test('--sv2 refuses what it cannot do, and --sv2-key without --sv2', async (t) => {
  const cases: [string[], RegExp][] = [
    [['throughput', '--sv2', '-p', '1'], /--sv2-key must be/],
    [['throughput', '--sv2', '--sv2-key', 'k', '--tls', '-p', '1'], /--tls must be left out with --sv2/],
    [['throughput', '--sv2', '--sv2-key', 'k', '--shares', '5', '-p', '1'], /--shares must be left out/],
    [['connect', '--sv2', '--sv2-key', 'k', '--rate', '5', '-p', '1'], /--rate must be 0/],
    [['throughput', '--sv2-key', 'k', '-p', '1'], /--sv2-key must be used with --sv2/],
    [['throughput', '--sv2', '--sv2-key', 'k', '--sv2-engine', '/nonexistent/sv2-bench', '-p', '1'], /SV2 client engine \/nonexistent\/sv2-bench is missing/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(args);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, re, args.join(' '));
  }
});
