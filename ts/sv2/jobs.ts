/**
 * V1 `mining.notify` → SV2 jobs. The stratifier sends every miner the same notify line
 * (one string per job and payout script), so the parse is cached per line; what is
 * per channel (the SV2 job id, the standard channel's merkle root over its own
 * extranonce) is added by the channel.
 */
import { merkleRootFromBranch, prevhashFromStratum, sha256d } from '../native/core.js';

/** A mining.notify's fields, decoded once. */
export interface NotifyJob {
  v1JobId: string;
  /** header byte order, hex */
  prevHash: string;
  coinb1: Buffer;
  coinb2: Buffer;
  branch: Buffer[];
  /** concatenated branch hashes, hex (NewExtendedMiningJob.merklePath) */
  merklePath: string;
  version: number;
  nbits: number;
  ntime: number;
}

const cache = new Map<string, NotifyJob>();
const CACHE_MAX = 64;

/** Parse a mining.notify line (as protocol.ts's notify() writes it); null if it is not one. */
export function parseNotify(line: string): NotifyJob | null {
  const hit = cache.get(line);
  if (hit) return hit;
  let m: { method?: unknown; params?: unknown };
  try {
    m = JSON.parse(line) as typeof m;
  } catch {
    return null;
  }
  if (m.method !== 'mining.notify' || !Array.isArray(m.params)) return null;
  const [jobId, prev, cb1, cb2, branch, version, nbits, ntime] = m.params as [string, string, string, string, string[], string, string, string];
  const job: NotifyJob = {
    v1JobId: jobId,
    prevHash: prevhashFromStratum(prev).toString('hex'),
    coinb1: Buffer.from(cb1, 'hex'),
    coinb2: Buffer.from(cb2, 'hex'),
    branch: branch.map((h) => Buffer.from(h, 'hex')),
    merklePath: branch.join(''),
    version: parseInt(version, 16) >>> 0,
    nbits: parseInt(nbits, 16) >>> 0,
    ntime: parseInt(ntime, 16) >>> 0,
  };
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(line, job);
  return job;
}

/** The merkle root (header order, hex) of a job mined with a fixed full extranonce (standard channels). */
export function merkleRootFor(job: NotifyJob, extranonce: Buffer): string {
  const coinbase = Buffer.concat([job.coinb1, extranonce, job.coinb2]);
  return merkleRootFromBranch(sha256d(coinbase), job.branch).toString('hex');
}
