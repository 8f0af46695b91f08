/**
 * ckpool 0.9.9's defaults (ckpool.c:main after parse_config), in one place.
 */
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { isProxyMode, type BtcdEntry, type Mode } from './types.js';

export const DEFAULT_BTCD: BtcdEntry = { url: 'localhost:8332', auth: 'user', pass: 'pass', notify: false, line: 0 };
export const DEFAULT_BLOCKPOLL_MS = 100;
export const DEFAULT_NONCE1LENGTH = 4;
export const DEFAULT_NONCE2LENGTH_POOL = 8;
/** In proxy modes 0 means "derive the split from the upstream's nonce2 length". */
export const DEFAULT_NONCE2LENGTH_PROXY = 0;
export const DEFAULT_UPDATE_INTERVAL_S = 30;
export const DEFAULT_VERSION_MASK = 0x1fffe000;
export const DEFAULT_MINDIFF = 1;
/** 0.9.9's value (the 1.2 line moved to 10000). */
export const DEFAULT_STARTDIFF = 42;
export const DEFAULT_HIGHDIFF = 1_000_000;
export const DEFAULT_MAXDIFF = 0;
export const DEFAULT_LOGDIR = 'logs';
export const DEFAULT_ZMQBLOCK = 'tcp://127.0.0.1:28332';
export const MAX_BTCSIG_BYTES = 38;
/** Donations below this are dust and become 0, as in ckpool. */
export const MIN_DONATION = 0.1;
export const MAX_DONATION = 99.9;

/** ckpool binds all interfaces on 3333 (pool) or 3334 (any proxy mode) without serverurl. */
export function defaultServerUrl(mode: Mode): string {
  return isProxyMode(mode) ? '0.0.0.0:3334' : '0.0.0.0:3333';
}

export function defaultNonce2Length(mode: Mode): number {
  return isProxyMode(mode) ? DEFAULT_NONCE2LENGTH_PROXY : DEFAULT_NONCE2LENGTH_POOL;
}

/**
 * The soft RLIMIT_NOFILE. Node has no getrlimit, so read it from /proc (Linux, the
 * only platform ckpool supports); 1024 — the usual default — when that is unavailable.
 */
export function openFileLimit(): number {
  try {
    const text = readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    if (m) return m[1] === 'unlimited' ? 1 << 30 : Number(m[1]);
  } catch {
    // not Linux, or /proc not mounted
  }
  return 1024;
}

/** ckpool's maxclients default and cap: 90% of the open-file limit. */
export function maxClientsFor(nofile: number): number {
  return Math.max(1, Math.floor((nofile * 9) / 10));
}

/**
 * `"workers": "auto"` and the ckpool binary's default: one worker thread per CPU (ckpool
 * sizes its thread pools by the CPU count too). On a single CPU, none: a thread would
 * only add a hand-off between the main thread and the miners.
 */
export function autoWorkers(cpus: number = availableParallelism()): number {
  return cpus > 1 ? cpus : 0;
}
