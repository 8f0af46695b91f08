/**
 * `npm run bench:pool` — the pool through its real TCP server, on one core.
 *
 *   throughput: N connections subscribe + authorize, each keeps P random submits in
 *               flight for the current job; replies per second. Random shares are fully
 *               hashed and checked before being rejected as above target, so this
 *               measures the validation path. (10 conns × 16, 1000 conns × 1)
 *   memory:     pool RSS with N idle authorised clients → bytes per client
 *   broadcast:  N idle clients; a block is generated on the node; time until the first,
 *               median and last client hold the clean notify
 *
 * Template source: a real bcoin regtest node behind test/helpers/hardbits.ts, which
 * raises the template's bits to a mainnet-like target (regtest's 207fffff makes half of
 * all random hashes blocks). The pool runs in its own process pinned to CPU 0 with
 * `taskset` when available; this load generator runs on CPU 1 and reports its own CPU.
 */
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startBcoin } from '../ts/node/bcoin.js';
import { hardBitsProxy } from '../test/helpers/hardbits.js';

const quick = process.argv.includes('--quick');
const SECONDS = quick ? 3 : 10;
const REGTEST_ADDRESS = 'rb1qw508d6qejxtdg4y5r3zarvary0c5xw7k38f4sn';
const hasTaskset = (() => { try { execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }); return true; } catch { return false; } })();
if (hasTaskset) execFileSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });

const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/** A minimal stratum connection for load: prebuilt lines, newline counting. */
class LoadConn {
  sock!: net.Socket;
  en1 = '';
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
      if (!this.en1 && line.includes('"mining.notify"')) this.en1 = JSON.parse(line).result[1];
      this.replies++;
      this.onReply?.();
    }
  }
  async handshake(worker: string): Promise<void> {
    this.sock.write(`{"id":1,"method":"mining.subscribe","params":["bench"]}\n{"id":2,"method":"mining.authorize","params":["${worker}","x"]}\n`);
    while (this.replies < 2 || !this.jobId) await new Promise((r) => setTimeout(r, 5));
  }
  submits(n: number): string[] {
    return Array.from({ length: n }, () => `{"id":4,"method":"mining.submit","params":["bench.w","${this.jobId}","${randomBytes(8).toString('hex')}","${this.ntime}","${randomBytes(4).toString('hex')}"]}\n`);
  }
}

async function openMany(port: number, n: number): Promise<LoadConn[]> {
  const out: LoadConn[] = [];
  for (let i = 0; i < n; i += 200) {
    const batch = await Promise.all(Array.from({ length: Math.min(200, n - i) }, () => LoadConn.open(port)));
    await Promise.all(batch.map((c) => c.handshake('bench.w')));
    out.push(...batch);
  }
  return out;
}

async function throughput(port: number, conns: number, pipeline: number) {
  const cs = await openMany(port, conns);
  const lines = cs.map((c) => c.submits(1024));
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
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const rate = (total - start) / ((performance.now() - t0) / 1000);
  const cpu = process.cpuUsage(cpu0);
  running = false;
  for (const c of cs) c.sock.destroy();
  return { conns, pipeline, repliesPerSec: Math.round(rate), loadCpuPct: Math.round(((cpu.user + cpu.system) / 1e6 / SECONDS) * 100) };
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-bench-'));
  const node = await startBcoin({ walletEnabled: false });
  await node.generateToAddress(2, REGTEST_ADDRESS);
  const proxy = await hardBitsProxy({ host: node.host, port: node.port }, '17034219');
  const config = {
    btcd: [{ url: proxy.url, auth: node.user, pass: node.pass, notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 1, mindiff: 1, logdir: dir,
    updateInterval: 3600, blockpoll: 10,
  };
  const cmd = hasTaskset ? ['taskset', '-c', '0', process.execPath] : [process.execPath];
  const child = spawn(cmd[0]!, [...cmd.slice(1), '--import=tsx', new URL('./pool-server.ts', import.meta.url).pathname], {
    env: { ...process.env, BENCH_POOL_CONFIG: JSON.stringify(config) }, stdio: ['pipe', 'pipe', 'inherit'],
  });
  const [first] = (await once(child.stdout!, 'data')) as [Buffer];
  const { port, pid } = JSON.parse(first.toString());
  const results: Record<string, unknown> = { pinned: hasTaskset, seconds: SECONDS };
  try {
    results.throughput = [await throughput(port, 10, 16), await throughput(port, 1000, 1)];
    await new Promise((r) => setTimeout(r, 500));
    // memory per idle authorised client
    const mem = [];
    for (const n of quick ? [1000] : [1000, 5000]) {
      const before = rss(pid);
      const cs = await openMany(port, n);
      await new Promise((r) => setTimeout(r, 500));
      const after = rss(pid);
      mem.push({ clients: n, bytesPerClient: Math.round((after - before) / n) });
      // broadcast: a block on the node → every client holds the clean notify
      const t: number[] = [];
      const done = new Promise<void>((r) => cs.forEach((c) => { c.gotClean = (x) => { t.push(x); if (t.length === n) r(); }; }));
      const t0 = performance.now();
      await node.generateToAddress(1, REGTEST_ADDRESS);
      await done;
      t.sort((a, b) => a - b);
      (mem[mem.length - 1] as Record<string, unknown>).broadcastMs = {
        first: +(t[0]! - t0).toFixed(1), median: +(t[n >> 1]! - t0).toFixed(1), last: +(t[n - 1]! - t0).toFixed(1),
        spread: +(t[n - 1]! - t[0]!).toFixed(1),
      };
      for (const c of cs) c.sock.destroy();
      await new Promise((r) => setTimeout(r, 1000));
    }
    results.idle = mem;
  } finally {
    child.stdin!.end();
    await once(child, 'exit');
    await proxy.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(results, null, 1));
}

await main();
