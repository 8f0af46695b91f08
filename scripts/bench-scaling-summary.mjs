#!/usr/bin/env node
// The multi-core scaling table (issue 7, "Use every core") from the results.jsonl of
//   scripts/bench-table.sh --no-pin --workers 0,1,2 --only tp0,tp4000,tp4000c1000
// For each scenario and pool worker-thread count: replies/s, the pool's CPU, and
// replies per pool CPU-second, with the ratios against 1 worker thread. Medians over
// the runs; every run of one invocation interleaves the worker counts, so the ratios
// compare measurements taken under the same conditions. Prints markdown.
//
//   node scripts/bench-scaling-summary.mjs results.jsonl [more.jsonl …]
import { fmt, median, readResults } from './bench-lib.mjs';

const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (!files.length) {
  console.error('usage: bench-scaling-summary.mjs results.jsonl [more.jsonl …]');
  process.exit(2);
}
const all = readResults(files);
const split = (tag) => {
  const m = /^(.*?)(?:@w(\d+))?$/.exec(tag);
  return { scenario: m[1], workers: m[2] === undefined ? 0 : Number(m[2]) };
};
const labels = {
  tp0: '0 txs, 10 conns × pipeline 16',
  tp4000: '4000 txs, 10 conns × pipeline 16',
  tp4000c1000: '4000 txs, 1000 conns × pipeline 1',
};

const groups = new Map();
for (const r of all) {
  const { scenario, workers } = split(r.scenario);
  if (!labels[scenario] || r.result.mode !== 'throughput') continue;
  const key = `${scenario}|${workers}`;
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(r.result);
}
const out = [
  '| scenario | pool worker threads | replies/s | p99 | pool CPU (% of one core) | replies per pool CPU-s | vs 1 thread: replies/s, per CPU-s | runs | machine idle |',
  '|---|---|---|---|---|---|---|---|---|',
];
for (const scenario of Object.keys(labels)) {
  const stat = (w) => {
    const rs = groups.get(`${scenario}|${w}`);
    if (!rs) return null;
    return {
      n: rs.length,
      rate: median(rs.map((r) => r.repliesPerSec)),
      p99: median(rs.map((r) => r.latencyMs?.p99)),
      cpu: median(rs.map((r) => r.poolCpuPct)),
      perCpu: median(rs.map((r) => r.repliesPerPoolCpuSec)),
      idle: median(rs.map((r) => r.machine?.idlePct)),
    };
  };
  const one = stat(1);
  for (const w of [0, 1, 2, 3, 4, 6, 8]) {
    const s = stat(w);
    if (!s) continue;
    const vs = one && w !== 1 && one.rate && one.perCpu
      ? `${fmt(s.rate / one.rate, '×', 2)}, ${fmt(s.perCpu / one.perCpu, '×', 2)}`
      : w === 1 ? '1×, 1×' : '—';
    out.push(`| ${labels[scenario]} | ${w === 0 ? '0 (main thread)' : w} | ${fmt(s.rate)} | ${fmt(s.p99, ' ms', 1)} | ${fmt(s.cpu, ' %')} | ` +
      `${fmt(s.perCpu)} | ${vs} | ${s.n} | ${fmt(s.idle, ' %')} |`);
  }
}
console.log(out.join('\n'));
