// ckpool-bench smoke test (issue 7): the fake template source serves a template the pool
// accepts, and the CLI's three load modes run against a real ckpool-ts Pool on it —
// a few hundred shares, 50 connections, a 20-client broadcast over ZMQ. Counts and the
// JSON summary's shape are checked, never timings.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { addressToScript } from '../ts/bitcoin/address.js';
import { TemplateSource } from '../ts/bench/template-source.js';
import { decodeTransaction } from '../ts/bench/txgen.js';
import { Pool } from '../ts/pool/pool.js';
import { Workbase } from '../ts/work/workbase.js';
import type { BlockTemplate } from '../ts/node/rpc-types.js';
import { benchCli } from './helpers/bench-cli.js';

const ADDRESS = 'bcrt1qlk935ze2fsu86zjp395uvtegztrkaezawxx0wf';

let source: TemplateSource;
let pool: Pool;
let port: number;
let logdir: string;

test.before(async () => {
  source = await TemplateSource.start({ txs: 0, zmq: 0 });
  logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-bench-test-'));
  pool = await Pool.start({
    // notify:false keeps polling on as well, so a ZMQ message lost before the
    // subscription is up cannot stall the broadcast test
    btcd: [{ url: source.url, auth: source.user, pass: source.password, notify: false, line: 0 }],
    zmqblock: source.zmq!,
    btcaddress: ADDRESS,
    serverurl: ['127.0.0.1:0'],
    startdiff: 1,
    mindiff: 1,
    logdir,
    updateInterval: 3600,
    blockpoll: 100,
  }, {
    server: { highdiffPort: 65535, floodRate: 1e9, floodBurst: 1e9 },
    invalidBurst: Number.POSITIVE_INFINITY,
    authTimeoutMs: 600_000,
    statsIntervalMs: 3_600_000,
  });
  port = pool.addresses[0]!.port;
});

test.after.always(async () => {
  await pool?.stop();
  await source?.close();
  if (logdir) rmSync(logdir, { recursive: true, force: true });
});


const cli = benchCli;

test.serial('template source: a mainnet-like template with txid ≠ wtxid and a witness commitment the pool accepts', async (t) => {
  const ts = await TemplateSource.start({ txs: 50 });
  try {
    const tpl = ts.template as unknown as BlockTemplate;
    t.is(tpl.bits, '17034219');
    t.is(tpl.transactions.length, 50);
    t.true(tpl.transactions.every((x) => x.txid !== x.hash));
    // Workbase recomputes the witness commitment from the wtxids and throws on a mismatch
    const wb = new Workbase({
      template: tpl, seq: 1, epoch: 1, payout: { script: Buffer.from('0014751e76e8199196d454941c45d1b3a323f1433bd6', 'hex') },
      nonce1length: 4, nonce2length: 8,
    });
    t.truthy(wb.witnessCommitment);
    t.is(wb.branch.length, 6); // 51 leaves → 6 levels
    const d = decodeTransaction(tpl.transactions[0]!.data);
    t.is(d.txid, tpl.transactions[0]!.txid);
    t.is(d.hash, tpl.transactions[0]!.hash);

    const rpc = async (method: string, params: unknown[] = [], auth = 'bench:bench') => {
      const r = await fetch(`http://${ts.url}/`, {
        method: 'POST', body: JSON.stringify({ id: 1, method, params }),
        headers: { Authorization: 'Basic ' + Buffer.from(auth).toString('base64') },
      });
      return { status: r.status, body: r.status === 401 ? null : await r.json() as { result: any; error: any } };
    };
    t.is((await rpc('getblockchaininfo')).body!.result.chain, 'regtest');
    t.is((await rpc('validateaddress', [ADDRESS])).body!.result.scriptPubKey, addressToScript(ADDRESS, 'regtest').toString('hex'));
    t.false((await rpc('validateaddress', ['bc1qnotanaddress'])).body!.result.isvalid);
    t.is((await rpc('nosuchmethod')).status, 404);
    t.is((await rpc('getblockcount', [], 'bench:wrong')).status, 401);
    const tip = (await rpc('getbestblockhash')).body!.result;
    const nb = (await rpc('bench_newblock')).body!.result;
    t.not(nb.hash, tip);
    t.is((await rpc('getbestblockhash')).body!.result, nb.hash);
    t.is((await rpc('getblockhash', [nb.height])).body!.result, nb.hash);
    t.is((ts.template as unknown as BlockTemplate).previousblockhash, nb.hash);
  } finally {
    await ts.close();
  }
});

