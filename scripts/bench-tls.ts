/**
 * Stratum over TLS against plain TCP, paired in one invocation (BENCHMARKS.md, "Stratum
 * over TLS (issue 16)"):
 *
 *   node --import=tsx scripts/bench-tls.ts [--rounds 3] [--workers 1] [--idle 2000] [--duration 5] [--txs 0]
 *
 * One ckpool-bench template source (a fake node, benchmarks only) and the pool of
 * scripts/bench-pool.ts (flood limits lifted) listening on a plain port and a
 * `stratum+ssl://` port (a self-signed P-256 certificate made with the openssl CLI).
 * Each round measures both kinds back to back, in alternating order:
 * - share throughput: `ckpool-bench throughput [--tls]` at 10 connections × 16 in flight
 *   and at 200 connections × 1 (one pool for all throughput runs);
 * - bytes per idle client: `ckpool-bench connect [--tls] -c <idle> --pid <pool>` on a
 *   fresh pool process each time (RSS only grows, so a pool is never reused).
 * Prints a markdown table of medians with TLS/plain ratios; every raw summary goes to
 * the JSONL file named on stderr.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string', default: '1' },
    idle: { type: 'string', default: '2000' },
    duration: { type: 'string', default: '5' },
    txs: { type: 'string', default: '0' },
  },
});
const rounds = Number(values.rounds);
const dir = mkdtempSync(path.join(tmpdir(), 'ckpool-bench-tls-'));
const results = path.join(dir, 'results.jsonl');
const root = new URL('..', import.meta.url).pathname;
const children: ChildProcess[] = [];

const certPath = path.join(dir, 'cert.pem');
const keyPath = path.join(dir, 'key.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath,
  '-out', certPath, '-days', '30', '-subj', '/CN=bench.pool', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });

/** Start a node script; resolves with its first stdout line parsed as JSON. */
function startJson(args: string[]): Promise<{ child: ChildProcess; info: Record<string, unknown> }> {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, info: JSON.parse(out.slice(0, nl)) as Record<string, unknown> });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${err}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

/** One ckpool-bench run; its JSON summary (the last stdout line). */
function bench(args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/ckpool-bench.js', ...args, '--json', '-q'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as Record<string, unknown>);
      } catch {
        reject(new Error(`ckpool-bench ${args.join(' ')} exited ${code}: ${out}`));
      }
    });
  });
}

const source = await startJson(['bin/ckpool-bench.js', 'template-source', '--txs', values.txs!, '--port', '0']);
const rpc = String(source.info.rpc);
const startPool = () => startJson(['--max-semi-space-size=1', '--import=tsx', 'scripts/bench-pool.ts', '--rpc', rpc,
  '--workers', values.workers!, '--tlscert', certPath, '--tlskey', keyPath]);

type Kind = 'plain' | 'tls';
const rows = new Map<string, Record<Kind, Record<string, unknown>[]>>();
function record(scenario: string, kind: Kind, r: Record<string, unknown>): void {
  appendFileSync(results, JSON.stringify({ scenario, kind, result: r }) + '\n');
  const row = rows.get(scenario) ?? { plain: [], tls: [] };
  row[kind].push(r);
  rows.set(scenario, row);
  process.stderr.write(`  ${scenario} ${kind}: ${JSON.stringify(r).slice(0, 200)}\n`);
}

const throughputScenarios: [string, string[]][] = [
  ['10 conns × pipeline 16', ['-c', '10', '-P', '16']],
  ['200 conns × pipeline 1', ['-c', '200', '-P', '1']],
];

try {
  process.stderr.write(`bench-tls: ${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}; results in ${results}\n`);
  const tpPool = await startPool();
  const pid = String(tpPool.info.pid);
  for (let r = 0; r < rounds; r++) {
    const order: Kind[] = r % 2 === 0 ? ['plain', 'tls'] : ['tls', 'plain'];
    for (const [name, args] of throughputScenarios) {
      for (const kind of order) {
        const port = String(kind === 'tls' ? tpPool.info.tlsPort : tpPool.info.port);
        record(`throughput ${name}`, kind, await bench(['throughput', '-p', port, ...args, '-d', values.duration!, '-w', '2', '--pid', pid, ...(kind === 'tls' ? ['--tls'] : [])]));
      }
    }
  }
  await stop(tpPool.child);
  for (let r = 0; r < rounds; r++) {
    const order: Kind[] = r % 2 === 0 ? ['plain', 'tls'] : ['tls', 'plain'];
    for (const kind of order) {
      const p = await startPool();
      await new Promise((res) => setTimeout(res, 1000));
      const port = String(kind === 'tls' ? p.info.tlsPort : p.info.port);
      record(`idle ${values.idle} clients`, kind, await bench(['connect', '-p', port, '-c', values.idle!, '--pid', String(p.info.pid), '--settle', '2000', ...(kind === 'tls' ? ['--tls'] : [])]));
      await stop(p.child);
    }
  }
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
}

const median = (xs: number[]): number | null => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};
const num = (x: unknown): number => (typeof x === 'number' ? x : Number.NaN);
const fmt = (x: number | null, digits = 0) => (x === null ? '—' : x.toLocaleString('en-US', { maximumFractionDigits: digits }));
const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? '—' : `${(a / b).toFixed(2)}×`);

const lines = ['| scenario | measure | plain TCP | TLS | TLS / plain |', '|---|---|---|---|---|'];
for (const [scenario, row] of rows) {
  const measures: [string, (r: Record<string, unknown>) => number, number][] = scenario.startsWith('throughput')
    ? [
      ['replies/s', (r) => num(r.repliesPerSec), 0],
      ['p99 latency, ms', (r) => num((r.latencyMs as Record<string, unknown> | null)?.p99), 1],
      ['pool CPU, % of a core', (r) => num(r.poolCpuPct), 0],
      ['replies per pool CPU-s', (r) => num(r.repliesPerPoolCpuSec), 0],
    ]
    : [
      ['bytes per idle client (pool RSS)', (r) => num(r.bytesPerClient), 0],
      ['all authorized, ms', (r) => num(r.allAuthorizedMs), 0],
    ];
  for (const [label, get, digits] of measures) {
    const p = median(row.plain.map(get));
    const t = median(row.tls.map(get));
    lines.push(`| ${scenario} | ${label} | ${fmt(p, digits)} | ${fmt(t, digits)} | ${ratio(t, p)} |`);
  }
}
process.stdout.write(`medians of ${rounds} paired rounds, pool worker threads: ${values.workers}, template txs: ${values.txs}\n\n${lines.join('\n')}\n`);
await stop(source.child);
rmSync(certPath);
rmSync(keyPath);
