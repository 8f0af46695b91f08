/**
 * The system limits a large ckpool-bench run meets, checked before the run and named
 * when a socket error shows one was hit (issue 18: "fail with a clear message saying
 * which, never a hang"):
 *
 * - open files (RLIMIT_NOFILE) per generator process: each connection is a descriptor;
 * - ephemeral ports: a connection bound to a source address (--sources) takes one local
 *   port of that address (bind before connect reserves it whatever the destination), one
 *   without a source address one port per destination (ip, port);
 * - somaxconn: the kernel caps every listen backlog at it, so a connection storm larger
 *   than it waits for SYN retransmits (seconds) or is refused;
 * - memory: MemAvailable against an estimate for the generator's connections.
 *
 * All from /proc (Linux); where a file is missing the check is skipped and says so.
 */
import { readFileSync } from 'node:fs';
import { ckError } from '../errors.js';

/** What one open connection costs the generator (BenchConn + socket + kernel buffers), measured in the issue-18 runs, rounded up. */
export const GENERATOR_BYTES_PER_CONN = 12 * 1024;
/** Descriptors a generator process needs besides its connections (stdio, IPC, epoll, libuv). */
const SPARE_FDS = 64;

export interface SystemLimits {
  /** soft / hard RLIMIT_NOFILE of this process (children inherit them); null = unknown */
  noFile: { soft: number; hard: number } | null;
  /** ip_local_port_range */
  ports: { low: number; high: number } | null;
  somaxconn: number | null;
  memAvailableBytes: number | null;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export function systemLimits(): SystemLimits {
  const lim = read('/proc/self/limits');
  const nf = lim && /^Max open files\s+(\S+)\s+(\S+)/m.exec(lim);
  const n = (s: string) => (s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
  const pr = read('/proc/sys/net/ipv4/ip_local_port_range')?.trim().split(/\s+/).map(Number);
  const sc = read('/proc/sys/net/core/somaxconn');
  const mem = read('/proc/meminfo');
  const ma = mem && /^MemAvailable:\s+(\d+)\s*kB/m.exec(mem);
  return {
    noFile: nf ? { soft: n(nf[1]!), hard: n(nf[2]!) } : null,
    ports: pr && pr.length === 2 && pr.every(Number.isFinite) ? { low: pr[0]!, high: pr[1]! } : null,
    somaxconn: sc === null ? null : Number(sc.trim()),
    memAvailableBytes: ma ? Number(ma[1]) * 1024 : null,
  };
}

/**
 * Source addresses from `127.0.0.2-127.0.0.40` (an IPv4 range), a comma list, or both
 * (`127.0.0.2-127.0.0.9,127.0.1.1`).
 */
export function parseSources(spec: string): string[] {
  const out: string[] = [];
  const ip = (s: string): number => {
    const p = s.trim().split('.');
    if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) {
      throw ckError('CKP_ERR_BENCH_OPTION', '--sources', 'IPv4 addresses or ranges a.b.c.d-a.b.c.e', JSON.stringify(spec));
    }
    return p.reduce((a, x) => a * 256 + Number(x), 0);
  };
  const text = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [a, b] = part.split('-');
    const lo = ip(a!);
    const hi = b === undefined ? lo : ip(b);
    if (hi < lo || hi - lo > 65_535) throw ckError('CKP_ERR_BENCH_OPTION', '--sources', 'a range low-high of at most 65,536 addresses', JSON.stringify(part));
    for (let v = lo; v <= hi; v++) out.push(text(v));
  }
  if (out.length === 0) throw ckError('CKP_ERR_BENCH_OPTION', '--sources', 'at least one address', JSON.stringify(spec));
  return out;
}

export interface RunShape {
  connections: number;
  procs: number;
  /** source addresses (empty: the system picks) */
  sources: readonly string[];
  /** distinct destinations (ip:port) the connections are spread over */
  targets: number;
}

/**
 * Throw CKP_ERR_BENCH_LIMIT naming the first limit this run cannot fit under. Returns
 * notes for limits that slow a run without stopping it (somaxconn).
 */
