/**
 * What the soak checks at the end, read from the pool's own files and /proc: RSS and
 * descriptor counts, the share logs and users/ stats against what the miners were told,
 * blocks/ against Core's chain, and the pool's WARNING-and-worse lines (its stderr)
 * against an allow list.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import type { AcceptedShare } from './miners.js';

/** Open descriptors of a process, or -1 if it is gone. */
export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

const TCP_STATES: Record<string, string> = { '01': 'ESTABLISHED', '06': 'TIME_WAIT', '08': 'CLOSE_WAIT', '0A': 'LISTEN' };

/** socket inode → "tcp <local port>→<remote port> <state>" from the process's /proc/<pid>/net/tcp{,6}. */
function tcpSockets(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${f}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10) continue;
      const port = (a: string) => parseInt(a.split(':')[1]!, 16);
      out.set(c[9]!, `tcp ${port(c[1]!)}→${port(c[2]!)} ${TCP_STATES[c[3]!] ?? c[3]}`);
    }
  }
  return out;
}

/** What each descriptor points at (for the report when counts differ); TCP sockets with their ports. */
export function fdTargets(pid: number): string[] {
  const tcp = tcpSockets(pid);
  try {
    return readdirSync(`/proc/${pid}/fd`).map((f) => {
      try {
        const l = readlinkSync(`/proc/${pid}/fd/${f}`);
        const m = /^socket:\[(\d+)\]$/.exec(l);
        return m ? (tcp.get(m[1]!) ?? 'socket (not tcp)') : l.replace(/\[\d+\]$/, '[]');
      } catch {
        return '?';
      }
    }).sort();
  } catch {
    return [];
  }
}

/** Multiset difference a − b (what a has more of). */
export function extra(a: string[], b: string[]): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(x, (left.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = left.get(x) ?? 0;
    if (n > 0) left.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

export interface RssSample {
  at: number;
  gen: number;
  rss: number;
  fds: number;
}

export interface RssGrowth {
  gen: number;
  warm: number;
  end: number;
  pct: number;
  samples: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/**
 * RSS growth of each pool process (a handover starts a new one) from just after its
 * warm-up to its end: the median of the first `window` samples after warm-up against the
 * median of its last `window`. Processes too short-lived for both windows are skipped.
 */
export function rssGrowth(samples: RssSample[], warmupMs: number, window = 5): RssGrowth[] {
  const out: RssGrowth[] = [];
  for (const gen of [...new Set(samples.map((s) => s.gen))]) {
    const mine = samples.filter((s) => s.gen === gen);
    const t0 = mine[0]!.at;
    const after = mine.filter((s) => s.at - t0 >= warmupMs);
    if (after.length < window * 2) continue;
    const warm = median(after.slice(0, window).map((s) => s.rss));
    const end = median(after.slice(-window).map((s) => s.rss));
    out.push({ gen, warm, end, pct: ((end - warm) / warm) * 100, samples: after.length });
  }
  return out;
}

export interface ShareLogLine {
  result: boolean;
  diff: number;
  username: string;
  enonce1: string;
  nonce2: string;
  nonce: string;
}

/** Every line of every share log under `logdir` (<logdir>/<8 hex>/*.sharelog). */
export function shareLogLines(logdir: string): ShareLogLine[] {
  if (!existsSync(logdir)) return [];
  return readdirSync(logdir).filter((d) => /^[0-9a-f]{8}$/.test(d)).flatMap((d) =>
    readdirSync(path.join(logdir, d)).flatMap((f) => readFileSync(path.join(logdir, d, f), 'utf8').split('\n').filter(Boolean).flatMap((l) => {
      try {
        return [JSON.parse(l) as ShareLogLine];
      } catch {
        return [];
      }
    })));
}

/** Accepted shares (miner side) missing from the share logs. */
export function lostShares(accepted: AcceptedShare[], logdir: string): AcceptedShare[] {
  const logged = new Set(shareLogLines(logdir).filter((l) => l.result).map((l) => `${l.enonce1}:${l.nonce2}:${l.nonce}`));
  return accepted.filter((a) => !logged.has(a.key));
}

/** Accepted difficulty per user in the share logs (what users/ "shares" must add up to). */
export function shareLogDiff(logdir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of shareLogLines(logdir)) if (l.result) out.set(l.username, (out.get(l.username) ?? 0) + l.diff);
  return out;
}

/** users/<user> "shares" (diff-weighted accepted, ckpool's int64) for each user. */
export function userShares(logdir: string, users: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const u of users) {
    try {
      const j = JSON.parse(readFileSync(path.join(logdir, 'users', u), 'utf8')) as { shares?: number };
      out.set(u, Number(j.shares ?? 0));
    } catch {
      out.set(u, NaN);
    }
  }
  return out;
}

export interface BlockFile {
  hash: string;
  height: number;
  file: string;
  result: { accepted?: boolean; verdicts?: { server: string; accepted: boolean; reason?: string }[] } | null;
}

export function blockFiles(logdir: string): BlockFile[] {
  const dir = path.join(logdir, 'blocks');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^\d{8}-[0-9a-f]{64}\.json$/.test(f)).map((f) => {
    const j = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { hash: string; height: number };
    const rf = path.join(dir, f.replace(/\.json$/, '.result.json'));
    let result = null;
    try {
      result = JSON.parse(readFileSync(rf, 'utf8')) as BlockFile['result'];
    } catch {
      /* no verdict recorded */
    }
    return { hash: j.hash, height: j.height, file: f, result };
  });
}

/**
 * Lines the pool prints at WARNING or worse that the soak provokes on purpose: anything
 * about the failing stand-in node (its address), a handover, a miner's block racing
 * Core's own. Anything else — "No bitcoinds active!" included, Core is always up — is
 * unexpected.
 */
export function allowedLines(standIn: string, core: string): RegExp[] {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return [
    new RegExp(esc(standIn)),
    // moving to Core while the stand-in fails ("Failed over from <stand-in> to <core>" is above)
    new RegExp(`Failed over to bitcoind: ${esc(core)}$`),
    /stand-in: node/,
    // handover (-H): the new process reads the old one's stats back (ckpool logs it at WARNING)
    /Loaded \d+ users and \d+ workers/,
    /[Hh]andover/,
    // a miner's block and Core's generatetoaddress at the same height
    /is valid, not on the best chain/,
    // ... and the block ledger's later verdict on those same blocks (ts/work/ledger.ts)
    /\] Block \d+ [0-9a-f]{64} ORPHANED: the best chain has [0-9a-f]{64} at that height$/,
    // blocks on the stand-in's harder nBits: Core refuses the header's bits, and then has no block at that height
    /rejected block: bad-diffbits/, /was rejected: .*bad-diffbits/, /Could not confirm block .*Block height out of range/,
    // ckpool prints a solved block's user and worker stats and its share count at WARNING
    /\] (User|Worker) [^:]+:\{/, /\] Block solved after /,
  ];
}

export function unexpectedLines(text: string, allowed: RegExp[]): string[] {
  return text.split('\n').filter((l) => l.trim() && !allowed.some((re) => re.test(l)));
}
