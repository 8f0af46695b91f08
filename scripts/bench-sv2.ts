/**
 * Stratum V2 next to V1 on one ckpool-ts pool (issue 17, BENCHMARKS.md "Stratum V2"):
 *
 *   node --import=tsx scripts/bench-sv2.ts [--txs 4000] [--conns 10] [--inflight 16] [--seconds 10] [--idle 1000] [--pairs 2]
 *
 * The pool runs as its own process (this script with --pool: the library Pool with
 * serverurl and sv2url, invalidBurst off, under --max-semi-space-size=1 as the ckpool
 * binary) on a ckpool-bench template source in this process. Three measurements:
 *
 * 1. share throughput: `ckpool-bench throughput` (V1) and the reference-crate SV2 load
 *    generator (crates/ckpool-sv2/examples/sv2-bench.rs) alternately against the same
 *    pool, random shares at difficulty 1 (all rejected as too low, through the one share
 *    check); replies per second and per pool CPU-second (/proc/<pid>/stat).
 * 2. bytes per idle client: a fresh pool per protocol, RSS before and after N idle
 *    authorised clients (V1: ckpool-bench connect; SV2: sv2-bench idle, one standard
 *    channel each).
 * 3. bytes on the wire per job: a V1 client's mining.notify lines and the SV2 frames of a
 *    standard and an extended channel, over a few block changes.
 *
 * The SV2 side is a Rust client on the SV2 reference crates, the same engine
 * `ckpool-bench throughput|connect --sv2 --sv2-key <pubkey>` spawns (ts/bench/sv2.ts);
 * this script runs it directly to pair V1 and V2 runs on one pool process.
 */
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { createInterface } from 'node:readline';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    pool: { type: 'boolean', default: false },
    rpc: { type: 'string' },
    txs: { type: 'string', default: '4000' },
    conns: { type: 'string', default: '10' },
    inflight: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '10' },
    idle: { type: 'string', default: '1000' },
    pairs: { type: 'string', default: '2' },
  },
});

interface PoolProc { port: number; sv2port: number; pubkey: string; pid: number; stop(): Promise<void> }

async function startPool(rpc: string): Promise<PoolProc> {
  const child = spawn(process.execPath, ['--max-semi-space-size=1', ...(process.env.BENCH_POOL_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import=tsx', path.join(ROOT, 'scripts/bench-sv2.ts'), '--pool', '--rpc', rpc], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (c) => reject(new Error(`pool exited ${c}`)));
  });
  const info = JSON.parse(line) as Omit<PoolProc, 'stop'>;
  return { ...info, stop: async () => { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); } };
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}
function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}
const TICK = 100; // USER_HZ

function run(cmd: string, args: string[]): Promise<string> {
  return promisify(execFile)(cmd, args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }).then((r) => r.stdout);
}
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
const SV2_BENCH = path.join(ROOT, 'target/release/examples/sv2-bench');

