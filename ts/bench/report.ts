/**
 * Human output of ckpool-bench: a two-column table per run, and the progress line.
 * (The machine-readable form is the result object itself, printed as one JSON line.)
 */
import type { BroadcastResult, ConnectResult, ThroughputResult } from './modes.js';
import type { MachineLoad } from './procstat.js';
import type { FloodResult } from './flood.js';

export type BenchResult = ThroughputResult | ConnectResult | BroadcastResult | FloodResult;

const n = (x: number | null | undefined, unit = '') => (x === null || x === undefined ? '—' : `${x.toLocaleString('en-US')}${unit}`);
const kb = (bytes: number | null) => (bytes === null ? '—' : `${(bytes / 1024).toLocaleString('en-US', { maximumFractionDigits: 2 })} KiB`);
const mb = (bytes: number | null) => (bytes === null ? '—' : `${(bytes / 1048576).toLocaleString('en-US', { maximumFractionDigits: 1 })} MiB`);
const reasons = (r: Record<string, number>) => Object.entries(r).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ') || 'none';

/** Verdict on the generator's own CPU: was it the bottleneck? */
export function cpuNote(pct: number): string {
  if (pct >= 90) return `${pct}% of one core — the generator was (nearly) saturated: the pool may be faster than measured`;
  if (pct >= 70) return `${pct}% of one core — busy; numbers near the generator's limit`;
  return `${pct}% of one core — not the bottleneck`;
}

/** The machine row: was anything else running? */
export function machineNote(m: MachineLoad | null): string {
  if (!m) return '— (no /proc/stat)';
  const others = m.othersPct === null ? '' : `, other processes ${m.othersPct}%${m.othersPct >= 10 ? ' — the machine was not quiet: numbers disturbed' : ''}`;
  return `processes ${m.processesPct}%, softirq ${m.softirqPct}%, idle ${m.idlePct}% (100% = one core)${others}`;
}

