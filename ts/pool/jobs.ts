/**
 * The stratifier's per-workbase state: the native share checker of each payout script
 * (pool mode: one; solo: one per user address), the notify lines miners are sent, and
 * the hashes already seen on the job (the duplicate check).
 */
import { ShareChecker } from '../native/share.js';
import { prevhashFromStratum, type CoinbaseParts } from '../native/core.js';
import type { Workbase } from '../work/workbase.js';
import { notify } from './protocol.js';

/** A job's checker for one payout script, with its coinbase and notify lines. */
export interface JobChecker {
  checker: ShareChecker;
  parts: CoinbaseParts;
  /** mining.notify lines (newline included) with clean_jobs true / false */
  clean: string;
  dirty: string;
}

/** Per-workbase state on the stratifier side. */
export interface Job {
  wb: Workbase;
  /** per payout script (pool: one; solo: one per user address) */
  checkers: Map<string, JobChecker>;
  /** share hashes seen on this job (duplicate check) */
  dupes: Set<string>;
}

/** What every checker of a stratifier shares. */
export interface JobShape {
  versionMask: number;
  nonce1length: number;
  nonce2length: number;
}

const POOL_SCRIPT_KEY = 'pool';

export class JobTable {
  readonly #jobs = new Map<string, Job>();
  readonly #shape: JobShape;

  constructor(shape: JobShape) {
    this.#shape = shape;
  }

  get(jobId: string): Job | undefined {
    return this.#jobs.get(jobId);
  }

  /** The job of a workbase, made on first use. */
  jobFor(wb: Workbase): Job {
    let job = this.#jobs.get(wb.jobId);
    if (!job) {
      job = { wb, checkers: new Map(), dupes: new Set() };
      this.#jobs.set(wb.jobId, job);
    }
    return job;
  }

  /** Forget the jobs `keep` says no (their duplicate sets go with them). */
  prune(keep: (jobId: string) => boolean): void {
    for (const id of this.#jobs.keys()) if (!keep(id)) this.#jobs.delete(id);
  }

  /** The job's checker for a payout script (null: the pool's own coinbase), made on first use. */
  checkerFor(job: Job, script: Buffer | null): JobChecker {
    const key = script ? script.toString('hex') : POOL_SCRIPT_KEY;
    let e = job.checkers.get(key);
    if (!e) {
      const wb = job.wb;
      const parts = script ? wb.coinbaseFor(script) : { coinb1: wb.coinb1, coinb2: wb.coinb2 };
      const checker = new ShareChecker({
        coinb1: parts.coinb1, coinb2: parts.coinb2, branch: wb.branch, version: wb.version,
        versionMask: this.#shape.versionMask, prevhash: prevhashFromStratum(wb.stratumPrevhash), nbits: wb.nbits,
        extranonce1Len: this.#shape.nonce1length, extranonce2Len: this.#shape.nonce2length,
      });
      // With its newline already on: send() would otherwise append one per miner, making
      // a new 1.3 KB string for each to be flattened at the write — 13 MB of garbage on
      // the block-change path at 10,000 miners. This one is flattened once, then shared.
      e = { checker, parts, clean: notify(wb.notifyParams(true, parts)) + '\n', dirty: notify(wb.notifyParams(false, parts)) + '\n' };
      job.checkers.set(key, e);
    }
    return e;
  }
}