export function checkRun(shape: RunShape, lim: SystemLimits = systemLimits()): string[] {
  const notes: string[] = [];
  const perProc = Math.ceil(shape.connections / shape.procs);
  if (lim.noFile) {
    const need = perProc + SPARE_FDS;
    if (need > lim.noFile.soft) {
      const procs = Math.ceil(shape.connections / Math.max(1, lim.noFile.soft - SPARE_FDS));
      throw ckError('CKP_ERR_BENCH_LIMIT',
        `open files (RLIMIT_NOFILE): ${perProc.toLocaleString('en-US')} connections per generator process need about ${need.toLocaleString('en-US')} descriptors, ` +
        `the limit is ${lim.noFile.soft} (hard ${lim.noFile.hard}); use --procs ${procs} or more` +
        (lim.noFile.hard > lim.noFile.soft ? `, or raise it with ulimit -n ${lim.noFile.hard}` : ''));
    }
  } else notes.push('open-file limit unknown (no /proc/self/limits): not checked');
  if (lim.ports) {
    const range = lim.ports.high - lim.ports.low + 1;
    const perPort = shape.sources.length ? Math.ceil(shape.connections / shape.sources.length) : Math.ceil(shape.connections / Math.max(1, shape.targets));
    // a few percent stay free for the kernel's hashing to find them, and for everything else on the machine
    if (perPort > range * 0.95) {
      const want = Math.ceil(shape.connections / (range * 0.9));
      throw ckError('CKP_ERR_BENCH_LIMIT',
        `ephemeral ports (net.ipv4.ip_local_port_range ${lim.ports.low}-${lim.ports.high}, ${range.toLocaleString('en-US')} ports): ` +
        `${perPort.toLocaleString('en-US')} connections per ${shape.sources.length ? 'source address' : 'destination'} do not fit; ` +
        `spread them with --sources over at least ${want} addresses (e.g. --sources 127.0.0.2-127.0.0.${Math.min(254, want + 1)})`);
    }
  } else notes.push('ephemeral port range unknown: not checked');
  if (lim.memAvailableBytes !== null) {
    const need = shape.connections * GENERATOR_BYTES_PER_CONN;
    if (need > lim.memAvailableBytes) {
      throw ckError('CKP_ERR_BENCH_LIMIT',
        `memory: ${shape.connections.toLocaleString('en-US')} connections need about ${Math.round(need / 2 ** 20)} MiB in the generator alone, ` +
        `MemAvailable is ${Math.round(lim.memAvailableBytes / 2 ** 20)} MiB`);
    }
  }
  if (lim.somaxconn !== null) {
    const perTarget = Math.ceil(shape.connections / Math.max(1, shape.targets));
    if (perTarget > lim.somaxconn) {
      notes.push(`net.core.somaxconn is ${lim.somaxconn}: each listener's backlog holds at most that many connections not yet accepted; ` +
        `a storm of ${perTarget.toLocaleString('en-US')} per listener relies on SYN retries (1 s, 3 s, …) when the server falls behind`);
    }
  }
  return notes;
}

/**
 * The limit behind a socket error code, for failure tables and for stopping a run that
 * hit one (null: not a limit, e.g. ECONNRESET).
 */
export function limitOfError(code: string, lim: SystemLimits = systemLimits()): string | null {
  switch (code) {
    case 'EMFILE':
      return `open files per process (RLIMIT_NOFILE ${lim.noFile?.soft ?? '?'}): use more --procs or raise ulimit -n`;
    case 'ENFILE':
      return 'open files of the whole system (fs.file-max)';
    case 'EADDRNOTAVAIL':
    case 'EADDRINUSE':
      return `ephemeral ports (ip_local_port_range ${lim.ports ? `${lim.ports.low}-${lim.ports.high}` : '?'}) or a --sources address not on this machine: spread over more --sources`;
    case 'ECONNREFUSED':
      return `connection refused: nothing listening there, or its listen backlog (capped by net.core.somaxconn = ${lim.somaxconn ?? '?'}) overflowed`;
    case 'ENOMEM':
    case 'ENOBUFS':
      return 'kernel memory for sockets (ENOMEM/ENOBUFS)';
    default:
      return null;
  }
}

/** The code in a BenchConn failure text (`socket error EMFILE`), or null. */
export function errorCodeOf(failure: string): string | null {
  const m = /^socket error (E[A-Z]+)/.exec(failure);
  return m ? m[1]! : null;
}
