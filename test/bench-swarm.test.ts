/**
 * ckpool-bench with several generator processes (--procs) and source addresses
 * (--sources), and its limit checks (issue 18): the CLI against a real pool on a
 * ckpool-bench template source (a fake bitcoind, benchmarks only), real TCP.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkRun, limitOfError, parseSources, type SystemLimits } from '../ts/bench/limits.js';
import { TemplateSource } from '../ts/bench/template-source.js';
import type { StratumConnection } from '../ts/stratum/server.js';
import { Pool } from '../ts/pool/pool.js';
import { benchCli } from './helpers/bench-cli.js';


let source: TemplateSource;
let pool: Pool;
let port: number;
let logdir: string;

test.before(async () => {
  source = await TemplateSource.start({ txs: 0, zmq: 0 });
  logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-bench-swarm-'));
  pool = await Pool.start({
    btcd: [{ url: source.url, auth: source.user, pass: source.password, notify: false, line: 0 }],
    zmqblock: source.zmq!, btcaddress: 'bcrt1qlk935ze2fsu86zjp395uvtegztrkaezawxx0wf', serverurl: ['127.0.0.1:0'],
    startdiff: 1, mindiff: 1, logdir, updateInterval: 3600, blockpoll: 100,
  }, { server: { highdiffPort: 65535 }, statsIntervalMs: 3_600_000 });
  port = pool.addresses[0]!.port;
});

test.after.always(async () => {
  await pool?.stop();
  await source?.close();
  if (logdir) rmSync(logdir, { recursive: true, force: true });
});

const cli = benchCli;

test.serial('connect --procs 3 --sources: 300 miners from 3 processes and 3 source addresses, merged into one result', async (t) => {
  const addresses = new Set<string>();
  const onConn = (c: StratumConnection) => addresses.add(c.address);
  pool.server.on('connection', onConn);
  t.teardown(() => pool.server.off('connection', onConn));
  const r = await cli(['connect', '-p', String(port), '-c', '300', '--procs', '3', '--sources', '127.0.0.2-127.0.0.4', '--pid', String(process.pid), '--settle', '100', '-q']);
  t.is(r.code, 0, r.stderr);
  const s = r.summary;
  t.is(s.mode, 'connect');
  t.is(s.authorized, 300);
  t.is(s.failures, 0);
  t.is(s.procs, 3);
  t.is(s.sources, 3);
  t.deepEqual(s.limits, []);
  t.true(s.allWorkMs > 0);
  t.is(s.authLatencyMs.samples, 300);
  t.deepEqual([...addresses].sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  t.regex(r.stdout, /from 3 generator processes and 3 source addresses/);
});

test.serial('broadcast --procs 2: every miner of both processes gets the clean notify, times from one clock', async (t) => {
  const before = source.tipHeight;
  const r = await cli(['broadcast', '-p', String(port), '-c', '60', '--procs', '2', '--rpc', `bench:bench@${source.url}`,
    '--rounds', '2', '--gap', '200', '--settle', '200', '--timeout', '15', '-q']);
  t.is(r.code, 0, r.stderr);
  const s = r.summary;
  t.is(s.ready, 60);
  t.is(s.missing, 0);
  t.is(s.rounds.length, 2);
  for (const round of s.rounds) t.true(round.lastMs >= round.firstMs && round.firstMs > 0);
  t.is(source.tipHeight, before + 2);
});

test.serial('a run whose connections are refused says which limit that can be, and exits 1 (no hang)', async (t) => {
  // a port nothing listens on
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const dead = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const r = await cli(['connect', '-p', String(dead), '-c', '20', '--procs', '2', '--timeout', '10', '-q']);
  t.is(r.code, 1);
  t.is(r.summary.failures, 20);
  t.regex(r.stderr, /system limit in the way: ECONNREFUSED: connection refused: nothing listening there, or its listen backlog \(capped by net\.core\.somaxconn/);
});

const LIMITS: SystemLimits = { noFile: { soft: 20_000, hard: 20_000 }, ports: { low: 32768, high: 60999 }, somaxconn: 4096, memAvailableBytes: 24 * 2 ** 30 };

test('limits: open files per process, ephemeral ports, memory are checked before a run, each named with what to do', (t) => {
  t.throws(() => checkRun({ connections: 100_000, procs: 4, sources: [], targets: 10 }, LIMITS), { message: /open files \(RLIMIT_NOFILE\): 25,000 connections per generator process .* the limit is 20000 .* use --procs 6 or more/ });
  t.throws(() => checkRun({ connections: 100_000, procs: 8, sources: ['127.0.0.2', '127.0.0.3'], targets: 10 }, LIMITS), { message: /ephemeral ports \(net\.ipv4\.ip_local_port_range 32768-60999, 28,232 ports\): 50,000 connections per source address do not fit; spread them with --sources over at least 4 addresses/ });
  t.throws(() => checkRun({ connections: 40_000, procs: 4, sources: [], targets: 1 }, LIMITS), { message: /40,000 connections per destination do not fit/ });
  t.throws(() => checkRun({ connections: 100_000, procs: 8, sources: parseSources('127.0.0.2-127.0.0.40'), targets: 10 }, { ...LIMITS, memAvailableBytes: 2 ** 30 }), { message: /memory: 100,000 connections need about \d+ MiB in the generator alone, MemAvailable is 1024 MiB/ });
  // the shape fits, with a note about the listen backlog
  const notes = checkRun({ connections: 100_000, procs: 8, sources: parseSources('127.0.0.2-127.0.0.40'), targets: 10 }, LIMITS);
  t.is(notes.length, 1);
  t.regex(notes[0]!, /somaxconn is 4096/);
  t.regex(limitOfError('EMFILE', LIMITS)!, /RLIMIT_NOFILE 20000/);
  t.regex(limitOfError('EADDRNOTAVAIL', LIMITS)!, /ephemeral ports \(ip_local_port_range 32768-60999\)/);
  t.is(limitOfError('ECONNRESET', LIMITS), null);
});

test('--sources: ranges and lists of IPv4 addresses; anything else is refused', (t) => {
  t.is(parseSources('127.0.0.2-127.0.0.40').length, 39);
  t.deepEqual(parseSources('127.0.0.254-127.0.1.1,10.0.0.1'), ['127.0.0.254', '127.0.0.255', '127.0.1.0', '127.0.1.1', '10.0.0.1']);
  t.throws(() => parseSources('127.0.0.9-127.0.0.2'), { message: /a range low-high/ });
  t.throws(() => parseSources('localhost'), { message: /IPv4 addresses or ranges/ });
  t.throws(() => parseSources(''), { message: /at least one address/ });
});
