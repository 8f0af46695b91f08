/**
 * `node --import=tsx bench/passthrough.ts [--miners N] [--quick]` — one passthrough
 * (issue 6) carrying many miners to a main pool.
 *
 *   connect:    N miners subscribe + authorize through the passthrough; the main pool's
 *               TCP connection count (1) and client count (N); RSS of both processes;
 *               then a block on the node → time until the last miner holds the clean
 *               notify (N notifies fanned out over the one link). Then the same N
 *               straight to the pool, for comparison.
 *   latency:    one miner, sequential random submits (each hashed and judged by the
 *               pool, rejected as above target): round trip direct vs through the
 *               passthrough, p50 / p99.
 *   throughput: C connections × pipeline P of random submits: replies per second and
 *               CPU per share in the pool and in the passthrough, direct vs through.
 *
 * Template source: bcoin regtest behind test/helpers/hardbits.ts with mainnet-like bits
 * (random shares are not blocks), polled every 50 ms. With `taskset` the pool runs
 * pinned to CPU 0, and the passthrough and this load generator share CPU 1 (the machine
 * has two), so throughput through the passthrough is bounded by that shared core; the
 * CPU-per-share figures are not. `--no-pin` lets the scheduler place everything.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { parseConfig } from '../ts/config/parse.js';
import { startBcoin } from '../ts/node/bcoin.js';
import { hardBitsProxy } from '../test/helpers/hardbits.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const argN = argv.indexOf('--miners');
const MINERS = argN >= 0 ? Number(argv[argN + 1]) : quick ? 1000 : 10_000;
const SECONDS = quick ? 3 : 10;
const REGTEST_ADDRESS = 'rb1qw508d6qejxtdg4y5r3zarvary0c5xw7k38f4sn';
const hasTaskset = !argv.includes('--no-pin') && (() => { try { execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }); return true; } catch { return false; } })();
const TICK = 100; // USER_HZ

const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
/** CPU seconds (user + system) of a process so far. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

class Proc {
  readonly rl: Interface;
  constructor(readonly child: ChildProcess, readonly port: number, readonly pid: number) {
    this.rl = createInterface({ input: child.stdout! });
  }
  static async start(role: 'pool' | 'passthrough', config: unknown, cpu: number): Promise<Proc> {
    const cmd = hasTaskset ? ['taskset', '-c', String(cpu), process.execPath] : [process.execPath];
    const child = spawn(cmd[0]!, [...cmd.slice(1), '--import=tsx', new URL('./passthrough-server.ts', import.meta.url).pathname], {
      env: { ...process.env, BENCH_ROLE: role, BENCH_CONFIG: JSON.stringify(config) }, stdio: ['pipe', 'pipe', 'inherit'],
    });
    const rl = createInterface({ input: child.stdout! });
    const [first] = (await once(rl, 'line')) as [string];
    rl.close();
    const { port, pid } = JSON.parse(first);
    return new Proc(child, port, pid);
  }
  async stats(): Promise<Record<string, number>> {
    const line = once(this.rl, 'line') as Promise<[string]>;
    this.child.stdin!.write('stats\n');
    return JSON.parse((await line)[0]);
  }
  async stop(): Promise<void> {
    this.child.stdin!.end();
    await once(this.child, 'exit');
  }
}

/** A minimal stratum connection for load: prebuilt lines, newline counting. */
class LoadConn {
  sock!: net.Socket;
  jobId = '';
  ntime = '';
  replies = 0;
  buf = '';
  onReply: (() => void) | null = null;
  gotClean: ((t: number) => void) | null = null;
  static async open(port: number): Promise<LoadConn> {
    const c = new LoadConn();
    c.sock = net.connect({ port, host: '127.0.0.1' });
    c.sock.setNoDelay(true);
    await once(c.sock, 'connect');
    c.sock.setEncoding('utf8');
    c.sock.on('data', (d: string) => c.data(d));
    c.sock.on('error', () => undefined);
    return c;
  }
  data(d: string): void {
    this.buf += d;
    let i;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      if (line.startsWith('{"id":null')) {
        if (line.includes('"mining.notify"')) {
          const p = JSON.parse(line).params;
          this.jobId = p[0];
          this.ntime = p[7];
          if (p[8] && this.gotClean) this.gotClean(performance.now());
        }
        continue;
      }
      this.replies++;
      this.onReply?.();
    }
  }
  async handshake(worker: string): Promise<void> {
    this.sock.write(`{"id":1,"method":"mining.subscribe","params":["bench"]}\n{"id":2,"method":"mining.authorize","params":["${worker}","x"]}\n`);
    while (this.replies < 2 || !this.jobId) await new Promise((r) => setTimeout(r, 5));
  }
  submits(n: number, worker: string): string[] {
    return Array.from({ length: n }, () => `{"id":4,"method":"mining.submit","params":["${worker}","${this.jobId}","${randomBytes(4).toString('hex')}","${this.ntime}","${randomBytes(4).toString('hex')}"]}\n`);
  }
}

async function openMany(port: number, n: number, batch = 500): Promise<LoadConn[]> {
  const out: LoadConn[] = [];
  for (let i = 0; i < n; i += batch) {
    const cs = await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => LoadConn.open(port)));
    await Promise.all(cs.map((c, k) => c.handshake(`bench.w${i + k}`)));
    out.push(...cs);
  }
  return out;
}

const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function latency(port: number, n: number) {
  const [c] = await openMany(port, 1);
  const lines = c!.submits(n, 'bench.w0');
  const rtt: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const got = new Promise<void>((r) => { c!.onReply = r; });
    c!.sock.write(lines[i]!);
    await got;
    rtt.push((performance.now() - t0) * 1000);
  }
  c!.sock.destroy();
  rtt.sort((a, b) => a - b);
  return { submits: n, p50us: Math.round(q(rtt, 0.5)), p99us: Math.round(q(rtt, 0.99)) };
}