test.serial('throughput: a few hundred random shares through the pool, counted by verdict', async (t) => {
  const r = await cli(['throughput', '-p', String(port), '-c', '4', '-P', '8', '--warmup', '0', '--shares', '400', '-d', '15', '-q']);
  t.is(r.code, 0, r.stderr);
  const s = r.summary;
  t.is(s.tool, 'ckpool-bench');
  t.is(s.mode, 'throughput');
  t.is(s.ready, 4);
  t.is(s.failures, 0);
  t.is(s.disconnects, 0);
  t.true(s.replies >= 400, `replies ${s.replies}`);
  t.true(s.repliesPerSec > 0);
  t.is(s.accepted + s.rejected, s.replies);
  t.true(s.rejectReasons['Above target'] > 0, JSON.stringify(s.rejectReasons));
  t.true(s.latencyMs.samples > 0 && s.latencyMs.p50 > 0 && s.latencyMs.p99 >= s.latencyMs.p50);
  t.is(typeof s.benchCpuPct, 'number');
  t.regex(r.stdout, /replies\/s/); // the human table comes first
});

test.serial('flood: flooders in bursts, a measured miner and fresh connects; --no-read flooders get nothing read', async (t) => {
  const r = await cli(['flood', '-p', String(port), '-c', '5', '--burst', '200', '--interval', '100', '--requests', '400',
    '--miner-interval', '20', '-d', '2', '-q']);
  t.is(r.code, 0, r.stderr);
  const s = r.summary;
  t.is(s.mode, 'flood');
  t.is(s.ready, 5);
  t.is(s.floodSent, 5 * 400);
  t.is(s.floodReplies, s.floodSent, 'every ping answered');
  t.is(s.floodDisconnects, 0);
  t.true(s.minerSubmits > 0);
  t.is(s.minerReplies, s.minerSubmits);
  t.is(s.minerUnanswered, 0);
  t.is(s.minerLatencyMs.samples, s.minerReplies);
  t.true(s.connectTries >= 1);
  t.is(s.connectFailures, 0);
  t.regex(r.stdout, /miner latency/);
  const quiet = await cli(['flood', '-p', String(port), '-c', '2', '--burst', '100', '--requests', '100', '--no-read', '-d', '0.5', '-q']);
  t.is(quiet.code, 0, quiet.stderr);
  t.is(quiet.summary.floodersRead, false);
  t.is(quiet.summary.floodSent, 200);
  t.is(quiet.summary.floodReplies, 0, 'a flooder that never reads counts nothing');
});

test.serial('connect: 50 connections authorized, none failed; pool RSS per client from --pid', async (t) => {
  const r = await cli(['connect', '-p', String(port), '-c', '50', '--pid', String(process.pid), '--settle', '100', '-q']);
  t.is(r.code, 0, r.stderr);
  const s = r.summary;
  t.is(s.mode, 'connect');
  t.is(s.authorized, 50);
  t.is(s.failures, 0);
  t.true(s.allAuthorizedMs > 0);
  t.true(s.allWorkMs >= s.allAuthorizedMs || s.allWorkMs > 0);
  t.is(s.authLatencyMs.samples, 50);
  t.is(typeof s.bytesPerClient, 'number');
  t.true(s.poolRssAfterBytes > 0);
});

test.serial('broadcast: 20 clients all receive the clean notify after bench_newblock (ZMQ)', async (t) => {
  const before = source.tipHeight;
  const r = await cli(['broadcast', '-p', String(port), '-c', '20', '--rpc', `bench:bench@${source.url}`,
    '--rounds', '2', '--gap', '200', '--settle', '200', '--timeout', '10', '-q']);
  t.is(r.code, 0, r.stderr);
  const s = r.summary;
  t.is(s.mode, 'broadcast');
  t.is(s.ready, 20);
  t.is(s.failures, 0);
  t.is(s.missing, 0);
  t.is(s.rounds.length, 2);
  for (const round of s.rounds) t.true(round.lastMs >= round.firstMs && round.firstMs > 0);
  t.is(source.tipHeight, before + 2);
});

