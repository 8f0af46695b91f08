#!/usr/bin/env node
// The issue-7 table from scripts/bench-table.sh's results.jsonl files (one ckpool-bench
// JSON summary per line, tagged with its scenario): medians over the runs, next to
// ckpool 0.9.9's figures and the targets from the issue. Prints markdown.
// Runs during which other processes used 10 % of a core or more (machine.othersPct)
// are left out and counted in the notes: the 2 cores are shared.
//
//   node scripts/bench-summary.mjs [--not-pinned] [--keep-noisy] results.jsonl [more.jsonl …]
import { fmt, median, readResults } from './bench-lib.mjs';

const args = process.argv.slice(2);
const pinned = !args.includes('--not-pinned');
const keepNoisy = args.includes('--keep-noisy');
const files = args.filter((a) => !a.startsWith('--'));
if (!files.length) {
  console.error('usage: bench-summary.mjs [--not-pinned] [--keep-noisy] results.jsonl [more.jsonl …]');
  process.exit(2);
}
const all = readResults(files);
const noisy = (r) => (r.result.machine?.othersPct ?? 0) >= 10;
const rows = keepNoisy ? all : all.filter((r) => !noisy(r));
const dropped = {};
if (!keepNoisy) for (const r of all) if (noisy(r)) dropped[r.scenario] = (dropped[r.scenario] ?? 0) + 1;
const by = (name) => rows.filter((r) => r.scenario === name).map((r) => r.result);
const runsOf = (name) => by(name).length;
const othersOf = (rs) => median(rs.map((r) => r.machine?.othersPct));
const noise = (rs) => {
  const o = othersOf(rs);
  return o === null ? '' : `; other processes ${fmt(o, ' %')}${o >= 10 ? ' (machine not quiet)' : ''}`;
};
const verdict = (ok) => (ok === null ? '' : ok ? ' ✓' : ' ✗');

const out = [];
out.push('| scenario | ckpool 0.9.9 | target | ckpool-ts (median) | runs | notes |');
out.push('|---|---|---|---|---|---|');

function throughputRow(name, label, ckRate, ckP99) {
  const rs = by(name);
  if (!rs.length) return;
  const rate = median(rs.map((r) => r.repliesPerSec));
  const p99 = median(rs.map((r) => r.latencyMs?.p99));
  const bench = median(rs.map((r) => r.benchCpuPct));
  const poolCpu = median(rs.map((r) => r.poolCpuPct));
  const perCpu = median(rs.map((r) => r.repliesPerPoolCpuSec));
  const fails = rs.reduce((a, r) => a + r.failures + r.disconnects, 0);
  const target = ckP99 ? `≥ ${fmt(ckRate * 2)}/s, p99 ≤ ${ckP99 / 2} ms` : `≥ ${fmt(ckRate * 2)}/s`;
  const ok = rate !== null && rate >= 2 * ckRate && (!ckP99 || (p99 !== null && p99 <= ckP99 / 2));
  out.push(`| ${label} | ${fmt(ckRate)} replies/s${ckP99 ? `, p99 ${ckP99} ms` : ''} | ${target} | ` +
    `**${fmt(rate)} replies/s**, p99 ${fmt(p99, ' ms', 2)}${verdict(ok)} | ${runsOf(name)} | ` +
    `pool CPU ${fmt(poolCpu, ' %')}, ${fmt(perCpu)} replies/pool-CPU-s; bench CPU ${fmt(bench, ' %')}${fails ? `; ${fails} failed/dropped connections` : ''}${noise(rs)} |`);
}

throughputRow('tp0', 'throughput, 0 txs, 10 conns × pipeline 16', 56_200);
throughputRow('tp4000', 'throughput, 4000 txs, 10 conns × pipeline 16', 38_100);
throughputRow('tp4000c1000', 'throughput, 4000 txs, 1000 conns × pipeline 1', 26_300, 58);

for (const [name, n] of [['mem1000', 1000], ['mem10000', 10_000]]) {
  const rs = by(name);
  if (!rs.length) continue;
  const per = median(rs.map((r) => r.bytesPerClient));
  const each = rs.map((r) => fmt(r.bytesPerClient / 1024, '', 2)).join(' / ');
  out.push(`| memory per idle authorized client, ${fmt(n)} clients | ~9.2 KB | ≤ 7 KB | ` +
    `**${fmt(per === null ? null : per / 1024, ' KiB', 2)}**${verdict(per === null ? null : per / 1024 <= 7)} | ${rs.length} | ` +
    `RSS growth ÷ clients (each run: ${each} KiB); RSS ${fmt(median(rs.map((r) => r.poolRssBeforeBytes / 1048576)), ' MiB', 1)} → ${fmt(median(rs.map((r) => r.poolRssAfterBytes / 1048576)), ' MiB', 1)} |`);
}

{
  const rs = by('mem10000');
  if (rs.length) {
    const t = median(rs.map((r) => r.allAuthorizedMs));
    const fails = Math.max(...rs.map((r) => r.failures));
    const ok = fails === 0 && t !== null && t <= 2500;
    out.push(`| connect storm, 10,000 at once | 0 failures, all authorized in 2.5 s | 0 failures, ≤ 2.5 s | ` +
      `**${fails} failures, all authorized in ${fmt(t === null ? null : t / 1000, ' s', 2)}**${verdict(ok)} | ${rs.length} | ` +
      `each run: ${rs.map((r) => fmt(r.allAuthorizedMs, ' ms')).join(' / ')}; connect → authorized p99 ${fmt(median(rs.map((r) => r.authLatencyMs?.p99)), ' ms')}; bench CPU ${fmt(median(rs.map((r) => r.benchCpuPct)), ' %')}${noise(rs)} |`);
  }
}

for (const [name, n, ck, target] of [['bc1000', 1000, 67, 35], ['bc10000', 10_000, 342, 170]]) {
  const rs = by(name);
  if (!rs.length) continue;
  // every block change of every run counts: median over all rounds
  const rounds = rs.flatMap((r) => r.rounds);
  const last = median(rounds.map((x) => x.lastMs));
  const first = median(rounds.map((x) => x.firstMs));
  const mid = median(rounds.map((x) => x.medianMs));
  const missing = rs.reduce((a, r) => a + r.missing + r.failures, 0);
  out.push(`| block change (ZMQ) → last of ${fmt(n)} clients notified, 4000-tx template | ${ck} ms | ≤ ${target} ms | ` +
    `**${fmt(last, ' ms', 1)}**${verdict(last === null ? null : last <= target && missing === 0)} | ${rs.length} × ${rs[0].rounds.length} | ` +
    `first ${fmt(first, ' ms', 1)}, median ${fmt(mid, ' ms', 1)}; each block change: ${rounds.map((x) => fmt(x.lastMs, '', 0)).join(', ')} ms` +
    `${missing ? `; ${missing} clients missed it or failed` : ''}${noise(rs)} |`);
}

console.log(`\nckpool-ts, pool ${pinned ? 'pinned to CPU 0, ckpool-bench + template source pinned to CPU 1' : 'NOT pinned (no taskset or < 2 CPUs)'}; medians over runs.\n`);
console.log(out.join('\n'));
if (Object.keys(dropped).length) {
  console.log(`\nLeft out (other processes used ≥ 10 % of a core during the run): ${Object.entries(dropped).map(([k, v]) => `${k} ×${v}`).join(', ')}.`);
}