async function main(): Promise<void> {
  await run('cargo', ['build', '--release', '-p', 'ckpool-sv2', '--example', 'sv2-bench']);
  const { TemplateSource } = await import('../ts/bench/template-source.js');
  const ts = await TemplateSource.start({ txs: Number(values.txs) });
  const rpc = `127.0.0.1:${ts.port}`;
  const conns = values.conns!;
  const inflight = values.inflight!;
  const secs = values.seconds!;
  const out: Record<string, unknown> = { txs: Number(values.txs), conns: Number(conns), inflight: Number(inflight), seconds: Number(secs) };

  // 1. throughput, alternating V1 / V2 on one pool
  {
    const p = await startPool(rpc);
    const rows: { proto: string; rps: number; perCpu: number; verdicts: unknown }[] = [];
    for (let i = 0; i < Number(values.pairs); i++) {
      for (const proto of ['v1', 'v2']) {
        const c0 = cpuTicks(p.pid);
        const t0 = Date.now();
        const r = proto === 'v1'
          ? lastJson(await run(process.execPath, ['bin/ckpool-bench.js', 'throughput', '-p', String(p.port), '-c', conns, '-P', inflight, '-w', '2', '-d', secs, '--json']))
          : lastJson(await run(SV2_BENCH, ['throughput', `127.0.0.1:${p.sv2port}`, p.pubkey, conns, inflight, '2', secs]));
        // CPU over the whole run (warm-up included), scaled to the measured window
        const cpuS = (cpuTicks(p.pid) - c0) / TICK * (Number(secs) / ((Date.now() - t0) / 1000));
        const rps = Number(r.repliesPerSec);
        rows.push({ proto, rps, perCpu: Math.round(rps * Number(secs) / cpuS), verdicts: r.verdicts ?? r.rejectReasons ?? r.replies });
      }
    }
    out.throughput = rows;
    await p.stop();
  }

  // 2. bytes per idle client, a fresh pool each
  {
    const n = values.idle!;
    const rows: Record<string, unknown>[] = [];
    for (const proto of ['v1', 'v2']) {
      const p = await startPool(rpc);
      await new Promise((r) => setTimeout(r, 2000));
      const before = rss(p.pid);
      let readyMs: number;
      if (proto === 'v1') {
        const r = lastJson(await run(process.execPath, ['bin/ckpool-bench.js', 'connect', '-p', String(p.port), '-c', n, '--pid', String(p.pid), '--settle', '2000', '--json']));
        readyMs = Number(r.allWorkMs ?? 0);
        rows.push({ proto, clients: Number(n), rssBefore: r.poolRssBeforeBytes, rssAfter: r.poolRssAfterBytes, bytesPerClient: r.bytesPerClient, readyMs });
      } else {
        const child = spawn(SV2_BENCH, ['idle', `127.0.0.1:${p.sv2port}`, p.pubkey, n, '30'], { stdio: ['ignore', 'pipe', 'inherit'] });
        const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
        readyMs = Number((JSON.parse(line) as { readyMs: number }).readyMs);
        await new Promise((r) => setTimeout(r, 2000));
        const after = rss(p.pid);
        child.kill('SIGKILL');
        rows.push({ proto, clients: Number(n), rssBefore: before, rssAfter: after, bytesPerClient: Math.round((after - before) / Number(n)), readyMs });
      }
      await p.stop();
    }
    out.idle = rows;
  }

  // 3. bytes on the wire per job
  {
    const p = await startPool(rpc);
    const v1 = await v1NotifySizes(p.port, 3, () => ts.newBlock());
    const jobs = run(SV2_BENCH, ['jobs', `127.0.0.1:${p.sv2port}`, p.pubkey, '6']);
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 0; i < 3; i++) {
      ts.newBlock();
      await new Promise((r) => setTimeout(r, 1000));
    }
    const frames = (lastJson(await jobs).frames as { channel: string; type: string; bytes: number }[]);
    const byType: Record<string, number[]> = {};
    for (const f of frames) (byType[`${f.channel} ${f.type}`] ??= []).push(f.bytes);
    out.perJob = { v1NotifyBytes: v1, sv2Frames: byType };
    await p.stop();
  }
  await ts.close();
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}

/** A V1 miner's mining.notify line sizes (bytes with the newline) over `blocks` block changes. */
async function v1NotifySizes(port: number, blocks: number, newBlock: () => unknown): Promise<number[]> {
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const sizes: number[] = [];
  let buf = '';
  s.on('data', (d) => {
    buf += d.toString('latin1');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i + 1);
      buf = buf.slice(i + 1);
      if (line.includes('"method":"mining.notify"')) sizes.push(Buffer.byteLength(line));
    }
  });
  s.write('{"id":1,"method":"mining.subscribe","params":["bench"]}\n{"id":2,"method":"mining.authorize","params":["bench.v1","x"]}\n');
  await new Promise((r) => setTimeout(r, 1000));
  for (let i = 0; i < blocks; i++) {
    newBlock();
    await new Promise((r) => setTimeout(r, 1000));
  }
  s.destroy();
  return sizes;
}

// (dispatch last: the helpers above are `const`s)
if (values.pool) {
  // ---- the pool process
  const { Pool } = await import('../ts/pool/pool.js');
  const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-bench-sv2-'));
  const pool = await Pool.start({
    btcd: [{ url: values.rpc!, auth: 'bench', pass: 'bench', notify: false, line: 0 }],
    btcaddress: 'bcrt1qlk935ze2fsu86zjp395uvtegztrkaezawxx0wf',
    serverurl: ['127.0.0.1:0'], sv2url: ['127.0.0.1:0'], startdiff: 1, mindiff: 1, logdir, updateInterval: 3600, blockpoll: 100,
  }, {
    server: { highdiffPort: 65535, floodRate: 1e9, floodBurst: 1e9, maxClients: 50_000 },
    authTimeoutMs: 600_000, invalidBurst: Number.POSITIVE_INFINITY, statsIntervalMs: 3_600_000, workers: 0, sockdir: logdir,
  });
  process.stdout.write(JSON.stringify({ port: pool.addresses[0]!.port, sv2port: pool.sv2!.addresses[0]!.port, pubkey: pool.sv2!.authorityPublic, pid: process.pid }) + '\n');
  const stop = () => void pool.stop().finally(() => { rmSync(logdir, { recursive: true, force: true }); process.exit(0); });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else {
  await main();
}

