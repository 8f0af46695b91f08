/**
 * ckpool's wire format on passthrough and node links (ts/modes/node-wire.ts), against a
 * real bcoin regtest past segwit activation with a real segwit transaction in the
 * template:
 * - what the pool sends a node link: ckpool's workinfo keys with ckpool's JSON types,
 *   every value recomputed here from the template on its own (nbit from bits, the merkle
 *   branch from the txids with node:crypto, the word-swapped prevhash, ...), and the
 *   raw transactions first;
 * - a ckpool-ts node, which reads only those keys, solves a block carrying that
 *   transaction that its own bcoin (which never saw the transaction) accepts;
 * - replies to miners behind a passthrough link carry ckpool's node.method tags, and a
 *   ckpool-ts passthrough strips them before its miners see anything.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { MemoryLogger, LogLevel } from '../ts/log/logger.js';
import { StratumClient } from '../ts/miner/client.js';
import { NodeTap, startNode } from '../ts/modes/node.js';
import { transactionsLine, workinfoLine } from '../ts/modes/node-wire.js';
import { PassthroughMode } from '../ts/modes/passthrough.js';
import { ShareChecker } from '../ts/native/share.js';
import { freePort } from '../ts/node/ports.js';
import { ServerSet } from '../ts/node/servers.js';
import { Generator } from '../ts/work/generator.js';
import type { Pool } from '../ts/pool/pool.js';
import type { BlockSubmission } from '../ts/work/generator.js';
import { startTestBcoin, stopAllBcoins, type BcoinNode } from './helpers/bcoin.js';
import { mainPool, mineOne, miner, modeConfig, nextReconnect, removeTempDirs, tempDir, waitFor, submitUntilBlock } from './helpers/modes.js';

let node: BcoinNode;
let pool: Pool;
let segwitTxid: string;
let poolLog: MemoryLogger;
const closers: (() => Promise<void> | void)[] = [];

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: true, walletWitness: true });
  await node.fundWallet(432); // past segwit activation on bcoin's regtest
  poolLog = new MemoryLogger();
  pool = await mainPool(node, node.url, { startdiff: 1e-6, nodeserver: true }, poolLog);
  segwitTxid = await txInTemplate();
});

/**
 * A new segwit transaction in the pool's current template (its txid). bcoin rebuilds its
 * cached template for new mempool transactions only on a mempool change once the cache
 * is over 10 s old: send one a second until a template carries one.
 */