test.serial('broadcast with a --trigger command', async (t) => {
  const cmd = `${JSON.stringify(process.execPath)} -e "fetch('http://${source.url}/newblock',{method:'POST'}).then(r=>r.text())"`;
  const r = await cli(['broadcast', '-p', String(port), '-c', '5', '--trigger', cmd, '--rounds', '1', '--settle', '100', '--timeout', '10', '-q', '--json']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim().split('\n').length, 1); // --json: the summary line only
  t.is(r.summary.missing, 0);
  t.regex(r.summary.trigger, /^command: /);
});

test.serial('against a pool with 2 worker threads: shares judged on both threads and counted once in the pool stats; broadcast reaches every client', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ckpool-bench-test-w-'));
  const wpool = await Pool.start({
    btcd: [{ url: source.url, auth: source.user, pass: source.password, notify: false, line: 0 }],
    zmqblock: source.zmq!, btcaddress: ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 1, mindiff: 1, logdir: dir,
    updateInterval: 3600, blockpoll: 100,
  }, {
    server: { highdiffPort: 65535, floodRate: 1e9, floodBurst: 1e9 }, invalidBurst: Number.POSITIVE_INFINITY,
    authTimeoutMs: 600_000, statsIntervalMs: 3_600_000, workers: 2,
  });
  t.teardown(async () => {
    await wpool.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const wport = wpool.addresses[0]!.port;
  const r = await cli(['throughput', '-p', String(wport), '-c', '4', '-P', '8', '--warmup', '0', '--shares', '400', '-d', '15', '-q']);
  t.is(r.code, 0, r.stderr);
  t.is(r.summary.ready, 4);
  t.is(r.summary.failures, 0);
  t.true(r.summary.replies >= 400, `replies ${r.summary.replies}`);
  t.is(r.summary.rejectReasons['Above target'], r.summary.rejected);
  // both threads judged shares, and the main thread's stats hold every share the threads
  // judged (difficulty 1 each; the bench stops counting with shares still in flight, so
  // the pool judged a few more than the summary counts)
  const perThread = (await wpool.workers!.command({ op: 'counts' })) as { shares: number }[];
  t.is(perThread.length, 2);
  for (const c of perThread) t.true(c.shares > 0, JSON.stringify(perThread));
  const judged = perThread.reduce((n, c) => n + c.shares, 0);
  t.true(judged >= r.summary.rejected);
  const rejectedDiff = () => { const st = wpool.stats.snapshot(Date.now()); return st.rejected + st.unaccounted.rejects; };
  const deadline = Date.now() + 20_000;
  while (rejectedDiff() < judged && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  t.is(rejectedDiff(), judged, 'every judged share is in the pool stats once');
  const b = await cli(['broadcast', '-p', String(wport), '-c', '10', '--rpc', `bench:bench@${source.url}`,
    '--rounds', '1', '--settle', '200', '--timeout', '10', '-q']);
  t.is(b.code, 0, b.stderr);
  t.is(b.summary.ready, 10);
  t.is(b.summary.missing, 0);
});

test.serial('CLI: help says the template source is a fake node; bad options and an unreachable pool fail with a message', async (t) => {
  const help = await cli(['template-source', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout.replace(/\s+/g, ' '), /FAKE bitcoind for benchmarks only/);
  const bad = await cli(['throughput', '--pipeline', '0']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /--pipeline must be an integer 1\.\.1024/);
  const none = await cli(['broadcast', '-p', String(port), '-c', '1']);
  t.is(none.code, 1);
  t.regex(none.stderr, /--trigger/);
  const down = await cli(['throughput', '-p', '1', '-c', '2', '--timeout', '5', '-q']);
  t.is(down.code, 1);
  t.regex(down.stderr, /no connection to 127\.0\.0\.1:1 finished subscribe \+ authorize \(2× socket error ECONNREFUSED\)/);
});