async function throughput(port: number, conns: number, pipeline: number, pids: { pool: number; pt?: number }) {
  const cs = await openMany(port, conns);
  const lines = cs.map((c, k) => c.submits(1024, `bench.w${k}`));
  let total = 0;
  let running = true;
  cs.forEach((c, k) => {
    let j = 0;
    c.replies = 0;
    c.onReply = () => { total++; if (running) c.sock.write(lines[k]![j++ & 1023]!); };
    let burst = '';
    for (let p = 0; p < pipeline; p++) burst += lines[k]![j++ & 1023]!;
    c.sock.write(burst);
  });
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  const start = total;
  const cpu0 = { load: process.cpuUsage(), pool: cpuSeconds(pids.pool), pt: pids.pt ? cpuSeconds(pids.pt) : 0 };
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const secs = (performance.now() - t0) / 1000;
  const shares = total - start;
  const load = process.cpuUsage(cpu0.load);
  const poolCpu = cpuSeconds(pids.pool) - cpu0.pool;
  const ptCpu = pids.pt ? cpuSeconds(pids.pt) - cpu0.pt : 0;
  running = false;
  for (const c of cs) c.sock.destroy();
  await new Promise((r) => setTimeout(r, 1000));
  return {
    conns, pipeline, repliesPerSec: Math.round(shares / secs),
    poolCpuPct: Math.round((poolCpu / secs) * 100), poolUsPerShare: +((poolCpu / shares) * 1e6).toFixed(2),
    passthroughCpuPct: pids.pt ? Math.round((ptCpu / secs) * 100) : undefined,
    passthroughUsPerShare: pids.pt ? +((ptCpu / shares) * 1e6).toFixed(2) : undefined,
    loadCpuPct: Math.round(((load.user + load.system) / 1e6 / secs) * 100),
  };
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-bench-pt-'));
  // bcoin starts before this process pins itself, so it is not confined to the load
  // generator's core
  const node = await startBcoin({ walletEnabled: false });
  await node.generateToAddress(2, REGTEST_ADDRESS);
  if (hasTaskset) execFileSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
  const hard = await hardBitsProxy({ host: node.host, port: node.port }, '17034219');
  const pool = await Proc.start('pool', {
    btcd: [{ url: hard.url, auth: node.user, pass: node.pass, notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 1, mindiff: 1, logdir: path.join(dir, 'pool'),
    updateInterval: 3600, blockpoll: 50, maxclients: 50_000,
  }, 0);
  const ptConfig = {
    ...parseConfig(JSON.stringify({ proxy: [{ url: `127.0.0.1:${pool.port}`, auth: 'pt', pass: 'x' }], logdir: path.join(dir, 'pt') }), 'passthrough', 'bench.conf'),
    serverurl: ['127.0.0.1:0'], maxclients: 50_000,
  };
  const pt = await Proc.start('passthrough', ptConfig, 1);
  const results: Record<string, unknown> = { pinned: hasTaskset, seconds: SECONDS, miners: MINERS };
  try {
    // --- connect N miners through the passthrough, then the same N straight to the pool
    for (const via of ['passthrough', 'direct'] as const) {
      const rssBefore = { pool: rss(pool.pid), pt: rss(pt.pid) };
      const t0 = performance.now();
      const cs = await openMany(via === 'passthrough' ? pt.port : pool.port, MINERS);
      const connectMs = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 500));
      const poolStats = await pool.stats();
      const ptStats = await pt.stats();
      const rssGrowth = { pool: Math.round((rss(pool.pid) - rssBefore.pool) / MINERS), passthrough: Math.round((rss(pt.pid) - rssBefore.pt) / MINERS) };
      const broadcast: number[] = [];
      const all = new Promise<void>((r) => cs.forEach((c) => { c.gotClean = (x) => { broadcast.push(x); if (broadcast.length === cs.length) r(); }; }));
      const tb = performance.now();
      await node.generateToAddress(1, REGTEST_ADDRESS);
      await all;
      broadcast.sort((a, b) => a - b);
      results[`connect_${via}`] = {
        miners: MINERS, allAuthorisedMs: Math.round(connectMs),
        mainPool: poolStats, passthrough: { miners: ptStats.miners },
        rssGrowthPerMinerBytes: via === 'passthrough' ? rssGrowth : { pool: rssGrowth.pool },
        blockToLastCleanNotifyMs: { first: +(broadcast[0]! - tb).toFixed(1), median: +(q(broadcast, 0.5) - tb).toFixed(1), last: +(broadcast.at(-1)! - tb).toFixed(1) },
      };
      for (const c of cs) c.sock.destroy();
      await new Promise((r) => setTimeout(r, 2000));
    }
    results.afterDisconnect = { mainPool: await pool.stats(), passthrough: await pt.stats() };

    // --- latency, one miner, sequential
    const n = quick ? 500 : 2000;
    results.latency = { direct: await latency(pool.port, n), passthrough: await latency(pt.port, n) };

    // --- throughput
    results.throughput = [];
    for (const [conns, pipe] of [[10, 16], [1000, 1]] as const) {
      (results.throughput as unknown[]).push({
        direct: await throughput(pool.port, conns, pipe, { pool: pool.pid }),
        passthrough: await throughput(pt.port, conns, pipe, { pool: pool.pid, pt: pt.pid }),
      });
    }
  } finally {
    await pt.stop();
    await pool.stop();
    await hard.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(results, null, 1));
}

await main();
