/**
 * The pool's side of a benchmark, read from /proc (Linux): resident memory and CPU
 * time of the given pids and all their descendants (a pool that forks workers is
 * measured whole; threads are already inside their process's figures).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { ckErrorCause } from '../errors.js';

let clkTck = 0;
function ticksPerSecond(): number {
  if (clkTck) return clkTck;
  try {
    clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    clkTck = 100;
  }
  return clkTck;
}

interface StatLine {
  ppid: number;
  /** utime + stime, in clock ticks */
  ticks: number;
}

function readStat(pid: number): StatLine | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so cut at the last ')'
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
}

function readRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s*kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** `pids` and every live descendant of them, except this process and its own descendants. */
export function processTree(pids: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    /* no /proc: only the roots */
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const st = readStat(Number(e));
    if (!st) continue;
    const list = children.get(st.ppid);
    if (list) list.push(Number(e));
    else children.set(st.ppid, [Number(e)]);
  }
  const out = new Set<number>();
  const todo = [...pids];
  while (todo.length) {
    const p = todo.pop()!;
    // never count the benchmark itself (a --pid of a shell that started both)
    if (out.has(p) || p === process.pid) continue;
    out.add(p);
    todo.push(...(children.get(p) ?? []));
  }
  return [...out];
}

export interface ProcSample {
  /** performance.now() when taken */
  at: number;
  pids: number[];
  /** resident set size, bytes, summed */
  rss: number;
  /** user + system CPU seconds, summed */
  cpuSeconds: number;
}

/** Sample the pids' (and descendants') RSS and CPU time. Throws CKP_ERR_BENCH_PID if a root pid is gone. */
export function sampleProcs(roots: readonly number[]): ProcSample {
  for (const pid of roots) {
    if (!readStat(pid)) {
      throw ckErrorCause('CKP_ERR_BENCH_PID', null, pid, 'no such process (or no /proc on this system)');
    }
  }
  const pids = processTree(roots);
  let rss = 0;
  let ticks = 0;
  for (const pid of pids) {
    rss += readRss(pid);
    ticks += readStat(pid)?.ticks ?? 0;
  }
  return { at: performance.now(), pids, rss, cpuSeconds: ticks / ticksPerSecond() };
}

/** CPU used between two samples, as % of one core. */
export function cpuPct(a: ProcSample, b: ProcSample): number {
  const wall = (b.at - a.at) / 1000;
  return wall > 0 ? ((b.cpuSeconds - a.cpuSeconds) / wall) * 100 : 0;
}

/** This process's CPU since `from` (process.cpuUsage()), as % of one core over `wallMs`. */
export function ownCpuPct(from: NodeJS.CpuUsage, wallMs: number): number {
  const d = process.cpuUsage(from);
  return wallMs > 0 ? ((d.user + d.system) / 1000 / wallMs) * 100 : 0;
}

export interface SystemSample {
  at: number;
  /** jiffies summed over all CPUs: user+nice+system (processes), softirq+irq, steal, idle+iowait */
  proc: number;
  irq: number;
  steal: number;
  idle: number;
}

/** The machine's CPU time so far (/proc/stat), or null without /proc. */
export function sampleSystem(): SystemSample | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    return { at: performance.now(), proc: user + nice + system, irq: irq + softirq, steal, idle: idle + iowait };
  } catch {
    return null;
  }
}

export interface MachineLoad {
  /** CPU time of all processes on the machine, % of one core (2 cores busy = 200) */
  processesPct: number;
  /** kernel interrupt work (on loopback: most of the TCP stack), % of one core */
  softirqPct: number;
  /** idle, % of one core */
  idlePct: number;
  /** processes other than the pool (--pid) and this benchmark, % of one core: noise */
  othersPct: number | null;
}

/** What the whole machine did between two samples; `ours` = pool + bench CPU %, to isolate the others. */
export function machineLoad(a: SystemSample | null, b: SystemSample | null, ours: number | null): MachineLoad | null {
  if (!a || !b || b.at <= a.at) return null;
  const hz = ticksPerSecond();
  const sec = (b.at - a.at) / 1000;
  const pct = (j: number) => Math.round((j / hz / sec) * 1000) / 10;
  const processesPct = pct(b.proc - a.proc);
  return {
    processesPct,
    softirqPct: pct(b.irq - a.irq),
    idlePct: pct(b.idle - a.idle),
    othersPct: ours === null ? null : Math.max(0, Math.round((processesPct - ours) * 10) / 10),
  };
}