async function txInTemplate(): Promise<string> {
  const address = await node.getWalletAddress();
  const sent: string[] = [];
  const deadline = Date.now() + 40_000;
  for (;;) {
    sent.push(await node.sendToAddress(address, 50_000_000));
    await pool.generator.update();
    const txid = pool.generator.current!.txids().find((x) => sent.includes(x));
    if (txid) return txid;
    if (Date.now() > deadline) throw new Error(`no template with a mempool transaction: ${JSON.stringify(poolLog.lines.filter((l) => l.level <= LogLevel.WARNING))}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

test.after.always(async () => {
  for (const c of closers.reverse()) await c();
  await pool?.stop();
  await stopAllBcoins();
  removeTempDirs();
});

/** A raw TCP connection to the pool: send lines, collect the lines it gets. */
async function rawLink(port: number): Promise<{ sock: net.Socket; lines: string[]; send(o: unknown): void; next(pred: (l: string) => boolean, what: string): Promise<string> }> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  closers.push(() => void sock.destroy());
  const lines: string[] = [];
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  let seen = 0;
  return {
    sock, lines,
    send: (o) => sock.write(JSON.stringify(o) + '\n'),
    // the next unread line matching pred (lines before it are skipped)
    next: async (pred, what) => {
      await waitFor(() => lines.slice(seen).some(pred), 10_000, what);
      const at = lines.findIndex((l, i) => i >= seen && pred(l));
      seen = at + 1;
      return lines[at]!;
    },
  };
}

const sha256d = (b: Buffer) => createHash('sha256').update(createHash('sha256').update(b).digest()).digest();

/** The coinbase's merkle branch (internal-order hex) from display txids, computed here. */
function branchOf(txidsDisplay: string[]): string[] {
  let level: Buffer[] = [Buffer.alloc(32), ...txidsDisplay.map((t) => Buffer.from(t, 'hex').reverse())];
  const out: string[] = [];
  while (level.length > 1) {
    out.push(level[1]!.toString('hex'));
    if (level.length % 2) level.push(level[level.length - 1]!);
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(sha256d(Buffer.concat([level[i]!, level[i + 1]!])));
    level = next;
  }
  return out;
}

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

test.serial('node link: ckpool\'s workinfo keys and JSON types, each value recomputed from the template; the transactions come first', async (t) => {
  const link = await rawLink(pool.addresses[1]!.port);
  link.send({ id: 1, method: 'mining.node', params: ['ckpool/0.9.9'] });
  t.deepEqual(JSON.parse(await link.next(() => true, 'handshake reply')), { id: 1, result: true, error: null });
  const txLine = await link.next((l) => l.includes('"node.method":"transactions"'), 'transactions');
  const wiLine = await link.next((l) => l.includes('"node.method":"workinfo"'), 'workinfo');
  t.true(link.lines.indexOf(txLine) < link.lines.indexOf(wiLine), 'transactions before the workinfo that lists them');

  const wb = pool.generator.current!;
  const tpl = wb.template;
  const wi = JSON.parse(wiLine) as Record<string, unknown>;
  // exactly the keys stratifier.c:send_node_workinfo writes (and add_node_base reads)
  t.deepEqual(Object.keys(wi).sort(), ['bbversion', 'coinb1', 'coinb1len', 'coinb2', 'coinb2len', 'coinbasevalue', 'curtime', 'diff',
    'enonce1varlen', 'enonce2varlen', 'flags', 'height', 'jobid', 'merklehash', 'merkles', 'nbit', 'node.method', 'ntime', 'prevhash',
    'target', 'txn_hashes', 'txns', 'version'].sort());
  // JSON types as jansson reads them: integers, strings, and diff a real (json_real_value)
  for (const k of ['version', 'curtime', 'coinbasevalue', 'height', 'txns', 'merkles', 'enonce1varlen', 'enonce2varlen', 'coinb1len', 'coinb2len']) {
    t.true(Number.isInteger(wi[k]), `${k} is an integer`);
    t.regex(wiLine, new RegExp(`"${k}":\\d+[,}]`), `${k} written as an integer literal`);
  }
  for (const k of ['target', 'prevhash', 'ntime', 'bbversion', 'nbit', 'flags', 'txn_hashes', 'coinb1', 'coinb2']) t.is(typeof wi[k], 'string', k);
  t.regex(wiLine, /"diff":-?\d+(\.\d+(e[-+]?\d+)?|e[-+]?\d+)[,}]/, 'diff written as a real');
  // jobid: an int64 literal, not rounded to a double, whose hex is the notify job id
  const jobidText = /"jobid":(\d+)[,}]/.exec(wiLine)?.[1];
  t.truthy(jobidText);
  const m = await miner(pool.addresses[0]!.port, 'olga.w1');
  closers.push(() => m.close());
  t.is(BigInt(jobidText!), BigInt(`0x${m.job!.jobId}`));
  t.is(BigInt(jobidText!), BigInt(`0x${wb.jobId}`));

  t.is(wi.nbit, tpl.bits);
  t.is(wi.ntime, hex8(tpl.curtime));
  t.is(wi.curtime, tpl.curtime);
  t.is(wi.bbversion, hex8(tpl.version));
  t.is(wi.version, tpl.version);
  t.is(wi.target, tpl.target);
  t.is(wi.height, tpl.height);
  t.is(wi.coinbasevalue, tpl.coinbasevalue);
  t.is(wi.flags, tpl.coinbaseaux.flags ?? '');
  // diff from the compact bits: 0xffff·2^208 / target
  const bits = parseInt(tpl.bits, 16);
  const target = BigInt(bits & 0xffffff) << BigInt(8 * ((bits >>> 24) - 3));
  const diff = Number(0xffffn << 208n) / Number(target);
  t.true(Math.abs((wi.diff as number) - diff) / diff < 1e-12, `diff ${String(wi.diff)} vs ${diff}`);
  // prevhash: the RPC hash with its 4-byte words reversed in order and bytes (stratum order)
  const prev = Buffer.from(tpl.previousblockhash, 'hex').reverse();
  for (let i = 0; i < 32; i += 4) prev.subarray(i, i + 4).reverse();
  t.is(wi.prevhash, prev.toString('hex'));
  t.is(wi.prevhash, m.job!.params[1]);
  const txids = tpl.transactions.map((x) => x.txid);
  t.true(txids.includes(segwitTxid));
  t.is(wi.txns, txids.length);
  t.is(wi.txn_hashes, txids.map((x) => `${x} `).join(''));
  t.deepEqual(wi.merklehash, branchOf(txids));
  t.is(wi.merkles, branchOf(txids).length);
  t.deepEqual(wi.merklehash, m.job!.params[4], 'the branch miners get');
  t.is(wi.coinb1len, (wi.coinb1 as string).length / 2);
  t.is(wi.coinb2len, (wi.coinb2 as string).length / 2);
  t.is(wi.coinb1, wb.coinb1.toString('hex'));
  t.is(wi.enonce1varlen, m.extranonce1.length);
  t.is(wi.enonce2varlen, m.extranonce2Size);

  // the transactions: keyed by txid (what txn_hashes lists), with the template's data
  const txm = JSON.parse(txLine) as { transaction: { hash: string; data: string }[] };
  t.deepEqual(txm.transaction, tpl.transactions.map((x) => ({ hash: x.txid, data: x.data })));
  const sw = tpl.transactions.find((x) => x.txid === segwitTxid)!;
  t.not(sw.hash, sw.txid, 'a real segwit transaction (wtxid differs)');

  // a new workbase sends no transaction twice
  const before = link.lines.length;
  await pool.generator.update();
  await link.next((l) => l.includes('"node.method":"workinfo"'), 'second workinfo');
  t.false(link.lines.slice(before).some((l) => l.includes('"node.method":"transactions"')), 'nothing new to send');
});

test.serial('passthrough link: every reply and message to a miner carries ckpool\'s node.method tag', async (t) => {
  const link = await rawLink(pool.addresses[0]!.port);
  link.send({ id: 1, method: 'mining.passthrough', params: ['ckpool/0.9.9'] });
  await link.next(() => true, 'handshake reply');
  const tagged = async (pred: (m: Record<string, unknown>) => boolean, what: string) => {
    const l = await link.next((x) => { try { return pred(JSON.parse(x)); } catch { return false; } }, what);
    t.true(l.startsWith('{"client_id":7,"node.method":'), l.slice(0, 60));
    return JSON.parse(l) as Record<string, unknown>;
  };
  const tail = { client_id: 7, address: '10.1.2.3', server: 0 };
  link.send({ id: 1, method: 'mining.configure', params: [['version-rolling'], { 'version-rolling.mask': 'ffffffff' }], ...tail });
  t.is((await tagged((m) => m.id === 1, 'configure reply'))['node.method'], 'mining.configure');
  link.send({ id: 2, method: 'mining.subscribe', params: ['cgminer/4.11.1'], ...tail });
  const sub = await tagged((m) => m.id === 2, 'subscribe reply');
  t.is(sub['node.method'], 'subscribe.result');
  t.true(Array.isArray(sub.result));
  t.is((await tagged((m) => m.method === 'mining.set_difficulty', 'set_difficulty'))['node.method'], 'diff');
  const notify = await tagged((m) => m.method === 'mining.notify', 'notify');
  t.is(notify['node.method'], 'update');
  // a second subscribe gets an error, which must not reach ckpool's node as subscribe.result
  link.send({ id: 3, method: 'mining.subscribe', params: [], ...tail });
  t.is((await tagged((m) => m.id === 3, 'second subscribe reply'))['node.method'], 'error');
  link.send({ id: 4, method: 'mining.authorize', params: ['pat.w1', 'x'], ...tail });
  const auth = await tagged((m) => m.id === 4, 'authorize reply');
  t.is(auth['node.method'], 'auth.result');
  t.is(auth.result, true);
  // a real share (checked here), and a bad one: both share.result
  const [en1, en2len] = [Buffer.from((sub.result as unknown[])[1] as string, 'hex'), (sub.result as unknown[])[2] as number];
  const params = notify.params as unknown[];
  const checker = ShareChecker.fromNotify(params, en1.length, en2len, 0x1fffe000);
  const en2 = Buffer.alloc(en2len);
  let nonce = 0;
  const tipBefore = pool.generator.current!.prevhash;
  const check = () => checker.check({ extranonce1: en1, extranonce2: en2, ntime: parseInt(params[7] as string, 16), nonce, difficulty: 1e-6 });
  while (!check().meetsShareTarget) nonce++;
  const isBlock = check().meetsNetworkTarget;
  link.send({ id: 5, method: 'mining.submit', params: ['pat.w1', params[0], en2.toString('hex'), params[7], hex8(nonce)], ...tail });
  const good = await tagged((m) => m.id === 5, 'share reply');
  t.is(good['node.method'], 'share.result');
  t.is(good.result, true, JSON.stringify(good));
  // on regtest that share is often a block: let the pool move to the new tip first, so
  // the passthrough miner below does not get the old job and a stale reply
  if (isBlock) await waitFor(() => pool.generator.current!.prevhash !== tipBefore, 10_000, 'the pool on the new tip');
  link.send({ id: 6, method: 'mining.submit', params: ['pat.w1', 'ffff', '00', '00000000', '00000000'], ...tail });
  t.is((await tagged((m) => m.id === 6, 'bad share reply'))['node.method'], 'share.result');
  link.send({ id: 7, method: 'mining.no_such_thing', params: [], ...tail });
  t.is((await tagged((m) => m.id === 7, 'unknown method reply'))['node.method'], 'error');

  // a ckpool-ts passthrough in front: its miner sees the same replies, without the tag
  const pt = await PassthroughMode.start(modeConfig('passthrough', [{ port: pool.addresses[0]!.port }]),
    { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => pt.stop());
  await pt.waitReady(10_000);
  const seen: Record<string, unknown>[] = [];
  const c = await StratumClient.connect(pt.addresses[0]!.port);
  closers.push(() => c.close());
  c.on('message', (msg: Record<string, unknown>) => seen.push(msg));
  const job = c.nextJob(10_000);
  t.true(Array.isArray((await c.subscribe()).result));
  await job;
  t.is((await c.authorize('quinn.w1', 'x')).result, true);
  const s = c.grind({ job: c.job! });
  t.is((await c.submit('quinn.w1', s.params)).result, true);
  t.true(seen.length >= 4);
  t.false(seen.some((msg) => 'node.method' in msg || 'client_id' in msg), JSON.stringify(seen.find((msg) => 'node.method' in msg)));
});

test.serial('node: a ckpool-ts node built from those keys alone solves a block with the transaction; its own bcoin accepts it', async (t) => {
  // the node's own bcoin: the pool's chain copied over, but not its mempool
  const own = await startTestBcoin({ walletEnabled: false });
  const height = await node.rpc.getBlockCount();
  for (let h = 1; h <= height; h++) {
    const hash = await node.rpc.call<string>('getblockhash', [h]);
    await own.rpc.call('submitblock', [await node.rpc.call<string>('getblock', [hash, false])]);
  }
  t.is(await own.rpc.getBestBlockHash(), await node.rpc.getBestBlockHash());
  segwitTxid = await txInTemplate(); // the earlier tests' blocks took the last one
  await t.throwsAsync(own.rpc.call('getrawtransaction', [segwitTxid]), undefined, 'the node\'s bcoin never saw the transaction');

  const logger = new MemoryLogger();
  const cfg = modeConfig('node', [{ port: pool.addresses[1]!.port }], { btcd: [{ url: own.url, auth: own.user, pass: own.pass }] });
  const { mode, tap } = await startNode(cfg, { logger, server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => mode.stop());
  await mode.waitReady(10_000);
  const c = await miner(mode.addresses[0]!.port, 'rosa.w1');
  closers.push(() => c.close());
  await waitFor(() => tap.jobs.has(c.job!.jobId), 10_000, 'the node has its miner\'s job');
  t.is(tap.jobs.get(c.job!.jobId)!.wb.txCount, pool.generator.current!.txCount);
  t.true(tap.jobs.get(c.job!.jobId)!.wb.txids().includes(segwitTxid));
  t.true(tap.jobs.get(c.job!.jobId)!.wb.witnessCommitment !== null, 'the commitment was recomputed from the transactions and matched');

  const nodeBlock = once(tap, 'block') as Promise<[BlockSubmission]>;
  const r = await submitUntilBlock(c, 'rosa.w1');
  t.is(r.result, true, JSON.stringify(r));
  const [mine] = await nodeBlock;
  t.true(mine.accepted, JSON.stringify(mine.verdicts));
  t.is(mine.verdicts[0]!.server, own.url);
  t.is(await own.rpc.getBestBlockHash(), mine.hash);
  const block = await own.rpc.call<{ tx: { txid: string }[] }>('getblock', [mine.hash, true, true]);
  t.true(block.tx.some((x) => x.txid === segwitTxid), `the block carries the transaction the pool sent: ${JSON.stringify(block.tx.map((x) => x.txid))} ${segwitTxid}`);
  t.is(tap.counters.badWorkinfos, 0);
  t.false(logger.lines.some((l) => l.level <= LogLevel.WARNING && /node:/.test(l.msg)), JSON.stringify(logger.lines.filter((l) => l.level <= LogLevel.WARNING)));
});

/** A NodeTap whose own bitcoind is `btcd` (as startNode makes it), closed at the end of the file. */
async function tapOn(btcd: BcoinNode, logger: MemoryLogger): Promise<NodeTap> {
  const servers = new ServerSet({ btcds: [{ url: btcd.url, auth: btcd.user, pass: btcd.pass, notify: false }], logger });
  const gen = new Generator({ servers, nonce1length: 4, nonce2length: 8, updateInterval: 30, logdir: tempDir('tap'), logger });
  await servers.start();
  closers.push(() => gen.close());
  return new NodeTap(gen, 0x1fffe000, logger);
}

test.serial('node: also takes ckpool\'s order and keys (the workinfo first, then its transactions keyed by wtxid), or the transactions from its own bitcoind', async (t) => {
  const txid = await txInTemplate();
  const wb = pool.generator.current!;
  const tpl = wb.template;
  const sw = tpl.transactions.find((x) => x.txid === txid)!;
  t.not(sw.hash, sw.txid);
  // ckpool 0.9.9's order and keys: workinfo, then {hash: wtxid, data} (stratifier.c:update_txns)
  const stranger = await startTestBcoin({ walletEnabled: false }); // a bitcoind that never saw the transaction
  const logger = new MemoryLogger();
  const tap = await tapOn(stranger, logger);
  t.true(tap.fromUpstreamLine(workinfoLine(wb)));
  await new Promise((r) => setTimeout(r, 300)); // its bitcoind is asked, in vain
  t.false(tap.jobs.has(wb.jobId), 'no job while a transaction is missing');
  t.true(tap.fromUpstreamLine(transactionsLine(tpl.transactions.map((x) => ({ hash: x.hash, data: x.data })))));
  t.true(tap.jobs.has(wb.jobId));
  const job = tap.jobs.get(wb.jobId)!;
  t.deepEqual(job.wb.txids(), tpl.transactions.map((x) => x.txid));
  t.deepEqual(job.wb.branchHex, wb.branchHex);
  t.true(job.wb.witnessCommitment!.equals(wb.witnessCommitment!));
  t.is(tap.jobs.get(`0${wb.jobId}`), undefined, 'more than 16 hex digits is no job id');
  t.is(tap.counters.badWorkinfos, 0);

  // no transactions message at all: the node's own bitcoind (the pool's here, which has them) supplies them
  const tap2 = await tapOn(node, logger);
  tap2.fromUpstreamLine(workinfoLine(wb));
  await waitFor(() => tap2.jobs.has(wb.jobId), 10_000, 'the job from getrawtransaction');
  t.deepEqual(tap2.jobs.get(wb.jobId)!.wb.txData(), tpl.transactions.map((x) => x.data));
  t.true(logger.lines.some((l) => /waits for \d+ transaction\(s\); asking our bitcoind too/.test(l.msg)));
  t.false(logger.lines.some((l) => l.level <= LogLevel.WARNING), JSON.stringify(logger.lines.filter((l) => l.level <= LogLevel.WARNING)));

  // a workinfo whose merklehash does not match its txids is refused, loudly
  const bad = workinfoLine(wb).replace(/"merklehash":\["[0-9a-f]{64}/, `"merklehash":["${'00'.repeat(32)}`);
  const tap3 = await tapOn(node, logger);
  tap3.fromUpstreamLine(transactionsLine(tpl.transactions.map((x) => ({ hash: x.txid, data: x.data }))));
  tap3.fromUpstreamLine(bad);
  t.false(tap3.jobs.has(wb.jobId));
  t.is(tap3.counters.badWorkinfos, 1);
  t.true(logger.lines.some((l) => l.level === LogLevel.WARNING && /merklehash is not the merkle branch of txn_hashes/.test(l.msg)));
});

// ------------------------------------------------------------------ the real ckpool (CKPOOL_BIN)

/** A real ckpool (CKPOOL_BIN) in mode `flag` with `conf`; its log file's text; killed at the end of the file. */
async function realCkpool(bin: string, flag: string, conf: Record<string, unknown>): Promise<{ port: number; log: () => string }> {
  const dir = tempDir('real-ckpool');
  const port = await freePort();
  const name = `ck${port}`;
  const file = path.join(dir, `${name}.conf`);
  writeFileSync(file, JSON.stringify({ serverurl: [`127.0.0.1:${port}`], logdir: path.join(dir, 'logs'), ...conf }));
  const child: ChildProcess = spawn(bin, [flag, '-c', file, '-n', name, '-s', path.join(dir, 'sock'), '-l', '7'], { cwd: dir, stdio: 'ignore' });
  closers.push(() => void child.kill('SIGKILL'));
  const logFile = path.join(dir, 'logs', `${name}.log`);
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await waitFor(() => /connector ready/.test(log()) || child.exitCode !== null, 20_000, 'ckpool to start');
  if (child.exitCode !== null) throw new Error(`${bin} ${flag} exited ${child.exitCode}: ${log().slice(-2000)}`);
  return { port, log };
}

/**
 * A stand-in for one thing the ckpool build lacks: it asks getblocktemplate without
 * `"rules":["segwit"]`, which bcoin past segwit activation (and Bitcoin Core) refuse, so
 * its node never finds a live bitcoind and serves no miner. This adds the rule and passes
 * everything else to the real bcoin and back unchanged. ckpool writes bare-LF HTTP.
 */
async function gbtRulesProxy(target: { host: string; port: number }): Promise<string> {
  const server = http.createServer({ insecureHTTPParser: true, requireHostHeader: false }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks).toString('utf8');
      const j = JSON.parse(body) as { method?: string; params?: Record<string, unknown>[] };
      if (j.method === 'getblocktemplate') {
        j.params = [{ ...(j.params?.[0] ?? {}), rules: ['segwit'] }];
        body = JSON.stringify(j);
      }
      const up = http.request({ host: target.host, port: target.port, method: 'POST', path: req.url, headers: { ...req.headers, 'content-length': Buffer.byteLength(body) } }, (ur) => {
        res.writeHead(ur.statusCode ?? 500, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => { res.statusCode = 502; res.end(); });
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

const CKPOOL_BIN = process.env.CKPOOL_BIN;
if (!CKPOOL_BIN) {
  console.log('# node-link.test.ts: the tests with a real ckpool -N and -R in front of a ckpool-ts pool are not registered: CKPOOL_BIN is unset');
} else {
  const bin = CKPOOL_BIN;
  test.serial('real ckpool -R in front of a ckpool-ts pool: redirects a miner after an accepted share, and the same address right after authorize', async (t) => {
    const ck = await realCkpool(bin, '-R', {
      proxy: [{ url: `127.0.0.1:${pool.addresses[0]!.port}`, auth: 'x', pass: 'x' }], redirecturl: ['127.0.0.1:3999'],
    });
    const a = await miner(ck.port, 'sven.w1');
    closers.push(() => a.close());
    const redirect = nextReconnect(a, 10_000);
    t.is((await mineOne(a, 'sven.w1')).reply.result, true);
    t.deepEqual(await redirect, ['127.0.0.1', '3999', 0]);
    const b = await StratumClient.connect(ck.port);
    closers.push(() => b.close());
    const again = nextReconnect(b, 10_000);
    await b.subscribe();
    t.is((await b.authorize('sven.w2', 'x')).result, true);
    t.deepEqual(await again, ['127.0.0.1', '3999', 0]);
    t.regex(ck.log(), /Found accepted share for client \d+ - redirecting/);
    t.regex(ck.log(), /Redirecting client \d+ from matching IP/);
  });

  test.serial('real ckpool -N in front of a ckpool-ts pool: reads every workinfo and its transactions, and every reply\'s node.method', async (t) => {
    const txid = await txInTemplate();
    const ck = await realCkpool(bin, '-N', {
      btcd: [{ url: await gbtRulesProxy({ host: node.host, port: node.port }), auth: node.user, pass: node.pass, notify: false }],
      proxy: [{ url: `127.0.0.1:${pool.addresses[1]!.port}`, auth: 'x', pass: 'x' }],
    });
    const txCount = pool.generator.current!.txCount;
    t.true(pool.generator.current!.txids().includes(txid));
    await waitFor(() => new RegExp(`Stored remote workbase with ${txCount} transactions`).test(ck.log()), 20_000, 'ckpool -N to store the workbase');
    await waitFor(() => /generator ready/.test(ck.log()), 20_000, 'ckpool -N to find its bitcoind');
    const c = await miner(ck.port, 'tess.w1');
    closers.push(() => c.close());
    t.is((await mineOne(c, 'tess.w1')).reply.result, true);
    await waitFor(() => /node method 8:share.result/.test(ck.log()), 10_000, 'share.result at the node');
    const log = ck.log();
    for (const m of ['6:subscribe.result', '1:diff', '3:update', '10:auth.result', '8:share.result', '14:workinfo', '18:transactions']) t.true(log.includes(`node method ${m}`), m);
    t.regex(log, /Rebuilt txns into workbase with \d+ transactions/);
    t.regex(log, /Client \d+ got enonce1 [0-9a-f]+ string [0-9a-f]+/);
    for (const bad of ['Missing client', 'Missing node method', 'Corrupt', 'Failed to hex2bin', 'Truncated transactions', 'Failed to find all txns']) t.false(log.includes(bad), bad);
  });
}