function table(title: string, rows: [string, string][]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return [title, '-'.repeat(title.length), ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`)].join('\n') + '\n';
}

export function formatResult(r: BenchResult): string {
  switch (r.mode) {
    case 'throughput': {
      const lat = r.latencyMs;
      return table(`ckpool-bench throughput → ${r.pool}`, [
        ['connections × pipeline', `${r.connections} × ${r.pipeline} (${r.ready} ready)`],
        ['measured', `${r.durationS} s after ${r.warmupS} s warm-up`],
        ['replies/s', n(r.repliesPerSec)],
        ['replies', `${n(r.replies)}: accepted ${n(r.accepted)}, rejected ${n(r.rejected)}`],
        ['reject reasons', reasons(r.rejectReasons)],
        ['latency (send → reply)', lat ? `p50 ${lat.p50} ms, p90 ${lat.p90} ms, p99 ${lat.p99} ms, max ${lat.max} ms` : '—'],
        ['failed handshakes', `${r.failures}${r.failures ? ` (${reasons(r.failureReasons)})` : ''}`],
        ['disconnects during run', n(r.disconnects)],
        ['pool CPU', r.poolCpuPct === null ? '— (give --pid)' : `${r.poolCpuPct}% of one core, ${n(r.repliesPerPoolCpuSec)} replies per pool CPU-second, RSS ${mb(r.poolRssBytes)}`],
        ['bench CPU', cpuNote(r.benchCpuPct)],
        ['machine', machineNote(r.machine)],
      ]);
    }
    case 'flood': {
      const lat = r.minerLatencyMs;
      const cl = r.connectLatencyMs;
      return table(`ckpool-bench flood → ${r.pool}`, [
        ['flooders', `${n(r.flooders)} (${n(r.ready)} authorised), ${n(r.requestsPerFlooder)} × ${r.method} each in bursts of ${n(r.burst)} every ${r.intervalMs} ms, ${r.floodersRead ? 'reading' : 'never reading'} their replies`],
        ['measured', `${r.durationS} s from the first burst`],
        ['flood', `${n(r.floodReplies)} of ${n(r.floodSent)} answered (${n(r.floodRepliesPerSec)}/s), ${r.floodDisconnects} flooders disconnected` +
          (r.floodDoneS === null ? '' : `; all answered ${r.floodDoneS} s after the first burst`)],
        ['miner submits', `${n(r.minerReplies)} of ${n(r.minerSubmits)} answered; over 200 ms: ${r.minerOver200Ms}, over 500 ms: ${r.minerOver500Ms}, not within 5 s: ${r.minerUnanswered}`],
        ['miner latency', lat ? `p50 ${lat.p50} ms, p90 ${lat.p90} ms, p99 ${lat.p99} ms, max ${lat.max} ms` : '—'],
        ['slowest miner replies', r.minerWorst.map((w) => `${w.ms} ms at ${w.atS} s`).join(', ') || '—'],
        ['fresh connects', `${r.connectTries} tried, ${r.connectFailures} not authorised within 5 s` + (cl ? `; connect → authorized with a job: p50 ${cl.p50} ms, max ${cl.max} ms` : '') +
          (r.connectWorst.length ? `; slowest ${r.connectWorst.map((w) => `${w.ms < 0 ? 'none' : `${w.ms} ms`} at ${w.atS} s`).join(', ')}` : '')],
        ['pool CPU', r.poolCpuPct === null ? '— (give --pid)' : `${r.poolCpuPct}% of one core`],
        ['bench CPU', cpuNote(r.benchCpuPct)],
        ['bench event-loop delay', `p99 ${r.benchLoopDelayMs.p99} ms, max ${r.benchLoopDelayMs.max} ms (a stall of the bench delays the replies it reads)`],
        ['machine', machineNote(r.machine)],
      ]);
    }
    case 'connect':
      return table(`ckpool-bench connect → ${r.pool}`, [
        ['connections', `${n(r.connections)} (${r.rate === 'all at once' ? 'all at once' : `${r.rate}/s`})` +
          (r.procs ? ` from ${r.procs} generator processes${r.sources ? ` and ${r.sources} source addresses` : ''}` : '')],
        ['authorized', n(r.authorized)],
        ['failures', `${r.failures}${r.failures ? ` (${reasons(r.failureReasons)})` : ''}`],
        ...(r.limits?.length ? [['SYSTEM LIMITS HIT', r.limits.join('; ')] as [string, string]] : []),
        ...(r.notes ?? []).map((x): [string, string] => ['note', x]),
        ['all connected', n(r.allConnectedMs, ' ms')],
        ['all authorized', n(r.allAuthorizedMs, ' ms')],
        ['all holding work', n(r.allWorkMs, ' ms')],
        ['connect → authorized', r.authLatencyMs ? `p50 ${r.authLatencyMs.p50} ms, p99 ${r.authLatencyMs.p99} ms, max ${r.authLatencyMs.max} ms` : '—'],
        ['pool RSS before / after', r.poolRssBeforeBytes === null ? '— (give --pid)' : `${mb(r.poolRssBeforeBytes)} / ${mb(r.poolRssAfterBytes)}`],
        ['pool RSS per idle client', kb(r.bytesPerClient)],
        ['bench CPU', cpuNote(r.benchCpuPct)],
        ['machine', machineNote(r.machine)],
      ]);
    case 'broadcast':
      return table(`ckpool-bench broadcast → ${r.pool}`, [
        ['clients', `${n(r.ready)} of ${n(r.connections)} holding work`],
        ['trigger', r.trigger],
        ...r.rounds.map((x, i): [string, string] => [`round ${i + 1}`,
          `first ${n(x.firstMs, ' ms')}, median ${n(x.medianMs, ' ms')}, last ${n(x.lastMs, ' ms')}` +
          `${x.missing ? `, ${x.missing} missing` : ''} (trigger ${n(x.triggerMs, ' ms')}, bench CPU ${n(x.benchCpuMs, ' ms')})`]),
        ['median of rounds', `first ${n(r.firstMs, ' ms')}, median ${n(r.medianMs, ' ms')}, last ${n(r.lastMs, ' ms')}`],
        ['failures', `${r.failures}${r.failures ? ` (${reasons(r.failureReasons)})` : ''}; clients without the clean notify: ${r.missing}`],
        ['bench CPU', `${r.benchCpuPct}% of one core over the rounds (per round: "bench CPU" close to "last" means the bench was busy all along)`],
        ['machine', machineNote(r.machine)],
      ]);
  }
}

/** Progress on stderr: rewritten in place on a terminal, one line per update otherwise. */
export function progressWriter(stream: NodeJS.WriteStream = process.stderr): (line: string) => void {
  const tty = stream.isTTY === true;
  return (line) => {
    stream.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  };
}

/** End a progress line left open on a terminal. */
export function endProgress(stream: NodeJS.WriteStream = process.stderr): void {
  if (stream.isTTY) stream.write('\r\x1b[K');
}
