/**
 * Soak test (issue 14): the real `ckpool` binary with worker threads on Bitcoin Core
 * regtest, for a given time, under churn — miners connecting and leaving (some rolling
 * versions, some suggesting a difficulty; vardiff moves the rest), a block from Core
 * every 10 s plus the blocks the miners find, a slow and failing second node, and a
 * `-H` handover every 10 minutes (at least one in a short run). At the end:
 *
 *   RSS growth after warm-up ≤ 5 % (each pool process), descriptors back to baseline
 *   once the miners are gone, no accepted share missing from the share logs, every
 *   block the miners found on disk (blocks/) and known to Core, and nothing at WARNING
 *   or worse on the pool's stderr that is not on the allow list (scripts/soak/checks.ts).
 *
 * Exit 0 when every check passes, 1 otherwise, with a summary table.
 *
 *   npm run soak -- --minutes 60          # default 60
 *   npm run soak -- --minutes 2 --json soak.json
 *
 * Options: --minutes N, --miners N (default 8), --handover-minutes N (default 10, and
 * half the run when that is shorter than 20 minutes), --block-seconds N (default 10),
 * --rss-limit PCT (default 5), --keep (keep the work dir), --json FILE.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sampleProcs } from '../ts/bench/procstat.js';
import { freePort } from '../ts/node/ports.js';
import { findBitcoind, startCore, stopAllCores, CORE_BURN_ADDRESS } from '../test/helpers/core-node.js';
import { spawnNode, type Child } from '../test/helpers/child.js';
import { bitsForDiff, nodeProxy, type Fault } from './soak/node-proxy.js';
import { MinerSlot, newTally } from './soak/miners.js';
import { blockFiles, extra, fdCount, fdTargets, lostShares, rssGrowth, unexpectedLines, allowedLines, userShares, shareLogDiff, type RssSample } from './soak/checks.js';

const { values: argv } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    miners: { type: 'string', default: '8' },
    'handover-minutes': { type: 'string' },
    'block-seconds': { type: 'string', default: '10' },
    'rss-limit': { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});

const minutes = Number(argv.minutes);
const runMs = minutes * 60_000;
const handoverMs = (argv['handover-minutes'] ? Number(argv['handover-minutes']) : minutes < 20 ? minutes / 2 : 10) * 60_000;
const blockMs = Number(argv['block-seconds']) * 1000;
const nMiners = Number(argv.miners);
const rssLimit = Number(argv['rss-limit']);
// warm-up: JIT, V8 heap sizing, worker threads, the first vardiff moves
const warmupMs = Math.min(5 * 60_000, Math.max(20_000, runMs * 0.15));
const BIN = new URL('../bin/ckpool.js', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${s}`);

if (!(minutes > 0) || !(nMiners > 0)) {
  console.error('soak: --minutes and --miners must be positive numbers');
  process.exit(2);
}
const bitcoind = findBitcoind();
if (!bitcoind) {
  console.error('soak: no bitcoind (set BITCOIND, run ../shared/tools/bitcoin-core/install.sh, or put bitcoind on PATH)');
  process.exit(2);
}

const dir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-soak-'));
const logdir = path.join(dir, 'logs');
const sockdir = path.join(dir, 'sock');
const children: ChildProcess[] = [];
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});
// Ctrl-C or a CI timeout: exit through the 'exit' hooks, which kill the pool and Core
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

// Miner hashrates (emulated): vardiff aims at a share every ~3.3 s, so a 20 kH/s slot
// settles near diff 1.5e-5. The pool's network difficulty is set so the miners together
// find a block about every 15 s.
// Slot 0 is fast (72 shares, vardiff's trigger, within a minute at the start difficulty).
const hashrates = Array.from({ length: nMiners }, (_, i) => (i === 0 ? 120_000 : 8_000 + ((i * 7919) % 5) * 8_000));
const START_DIFF = 0.00002;
const SUGGEST_DIFF = 0.00005;
const totalRate = hashrates.reduce((a, b) => a + b, 0);
const netDiff = (totalRate * 15) / 2 ** 32;
const bits = bitsForDiff(netDiff);

async function main(): Promise<number> {
  const core = await startCore(bitcoind!);
  await core.generate(101, CORE_BURN_ADDRESS);
  const target = { host: core.host, port: core.rpcPort };
  // btcd 1: Core behind the slow, failing stand-in (first, so the pool really works
  // with it and fails over to Core and back); btcd 2: Core, with the target stand-in only
  const direct = await nodeProxy({ target, bits });
  const cycle = (ms: number): Fault => {
    const s = (ms / 1000) % 90;
    return s < 45 ? 'ok' : s < 55 ? 'http500' : s < 65 ? 'rpcerror' : s < 70 ? 'hang' : 'ok';
  };
  const failing = await nodeProxy({ target, bits, delayMs: [100, 1500], schedule: cycle });
  const cookie = core.cookieFile;
  const port = await freePort();
  const conf = path.join(dir, 'soak.conf');
  writeFileSync(conf, JSON.stringify({
    btcd: [{ url: failing.url, cookie, notify: true }, { url: direct.url, cookie, notify: true }],
    zmqblock: core.zmqUrl, btcaddress: CORE_BURN_ADDRESS, serverurl: [`127.0.0.1:${port}`], logdir,
    // ports above 4000 are ckpool's "highdiff" ports: the same start there
    startdiff: START_DIFF, highdiff: START_DIFF, mindiff: 0.000001, workers: 2,
  }, null, 1));
  log(`dir ${dir}, ${minutes} min, ${nMiners} miners (${Math.round(totalRate / 1000)} kH/s emulated), pool network diff ${netDiff.toPrecision(3)} (bits ${bits}), handover every ${(handoverMs / 60_000).toFixed(2)} min`);

  const gens: { child: Child; pid: number }[] = [];
  const startPool = async (extraArgs: string[]): Promise<Child> => {
    const c = spawnNode(BIN, ['-c', conf, '-n', 'soak', '-s', sockdir, '-L', ...extraArgs], dir, children);
    const deadline = Date.now() + 60_000;
    while (!/stratum on/.test(c.out())) {
      if (c.child.exitCode !== null) throw new Error(`ckpool ${extraArgs.join(' ')} exited ${c.child.exitCode}: ${c.err()}${c.out()}`);
      if (Date.now() > deadline) throw new Error(`ckpool did not listen within 60 s: ${c.err()}${c.out()}`);
      await sleep(50);
    }
    gens.push({ child: c, pid: c.child.pid! });
    return c;
  };
  await startPool([]);
  await sleep(3000); // worker threads up, first template, ZMQ subscribed
  const basePid = gens[0]!.pid;
  const baseFds = fdCount(basePid);
  const baseTargets = fdTargets(basePid);
  log(`pool pid ${basePid}, ${baseFds} descriptors before any miner`);

  const tally = newTally();
  const slots = hashrates.map((hashrate, i) => new MinerSlot({
    port, index: i, hashrate,
    // even slots stay (until a handover moves them), so vardiff has the time it needs
    // (72 shares or 240 s); odd slots come and go
    lifetimeMs: i % 2 === 0 ? [runMs, runMs] : [20_000, Math.max(30_000, Math.min(180_000, runMs / 4))],
    rolling: i % 3 === 1,
    suggest: i % 4 === 2 ? SUGGEST_DIFF : null,
  }, tally));

  const samples: RssSample[] = [];
  const t0 = Date.now();
  let coreBlocks = 0;
  let blockErrors = 0;
  // every 10 s a block from Core; every `realEvery` ticks a "real window": the stand-ins
  // pass Core's own template (bits 207fffff) for 5 s, so the miners' shares on
  // it are real regtest blocks that Core must accept (scripts/soak/node-proxy.ts)
  const realEvery = Math.max(2, Math.round(Math.min(60_000, runMs / 4) / blockMs));
  let ticks = 0;
  let realWindows = 0;
  const blockTimer = setInterval(() => {
    const real = ++ticks % realEvery === 0;
    if (real) {
      realWindows++;
      direct.bits = failing.bits = null;
      setTimeout(() => { direct.bits = failing.bits = bits; }, 5000);
    }
    core.generate(1, CORE_BURN_ADDRESS).then(() => coreBlocks++, () => blockErrors++);
  }, blockMs);
  const sampleTimer = setInterval(() => {
    const g = gens.at(-1)!;
    try {
      const s = sampleProcs([g.pid]);
      samples.push({ at: Date.now(), gen: gens.length - 1, rss: s.rss, fds: fdCount(g.pid) });
    } catch {
      /* between handover generations */
    }
  }, 2000);
  const progress = setInterval(() => {
    const last = samples.at(-1);
    log(`${((Date.now() - t0) / 60_000).toFixed(1)} min: ${tally.accepted.length} accepted, ${[...tally.rejected.values()].reduce((a, b) => a + b, 0)} rejected, ${tally.blocks.length} miner blocks, ${coreBlocks} Core blocks, ${tally.connects} connects, gen ${gens.length - 1}, rss ${last ? (last.rss / 2 ** 20).toFixed(1) : '?'} MiB, fds ${last?.fds ?? '?'}`);
  }, 30_000);

  let handovers = 0;
  const handoverErrors: string[] = [];
  let nextHandover = t0 + handoverMs;
  while (Date.now() - t0 < runMs) {
    await sleep(1000);
    if (Date.now() >= nextHandover && Date.now() - t0 < runMs - 20_000) {
      nextHandover += handoverMs;
      const old = gens.at(-1)!;
      try {
        await startPool(['-H']);
        const exited = await Promise.race([old.child.exited.then(() => true), sleep(30_000).then(() => false)]);
        if (!exited) handoverErrors.push(`old process ${old.pid} still running 30 s after the handover`);
        handovers++;
        log(`handover ${handovers}: pid ${old.pid} → ${gens.at(-1)!.pid}`);
      } catch (e) {
        handoverErrors.push((e as Error).message);
      }
    }
  }
  clearInterval(blockTimer);
  clearInterval(progress);
  log('stopping miners');
  await Promise.all(slots.map((s) => s.stop()));
  const last = gens.at(-1)!;
  // the pool notices the closed sockets, drops the clients; give it a few stats ticks
  // HTTP keep-alive connections to the nodes come and go with the RPC load: they are
  // counted apart; every other descriptor (miners' sockets above all) must be back
  const nodePorts = [failing.url, direct.url, `x:${core.zmqPort}`].map((u) => Number(u.split(':')[1]));
  const isNodeLink = (d: string) => nodePorts.some((p) => d.includes(`→${p} `));
  const others = (ds: string[]) => ds.filter((d) => !isNodeLink(d));
  const baseOthers = others(baseTargets).length;
  let endTargets = fdTargets(last.pid);
  for (let i = 0; i < 15 && others(endTargets).length > baseOthers; i++) {
    await sleep(1000);
    endTargets = fdTargets(last.pid);
  }
  const endFds = endTargets.length;
  const endOthers = others(endTargets).length;
  clearInterval(sampleTimer);
  // shut the pool down (it writes users/ and pool/ once more as it stops), then read them
  const stopAt = Date.now();
  const shutdownOk = await new Promise<boolean>((r) => {
    last.child.child.once('exit', (code) => r(code === 0));
    last.child.child.kill('SIGTERM');
    setTimeout(() => { last.child.child.kill('SIGKILL'); r(false); }, 15_000);
  });
  const users = [...new Set(slots.map((s) => s.user))];
  const stats = userShares(logdir, users);
  // users/ "shares" is the accepted difficulty as the pool credited it (the difficulty of
  // the share's job, which can differ from the miner's latest set_difficulty): it must
  // equal the share logs' sum for the user, across every handover
  const logged = shareLogDiff(logdir);
  const statsShort = users.filter((u) => !(Math.abs((stats.get(u) ?? NaN) - (logged.get(u) ?? 0)) <= 1e-9 + (logged.get(u) ?? 0) * 1e-9));
  const stderr = gens.map((g) => g.child.err()).join('');
  const unexpected = unexpectedLines(stderr, allowedLines(failing.url, direct.url));

  const lost = lostShares(tally.accepted, logdir);
  const files = blockFiles(logdir);
  const byHash = new Map(files.map((f) => [f.hash, f]));
  const missingFiles = tally.blocks.filter((b) => !byHash.has(b.hash));
  // submitted: a node's verdict recorded next to the block file (the pool submits to
  // every node alive at the time, so the failing stand-in is sometimes left out)
  const unsubmitted = tally.blocks.filter((b) => (byHash.get(b.hash)?.result?.verdicts?.length ?? 0) < 1);
  const realBlocks = tally.blocks.filter((b) => b.nbits === '207fffff');
  const notInCore: string[] = [];
  let onChain = 0;
  for (const b of realBlocks) {
    try {
      const h = await core.rpc<{ confirmations: number }>('getblockheader', [b.hash]);
      if (h.confirmations >= 1) onChain++;
    } catch {
      notInCore.push(b.hash);
    }
  }
  const growth = rssGrowth(samples, warmupMs);
  const worst = growth.reduce((m, g) => Math.max(m, g.pct), -Infinity);
  const rejected = [...tally.rejected.entries()].map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const userCmp = users.map((u) => `${u} ${(stats.get(u) ?? NaN).toPrecision(6)}/${(logged.get(u) ?? 0).toPrecision(6)}`).join(', ');

  const rows: [string, string, boolean][] = [
    ['duration', `${((stopAt - t0) / 60_000).toFixed(1)} min, ${gens.length} pool process(es), ${handovers} handover(s)`, handovers >= 1 && handoverErrors.length === 0],
    ['miners', `${nMiners} slots, ${tally.connects} connections, ${tally.reconnectsTold} told to reconnect, ${tally.refused} refused, ${tally.timeouts} submit timeouts`, tally.refused === 0 && tally.errors.length === 0],
    ['shares', `${tally.accepted.length} accepted, rejected: ${rejected}`, tally.accepted.length > 0],
    // Vardiff moving needs the fast slot's 72 shares in a minute: a short run on a loaded
    // machine (CI's 2 minutes next to a build) may not get there, so it is required from
    // 10 minutes on and reported either way.
    ['vardiff', `difficulties miners were given: ${[...tally.difficulties].sort((a, b) => a - b).map((d) => d.toPrecision(3)).join(' ')}${minutes < 10 ? ' (required from 10-minute runs on)' : ''}`,
      [...tally.difficulties].some((d) => d !== START_DIFF && d !== SUGGEST_DIFF) || minutes < 10],
    ['lost accepted shares', `${lost.length} of ${tally.accepted.length} not in the share logs`, lost.length === 0],
    ['users/ stats', `"shares" in users/ vs accepted diff in the share logs: ${userCmp}`, statsShort.length === 0],
    ['shutdown', `last pool process exited ${shutdownOk ? 'cleanly' : 'NOT cleanly'} on SIGTERM`, shutdownOk],
    ['blocks', `${coreBlocks} by Core (${blockErrors} errors); ${tally.blocks.length} by miners: ${tally.blocks.length - missingFiles.length} in blocks/, ${tally.blocks.length - unsubmitted.length} submitted (a node's verdict on record); ${realBlocks.length} on Core's own bits (${realWindows} windows): ${onChain} on Core's chain, ${notInCore.length} unknown to Core`, tally.blocks.length > 0 && realBlocks.length > 0 && missingFiles.length === 0 && unsubmitted.length === 0 && notInCore.length === 0],
    ['RSS growth after warm-up', growth.map((g) => `gen ${g.gen}: ${(g.warm / 2 ** 20).toFixed(1)} → ${(g.end / 2 ** 20).toFixed(1)} MiB (${g.pct >= 0 ? '+' : ''}${g.pct.toFixed(1)} %)`).join('; ') || 'no process lived past warm-up', growth.length > 0 && worst <= rssLimit],
    ['descriptors', `${baseFds} before any miner, ${endFds} after all left; without node connections ${baseOthers} → ${endOthers} (node connections ${baseFds - baseOthers} → ${endFds - endOthers})${endOthers !== baseOthers ? ` (more: ${extra(others(endTargets), others(baseTargets)).join(' ') || '-'}; fewer: ${extra(others(baseTargets), others(endTargets)).join(' ') || '-'})` : ''}`, endOthers <= baseOthers],
    ['stand-in node', `requests ${JSON.stringify(failing.counts)}`, failing.counts.http500 + failing.counts.rpcerror + failing.counts.hang > 0],
    ['log', `${stderr.split('\n').filter(Boolean).length} WARNING+ lines, ${unexpected.length} unexpected`, unexpected.length === 0],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log(`\nSoak summary (${minutes} min, ${nMiners} miners)\n`);
  for (const [k, v, ok] of rows) console.log(`${ok ? 'PASS' : 'FAIL'}  ${k.padEnd(width)}  ${v}`);
  if (unexpected.length) console.log(`\nunexpected log lines (first 20):\n${unexpected.slice(0, 20).join('\n')}`);
  if (tally.errors.length) console.log(`\nminer errors (first 10):\n${tally.errors.slice(0, 10).join('\n')}`);
  if (handoverErrors.length) console.log(`\nhandover errors:\n${handoverErrors.join('\n')}`);
  if (lost.length) console.log(`\nlost shares (first 10): ${lost.slice(0, 10).map((l) => l.key).join(' ')}`);
  if (missingFiles.length) console.log(`\nminer blocks not in blocks/: ${missingFiles.map((b) => b.hash).join(' ')}`);
  if (unsubmitted.length) console.log(`\nminer blocks with no node verdict: ${unsubmitted.map((b) => b.hash).join(' ')}`);
  if (notInCore.length) console.log(`\nreal blocks unknown to Core: ${notInCore.join(' ')}`);
  if (argv.json) writeFileSync(argv.json, JSON.stringify({ minutes, miners: nMiners, rows, samples, growth, unexpected, errors: tally.errors }, null, 1));

  await direct.close();
  await failing.close();
  await stopAllCores();
  if (!argv.keep) rmSync(dir, { recursive: true, force: true });
  else log(`kept ${dir} (pool log ${path.join(logdir, 'soak.log')})`);
  return rows.every((r) => r[2]) ? 0 : 1;
}

main().then((code) => process.exit(code), (e: Error) => {
  console.error(`soak: ${e.stack ?? e.message}`);
  process.exit(1);
});
