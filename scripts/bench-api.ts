/**
 * Issue 15's benchmark: share throughput at 1000 miners with the HTTP API on — GET
 * /metrics scraped every second and 20 dashboard clients on /api/v1/events (SSE) — against
 * the same run with the API off. Paired runs in one invocation, alternating off/on, each
 * on a fresh pool process (this script with --child) on a ckpool-bench template source:
 *
 *   npm run bench:api -- [--pairs 2] [--connections 1000] [--duration 20] [--warmup 5] [--workers 0] [--cpu-prof DIR]
 *
 * Prints one line per run (replies/s, pool CPU %, replies per pool CPU-second, p50/p99
 * latency, scrapes done) and the on/off ratios. Every share is a random one the pool
 * rejects (ckpool-bench throughput): the full share path, plus the rejection counters.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { throughput, type ThroughputResult } from '../ts/bench/modes.js';
import { TemplateSource } from '../ts/bench/template-source.js';

const { values } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    rpc: { type: 'string' },
    api: { type: 'boolean', default: false },
    pairs: { type: 'string', default: '2' },
    connections: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    workers: { type: 'string', default: '0' },
    sse: { type: 'string', default: '20' },
    // a directory: each pool process writes a V8 CPU profile there (node --cpu-prof)
    'cpu-prof': { type: 'string' },
  },
});

let runNo = 0;

if (values.child) await child();
else await parent();

/** The pool under test (as scripts/bench-pool.ts, plus the API when --api). Prints {port, pid, api}. */
async function child(): Promise<void> {
  const { Pool } = await import('../ts/pool/pool.js');
  const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-bench-api-'));
  const pool = await Pool.start({
    btcd: [{ url: values.rpc!, auth: 'bench', pass: 'bench', notify: false, line: 0 }],
    btcaddress: 'bcrt1qlk935ze2fsu86zjp395uvtegztrkaezawxx0wf',
    serverurl: ['127.0.0.1:0'], startdiff: 1, mindiff: 1, logdir, updateInterval: 3600,
    ...(values.api ? { apiurl: '127.0.0.1:0' } : {}),
  }, {
    server: { highdiffPort: 65535, floodRate: 1e9, floodBurst: 1e9, maxClients: 50_000 },
    authTimeoutMs: 600_000, invalidBurst: Number.POSITIVE_INFINITY, statsIntervalMs: 3_600_000,
    workers: Number(values.workers),
  });
  process.stdout.write(JSON.stringify({ port: pool.addresses[0]!.port, pid: process.pid, api: pool.api?.url ?? null }) + '\n');
  const stop = () => void pool.stop().finally(() => { rmSync(logdir, { recursive: true, force: true }); process.exit(0); });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

interface Run { api: boolean; r: ThroughputResult; scrapes: number; scrapeMsMax: number; sseEvents: number }

async function startChild(rpc: string, api: boolean): Promise<{ proc: ChildProcess; port: number; pid: number; api: string | null }> {
  const script = fileURLToPath(import.meta.url);
  // one directory per run (DIR/api-on-1, …): node writes a profile per thread (tsx's loader has one)
  const prof = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${path.join(values['cpu-prof'], `api-${api ? 'on' : 'off'}-${++runNo}`)}`] : [];
  const proc = spawn(process.execPath, ['--max-semi-space-size=1', ...prof, '--import=tsx', script, '--child', '--rpc', rpc, '--workers', values.workers!, ...(api ? ['--api'] : [])],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', resolve);
    proc.once('exit', (c) => reject(new Error(`pool process exited (${c})`)));
  });
  return { proc, ...(JSON.parse(line) as { port: number; pid: number; api: string | null }) };
}

/** 20 dashboard clients: each holds /api/v1/events open and reads (and drops) what comes. */
function sseClients(base: string, n: number, counter: { events: number }): AbortController {
  const ac = new AbortController();
  for (let i = 0; i < n; i++) {
    void fetch(`${base}api/v1/events`, { signal: ac.signal }).then(async (res) => {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        counter.events += Buffer.from(chunk).toString('utf8').split('\nevent:').length - 1 || 0;
      }
    }).catch(() => undefined);
  }
  return ac;
}

async function one(source: TemplateSource, api: boolean): Promise<Run> {
  const c = await startChild(source.url.replace(/^http:\/\//, '').replace(/^[^@]*@/, ''), api);
  let scrapes = 0;
  let scrapeMsMax = 0;
  const counter = { events: 0 };
  let timer: NodeJS.Timeout | null = null;
  let ac: AbortController | null = null;
  if (api && c.api) {
    ac = sseClients(c.api, Number(values.sse), counter);
    timer = setInterval(() => {
      const t0 = performance.now();
      void fetch(`${c.api}metrics`).then((r) => r.text()).then(() => {
        scrapes++;
        scrapeMsMax = Math.max(scrapeMsMax, performance.now() - t0);
      }, () => undefined);
    }, 1000);
  }
  try {
    const r = await throughput({
      host: '127.0.0.1', port: c.port, user: 'bench.{i}', password: 'x', connections: Number(values.connections),
      pipeline: 1, durationS: Number(values.duration), warmupS: Number(values.warmup), pids: [c.pid],
    });
    return { api, r, scrapes, scrapeMsMax, sseEvents: counter.events };
  } finally {
    if (timer) clearInterval(timer);
    ac?.abort();
    c.proc.kill('SIGTERM');
    await new Promise((r) => c.proc.once('exit', r));
  }
}

function line(x: Run): string {
  const r = x.r;
  const perCpu = r.poolCpuPct ? r.repliesPerSec / (r.poolCpuPct / 100) : NaN;
  return `API ${x.api ? 'on ' : 'off'}  ${r.ready}/${r.connections} miners  ${Math.round(r.repliesPerSec)} replies/s  pool CPU ${r.poolCpuPct?.toFixed(0)} %  ` +
    `${Math.round(perCpu)} replies/pool CPU-s  p50 ${r.latencyMs?.p50.toFixed(1)} ms p99 ${r.latencyMs?.p99.toFixed(1)} ms` +
    (x.api ? `  scrapes ${x.scrapes} (slowest ${x.scrapeMsMax.toFixed(0)} ms)  SSE events ${x.sseEvents}` : '');
}

async function parent(): Promise<void> {
  const source = await TemplateSource.start({});
  const runs: Run[] = [];
  process.stdout.write(`bench:api — ${values.connections} miners, pipeline 1, ${values.duration} s (+${values.warmup} s warm-up), workers ${values.workers}, ` +
    `${values.sse} SSE clients + /metrics every 1 s when on; ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  try {
    for (let p = 0; p < Number(values.pairs); p++) {
      for (const api of p % 2 === 0 ? [false, true] : [true, false]) {
        const x = await one(source, api);
        runs.push(x);
        process.stdout.write(line(x) + '\n');
      }
    }
  } finally {
    await source.close();
  }
  const sum = (api: boolean, f: (x: Run) => number) => runs.filter((x) => x.api === api).reduce((n, x) => n + f(x), 0);
  const rate = (x: Run) => x.r.repliesPerSec;
  const perCpu = (x: Run) => (x.r.poolCpuPct ? x.r.repliesPerSec / (x.r.poolCpuPct / 100) : 0);
  process.stdout.write(`on/off: replies/s ${(sum(true, rate) / sum(false, rate)).toFixed(3)}×, replies per pool CPU-s ${(sum(true, perCpu) / sum(false, perCpu)).toFixed(3)}× ` +
    `(load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
}
